"""Result files: an xlsx like the vendor's, or a zip holding a CSV like its newer endpoints."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable

from openpyxl import Workbook

#: Header row of a legacy result file, as the vendor writes it (v1: ``number, activated``).
HEADER = ("Number", "facebook")

#: Name of the CSV inside the zip.
CSV_NAME = "results.csv"

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


def render_xlsx(rows: Iterable[tuple[str, str]], header: tuple[str, str] = HEADER) -> bytes:
    """Return an xlsx workbook with the header and one row per number."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


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
