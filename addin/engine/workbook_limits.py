"""Bounds checked on an .xlsx/.xlsm file before python-calamine reads it.

calamine allocates a sheet's whole rectangle (from its first to its last used
cell) and every string at once. A 5 KB file with one cell at ``XFD1048576``
makes it ask for 512 GiB and abort the process; a 0.6 MB file can inflate to a
600 MB cell. So the zip is looked at first:

- its directory, with the zip-bomb rule shared with result files
  (``addin.zip_limits``: at most ``MAX_TOTAL_BYTES`` inflated, no member that
  compresses more than 200 times);
- the rectangle of every worksheet, streamed: from A1 to its last row and last
  column (from the ``r`` references of rows and of cells past column Z; a sheet
  within A to Z counts as 26 wide), at most ``MAX_SHEET_CELLS``, every row of
  Excel in columns A to Z.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from addin.formats import column_index
from addin.zip_limits import zip_size_problem

#: Inflated bytes of the whole workbook: 1,048,576 rows of a few columns need about 0.5 GB.
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
#: Cells of a worksheet's rectangle from A1: every row of Excel in columns A to Z.
MAX_SHEET_CELLS = 1_048_576 * 26
_CHUNK = 1024 * 1024
#: A row's number; a cell whose column has two or three letters (one letter: at most 26).
_ROW_REF = re.compile(rb"<row\b[^>]*?\br=\"([0-9]{1,7})\"")
_WIDE_CELL_REF = re.compile(rb"\br=\"([A-Z]{2,3})[0-9]")


class WorkbookTooLarge(ValueError):
    """The workbook passes a bound; the message names it."""


def check_workbook(path: Path) -> None:
    """Raise ``WorkbookTooLarge`` if the .xlsx at ``path`` passes a bound; other files pass."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a zip (.xls, or damaged): calamine explains it
    with archive:
        members = archive.infolist()
        problem = zip_size_problem(members, max_total=MAX_TOTAL_BYTES)
        if problem is not None:
            raise WorkbookTooLarge(problem)
        for member in members:
            if member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml"):
                _check_rectangle(archive, member)


def _check_rectangle(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Stream one worksheet and refuse it when its rectangle from A1 is too large."""
    last_row = 0
    last_column = 25
    tail = b""
    with archive.open(member) as handle:
        while chunk := handle.read(_CHUNK):
            text = tail + chunk  # a reference cut between two chunks is read whole
            for found in _ROW_REF.findall(text):
                last_row = max(last_row, int(found))
            for found in _WIDE_CELL_REF.findall(text):
                last_column = max(last_column, column_index(found.decode()))
            tail = text[-64:]
    cells = last_row * (last_column + 1)
    if cells > MAX_SHEET_CELLS:
        raise WorkbookTooLarge(
            f"its sheet {member.filename} spans {cells:,} cells ({last_row:,} rows,"
            f" {last_column + 1:,} columns from A1), above the limit of {MAX_SHEET_CELLS:,};"
            " delete the stray cells far outside the data and save it again"
        )
