"""What goes in the answer column right of each selected area (no Flask, no Excel).

A check writes, per row: the header ``facebook`` (``facebook (DEMO)`` on the
emulator) where the area starts with a header cell, ``yes``/``no``/``ban`` for
numbers answered from the cache, ``invalid`` for cells that are not a phone
number, ``pending`` for numbers being checked (``unconfirmed`` while the plan
waits for the user's go-ahead) and nothing for empty cells. The write-back
puts each answer only next to a cell that still holds that number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from addin.engine.phones import Normalized, normalize
from addin.engine.store import Answer
from addin.formats import INVALID

HEADER = "facebook"
DEMO_HEADER = "facebook (DEMO)"
PENDING = "pending"
UNCONFIRMED = "unconfirmed"
CANCELLED = "cancelled"
EMPTY = ""
#: A header may hold a digit or two ("Phone 2") but never a whole number.
_MAX_HEADER_DIGITS = 2
_MAX_HEADER_LENGTH = 60


@dataclass(frozen=True)
class AreaNumbers:
    """The cells of one area, normalised: None for an empty cell."""

    header: bool
    #: One entry per row, the header row included (as None).
    rows: list[Normalized | None]

    @property
    def numbers(self) -> list[str]:
        """Return the valid E.164 numbers, in row order (duplicates kept)."""
        return [row.e164 for row in self.rows if row is not None and row.e164 is not None]

    @property
    def invalid(self) -> int:
        """Return how many non-empty cells are not a valid number."""
        return sum(1 for row in self.rows if row is not None and row.e164 is None)

    @property
    def filled(self) -> int:
        """Return how many cells hold something (the header excluded)."""
        return sum(1 for row in self.rows if row is not None)


def is_header(value: object, region: str | None) -> bool:
    """Return True when ``value`` reads as a column title rather than a phone number."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if not text or len(text) > _MAX_HEADER_LENGTH:
        return False
    if not any(char.isalpha() for char in text):
        return False
    if sum(char.isdigit() for char in text) > _MAX_HEADER_DIGITS:
        return False
    return not normalize(text, region).valid


def read_area(cells: Sequence[object], region: str | None) -> AreaNumbers:
    """Normalise one area's cells, taking its first cell as a header when it looks like one."""
    header = bool(cells) and is_header(cells[0], region)
    rows: list[Normalized | None] = []
    for position, value in enumerate(cells):
        if (position == 0 and header) or value is None or value == "":
            rows.append(None)
        else:
            rows.append(normalize(value, region))
    return AreaNumbers(header=header, rows=rows)


def check_column(
    area: AreaNumbers,
    *,
    hits: Mapping[str, tuple[str, float]],
    placeholder: str,
    demo: bool,
) -> list[str | None]:
    """Return the answer column written at check time (every row written)."""
    column: list[str | None] = []
    for row in area.rows:
        if row is None:
            column.append(EMPTY)
        elif row.e164 is None:
            column.append(INVALID)
        else:
            hit = hits.get(row.e164)
            column.append(placeholder if hit is None else hit[0])
    if area.header:
        column[0] = DEMO_HEADER if demo else HEADER
    return column


@dataclass(frozen=True)
class WriteBack:
    """The answer column of a write-back and what it did."""

    column: list[str | None]
    written: int
    skipped: int


def result_column(
    area: AreaNumbers,
    *,
    answers: Mapping[str, Answer],
    cached: Mapping[str, tuple[str, float]],
) -> WriteBack:
    """Return the write-back column: None keeps a cell as it is.

    A row gets its job's answer, else a fresh cached answer of the number it
    holds now; a row whose number has neither (edited or moved in meanwhile) is
    skipped. Empty rows are cleared, invalid ones say ``invalid``, the header
    cell is kept.
    """
    column: list[str | None] = []
    written = skipped = 0
    for row in area.rows:
        if row is None:
            column.append(EMPTY)
            continue
        if row.e164 is None:
            column.append(INVALID)
            written += 1
            continue
        answer = answers.get(row.e164)
        if answer is not None:
            column.append(CANCELLED if answer.source == "cancelled" else answer.answer)
            written += 1
            continue
        hit = cached.get(row.e164)
        if hit is not None:
            column.append(hit[0])
            written += 1
        else:
            column.append(None)
            skipped += 1
    if area.header:
        column[0] = None
    return WriteBack(column=column, written=written, skipped=skipped)
