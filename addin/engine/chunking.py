"""Split numbers to upload into tasks within the vendor's minimum and maximum task size.

The rule: as few tasks as the maximum allows, ``k = ceil(n / maximum)``, with sizes
as equal as possible (they differ by at most one), so no remainder is left under
the minimum: 20,050 numbers at a 20,000 maximum become two tasks of 10,025, not
20,000 + 50. Fewer numbers than the minimum make no task at all (they are held,
never padded with numbers the user did not give).

Why it always fits: when ``maximum >= 2 * minimum - 1`` (the settings refuse
less), any ``n >= minimum`` gives ``n >= k * minimum``, so the smallest chunk,
``n // k``, is at least the minimum; and ``ceil(n / k) <= maximum`` by the choice
of ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def chunk_count(count: int, *, minimum: int, maximum: int) -> int:
    """Return how many tasks ``count`` numbers make (0 when under the minimum)."""
    if minimum < 1 or maximum < 1:
        raise ValueError("task sizes must be at least 1")
    if count < max(minimum, 1):
        return 0
    return -(-count // maximum)


def balanced_chunks(items: Sequence[T], *, minimum: int, maximum: int) -> list[list[T]]:
    """Return ``items`` in consecutive chunks of balanced sizes within the bounds.

    Raises ``ValueError`` when the bounds cannot be met (``maximum < 2 * minimum - 1``
    and a count between them); an empty list when there are fewer items than the minimum.
    """
    count = len(items)
    k = chunk_count(count, minimum=minimum, maximum=maximum)
    if k == 0:
        return []
    base, extra = divmod(count, k)
    if base < minimum:
        raise ValueError(
            f"{count:,} numbers cannot be split into tasks of {minimum:,} to {maximum:,}"
        )
    chunks: list[list[T]] = []
    start = 0
    for index in range(k):
        size = base + (1 if index < extra else 0)
        chunks.append(list(items[start : start + size]))
        start += size
    return chunks
