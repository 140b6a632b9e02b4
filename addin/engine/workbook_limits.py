"""Bounds checked on input files: an .xlsx/.xlsm before python-calamine reads it, and text fields.

calamine allocates a sheet's whole rectangle (from its first to its last used
cell, about 32 bytes a cell) and every string at once. A 5 KB file with one cell
at ``XFD1048576`` makes it ask for 512 GiB and abort the process; a 0.6 MB file
can inflate to a 600 MB cell. So the zip is looked at first, streamed, never
holding more than a chunk:

- its directory, with the zip-bomb rule shared with result files
  (``addin.zip_limits``: at most ``max_inflated_bytes`` declared, no member that
  compresses more than 200 times);
- every member inflated for real from its local header with a counted cap
  (``addin.zip_limits.inflate_member``): a directory that understates a size is
  refused, and nothing is read past the caps whatever the directory says;
- the rectangle of every worksheet: from A1 to its last row and last column (from
  the ``r`` references of rows and cells), at most ``max_sheet_cells``;
- the cells of every worksheet and the strings of ``sharedStrings.xml``, at most
  ``max_cells`` in all, and no text between two tags longer than
  ``max_cell_bytes`` (a cell's value, formula or string).

The ``<dimension>`` a sheet declares is not trusted either way: calamine does not
allocate from it (measured: ``A1:XFD1048576`` over three cells reads in 12 MB),
and the references the sheet really holds are what count.

Every limit is a setting (:class:`InputLimits` from :class:`addin.config.Settings`);
a refusal names the limit and its ``FBCHECK_`` variable.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from addin.config import (
    DEFAULT_TEXT_MAX_FIELD_CHARS,
    DEFAULT_XLSX_MAX_CELL_BYTES,
    DEFAULT_XLSX_MAX_CELLS,
    DEFAULT_XLSX_MAX_INFLATED_BYTES,
    DEFAULT_XLSX_MAX_SHEET_CELLS,
    Settings,
)
from addin.formats import column_index
from addin.zip_limits import ZipProblem, inflate_member, zip_size_problem

#: A row's number; a cell whose column has two or three letters.
_ROW_REF = re.compile(rb"<row\b[^>]*?\br=\"([0-9]{1,7})\"")
_WIDE_CELL_REF = re.compile(rb"\br=\"([A-Z]{2,3})[0-9]")
#: A cell in a one-letter column at or past each letter (searched only past the widest seen).
_LETTER_CELL_REF = {
    index: re.compile(rb"\br=\"[%s-Z][0-9]" % bytes([ord("A") + index])) for index in range(26)
}
#: A cell of a sheet, a string of the shared-string table.
_CELL_TAGS = (b"<c ", b"<c>", b"<si>", b"<si ")
_TAIL = 64


def setting_name(field: str) -> str:
    """Return the environment variable of a setting: ``FBCHECK_`` and its name in capitals."""
    return f"FBCHECK_{field.upper()}"


@dataclass(frozen=True)
class InputLimits:
    """The bounds an input file is held to (see the module docstring); defaults as Settings."""

    xlsx_max_sheet_cells: int = DEFAULT_XLSX_MAX_SHEET_CELLS
    xlsx_max_cells: int = DEFAULT_XLSX_MAX_CELLS
    xlsx_max_cell_bytes: int = DEFAULT_XLSX_MAX_CELL_BYTES
    xlsx_max_inflated_bytes: int = DEFAULT_XLSX_MAX_INFLATED_BYTES
    text_max_field_chars: int = DEFAULT_TEXT_MAX_FIELD_CHARS

    @classmethod
    def from_settings(cls, settings: Settings) -> InputLimits:
        """Return the limits the settings name."""
        return cls(
            xlsx_max_sheet_cells=settings.xlsx_max_sheet_cells,
            xlsx_max_cells=settings.xlsx_max_cells,
            xlsx_max_cell_bytes=settings.xlsx_max_cell_bytes,
            xlsx_max_inflated_bytes=settings.xlsx_max_inflated_bytes,
            text_max_field_chars=settings.text_max_field_chars,
        )


class WorkbookTooLarge(ValueError):
    """The workbook passes a bound or its zip lies about its sizes; the message says which."""


def check_workbook(path: Path, limits: InputLimits | None = None) -> None:
    """Raise ``WorkbookTooLarge`` if the .xlsx at ``path`` passes a bound; other files pass."""
    limits = limits or InputLimits()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip (.xls, or damaged): calamine explains it
    total_setting = setting_name("xlsx_max_inflated_bytes")
    with archive, path.open("rb") as handle:
        members = [m for m in archive.infolist() if not m.is_dir()]
        problem = zip_size_problem(members, max_total=limits.xlsx_max_inflated_bytes)
        if problem is not None:
            raise WorkbookTooLarge(f"{problem} ({total_setting})")
        scan = _Scan(limits)
        left = limits.xlsx_max_inflated_bytes
        try:
            for member in members:
                left -= scan.member(handle, member, cap=left)
        except ZipProblem as exc:
            raise WorkbookTooLarge(str(exc)) from None


class _Scan:
    """Counts across the members of one workbook."""

    def __init__(self, limits: InputLimits) -> None:
        """Start with nothing counted."""
        self.limits = limits
        self.cells = 0

    def member(self, handle: BinaryIO, member: zipfile.ZipInfo, *, cap: int) -> int:
        """Inflate one member within ``cap`` bytes, checking sheets and strings; return its size."""
        name = member.filename
        sheet = name.startswith("xl/worksheets/") and name.endswith(".xml")
        strings = name.lower() == "xl/sharedstrings.xml"
        chunks = inflate_member(
            handle,
            member,
            cap=cap,
            cap_name=f"workbook's limit in all ({setting_name('xlsx_max_inflated_bytes')})",
        )
        if not (sheet or strings):
            return sum(len(chunk) for chunk in chunks)
        size = 0
        last_row = 0
        last_column = 0
        tail = b""
        run = 0  # bytes since the last '<': a cell's text, once it passes a limit
        cell_limit = self.limits.xlsx_max_cell_bytes
        too_long = re.compile(rb"<[^<]{%d}" % (cell_limit + 1))
        for chunk in chunks:
            size += len(chunk)
            run = _text_run(chunk, run, too_long, cell_limit, name)
            text = tail + chunk  # a reference cut between two chunks is read whole
            self.cells += sum(text.count(tag) - tail.count(tag) for tag in _CELL_TAGS)
            if sheet:
                for found in _ROW_REF.findall(text):
                    last_row = max(last_row, int(found))
                for found in _WIDE_CELL_REF.findall(text):
                    last_column = max(last_column, column_index(found.decode()))
                # One letter: look only for a column past the widest one seen so far.
                while last_column < 25 and _LETTER_CELL_REF[last_column + 1].search(text):
                    last_column += 1
            tail = text[-_TAIL:]
            if self.cells > self.limits.xlsx_max_cells:
                raise WorkbookTooLarge(
                    f"it holds more than {self.limits.xlsx_max_cells:,} cells and shared"
                    f" strings in all, the limit ({setting_name('xlsx_max_cells')})"
                )
        if sheet:
            self._check_rectangle(name, last_row, last_column)
        return size

    def _check_rectangle(self, name: str, last_row: int, last_column: int) -> None:
        """Refuse a sheet whose rectangle from A1 is too large."""
        cells = last_row * (last_column + 1)
        limit = self.limits.xlsx_max_sheet_cells
        if cells > limit:
            raise WorkbookTooLarge(
                f"its sheet {name} spans {cells:,} cells ({last_row:,} rows,"
                f" {last_column + 1:,} columns from A1), above the limit of {limit:,}"
                f" ({setting_name('xlsx_max_sheet_cells')}); delete the stray cells far"
                " outside the data and save it again"
            )


def _text_run(chunk: bytes, run: int, too_long: re.Pattern[bytes], limit: int, name: str) -> int:
    """Return the bytes since the last ``<`` after ``chunk``; refuse a run over ``limit``."""
    first = chunk.find(b"<")
    if first < 0:
        run += len(chunk)
        longest = run
    else:
        last = chunk.rfind(b"<")
        longest = run + first
        if too_long.search(chunk, first, last + 1) is not None:
            longest = limit + 1
        run = len(chunk) - last - 1
    if longest > limit:
        raise WorkbookTooLarge(
            f"{name} holds a cell (or tag) of more than {limit:,} bytes, the limit"
            f" ({setting_name('xlsx_max_cell_bytes')})"
        )
    return run
