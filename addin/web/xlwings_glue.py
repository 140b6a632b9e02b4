"""The xlwings side of the add-in: read a selection, answer with xlwings actions.

Our JavaScript sends each selected area as its own column of values, with the
current values of its answer column (``target``), and nothing left of or
between them: xlwings' own payload shape starts every row at column A, which
made a selection in column Z carry 25 nulls per row (issue 10). The shape is
described in ``docs/addin-api.md``; :func:`read_selection` reads it in one
request, :func:`read_header` and :func:`read_chunk` read it in pieces (the
upload sessions of ``addin.web.uploads``), :func:`assemble` joins them. The
bodies are typed (:class:`SelectionBody`, :class:`UploadHeader`, :class:`ChunkBody`:
the views read them with ``parse_body``); what the types cannot say (addresses,
row counts, answer columns that collide) is a :class:`SelectionError` with a code
and a clear message, never a crash; ``addin.web.json_api`` turns them into HTTP
answers.

:func:`column_actions` writes answer columns through an xlwings book
(``xw.Book(json=...)`` on an empty sheet of the selection's name) and returns
``book.json()["actions"]``: ``setValues`` actions with 0-based
``start_row``/``start_column``, at most :data:`MAX_ROWS_PER_ACTION` rows each.

``xw.Book(json=...)`` is xlwings PRO, free for non-commercial use with the key
``noncommercial`` (set by :func:`addin.config.ensure_xlwings_license` unless
``XLWINGS_LICENSE_KEY`` names another); commercial use needs a paid key.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints

from addin.config import ensure_xlwings_license
from addin.engine.phones import validate_region
from addin.formats import column_index, column_letters
from addin.web.answer_columns import SPILL
from addin.web.excel_values import (
    CELL_VALUE_RULE,
    RegionText,
    all_cell_values,
    describe_kind,
    is_cell_value,
)

#: Excel's grid.
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
#: The most rows one check accepts (all areas together).
MAX_SELECTION_ROWS = 1_000_000
#: The most areas (Ctrl-click ranges) in one selection.
MAX_AREAS = 64
#: Rows per ``setValues`` action: one short text per row keeps it far below
#: Excel on the web's 5 MB per request.
MAX_ROWS_PER_ACTION = 20_000
#: The xlwings payload version of the book the actions are written through.
XLWINGS_PAYLOAD_VERSION = "0.37.8"
#: The longest range address we read (``'Sheet name'!A1:A1048576`` fits many times).
MAX_ADDRESS_TEXT = 512
#: Excel's longest sheet name (https://support.microsoft.com/office/excel-specifications-and-limits-1672b34d-7043-467e-8e27-269d656771c3).
MAX_SHEET_NAME = 31
#: At most this many chunks per upload session.
MAX_CHUNKS = 10_000
#: The longest upload id we read (ours are 16 characters).
MAX_UPLOAD_ID = 64

_A1_AREA = re.compile(
    r"\$?(?P<c1>[A-Za-z]{1,3})\$?(?P<r1>[0-9]{1,7})?"
    r"(?::\$?(?P<c2>[A-Za-z]{1,3})\$?(?P<r2>[0-9]{1,7})?)?"
)
_COLUMN = re.compile(r"\$?([A-Za-z]{1,3})")


class SelectionError(ValueError):
    """A selection that cannot be checked; ``code`` names the rule it breaks."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the machine-readable code (``bad_payload``, ``bad_address``...) and the message."""
        super().__init__(message)
        self.code = code


class SelectionTooLargeError(SelectionError):
    """More rows than one check accepts."""

    def __init__(self, message: str) -> None:
        """Use the code ``selection_too_large``."""
        super().__init__("selection_too_large", message)


class XlwingsLicenseError(RuntimeError):
    """xlwings refuses to write actions: it found no licence key."""


@dataclass(frozen=True)
class Area:
    """One selected single-column area and its answer column, in 1-based rows and columns."""

    address: str
    first_row: int
    last_row: int
    column: int
    #: Where the answers go: the next column unless the user chose another.
    target_column: int

    @property
    def rows(self) -> int:
        """Return how many rows the area spans."""
        return self.last_row - self.first_row + 1

    @property
    def target_letters(self) -> str:
        """Return the answer column's letters (``B``)."""
        return column_letters(self.target_column - 1)


