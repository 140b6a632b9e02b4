"""Writing the result file (.csv or .xlsx), atomically, safe to open in Excel.

Rows are the caller's columns (by default ``OUTPUT_COLUMNS``: the input value, then the
answer); every column list ends with ``ANSWER_COLUMNS``, so a contact list keeps its own
columns in front of the answers. Both formats get a header row and are written to a
temporary file in the destination folder that replaces the destination only when
complete, so a crash or an error midway never leaves a half-written result (nor
clobbers an old one).

* ``.csv``: UTF-8 with a byte-order mark, comma-separated, CRLF line ends (RFC 4180).
  The mark is what makes Excel read UTF-8 instead of the local ANSI code page; other
  tools skip it. Excel still opens a CSV by guessing types, so ``+41798284651`` shows
  as a number and leading zeros disappear: use .xlsx for people, CSV for programs.
* ``.xlsx``: a sheet "Results" with a bold frozen header, a filter and the answers
  coloured as the task pane colours them (``ANSWER_COLOURS``, one conditional format
  per answer over the ``facebook`` column, not a style per cell), then a sheet
  "Summary" with the count of each answer and a native Excel bar chart (an openpyxl
  ``BarChart``) of yes / no / ban / invalid / error. Every value is a text cell, so
  phone numbers keep their leading zeros and ``+``, and ``checked_at`` is ISO 8601 text
  (UTC, ``2024-10-19T18:24:56Z``). Characters XML cannot hold become U+FFFD and text
  beyond Excel's 32,767 characters a cell is cut with an ellipsis.

  The rows are streamed as SpreadsheetML into the zip, in constant memory and about
  ten times faster than openpyxl's write-only mode (which supports conditional
  formats and charts too, but costs about a minute per million rows). Only the small
  parts that follow the rows (the summary and its chart) are built with openpyxl.

Formula injection: a cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a tab
or carriage return) could run as a formula when Excel opens a CSV. Such CSV values get
a leading apostrophe, except ones made only of digits, spaces and ``+ - ( ) . /``
(every E.164 number and most written phone numbers): those can do arithmetic at worst,
never call a function or another program. In .xlsx nothing is prefixed, because a text
cell (even ``=...``) is never evaluated.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import math
import os
import re
import secrets
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from addin.formats import column_letters, utc_timestamp

__all__ = [
    "ANSWER_COLOURS",
    "ANSWER_COLUMNS",
    "OUTPUT_COLUMNS",
    "OUTPUT_SUFFIXES",
    "SUMMARY_ANSWERS",
    "XLSX_MAX_COLUMNS",
    "XLSX_MAX_ROWS",
    "IndexedRows",
    "cell_text",
    "write_output",
]

#: The columns every result row ends with.
ANSWER_COLUMNS = ("e164", "facebook", "reason", "source", "checked_at")
#: The compact form (``--answers-only``, and any .txt input): the checked value, then the answer.
OUTPUT_COLUMNS = ("input", *ANSWER_COLUMNS)
OUTPUT_SUFFIXES = (".csv", ".xlsx")
#: Fill and font colour of each answer, as ``ANSWER_COLOURS`` in addin/static/excel-actions.js.
ANSWER_COLOURS = {
    "yes": ("C6EFCE", "006100"),
    "no": ("EDEDED", "595959"),
    "ban": ("FFC7CE", "9C0006"),
    "invalid": ("FFE0B2", "8A4B00"),
    "error": ("FFE0B2", "8A4B00"),
}
#: The answers the Summary sheet counts and charts, in this order.
SUMMARY_ANSWERS = ("yes", "no", "ban", "invalid", "error")

#: Data rows an .xlsx sheet can hold below the header (Excel's limit is 1,048,576 rows).
XLSX_MAX_ROWS = 1_048_575
#: Columns an .xlsx sheet can hold (A to XFD).
XLSX_MAX_COLUMNS = 16_384
#: Excel's limit on the characters of one cell.
XLSX_MAX_CELL = 32_767

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(_FORMULA_START)
# What makes the excel dialect of ``csv.writer`` quote a field.
_CSV_SPECIAL = frozenset(',"\r\n')
_HARMLESS = re.compile(r"[+-]?[0-9][0-9 ().\-/]*")

# The .xlsx is written directly as SpreadsheetML: inline-string cells streamed into the
# zip, which is several times faster than a general library and has nothing to clean up
# when the rows fail midway.
_ZIP_LEVEL = 1
# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE = "application/vnd.openxmlformats-officedocument"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CHART_PATH = "xl/charts/chart1.xml"
_DRAWING_PATH = "xl/drawings/drawing1.xml"
_CONTENT_TYPES = (
    _XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE}.spreadsheetml.sheet.main+xml"/>'
    + "".join(
        f'<Override PartName="/xl/worksheets/sheet{number}.xml" '
        f'ContentType="{_OFFICE}.spreadsheetml.worksheet+xml"/>'
        for number in (1, 2)
    )
    + f'<Override PartName="/xl/styles.xml" ContentType="{_OFFICE}.spreadsheetml.styles+xml"/>'
    f'<Override PartName="/{_DRAWING_PATH}" ContentType="{_OFFICE}.drawing+xml"/>'
    f'<Override PartName="/{_CHART_PATH}" ContentType="{_OFFICE}.drawingml.chart+xml"/>'
    "</Types>"
)
# Style 0 is the default, style 1 the bold header; differential style i colours answer i.
_STYLES = (
    _XML_DECL + f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    f'<dxfs count="{len(ANSWER_COLOURS)}">'
    + "".join(
        f'<dxf><font><color rgb="FF{font}"/></font>'
        f'<fill><patternFill><bgColor rgb="FF{fill}"/></patternFill></fill></dxf>'
        for fill, font in ANSWER_COLOURS.values()
    )
    + "</dxfs></styleSheet>"
)
_XLSX_STATIC_PARTS = {
    "[Content_Types].xml": _CONTENT_TYPES,
    "_rels/.rels": _XML_DECL + f'<Relationships xmlns="{_PKG_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>",
    "xl/_rels/workbook.xml.rels": _XML_DECL + f'<Relationships xmlns="{_PKG_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_RELS}/worksheet" Target="worksheets/sheet2.xml"/>'
    f'<Relationship Id="rId3" Type="{_RELS}/styles" Target="styles.xml"/>'
    "</Relationships>",
    "xl/worksheets/_rels/sheet2.xml.rels": _XML_DECL + f'<Relationships xmlns="{_PKG_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELS}/drawing" Target="/{_DRAWING_PATH}"/>'
    "</Relationships>",
    "xl/styles.xml": _STYLES,
}
_WORKBOOK = (
    _XML_DECL + f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}">'
    '<sheets><sheet name="Results" sheetId="1" r:id="rId1"/>'
    '<sheet name="Summary" sheetId="2" r:id="rId2"/></sheets>'
    '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
    "Results!$A$1:{last}</definedName></definedNames></workbook>"
)
_COLUMN_WIDTHS = {
    "input": 22,
    "e164": 16,
    "facebook": 10,
    "reason": 40,
    "source": 10,
    "checked_at": 22,
}
_USER_COLUMN_WIDTH = 18
#: Rows of an ``IndexedRows`` CSV joined into one write.
_CSV_BLOCK = 65_536


@dataclass(frozen=True)
class IndexedRows:
    """Rows that repeat: output row ``n`` is ``row_of(order[n])``, built once per index.

    A million-row result holds far fewer distinct rows (each distinct input cell gives
    one); the CSV writer renders each distinct row once and then only joins lines.
    """

    row_of: Callable[[int], Sequence[object]]
    order: Sequence[int]

    def __iter__(self) -> Iterator[Sequence[object]]:
        """Yield every output row in order (each index's row built again)."""
        row_of = self.row_of
        return (row_of(index) for index in self.order)


def write_output(
    path: Path,
    rows: Iterable[Sequence[object]],
    *,
    columns: Sequence[str] = OUTPUT_COLUMNS,
    xlsx_max_rows: int = XLSX_MAX_ROWS,
) -> int:
    """Write ``rows`` (each with one value per name of ``columns``) to ``path``; return how many.

    ``columns`` must end with ``ANSWER_COLUMNS``. Raises ``ValueError`` for an unsupported
    extension, a malformed row or more rows or columns than an .xlsx sheet holds, and
    passes on ``OSError`` from the file system; in every failure the destination is
    untouched.
    """
    path = Path(path)
    columns = tuple(columns)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise ValueError(f"{path.name}: cannot write {shown}; the output must be .csv or .xlsx")
    if columns[-len(ANSWER_COLUMNS) :] != ANSWER_COLUMNS:
        raise ValueError(f"the output columns must end with {', '.join(ANSWER_COLUMNS)}")
    if suffix == ".xlsx" and len(columns) > XLSX_MAX_COLUMNS:
        raise ValueError(
            f"an .xlsx sheet holds at most {XLSX_MAX_COLUMNS:,} columns, and the results "
            f"need {len(columns):,}; write a .csv instead"
        )
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        if suffix == ".csv" and isinstance(rows, IndexedRows):
            with _collector_paused():
                written = _write_csv_indexed(temporary, columns, rows)
        elif suffix == ".csv":
            written = _write_csv(temporary, columns, rows)
        else:
            written = _write_xlsx(temporary, columns, rows, xlsx_max_rows)
        _sync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while the lines of an ``IndexedRows`` are built.

    The rows and lines form no cycles, but each few hundred of them start a collection,
    and the older ones walk every object the process holds (a million-row check holds
    millions: its cells, answers and lines), so they cost more the larger the job.
    Nothing is left uncollected: the collector runs again as before once writing ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cell_text(value: object) -> str:
    """Return a value as the text a user expects to see (41798284651.0 -> "41798284651")."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Excel number cells are floats; below 10^16 a whole one is exactly its integer.
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return utc_timestamp(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _timestamp_text(value: object) -> str:
    """Return a check time as RFC 3339 UTC text; naive datetimes are taken as UTC."""
    if isinstance(value, dt.datetime):
        return utc_timestamp(value)
    return cell_text(value)


def _texts(number: int, row: Sequence[object], columns: Sequence[str]) -> list[str]:
    """Return one output row as text, checking its width; the check time goes last."""
    if len(row) != len(columns):
        shown = ", ".join(columns) if len(columns) <= 12 else "the header's columns"
        raise ValueError(
            f"output row {number} has {len(row)} values; expected {len(columns)} ({shown})"
        )
    # Most values are text already (a million rows: this is the writer's hot loop).
    texts = [value if type(value) is str else cell_text(value) for value in row]
    if type(row[-1]) is not str:
        texts[-1] = _timestamp_text(row[-1])
    return texts


def _defused(text: str) -> str:
    """Return CSV text that Excel cannot run as a formula (see the module docstring)."""
    if not text.startswith(_FORMULA_START):
        return text
    rest = text[1:]
    if text[0] in "+-" and rest.isdigit() and rest.isascii():
        return text  # E.164 and other signed digits: the common case, without the pattern
    if not _HARMLESS.fullmatch(text):
        return "'" + text
    return text


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Stream the rows to a new CSV file; return how many were written."""
    written = 0
    with path.open("x", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([_defused(name) for name in columns])
        first = _FORMULA_FIRST
        for number, row in enumerate(rows, 1):
            texts = _texts(number, row, columns)
            writer.writerow([_defused(t) if t and t[0] in first else t for t in texts])
            written += 1
    return written


def _csv_fields(texts: Sequence[str]) -> str:
    """Return fields as ``csv.writer`` joins them (excel dialect), after defusing their texts.

    The excel dialect quotes a field that holds the delimiter, the quote or a line end,
    doubling its quotes, and nothing else (rows here have several fields, so its one
    special case, a row of a single empty field, never arises). Most rows hold no such
    character: the joined line shows it at once. Fields compose: the fields of a row's
    first columns, a comma and those of the rest are the fields of the whole row.
    """
    first = _FORMULA_FIRST
    fields = [_defused(text) if text and text[0] in first else text for text in texts]
    line = ",".join(fields)
    if line.count(",") != len(fields) - 1 or '"' in line or "\r" in line or "\n" in line:
        line = ",".join(
            text if _CSV_SPECIAL.isdisjoint(text) else '"' + text.replace('"', '""') + '"'
            for text in fields
        )
    return line


def _plain_fields(texts: list[str]) -> str | None:
    """Return the fields joined when none needs defusing or quoting (E.164 texts need neither).

    None when some field does; ``_csv_fields`` then renders them.
    """
    first = _FORMULA_FIRST
    for text in texts:
        if text and text[0] in first:
            rest = text[1:]
            if not (text[0] in "+-" and rest.isdigit() and rest.isascii()):
                return None
    line = ",".join(texts)
    if line.count(",") != len(texts) - 1 or '"' in line or "\r" in line or "\n" in line:
        return None
    return line


def _csv_line(texts: Sequence[str]) -> str:
    """Return one row as ``csv.writer`` writes it (see ``_csv_fields``), with its CRLF."""
    return _csv_fields(texts) + "\r\n"


def _write_csv_indexed(path: Path, columns: Sequence[str], rows: IndexedRows) -> int:
    """Write an ``IndexedRows`` as ``_write_csv`` writes its rows, rendering each index once.

    The answer columns after ``e164`` (facebook, reason, source, checked_at) take few
    values (a task's answers share their check time), so when they are all text each
    distinct tail is rendered once and a row renders only its first columns.
    """
    order = rows.order
    lines: list[str | None] = [None] * (max(order, default=-1) + 1)
    tails: dict[tuple[object, ...], str] = {}
    split = len(columns) - len(ANSWER_COLUMNS) + 1  # the first column after e164
    width = len(columns)
    row_of = rows.row_of
    written = 0
    with path.open("x", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerow([_defused(name) for name in columns])
        for start in range(0, len(order), _CSV_BLOCK):
            block = order[start : start + _CSV_BLOCK]
            for number, index in enumerate(block, start + 1):
                if lines[index] is not None:
                    continue
                row = row_of(index)
                if len(row) != width:
                    _texts(number, row, columns)  # raises, naming the row
                # Only all-text tails are kept, and text never equals another type: a hit
                # is the same texts.
                key = tuple(row[split:])
                tail = tails.get(key)
                if tail is None:
                    tail = _csv_fields(_texts(number, row, columns)[split:])
                    if all(type(value) is str for value in key):
                        tails[key] = tail
                head = [value if type(value) is str else cell_text(value) for value in row[:split]]
                lines[index] = (_plain_fields(head) or _csv_fields(head)) + "," + tail + "\r\n"
            handle.write("".join(map(lines.__getitem__, block)))  # type: ignore[arg-type]
            written += len(block)
    return written


def _write_xlsx(
    path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]], max_rows: int
) -> int:
    """Stream the rows into a new workbook of text cells, then its summary; return the count."""
    letters = [column_letters(index) for index in range(len(columns))]
    answer = len(columns) - len(ANSWER_COLUMNS) + ANSWER_COLUMNS.index("facebook")
    counts: Counter[str] = Counter()
    written = 0
    with zipfile.ZipFile(path, "x", zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL) as archive:
        for name, content in _XLSX_STATIC_PARTS.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_sheet_head(columns).encode())
            sheet.write(_xlsx_row(1, letters, columns, style=' s="1"').encode())
            batch: list[str] = []
            for number, row in enumerate(rows, 1):
                if number > max_rows:
                    raise ValueError(
                        f"an .xlsx sheet holds at most {max_rows:,} rows below its header; "
                        "write a .csv instead"
                    )
                texts = _texts(number, row, columns)
                counts[texts[answer]] += 1
                batch.append(_xlsx_row(number + 1, letters, texts))
                written += 1
                if len(batch) >= 1000:
                    sheet.write("".join(batch).encode())
                    batch.clear()
            sheet.write("".join(batch).encode())
            last = f"{letters[-1]}{written + 1}"
            sheet.write(_sheet_tail(last, letters[answer], written).encode())
        archive.writestr("xl/workbook.xml", _WORKBOOK.format(last=f"${letters[-1]}${written + 1}"))
        archive.writestr("xl/worksheets/sheet2.xml", _summary_sheet(counts, written))
        drawing, chart = _summary_chart()
        archive.writestr(_DRAWING_PATH, drawing.drawing)
        archive.writestr(
            _DRAWING_PATH.replace("drawings/", "drawings/_rels/") + ".rels", drawing.rels
        )
        archive.writestr(_CHART_PATH, chart)
    return written


