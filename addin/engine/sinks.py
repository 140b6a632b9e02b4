"""Writing the result file (.csv or .xlsx), atomically, safe to open in Excel.

Both formats get a header row of ``OUTPUT_COLUMNS`` and are written to a temporary
file in the destination folder that replaces the destination only when complete, so a
crash or an error midway never leaves a half-written result (nor clobbers an old one).

* ``.csv``: UTF-8 with a byte-order mark, comma-separated, CRLF line ends (RFC 4180).
  The mark is what makes Excel read UTF-8 instead of the local ANSI code page; other
  tools skip it. Excel still opens a CSV by guessing types, so ``+41798284651`` shows
  as a number and leading zeros disappear: use .xlsx for people, CSV for programs.
* ``.xlsx``: one sheet, "Results", with a bold frozen header and a filter. Every value
  is a text cell, so ``input`` keeps its leading zeros and ``+``, and ``checked_at`` is
  ISO 8601 text (UTC, ``2024-10-19T18:24:56Z``). Characters XML cannot hold become
  U+FFFD and text beyond Excel's 32,767 characters a cell is cut with an ellipsis.

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
import math
import os
import re
import secrets
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from addin.formats import utc_timestamp

__all__ = ["OUTPUT_COLUMNS", "OUTPUT_SUFFIXES", "cell_text", "write_output"]

OUTPUT_COLUMNS = ("input", "e164", "facebook", "reason", "source", "checked_at")
OUTPUT_SUFFIXES = (".csv", ".xlsx")

#: Data rows an .xlsx sheet can hold below the header (Excel's limit is 1,048,576 rows).
XLSX_MAX_ROWS = 1_048_575
#: Excel's limit on the characters of one cell.
XLSX_MAX_CELL = 32_767

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"[+-]?[0-9][0-9 ().\-/]*")
_CHECKED_AT = OUTPUT_COLUMNS.index("checked_at")

# The .xlsx is written directly as SpreadsheetML: one sheet of inline-string cells,
# streamed into the zip, which is several times faster than a general library and has
# nothing to clean up when the rows fail midway.
_ZIP_LEVEL = 1
# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_XLSX_STATIC_PARTS = {
    "[Content_Types].xml": _XML_DECL
    + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>",
    "_rels/.rels": _XML_DECL + f'<Relationships xmlns="{_PKG_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>",
    "xl/_rels/workbook.xml.rels": _XML_DECL + f'<Relationships xmlns="{_PKG_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_RELS}/styles" Target="styles.xml"/>'
    "</Relationships>",
    # Style 0 is the default, style 1 the bold header.
    "xl/styles.xml": _XML_DECL + f'<styleSheet xmlns="{_MAIN}">'
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
    "</styleSheet>",
}
_WORKBOOK = (
    _XML_DECL + f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}">'
    '<sheets><sheet name="Results" sheetId="1" r:id="rId1"/></sheets>'
    '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
    "Results!$A$1:{last}</definedName></definedNames></workbook>"
)
_COLUMN_WIDTHS = (22, 16, 10, 40, 10, 22)
_SHEET_HEAD = (
    _XML_DECL + f'<worksheet xmlns="{_MAIN}">'
    '<sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    "</sheetView></sheetViews>"
    '<sheetFormatPr defaultRowHeight="15"/><cols>'
    + "".join(
        f'<col min="{index}" max="{index}" width="{width}" customWidth="1"/>'
        for index, width in enumerate(_COLUMN_WIDTHS, 1)
    )
    + "</cols><sheetData>"
)


def write_output(
    path: Path, rows: Iterable[Sequence[object]], *, xlsx_max_rows: int = XLSX_MAX_ROWS
) -> int:
    """Write ``rows`` (each in ``OUTPUT_COLUMNS`` order) to ``path``; return how many.

    Raises ``ValueError`` for an unsupported extension, a malformed row or more rows
    than an .xlsx sheet holds, and passes on ``OSError`` from the file system; in every
    failure the destination is untouched.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise ValueError(f"{path.name}: cannot write {shown}; the output must be .csv or .xlsx")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        if suffix == ".csv":
            written = _write_csv(temporary, rows)
        else:
            written = _write_xlsx(temporary, rows, xlsx_max_rows)
        _sync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


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


def _texts(number: int, row: Sequence[object]) -> list[str]:
    """Return one output row as text, checking its width."""
    if len(row) != len(OUTPUT_COLUMNS):
        raise ValueError(
            f"output row {number} has {len(row)} values; expected {len(OUTPUT_COLUMNS)} "
            f"({', '.join(OUTPUT_COLUMNS)})"
        )
    texts = [cell_text(value) for value in row]
    texts[_CHECKED_AT] = _timestamp_text(row[_CHECKED_AT])
    return texts


def _defused(text: str) -> str:
    """Return CSV text that Excel cannot run as a formula (see the module docstring)."""
    if text.startswith(_FORMULA_START) and not _HARMLESS.fullmatch(text):
        return "'" + text
    return text


def _write_csv(path: Path, rows: Iterable[Sequence[object]]) -> int:
    """Stream the rows to a new CSV file; return how many were written."""
    written = 0
    with path.open("x", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for number, row in enumerate(rows, 1):
            texts = _texts(number, row)
            if any(text.startswith(_FORMULA_START) for text in texts):
                texts = [_defused(text) for text in texts]
            writer.writerow(texts)
            written += 1
    return written


def _write_xlsx(path: Path, rows: Iterable[Sequence[object]], max_rows: int) -> int:
    """Stream the rows into a new single-sheet workbook of text cells; return the count."""
    written = 0
    with zipfile.ZipFile(path, "x", zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL) as archive:
        for name, content in _XLSX_STATIC_PARTS.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.encode())
            sheet.write(_xlsx_row(1, OUTPUT_COLUMNS, style=' s="1"').encode())
            batch: list[str] = []
            for number, row in enumerate(rows, 1):
                if number > max_rows:
                    raise ValueError(
                        f"an .xlsx sheet holds at most {max_rows:,} rows below its header; "
                        "write a .csv instead"
                    )
                batch.append(_xlsx_row(number + 1, _texts(number, row)))
                written += 1
                if len(batch) >= 1000:
                    sheet.write("".join(batch).encode())
                    batch.clear()
            sheet.write("".join(batch).encode())
            last = f"F{written + 1}"
            sheet.write(f'</sheetData><autoFilter ref="A1:{last}"/></worksheet>'.encode())
        archive.writestr("xl/workbook.xml", _WORKBOOK.format(last=last.replace("F", "$F$")))
    return written


def _xlsx_row(number: int, texts: Sequence[str], style: str = "") -> str:
    """Return one <row> of inline-string cells; empty cells are left out."""
    cells = []
    for letter, text in zip("ABCDEF", texts, strict=True):
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
