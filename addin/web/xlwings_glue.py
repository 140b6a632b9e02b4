"""The xlwings side of the add-in: read a selection payload, answer with actions.

Our JavaScript sends the selection in the payload shape of xlwings' Office.js
client (see ``docs/addin-api.md``); :func:`read_selection` checks its shape
(every mistake is a :class:`SelectionError` with a code and a clear message,
never a crash; ``addin.web.json_api`` turns them into HTTP answers),
reads it with ``xw.Book(json=...)`` and returns the cells of each selected
area. :func:`column_actions` writes answer columns through the same book and
returns ``book.json()["actions"]``: ``setValues`` actions with 0-based
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
from typing import Any

from addin.config import ensure_xlwings_license
from addin.engine.phones import validate_region
from addin.formats import column_index, column_letters

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


def read_selection(payload: Any) -> Selection:
    """Return the selected areas of an xlwings payload, or raise ``SelectionError``."""
    if not isinstance(payload, dict):
        raise _bad("the body must be a JSON object in the xlwings payload shape")
    book_info = _field(payload, "book", dict, "an object")
    sheets = _field(payload, "sheets", list, "a list")
    if not sheets:
        raise _bad("'sheets' is empty: send the sheet that holds the selection")
    sheet_index = book_info.get("active_sheet_index", 0)
    if isinstance(sheet_index, bool) or not isinstance(sheet_index, int):
        raise _bad("'book.active_sheet_index' must be a whole number")
    if not 0 <= sheet_index < len(sheets):
        raise _bad(f"'book.active_sheet_index' is {sheet_index} but only {len(sheets)} sheets came")
    for position, sheet in enumerate(sheets):
        if not isinstance(sheet, dict) or not isinstance(sheet.get("name"), str):
            raise _bad(f"sheets[{position}] must be an object with a 'name'")
        if not isinstance(sheet.get("values"), list) or not all(
            isinstance(row, list) for row in sheet["values"]
        ):
            raise _bad(f"sheets[{position}].values must be a list of rows (lists)")
        sheet.setdefault("pictures", [])
        sheet.setdefault("tables", [])
    extra = payload.get("fbcheck") or {}
    if not isinstance(extra, dict):
        raise _bad("'fbcheck' must be an object")
    region = extra.get("region")
    if region is not None and not isinstance(region, str):
        raise _bad("'fbcheck.region' must be a region code such as 'CH', or null")
    addresses = _area_addresses(book_info, extra)
    values: list[list[Any]] = sheets[sheet_index]["values"]
    areas = [_parse_area(address, used_rows=len(values)) for address in addresses]
    _check_areas(areas)
    _check_cells(values, areas)

    payload.setdefault("client", "Office.js")
    payload.setdefault("version", "")
    payload.setdefault("names", [])
    book_info.setdefault("name", "Book")
    book_info["active_sheet_index"] = sheet_index
    # xlwings cannot read comma-separated areas; we read each area ourselves.
    book_info["selection"] = areas[0].address
    xw = xlwings_module()
    try:
        book = xw.Book(json=payload)
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
        sheet_name=sheets[sheet_index]["name"],
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


def _field(payload: dict[str, Any], name: str, kind: type, described: str) -> Any:
    """Return ``payload[name]`` when it is of type ``kind``, else raise ``SelectionError``."""
    value = payload.get(name)
    if not isinstance(value, kind):
        raise _bad(f"'{name}' must be {described} (the xlwings payload shape)")
    return value


def _area_addresses(book_info: dict[str, Any], extra: dict[str, Any]) -> list[str]:
    """Return the area addresses from ``fbcheck.areas`` or else ``book.selection``."""
    areas = extra.get("areas")
    if areas is None:
        selection = book_info.get("selection")
        if not isinstance(selection, str) or not selection.strip():
            raise _bad("'book.selection' must name the selected range, such as 'A2:A500'")
        areas = selection.split(",")
    if not isinstance(areas, list) or not all(isinstance(a, str) for a in areas):
        raise _bad("'fbcheck.areas' must be a list of addresses such as ['A2:A500']")
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


def _check_cells(values: list[list[Any]], areas: list[Area]) -> None:
    """Refuse a selected cell that holds no cell value (an object or a list)."""
    for area in areas:
        index = area.column - 1
        for row_number in range(area.first_row, min(area.last_row, len(values)) + 1):
            row = values[row_number - 1]
            if len(row) > index:
                value = row[index]
                if value is not None and not isinstance(value, str | int | float):
                    raise _bad(
                        f"cell {column_letters(area.column - 1)}{row_number} holds"
                        f" {type(value).__name__}, not a cell value"
                    )