def _sheet_head(columns: Sequence[str]) -> str:
    """Return the Results sheet up to its rows: frozen header and column widths."""
    widths = [_COLUMN_WIDTHS.get(name, _USER_COLUMN_WIDTH) for name in columns]
    return (
        _XML_DECL + f'<worksheet xmlns="{_MAIN}">'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        "</sheetView></sheetViews>"
        '<sheetFormatPr defaultRowHeight="15"/><cols>'
        + "".join(
            f'<col min="{index}" max="{index}" width="{width}" customWidth="1"/>'
            for index, width in enumerate(widths, 1)
        )
        + "</cols><sheetData>"
    )


def _sheet_tail(last: str, answer: str, written: int) -> str:
    """Return the end of the Results sheet: the filter and one colour rule per answer."""
    rules = "".join(
        f'<cfRule type="cellIs" dxfId="{style}" priority="{style + 1}" operator="equal">'
        f'<formula>"{name}"</formula></cfRule>'
        for style, name in enumerate(ANSWER_COLOURS)
    )
    target = f"{answer}2:{answer}{max(written + 1, 2)}"
    return (
        f'</sheetData><autoFilter ref="A1:{last}"/>'
        f'<conditionalFormatting sqref="{target}">{rules}</conditionalFormatting></worksheet>'
    )


