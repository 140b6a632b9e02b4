"""The xlwings side of the add-in: read a selection payload, answer with actions.

Our JavaScript sends the selection in the payload shape of xlwings' Office.js
client (see ``docs/addin-api.md``). :class:`XlwingsPayload` types every field
we read (the sheets' names and cell values, the active sheet, the selected
addresses, our ``fbcheck`` extras) and refuses any other, so xlwings only ever
sees a document of the shape it expects; :func:`read_selection` checks what
the types cannot (the areas, the sheet index, the row count: every mistake is
a :class:`SelectionError` with a code and a clear message, never a crash;
``addin.web.json_api`` turns them into HTTP answers), reads it with
``xw.Book(json=...)`` and returns the cells of each selected area.
:func:`column_actions` writes answer columns through the same book and returns
``book.json()["actions"]``: ``setValues`` actions with 0-based
``start_row``/``start_column``, at most :data:`MAX_ROWS_PER_ACTION` rows each.

``xw.Book(json=...)`` is xlwings PRO, free for non-commercial use with the key
``noncommercial`` (set by :func:`addin.config.ensure_xlwings_license` unless
``XLWINGS_LICENSE_KEY`` names another); commercial use needs a paid key.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints

from addin.config import ensure_xlwings_license
from addin.engine.phones import validate_region
from addin.formats import column_index, column_letters
from addin.web.excel_values import CELL_VALUE_RULE, RegionText, describe_kind, is_cell_value

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

#: The most sheets in one payload (ours sends one: the active sheet).
MAX_SHEETS = 256
#: The longest range address we read (``'Sheet name'!A1:A1048576`` fits many times).
MAX_ADDRESS_TEXT = 512
#: A list of pictures or tables that xlwings reads and we never send.
MAX_SHEET_EXTRAS = 1_000
#: Excel's longest sheet name (https://support.microsoft.com/office/excel-specifications-and-limits-1672b34d-7043-467e-8e27-269d656771c3).
MAX_SHEET_NAME = 31
#: The longest workbook name or xlwings version text we accept.
MAX_NAME_TEXT = 1_024

_A1_AREA = re.compile(
    r"\$?(?P<c1>[A-Za-z]{1,3})\$?(?P<r1>[0-9]{1,7})?"
    r"(?::\$?(?P<c2>[A-Za-z]{1,3})\$?(?P<r2>[0-9]{1,7})?)?"
)


class SelectionError(ValueError):
    """A selection payload that cannot be checked; ``code`` names the rule it breaks."""

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
    """xlwings refuses to read payloads: it found no licence key."""


def _grid(value: Any) -> list[list[Any]]:
    """Return a sheet's ``values`` unchanged when it is a grid of cell values, else refuse it.

    A plain loop rather than pydantic's list types: a million rows are checked
    in a fraction of a second and not copied.
    """
    if not isinstance(value, list) or len(value) > EXCEL_ROWS:
        raise ValueError(f"must be a list of at most {EXCEL_ROWS:,} rows (lists)")
    for row_index, row in enumerate(value):
        if not isinstance(row, list) or len(row) > EXCEL_COLUMNS:
            raise ValueError(
                f"must be a list of rows (lists of at most {EXCEL_COLUMNS:,} cells):"
                f" row {row_index + 1} is {describe_kind(row)}"
            )
        for column_index_, cell in enumerate(row):
            if not is_cell_value(cell):
                raise ValueError(
                    f"cell {column_letters(column_index_)}{row_index + 1} holds"
                    f" {describe_kind(cell)}; each cell {CELL_VALUE_RULE}"
                )
    return value


_Name = Annotated[str, StringConstraints(strict=True, max_length=MAX_NAME_TEXT)]
_Address = Annotated[str, StringConstraints(strict=True, max_length=MAX_ADDRESS_TEXT)]
_Extras = Annotated[list[Any], Field(max_length=MAX_SHEET_EXTRAS)]


class BookInfo(BaseModel):
    """``book``: the workbook's name, the active sheet and the selected range."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: _Name = "Book"
    active_sheet_index: int = Field(default=0, ge=0, lt=MAX_SHEETS)
    selection: _Address | None = None