@dataclass(frozen=True)
class SelectionHeader:
    """What a selection is before its cells arrive: sheet, region and areas."""

    sheet_name: str
    areas: list[Area]
    region: str | None

    @property
    def label(self) -> str:
        """Return ``Sheet!A1:A9,C1:C3``: shown in the job history and parsed back by the pane."""
        return f"{self.sheet_name}!{','.join(area.address for area in self.areas)}"

    @property
    def rows(self) -> int:
        """Return the rows of all areas together."""
        return sum(area.rows for area in self.areas)

    def region_or(self, default: str) -> str:
        """Return the selection's region, else ``default``; refuse an unknown code."""
        try:
            return validate_region(self.region or default)
        except ValueError as exc:
            raise SelectionError("bad_region", str(exc)) from None


@dataclass(frozen=True)
class Selection(SelectionHeader):
    """A selection with its cells: per area the values and the answer column's current cells."""

    #: One list per area: the cell values top to bottom (None for an empty cell).
    cells: list[list[Any]]
    #: One list per area: the answer column beside it, as the client read it.
    targets: list[list[Any]]


@dataclass(frozen=True)
class Chunk:
    """A block of consecutive rows of one area, as one upload request carries it."""

    area: int
    offset: int
    values: list[Any]
    target: list[Any]


def _cells(value: Any) -> list[Any]:
    """Return an area's ``values`` unchanged when it is a list of cell values, else refuse it.

    Checked as a whole (``all_cell_values``) rather than through pydantic's list types:
    a million cells are checked in a fraction of a second and not copied; only a list
    that fails is walked cell by cell, for the first bad row.
    """
    if not isinstance(value, list) or len(value) > EXCEL_ROWS:
        raise ValueError(f"must be a list of at most {EXCEL_ROWS:,} cells, top to bottom")
    if all_cell_values(value):
        return value
    for row, cell in enumerate(value):
        if not is_cell_value(cell):
            raise ValueError(
                f"row {row + 1} holds {describe_kind(cell)}; each cell {CELL_VALUE_RULE}"
            )
    return value


def _answer_cells(value: Any) -> list[Any]:
    """Return an area's ``target`` unchanged: cell values, or the spill marker."""
    if not isinstance(value, list) or len(value) > EXCEL_ROWS:
        raise ValueError(f"must be a list of at most {EXCEL_ROWS:,} cells, top to bottom")
    if all_cell_values(value):
        return value
    for row, cell in enumerate(value):
        if not is_cell_value(cell) and cell != SPILL:
            raise ValueError(
                f"row {row + 1} holds {describe_kind(cell)}; each answer cell {CELL_VALUE_RULE}"
                ' (a cell in a spill range: {"spill": true})'
            )
    return value


_Address = Annotated[str, StringConstraints(strict=True, max_length=MAX_ADDRESS_TEXT)]
_Letters = Annotated[str, StringConstraints(strict=True, max_length=8)]
_SheetName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_SHEET_NAME)]
_UploadId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_UPLOAD_ID)]
_Cells = Annotated[list[Any], PlainValidator(_cells)]
_AnswerCells = Annotated[list[Any], PlainValidator(_answer_cells)]


class AreaColumn(BaseModel):
    """One area of a selection: its address and, when the user chose it, its answer column."""

    model_config = ConfigDict(extra="forbid", strict=True)

    address: _Address
    target_column: _Letters | None = None


class AreaCells(AreaColumn):
    """One area with its cells and the current cells of its answer column."""

    values: _Cells
    target: _AnswerCells


class SelectionBody(BaseModel):
    """``check-selection`` / ``write-results``: the selection itself, or the upload holding it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sheet: _SheetName | None = None
    region: RegionText = None
    areas: Annotated[list[AreaCells], Field(max_length=10 * MAX_AREAS)] | None = None
    upload_id: _UploadId | None = None
    #: The user's word to write over their data in the answer column.
    overwrite: bool = False
    #: False: plan only; the plan waits until ``/api/plans/<id>/confirm``.
    start: bool = True


class UploadHeader(BaseModel):
    """``POST /xlwings/uploads``: the selection without its cells, and how many chunks follow."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sheet: _SheetName
    region: RegionText = None
    areas: Annotated[list[AreaColumn], Field(max_length=10 * MAX_AREAS)]
    chunks: int = Field(ge=1, le=MAX_CHUNKS)


class ChunkBody(BaseModel):
    """One chunk: rows from ``offset`` (0-based) of area ``area``, values and answer cells."""

    model_config = ConfigDict(extra="forbid", strict=True)

    area: int = Field(ge=0, lt=10 * MAX_AREAS)
    offset: int = Field(ge=0, lt=EXCEL_ROWS)
    values: _Cells
    target: _AnswerCells