def _summary_sheet(counts: Counter[str], written: int) -> str:
    """Return the Summary sheet: each answer's count, pending ones and the total."""
    lines = [(name, counts.get(name, 0)) for name in SUMMARY_ANSWERS]
    others = written - sum(count for _, count in lines)
    if others:
        lines.append(("pending", others))
    lines.append(("total", written))
    rows = [_xlsx_row(1, "AB", ("answer", "count"), style=' s="1"')]
    for number, (name, count) in enumerate(lines, 2):
        rows.append(
            f'<row r="{number}"><c r="A{number}" t="inlineStr"><is><t>{name}</t></is></c>'
            f'<c r="B{number}"><v>{count}</v></c></row>'
        )
    return (
        _XML_DECL + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_RELS}">'
        '<cols><col min="1" max="1" width="12" customWidth="1"/></cols>'
        f'<sheetData>{"".join(rows)}</sheetData><drawing r:id="rId1"/></worksheet>'
    )


@dataclass(frozen=True)
class _Drawing:
    """A drawing part and its relationships, as XML."""

    drawing: bytes
    rels: bytes


def _summary_chart() -> tuple[_Drawing, bytes]:
    """Return the Summary sheet's drawing and its bar chart, serialised by openpyxl.

    openpyxl is imported here: a CSV output never needs it (a quarter of a second).
    """
    from openpyxl.chart import BarChart, Reference
    from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
    from openpyxl.xml.functions import tostring

    chart = BarChart()
    chart.title = "Answers"
    chart.legend = None
    chart.y_axis.title = "rows"
    last = len(SUMMARY_ANSWERS) + 1
    chart.add_data(Reference(range_string=f"Summary!$B$1:$B${last}"), titles_from_data=True)
    chart.set_categories(Reference(range_string=f"Summary!$A$2:$A${last}"))
    chart.anchor = "D2"
    # openpyxl names parts by these ids when it writes a workbook itself.
    chart._id = 1
    drawing = SpreadsheetDrawing()
    drawing.charts.append(chart)
    drawing._id = 1
    return _Drawing(tostring(drawing._write()), tostring(drawing._write_rels())), tostring(
        chart._write()
    )


def _xlsx_row(number: int, letters: Sequence[str], texts: Sequence[str], style: str = "") -> str:
    """Return one <row> of inline-string cells; empty cells are left out."""
    cells = []
    for letter, text in zip(letters, texts, strict=True):
        if not text:
            continue
        if _XML_ILLEGAL.search(text):
            text = _XML_ILLEGAL.sub("\ufffd", text)
        if len(text) > XLSX_MAX_CELL:
            text = text[: XLSX_MAX_CELL - 1] + "…"
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
        cells.append(
            f'<c r="{letter}{number}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'
        )
    return f'<row r="{number}">{"".join(cells)}</row>'


def _sync(path: Path) -> None:
    """Flush a finished file to disk before it replaces the destination."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