class SheetValues(BaseModel):
    """One of ``sheets``: its name and its values from A1 (rows of cell values)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_SHEET_NAME)]
    values: Annotated[list[list[Any]], PlainValidator(_grid)]
    pictures: _Extras = Field(default_factory=list)
    tables: _Extras = Field(default_factory=list)


class FbcheckExtras(BaseModel):
    """``fbcheck``: our own fields, the region and every area of a multi-area selection."""

    model_config = ConfigDict(extra="forbid", strict=True)

    region: RegionText = None
    areas: Annotated[list[_Address], Field(max_length=10 * MAX_AREAS)] | None = None


class XlwingsPayload(BaseModel):
    """The payload our JavaScript sends, in the shape of xlwings' Office.js client."""

    model_config = ConfigDict(extra="forbid", strict=True)

    client: _Name = "Office.js"
    version: _Name = ""
    book: BookInfo
    names: _Extras = Field(default_factory=list)
    sheets: Annotated[list[SheetValues], Field(max_length=MAX_SHEETS)]
    #: Null or absent: the backend's default region, the areas of ``book.selection``.
    fbcheck: FbcheckExtras | None = None

    def for_xlwings(self, *, selection: str) -> dict[str, Any]:
        """Return the document ``xw.Book(json=...)`` reads: only checked fields, values uncopied."""
        return {
            "client": self.client,
            "version": self.version,
            "names": self.names,
            "book": {
                "name": self.book.name,
                "active_sheet_index": self.book.active_sheet_index,
                "selection": selection,
            },
            "sheets": [
                {
                    "name": sheet.name,
                    "values": sheet.values,
                    "pictures": sheet.pictures,
                    "tables": sheet.tables,
                }
                for sheet in self.sheets
            ],
        }


@dataclass(frozen=True)
class Area:
    """One selected single-column area, in 1-based sheet rows and columns."""

    address: str
    first_row: int
    last_row: int
    column: int

    @property
    def rows(self) -> int:
        """Return how many rows the area spans."""
        return self.last_row - self.first_row + 1


@dataclass(frozen=True)
class Selection:
    """A parsed selection payload: the xlwings book, its sheet, the areas and their cells."""

    book: Any
    sheet_index: int
    sheet_name: str
    areas: list[Area]
    #: One list per area: the cell values top to bottom (None for an empty cell).
    cells: list[list[Any]]
    region: str | None

    @property
    def label(self) -> str:
        """Return ``Sheet!A1:A9,C1:C3``: shown in the job history and parsed back by the pane."""
        return f"{self.sheet_name}!{','.join(area.address for area in self.areas)}"

    def region_or(self, default: str) -> str:
        """Return the payload's region, else ``default``; refuse an unknown code."""
        try:
            return validate_region(self.region or default)
        except ValueError as exc:
            raise SelectionError("bad_region", str(exc)) from None


@functools.cache
def xlwings_module() -> ModuleType:
    """Import xlwings once, after giving it its licence key."""
    ensure_xlwings_license()
    import xlwings

    return xlwings


def read_selection(payload: XlwingsPayload) -> Selection:
    """Return the selected areas of a checked xlwings payload, or raise ``SelectionError``."""
    sheets = payload.sheets
    if not sheets:
        raise _bad("sheets is empty: send the sheet that holds the selection")
    sheet_index = payload.book.active_sheet_index
    if sheet_index >= len(sheets):
        raise _bad(f"book.active_sheet_index is {sheet_index} but only {len(sheets)} sheets came")
    extras = payload.fbcheck or FbcheckExtras()
    region = extras.region
    addresses = _area_addresses(payload.book.selection, extras.areas)
    values = sheets[sheet_index].values
    areas = [_parse_area(address, used_rows=len(values)) for address in addresses]
    _check_areas(areas)
    xw = xlwings_module()
    try:
        # xlwings cannot read comma-separated areas; we read each area ourselves.
        book = xw.Book(json=payload.for_xlwings(selection=areas[0].address))
        sheet = book.sheets[sheet_index]
        cells = [_read_area(sheet, area, len(values)) for area in areas]
    except SelectionError:
        raise
    except xw.LicenseError:
        # xlwings was imported before the key was set (elsewhere in this process).
        raise XlwingsLicenseError(
            "xlwings found no licence key: set XLWINGS_LICENSE_KEY (noncommercial, or a paid"
            " key for commercial use) and restart the backend",
        ) from None
    except Exception as exc:  # xlwings' own complaint about a malformed payload
        raise _bad(f"xlwings cannot read the payload: {exc}") from None
    return Selection(
        book=book,
        sheet_index=sheet_index,
        sheet_name=sheets[sheet_index].name,
        areas=areas,
        cells=cells,
        region=region or None,
    )


