"""Result files: an xlsx like the vendor's, or a zip holding a CSV like its newer endpoints."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from xml.sax.saxutils import escape

from openpyxl import Workbook

#: Header row of a legacy result file, as the vendor writes it (v1: ``number, activated``).
HEADER = ("Number", "facebook")

#: Name of the CSV inside the zip.
CSV_NAME = "results.csv"

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


#: The worksheet part of every workbook ``render_xlsx`` writes.
SHEET_PART = "xl/worksheets/sheet1.xml"


def render_xlsx(rows: Iterable[tuple[str, str]], header: tuple[str, str] = HEADER) -> bytes:
    """Return an xlsx workbook with the header and one row per number.

    The workbook is openpyxl's (write-only mode: inline strings): openpyxl itself
    writes a header-only workbook, and only the rows of its worksheet are written
    here, in the markup openpyxl writes for them (``tests/mock_server/test_results.py``
    compares the two byte for byte). openpyxl row by row spent about a second of CPU
    on a 20,000-row file, on the two cores the client under test shares; this way
    a tenth of it.
    """
    shell, head, tail = _shell(header)
    sheet = [head]
    append = sheet.append
    for index, (number, answer) in enumerate(rows, start=2):
        append(
            f'<row r="{index}"><c r="A{index}" t="inlineStr"><is><t>{escape(number)}</t></is></c>'
            f'<c r="B{index}" t="inlineStr"><is><t>{escape(answer)}</t></is></c></row>'
        )
    append(tail)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in shell:
            archive.writestr(name, "".join(sheet).encode("utf-8") if name == SHEET_PART else data)
    return buffer.getvalue()


def render_xlsx_openpyxl(
    rows: Iterable[tuple[str, str]], header: tuple[str, str] = HEADER
) -> bytes:
    """Return the same workbook written by openpyxl row by row (the reference of the tests)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _shell(header: tuple[str, str]) -> tuple[tuple[tuple[str, bytes], ...], str, str]:
    """Return openpyxl's parts of a header-only workbook, and its sheet cut after the header.

    The parts in their order in the archive; the worksheet up to the end of the
    header row, and from the end of the rows on.
    """
    with zipfile.ZipFile(io.BytesIO(render_xlsx_openpyxl([], header))) as archive:
        parts = tuple((name, archive.read(name)) for name in archive.namelist())
    sheet = dict(parts)[SHEET_PART].decode("utf-8")
    cut = sheet.index("</sheetData>")
    return parts, sheet[:cut], sheet[cut:]


def render_csv(rows: Iterable[tuple[str, str]], header: tuple[str, str] = HEADER) -> bytes:
    """Return UTF-8 CSV text (CRLF line ends) with the header and one row per number."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def render_zip(rows: Iterable[tuple[str, str]], header: tuple[str, str] = HEADER) -> bytes:
    """Return a zip archive holding ``results.csv``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CSV_NAME, render_csv(rows, header))
    return buffer.getvalue()


def render(
    result_format: str, rows: Iterable[tuple[str, str]], header: tuple[str, str] = HEADER
) -> bytes:
    """Return the result file in ``result_format`` (``xlsx`` or ``zip``) under ``header``.

    The legacy API's header is ``Number, facebook``; v1's ``number, activated``.
    """
    if result_format == "xlsx":
        return render_xlsx(rows, header)
    if result_format == "zip":
        return render_zip(rows, header)
    raise ValueError(f"unknown result format {result_format!r}")