@functools.cache
def xlwings_module() -> ModuleType:
    """Import xlwings once, after giving it its licence key."""
    ensure_xlwings_license()
    import xlwings

    return xlwings


def read_selection(body: SelectionBody) -> Selection:
    """Return the selection a single request carries, or raise ``SelectionError``."""
    if body.sheet is None or body.areas is None:
        raise _bad("send 'sheet' and 'areas' (each with its values and target), or an 'upload_id'")
    header = read_header(body.sheet, body.region, body.areas)
    # The areas' cells were checked with the body: built, not validated a second time.
    chunks = [
        read_chunk(
            header, ChunkBody.model_construct(area=i, offset=0, values=a.values, target=a.target)
        )
        for i, a in enumerate(body.areas)
    ]
    return assemble(header, chunks)


def read_header(sheet: str, region: str | None, areas: Sequence[AreaColumn]) -> SelectionHeader:
    """Return the sheet, region and areas of a selection, or raise ``SelectionError``."""
    if not sheet.strip():
        raise _bad("sheet must name the worksheet that holds the selection")
    if not areas:
        raise _bad("the selection has no area")
    if len(areas) > MAX_AREAS:
        raise SelectionError(
            "too_many_areas", f"the selection has {len(areas)} areas; select at most {MAX_AREAS}"
        )
    parsed = [_parse_area(area, position) for position, area in enumerate(areas)]
    _check_areas(parsed)
    return SelectionHeader(sheet_name=sheet, areas=parsed, region=region or None)


def read_chunk(header: SelectionHeader, body: ChunkBody) -> Chunk:
    """Return one block of rows of one area, checked against ``header``."""
    if body.area >= len(header.areas):
        raise _bad(f"area must be the index of an area (0 to {len(header.areas) - 1})")
    area = header.areas[body.area]
    values, target, offset = body.values, body.target, body.offset
    if len(values) != len(target):
        raise _bad(
            f"{area.address}: {len(values)} values but {len(target)} answer cells;"
            " send one answer cell per row"
        )
    if offset + len(values) > area.rows:
        raise _bad(
            f"{area.address} has {area.rows:,} rows, but a chunk holds rows"
            f" {offset + 1:,} to {offset + len(values):,}"
        )
    cells = [None if value == "" else value for value in values]
    return Chunk(area=body.area, offset=offset, values=cells, target=target)


def assemble(header: SelectionHeader, chunks: Sequence[Chunk]) -> Selection:
    """Join chunks into the selection; every row of every area must come exactly once."""
    cells: list[list[Any]] = []
    targets: list[list[Any]] = []
    for position, area in enumerate(header.areas):
        pieces = sorted((c for c in chunks if c.area == position), key=lambda c: c.offset)
        values: list[Any] = []
        target: list[Any] = []
        for piece in pieces:
            if piece.offset != len(values):
                what = "came in no chunk" if piece.offset > len(values) else "came twice"
                rows = (min(piece.offset, len(values)) + 1, max(piece.offset, len(values)))
                raise SelectionError(
                    "bad_upload", f"{area.address}: rows {rows[0]:,} to {rows[1]:,} {what}"
                )
            values.extend(piece.values)
            target.extend(piece.target)
        if len(values) != area.rows:
            raise SelectionError(
                "bad_upload",
                f"{area.address} has {area.rows:,} rows but {len(values):,} arrived",
            )
        cells.append(values)
        targets.append(target)
    return Selection(
        sheet_name=header.sheet_name,
        areas=header.areas,
        region=header.region,
        cells=cells,
        targets=targets,
    )


def _book(sheet_name: str) -> Any:
    """Return an xlwings book with one empty sheet named ``sheet_name``, to write actions into."""
    xw = xlwings_module()
    payload = {
        "client": "Office.js",
        "version": XLWINGS_PAYLOAD_VERSION,
        "book": {"name": "Book", "active_sheet_index": 0, "selection": "A1"},
        "names": [],
        "sheets": [{"name": sheet_name, "values": [[]], "pictures": [], "tables": []}],
    }
    try:
        return xw.Book(json=payload)
    except xw.LicenseError:
        # xlwings was imported before the key was set (elsewhere in this process).
        raise XlwingsLicenseError(
            "xlwings found no licence key: set XLWINGS_LICENSE_KEY (noncommercial, or a paid"
            " key for commercial use) and restart the backend",
        ) from None


