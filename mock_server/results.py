"""Result files: an xlsx like the vendor's, or a zip holding a CSV like its newer endpoints."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable

from openpyxl import Workbook

#: Header row of every result file, as the vendor writes it.
HEADER = ("Number", "facebook")

#: Name of the CSV inside the zip.
CSV_NAME = "results.csv"

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


def render_xlsx(rows: Iterable[tuple[str, str]]) -> bytes:
    """Return an xlsx workbook with the header and one row per number."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    sheet.append(list(HEADER))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render_csv(rows: Iterable[tuple[str, str]]) -> bytes:
    """Return UTF-8 CSV text (CRLF line ends) with the header and one row per number."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def render_zip(rows: Iterable[tuple[str, str]]) -> bytes:
    """Return a zip archive holding ``results.csv``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CSV_NAME, render_csv(rows))
    return buffer.getvalue()


def render(result_format: str, rows: Iterable[tuple[str, str]]) -> bytes:
    """Return the result file in ``result_format`` (``xlsx`` or ``zip``)."""
    if result_format == "xlsx":
        return render_xlsx(rows)
    if result_format == "zip":
        return render_zip(rows)
    raise ValueError(f"unknown result format {result_format!r}")
