"""Crafting zips whose central directory lies about a member's size (with a matching CRC).

``understate(data, name, declared)`` rewrites the directory entry and the local header
of ``name``: its uncompressed size becomes ``declared`` and its CRC-32 the CRC of the
first ``declared`` real bytes. Python's ``zipfile`` then reads exactly those bytes and
finds nothing wrong; only a reader that inflates the deflate stream to its end sees
the real content.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def understate(data: bytes, name: str, declared: int) -> bytes:
    """Return ``data`` (a zip) with ``name`` declared ``declared`` bytes long, CRC to match."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
        real = archive.read(name)
    assert declared < len(real)
    crc = zlib.crc32(real[:declared])
    patched = bytearray(data)
    encoded = name.encode()
    # The local header: CRC at +14, compressed size at +18, uncompressed size at +22.
    local = info.header_offset
    assert patched[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<L", patched, local + 14, crc)
    struct.pack_into("<L", patched, local + 22, declared)
    # The central directory entry: CRC at +16, uncompressed size at +24, name at +46.
    start = 0
    while (start := patched.find(b"PK\x01\x02", start)) != -1:
        length = struct.unpack_from("<H", patched, start + 28)[0]
        if bytes(patched[start + 46 : start + 46 + length]) == encoded:
            struct.pack_into("<L", patched, start + 16, crc)
            struct.pack_into("<L", patched, start + 24, declared)
            break
        start += 4
    else:
        raise AssertionError(f"no directory entry for {name}")
    return bytes(patched)


def rezip(members: dict[str, bytes]) -> bytes:
    """Return a deflated zip holding ``members`` in order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def members_of(data: bytes) -> dict[str, bytes]:
    """Return the members of a zip by name, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}
