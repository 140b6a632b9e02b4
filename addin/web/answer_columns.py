"""What goes in the answer column right of each selected area (no Flask, no Excel).

A check writes, per row: the header ``facebook`` (``facebook (DEMO)`` on the
emulator) where the area starts with a header cell, ``yes``/``no``/``ban`` for
numbers answered from the cache, ``invalid`` for cells that are not a phone
number, ``pending`` for numbers being checked (``unconfirmed`` while the plan
waits for the user's go-ahead) and nothing for empty cells. The write-back
puts each answer only next to a cell that still holds that number.

Nothing of the user's is overwritten: an answer cell is written only when it is
empty or holds a text the add-in writes (:func:`is_free`, the one rule, also sent to
the task pane as ``free_texts``). A check whose answer column holds anything else
(names, notes, numbers, formulas, a spill range) is not started until the user
chooses another column or to overwrite (:func:`foreign_cells`, :func:`keep_foreign`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Final

from addin.engine.phones import Normalized, normalize, normalize_many, validate_region
from addin.engine.store import Answer
from addin.formats import INVALID, OUTCOMES, column_letters

HEADER = "facebook"
DEMO_HEADER = "facebook (DEMO)"
PENDING = "pending"
UNCONFIRMED = "unconfirmed"
CANCELLED = "cancelled"
EMPTY = ""
#: Every text the add-in writes into an answer column, in any mode (the DEMO header
#: included): a cell holding one of them is ours to write again.
OUR_TEXTS: Final = frozenset({HEADER, DEMO_HEADER, PENDING, UNCONFIRMED, CANCELLED, *OUTCOMES})
#: How the client sends an answer cell that lies in a spill range (its value is not its own).
SPILL: Final = {"spill": True}
#: Normalises a batch of distinct cells in a region (``phones.normalize_many``'s signature).
NormalizeCells = Callable[[Sequence[object], str | None], list[Normalized]]
#: Cells named in a conflict's description, per area.
_EXAMPLES = 3
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


#: The memo key of an empty cell (see :func:`_cell_keys`).
_EMPTY_KEY: Final = (type(None), None)


def read_area(
    cells: Sequence[object],
    region: str | None,
    *,
    normalize_cells: NormalizeCells = normalize_many,
) -> AreaNumbers:
    """Normalise one area's cells, taking its first cell as a header when it looks like one."""
    return read_areas([cells], region, normalize_cells=normalize_cells)[0]


def read_areas(
    areas: Sequence[Sequence[object]],
    region: str | None,
    *,
    normalize_cells: NormalizeCells = normalize_many,
) -> list[AreaNumbers]:
    """Normalise the cells of every area, taking each first cell as a header when it looks like one.

    Each distinct cell of all the areas is normalised once, in one batch through
    ``normalize_cells`` (``phones.normalize_many``, or a pool's that shares large
    batches with worker processes); a repeated number costs a dictionary look-up.
    """
    region = None if region is None else validate_region(region)
    headers = [bool(cells) and is_header(cells[0], region) for cells in areas]
    keyed = [
        _cell_keys(cells[1:] if header else cells)
        for cells, header in zip(areas, headers, strict=True)
    ]
    distinct = dict.fromkeys(chain.from_iterable(keyed))
    distinct.pop(EMPTY, None)
    distinct.pop(_EMPTY_KEY, None)
    values = [key if type(key) is str else key[1] for key in distinct]  # type: ignore[index]
    results: dict[Hashable, Normalized | None] = dict(
        zip(distinct, normalize_cells(values, region), strict=True)
    )
    results[EMPTY] = results[_EMPTY_KEY] = None
    numbers = []
    for keys, header in zip(keyed, headers, strict=True):
        rows = list(map(results.__getitem__, keys))
        if header:
            rows.insert(0, None)
        numbers.append(AreaNumbers(header=header, rows=rows))
    return numbers


def _cell_keys(cells: Sequence[object]) -> Sequence[Hashable]:
    """Return the memo key of each cell: text as it is, other values with their type.

    ``1 == 1.0 == True`` in Python, but TRUE in a cell is not the number 1; a column of
    texts is its own list of keys.
    """
    if set(map(type, cells)) <= {str}:
        return cells
    return [value if type(value) is str else (type(value), value) for value in cells]


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


def is_free(cell: object) -> bool:
    """Return True when an answer cell may be written: empty, or holding a text of ours.

    The client sends formulas as their text (``=SUM(A1)``) and spilled cells as
    :data:`SPILL`, so neither ever reads as ours; numbers and other texts are the user's.
    """
    return cell is None or (isinstance(cell, str) and (cell == EMPTY or cell in OUR_TEXTS))


def foreign_cells(target: Sequence[object]) -> list[int]:
    """Return the offsets of the answer cells that hold something not ours."""
    if _all_free(target):
        return []
    return [offset for offset, cell in enumerate(target) if not is_free(cell)]


def _all_free(target: Sequence[object]) -> bool:
    """Return True when every answer cell is free, judged once per distinct cell.

    False also when a cell cannot be judged that way (a spill marker is no set member).
    """
    try:
        kinds = set(target)
    except TypeError:
        return False
    return all(is_free(cell) for cell in kinds)


def describe_cell(cell: object) -> str:
    """Return a short description of a foreign answer cell for the task pane."""
    if isinstance(cell, dict):
        return "part of a spill range"
    if isinstance(cell, str) and cell.startswith("="):
        return f"the formula {_clip(cell)}"
    if isinstance(cell, bool):
        return str(cell).upper()
    if isinstance(cell, int | float):
        return f"the number {cell:g}"
    return repr(_clip(str(cell)))


def conflict_examples(
    first_row: int, column: int, offsets: Sequence[int], target: Sequence[object]
) -> list[str]:
    """Return up to three ``B2: 'Alice'`` descriptions of foreign cells (1-based row and column)."""
    letters = column_letters(column - 1)
    return [f"{letters}{first_row + o}: {describe_cell(target[o])}" for o in offsets[:_EXAMPLES]]


def keep_foreign(
    column: Sequence[str | None], target: Sequence[object], *, overwrite: bool
) -> tuple[list[str | None], int]:
    """Return ``column`` with None (keep) where the answer cell is not ours; and how many that kept.

    With ``overwrite`` (the user's word) a foreign cell is written where there is
    something to say (an answer, a placeholder, ``invalid``, the header); beside an
    empty cell it is kept either way.
    """
    if len(column) == len(target) and _all_free(target):
        return list(column), 0
    planned: list[str | None] = []
    kept = 0
    for value, cell in zip(column, target, strict=True):
        if value is None or is_free(cell) or (overwrite and value != EMPTY):
            planned.append(value)
        else:
            planned.append(None)
            kept += value != EMPTY
    return planned, kept


def _clip(text: str, limit: int = 40) -> str:
    """Return ``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
