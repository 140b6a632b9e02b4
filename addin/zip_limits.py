"""Zip-bomb bounds shared by the result files we download and the workbooks users give us.

Real sheet XML compresses 10 to 30 times; zip bombs compress hundreds to thousands
of times. A zip is refused when the sizes its directory declares add up to more
than a caller's limit, or when one member larger than 1 MiB (tiny members
compress oddly and cannot hurt) compresses more than ``MAX_COMPRESSION_RATIO`` times.

The directory's sizes are only a first look: they are written by whoever made
the file. Python's ``zipfile`` stops reading a member at its declared size, and a
forged CRC of that prefix passes, so a check that reads through ``zipfile`` sees
only what the directory admits. So every member is inflated here from its local
header to the real end of its deflate stream, with a counted cap
(:func:`inflate_member`): reading stops as soon as the output passes the cap or the
ratio, and a member whose real size or CRC differs from the declared one is
refused as a lying zip. (python-calamine's own zip reader also stops a member at
its declared size, "File is larger than its declared uncompressed size", as
measured with 0.9; nothing here relies on that.)
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Final

#: Limit on one member's compression ratio.
MAX_COMPRESSION_RATIO: Final = 200
#: Members smaller than this are not ratio-checked.
RATIO_CHECK_FROM: Final = 1024 * 1024
#: Compressed bytes read at a time, and the most output one step may produce.
_READ: Final = 64 * 1024
_OUTPUT: Final = 1024 * 1024
_LOCAL_HEADER: Final = struct.Struct("<4s5HLLLHH")
_LOCAL_MAGIC: Final = b"PK\x03\x04"


class ZipProblem(ValueError):
    """A zip member passes a bound, lies about its size or is damaged; the message says which."""


def zip_size_problem(members: Sequence[zipfile.ZipInfo], *, max_total: int) -> str | None:
    """Return why a zip with these members is refused (total size or ratio), or None."""
    declared = sum(m.file_size for m in members)
    if declared > max_total:
        return f"it would expand to {declared:,} bytes, above the {max_total:,}-byte limit"
    for member in members:
        if member.file_size < RATIO_CHECK_FROM:
            continue
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > MAX_COMPRESSION_RATIO:
            return _ratio_problem(member, ratio)
    return None


def _ratio_problem(member: zipfile.ZipInfo, ratio: float) -> str:
    """Return the sentence refusing a member that compresses too well."""
    return (
        f"{member.filename!r} compresses {ratio:,.0f} times, above the "
        f"{MAX_COMPRESSION_RATIO}x limit"
    )


def inflate_member(
    handle: BinaryIO, member: zipfile.ZipInfo, *, cap: int, cap_name: str = "limit"
) -> Iterator[bytes]:
    """Yield a member's real bytes, inflated from ``handle`` and never trusting its directory.

    Raises ``ZipProblem`` as soon as the output passes ``cap`` bytes (``cap_name``
    says which limit that is) or ``MAX_COMPRESSION_RATIO`` times what was read,
    and at the end when the real size or CRC differs from the declared one.
    Stored and deflated members only: the methods spreadsheets and our vendor use.
    """
    if member.flag_bits & 0x1:
        raise ZipProblem(f"{member.filename!r} is encrypted")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ZipProblem(
            f"{member.filename!r} uses compression method {member.compress_type},"
            " which spreadsheets do not use (only stored and deflated are read)"
        )
    handle.seek(member.header_offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or not header.startswith(_LOCAL_MAGIC):
        raise ZipProblem(f"{member.filename!r} is damaged (no local header where it should be)")
    fields = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = fields[-2], fields[-1]
    handle.seek(member.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    if member.compress_type == zipfile.ZIP_STORED:
        chunks = _stored(handle, member.compress_size)
    else:
        chunks = _deflated(handle, member)
    produced = 0
    crc = 0
    for chunk, consumed in chunks:
        produced += len(chunk)
        if produced > cap:
            raise ZipProblem(
                f"{member.filename!r} inflates to more than {cap:,} bytes, the {cap_name}"
                f" (its directory says {member.file_size:,})"
            )
        if produced >= RATIO_CHECK_FROM and produced > MAX_COMPRESSION_RATIO * max(consumed, 1):
            raise ZipProblem(_ratio_problem(member, produced / max(consumed, 1)))
        crc = zlib.crc32(chunk, crc)
        yield chunk
    if produced != member.file_size:
        raise ZipProblem(
            f"{member.filename!r} inflates to {produced:,} bytes but its directory says"
            f" {member.file_size:,} (a zip that lies about its sizes)"
        )
    if crc != member.CRC:
        raise ZipProblem(f"{member.filename!r} is damaged (bad CRC-32)")


def _stored(handle: BinaryIO, size: int) -> Iterator[tuple[bytes, int]]:
    """Yield a stored member's bytes with the count read so far (a stored byte is itself)."""
    left = size
    while left > 0:
        chunk = handle.read(min(_OUTPUT, left))
        if not chunk:
            raise ZipProblem("a stored member is cut short (truncated file)")
        left -= len(chunk)
        yield chunk, size - left


def _deflated(handle: BinaryIO, member: zipfile.ZipInfo) -> Iterator[tuple[bytes, int]]:
    """Yield a deflate stream's output in bounded steps, to the stream's own end."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    consumed = 0
    pending = b""
    try:
        while not inflater.eof:
            if not pending:
                # Read on past the declared compressed size if the stream goes on:
                # the real end is what a reader that trusts the stream would inflate.
                pending = handle.read(_READ)
                if not pending:
                    raise ZipProblem(f"{member.filename!r} is cut short (truncated file)")
                consumed += len(pending)
            output = inflater.decompress(pending, _OUTPUT)
            pending = inflater.unconsumed_tail
            if output:
                yield output, consumed - len(pending)
    except zlib.error as exc:
        raise ZipProblem(f"{member.filename!r} is damaged ({exc})") from None
