"""Zip-bomb bounds shared by the result files we download and the workbooks users give us.

Real sheet XML compresses 10 to 30 times; zip bombs compress hundreds to thousands
of times. A zip is refused when the sizes its directory declares add up to more
than a caller's limit, or when one member larger than 1 MiB (tiny members
compress oddly and cannot hurt) compresses more than ``MAX_COMPRESSION_RATIO`` times.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from typing import Final

#: Limit on one member's compression ratio.
MAX_COMPRESSION_RATIO: Final = 200
#: Members smaller than this are not ratio-checked.
RATIO_CHECK_FROM: Final = 1024 * 1024


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
            return (
                f"{member.filename!r} compresses {ratio:,.0f} times, above the "
                f"{MAX_COMPRESSION_RATIO}x limit"
            )
    return None