def column_actions(
    selection: Selection, columns: Sequence[Sequence[str | None]]
) -> list[dict[str, Any]]:
    """Write ``columns[i]`` into area ``i``'s answer column (None keeps a cell); return the actions.

    Each column is aligned with its area's rows; runs of written cells become
    ``setValues`` actions of at most :data:`MAX_ROWS_PER_ACTION` rows.
    """
    book = _book(selection.sheet_name)
    sheet = book.sheets[0]
    for area, column in zip(selection.areas, columns, strict=True):
        target = area.target_column
        offset = 0
        while offset < len(column):
            if column[offset] is None:
                offset += 1
                continue
            end = offset
            while (
                end < len(column) and column[end] is not None and end - offset < MAX_ROWS_PER_ACTION
            ):
                end += 1
            first = area.first_row + offset
            block = [[value] for value in column[offset:end]]
            # raw_value skips xlwings' converters: 100,000 texts need none of them.
            sheet.range((first, target), (first + len(block) - 1, target)).raw_value = block
            offset = end
    actions: list[dict[str, Any]] = book.json()["actions"]
    return actions


def answer_ranges(selection: SelectionHeader, lengths: Sequence[int]) -> list[dict[str, int]]:
    """Return the answer column of each area (first ``lengths[i]`` rows) in action coordinates."""
    return [
        {
            "sheet_position": 0,
            "start_row": area.first_row - 1,
            "start_column": area.target_column - 1,
            "row_count": length,
            "column_count": 1,
        }
        for area, length in zip(selection.areas, lengths, strict=True)
        if length > 0
    ]


def _bad(message: str) -> SelectionError:
    """Return the error for a body of the wrong shape."""
    return SelectionError("bad_payload", message)


def _parse_area(area: AreaColumn, position: int) -> Area:
    """Parse ``{"address": "A2:A9", "target_column": "B"}`` (``Sheet1!$A$2:$A$9`` too)."""
    address = area.address
    text = address.rsplit("!", 1)[-1].strip()
    match = _A1_AREA.fullmatch(text)
    if match is None or match["r1"] is None or (match["c2"] is not None and match["r2"] is None):
        raise SelectionError(
            "bad_address",
            f"{address!r} is not a range address with rows, such as 'A2:A500'",
        )
    first_column = column_index(match["c1"]) + 1
    last_column = column_index(match["c2"] or match["c1"]) + 1
    first_row = int(match["r1"])
    last_row = int(match["r2"] or match["r1"])
    first_row, last_row = min(first_row, last_row), max(first_row, last_row)
    first_column, last_column = min(first_column, last_column), max(first_column, last_column)
    if not (first_row >= 1 and last_row <= EXCEL_ROWS and last_column <= EXCEL_COLUMNS):
        raise SelectionError("bad_address", f"{address!r} lies outside Excel's grid")
    if last_column != first_column:
        raise SelectionError(
            "selection_too_wide",
            f"select one column per area: {address} spans {last_column - first_column + 1} columns",
        )
    target_column = first_column + 1
    chosen = area.target_column
    if chosen is not None:
        found = _COLUMN.fullmatch(chosen)
        if found is None:
            raise SelectionError(
                "bad_address", f"areas[{position}].target_column must be column letters such as 'C'"
            )
        target_column = column_index(found[1]) + 1
        if not first_column < target_column <= EXCEL_COLUMNS:
            raise SelectionError(
                "bad_address",
                f"the answers for {address} go right of it, not into column {chosen}",
            )
    letters = column_letters(first_column - 1)
    canonical = f"{letters}{first_row}"
    if last_row != first_row:
        canonical += f":{letters}{last_row}"
    return Area(canonical, first_row, last_row, first_column, target_column)


def _check_areas(areas: list[Area]) -> None:
    """Refuse too many rows, and answer columns that meet another area or its answers."""
    total = sum(area.rows for area in areas)
    if total > MAX_SELECTION_ROWS:
        raise SelectionTooLargeError(
            f"the selection has {total:,} rows;"
            f" at most {MAX_SELECTION_ROWS:,} can be checked at once",
        )
    for index, area in enumerate(areas):
        for other in areas[index + 1 :] + areas[:index]:
            if other.first_row > area.last_row or area.first_row > other.last_row:
                continue
            if other.column == area.target_column:
                raise SelectionError(
                    "answers_overwrite_selection",
                    f"the answers for {area.address} would overwrite {other.address}:"
                    " leave the column right of each area free",
                )
            if other.target_column == area.target_column:
                raise SelectionError(
                    "answers_overwrite_selection",
                    f"the answers for {area.address} and {other.address} would share column"
                    f" {area.target_letters}: give each area its own answer column",
                )