def column_actions(
    selection: Selection, columns: Sequence[Sequence[str | None]]
) -> list[dict[str, Any]]:
    """Write ``columns[i]`` right of area ``i`` (None keeps a cell) and return the actions.

    Each column is aligned with its area's rows; runs of written cells become
    ``setValues`` actions of at most :data:`MAX_ROWS_PER_ACTION` rows.
    """
    sheet = selection.book.sheets[selection.sheet_index]
    for area, column in zip(selection.areas, columns, strict=True):
        target = area.column + 1
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
    actions: list[dict[str, Any]] = selection.book.json()["actions"]
    return actions


def answer_ranges(selection: Selection, lengths: Sequence[int]) -> list[dict[str, int]]:
    """Return the answer column of each area (first ``lengths[i]`` rows) in action coordinates."""
    return [
        {
            "sheet_position": selection.sheet_index,
            "start_row": area.first_row - 1,
            "start_column": area.column,
            "row_count": length,
            "column_count": 1,
        }
        for area, length in zip(selection.areas, lengths, strict=True)
        if length > 0
    ]


def _bad(message: str) -> SelectionError:
    """Return the error for a payload of the wrong shape."""
    return SelectionError("bad_payload", message)


def _area_addresses(selection: str | None, areas: list[str] | None) -> list[str]:
    """Return the area addresses from ``fbcheck.areas`` or else ``book.selection``."""
    if areas is None:
        if selection is None or not selection.strip():
            raise _bad("book.selection must name the selected range, such as 'A2:A500'")
        areas = selection.split(",")
    if not areas:
        raise _bad("the selection has no area")
    if len(areas) > MAX_AREAS:
        raise SelectionError(
            "too_many_areas",
            f"the selection has {len(areas)} areas; select at most {MAX_AREAS}",
        )
    return [a.strip() for a in areas]


def _parse_area(address: str, *, used_rows: int) -> Area:
    """Parse ``A2:A9``, ``$A$2``, ``A:A`` or ``Sheet1!A2:A9`` into an area."""
    text = address.rsplit("!", 1)[-1].strip()
    match = _A1_AREA.fullmatch(text)
    if match is None:
        raise SelectionError("bad_address", f"{address!r} is not a range address such as 'A2:A500'")
    first_column = column_index(match["c1"]) + 1
    last_column = column_index(match["c2"] or match["c1"]) + 1
    if match["r1"] is None and match["r2"] is None and match["c2"] is not None:
        # A whole column: intersected with the rows the payload holds (the used range).
        first_row, last_row = 1, max(used_rows, 1)
    elif match["r1"] is not None and (match["c2"] is None or match["r2"] is not None):
        first_row = int(match["r1"])
        last_row = int(match["r2"] or match["r1"])
    else:
        raise SelectionError("bad_address", f"{address!r} is not a range address such as 'A2:A500'")
    first_row, last_row = min(first_row, last_row), max(first_row, last_row)
    first_column, last_column = min(first_column, last_column), max(first_column, last_column)
    if not (first_row >= 1 and last_row <= EXCEL_ROWS and last_column <= EXCEL_COLUMNS):
        raise SelectionError("bad_address", f"{address!r} lies outside Excel's grid")
    if last_column != first_column:
        raise SelectionError(
            "selection_too_wide",
            f"select one column per area: {address} spans {last_column - first_column + 1} columns",
        )
    canonical = f"{column_letters(first_column - 1)}{first_row}"
    if last_row != first_row:
        canonical += f":{column_letters(first_column - 1)}{last_row}"
    return Area(canonical, first_row, last_row, first_column)


def _check_areas(areas: list[Area]) -> None:
    """Refuse too many rows, and an area that sits in another area's answer column."""
    total = sum(area.rows for area in areas)
    if total > MAX_SELECTION_ROWS:
        raise SelectionTooLargeError(
            f"the selection has {total:,} rows;"
            f" at most {MAX_SELECTION_ROWS:,} can be checked at once",
        )
    for area in areas:
        for other in areas:
            if (
                other.column == area.column + 1
                and other.first_row <= area.last_row
                and area.first_row <= other.last_row
            ):
                raise SelectionError(
                    "answers_overwrite_selection",
                    f"the answers for {area.address} would overwrite {other.address}:"
                    " leave the column right of each area free",
                )


def _read_area(sheet: Any, area: Area, used_rows: int) -> list[Any]:
    """Return the area's cell values, top to bottom, up to the last row the payload holds."""
    last = min(area.last_row, used_rows)
    if last < area.first_row:
        return []
    rows = sheet.range((area.first_row, area.column), (last, area.column)).raw_value
    cells: list[Any] = []
    for row in rows:
        # Rows the client left out ([]) come back empty: those cells are empty.
        value = row[0] if row else None
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        cells.append(value)
    return cells
