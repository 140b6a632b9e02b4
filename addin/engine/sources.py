"""Reading the user's input file: one column of a .txt, .csv or Excel workbook, lazily.

``read_input`` checks everything it can up front (the file, its type, encoding, sheet,
header and column) and raises ``InputError`` with a message naming the file; the rows
themselves are read only while the returned ``InputTable`` is iterated, and again on
each new iteration, so a million-row file is never held as Python objects.

Formats, chosen by extension:

* ``.txt``: one value per line. The first line is a header only when it reads like one
  ("phone", "Mobile number", "MSISDN") and holds no number (``079 111 11 11 mobile`` is
  data). A file whose lines are tab-separated (Excel's
  "Text (Tab delimited)" and "Unicode Text") is read as a table, like a CSV.
* ``.csv``: the delimiter is whichever of ``,`` ``;`` tab ``|`` splits the first rows
  into the same number of fields (or the one an Excel ``sep=;`` first line names).
* ``.xlsx``, ``.xlsm``, ``.xls``: read with python-calamine; the named sheet or the
  first visible one. Number cells arrive as ``float``, as Excel stores them.

Header and column, for tables: a first row that holds a valid number (read in the
caller's region) or anything phone-like is always data, so a header-less contact list
whose first name says "Mobile" loses no row. Otherwise it is the header when it names a
phone column or is text above a column of numbers. The phone column is the one whose
header names it; when no header does, when several do, or when the named one holds no
number while another does, it is the column with the most valid numbers in the first
rows.

Text files are UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark
(Excel's "Unicode Text"), or else Windows-1252, which every byte decodes in.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import importlib.resources
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import python_calamine

from addin.engine.phones import normalize
from addin.engine.workbook_limits import (
    InputLimits,
    WorkbookTooLarge,
    check_workbook,
    setting_name,
)
from addin.formats import column_index, column_letters

__all__ = [
    "InputCell",
    "InputError",
    "InputLimits",
    "InputTable",
    "bundled_sample",
    "read_input",
]

TEXT_SUFFIXES = (".txt", ".csv")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")

# Rows looked at to choose the delimiter, the header and the default column.
_SAMPLE_ROWS = 200
_SAMPLE_BYTES = 256 * 1024
_CHUNK_BYTES = 1024 * 1024
_DELIMITERS = (",", ";", "\t", "|")
# A delimiter no text contains: a file without one is read as a single column,
# still honouring CSV quotes.
_NO_DELIMITER = "\x1f"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PHONE_WORDS = re.compile(
    r"phone|msisdn|mobil|\btel\b|telef|\bcell|handy|natel|e\.?164|whatsapp|\bgsm\b", re.I
)
_NUMBER_WORDS = re.compile(r"number|nummer|num[eé]ro|número", re.I)
_SEPARATOR_LINE = re.compile(r"sep=([,;\t|])\r?\n")
_LETTER_COLUMN = re.compile(r"[A-Za-z]{1,3}")

Row = Sequence[object]
# The content token of rows held in memory (a workbook's sheet is read once).
_HELD = "held in memory"


class InputError(Exception):
    """The input file cannot be read as asked; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class InputCell:
    """One value of the chosen column, with its row number as the user sees it (1-based)."""

    row: int
    value: object
    #: The whole row as read (empty for a blank row), for outputs that keep every column.
    cells: Row = ()


class InputTable:
    """The chosen column of an input file; iterating reads the file again, lazily."""

    def __init__(
        self,
        *,
        path: Path,
        rows: Callable[[], Iterator[Row]],
        header_row: int | None,
        headers: tuple[str, ...],
        column_index: int,
        column_label: str,
        sheet: str | None,
        first_column: int = 0,
        content: Callable[[], object] | None = None,
    ) -> None:
        """Describe a column; ``rows`` re-opens the file and yields every row in order.

        ``content`` returns what identifies the rows ``rows`` yields (equal values: the
        same rows); without it the rows are taken as held in memory, never changing.
        """
        self.path = path
        self._rows = rows
        self._content = content or _held
        #: The content the last complete reading had from its start to its end, if steady.
        self._read_content: object = None
        #: The 1-based row of the header, or None when the file has no header row.
        self.header_row = header_row
        #: Every header cell as text ("" for an empty one); empty without a header row.
        self.headers = headers
        #: 0-based position of the column within each row as read.
        self.column_index = column_index
        #: The column as the user names it: its letter ("B"), whatever its header.
        self.column_label = column_label
        #: The worksheet read, for workbooks.
        self.sheet = sheet
        #: 0-based sheet column of the first column read (calamine skips empty ones).
        self.first_column = first_column

    @property
    def header(self) -> str | None:
        """Return the chosen column's header text, or None without one."""
        if self.header_row is None or self.column_index >= len(self.headers):
            return None
        return self.headers[self.column_index] or None

    def column_names(self, width: int) -> tuple[str, ...]:
        """Return a name for each of ``width`` columns: its header, else its letter."""
        return tuple(
            (self.headers[index] if index < len(self.headers) else "")
            or column_letters(self.first_column + index)
            for index in range(width)
        )

    def unchanged_since_read(self) -> bool:
        """Return True when the rows are those of the last complete reading, unchanged since.

        A reading counts when the content was the same at its start and at its end, so
        a result computed from it can be written without reading the input again.
        """
        if self._read_content is None:
            return False
        try:
            return self._content() == self._read_content
        except OSError:
            return False

    def __iter__(self) -> Iterator[InputCell]:
        """Yield the column's cells below the header, blank rows inside the data included."""
        self._read_content = None
        try:
            before = self._content()
        except OSError as error:
            raise InputError(f"{self.path.name}, row 1: cannot read: {error}") from error
        yield from self._cells()
        try:
            steady = self._content() == before
        except OSError:
            steady = False  # gone once read: the reading stands, but is not known steady
        if steady:
            self._read_content = before

    def _cells(self) -> Iterator[InputCell]:
        """Yield the cells of one reading (see ``__iter__``)."""
        index = self.column_index
        start = self.header_row or 0
        # Blank rows count only when data follows them: trailing ones are not input.
        blank_from = 0
        blank_count = 0
        number = 0
        try:
            for number, row in enumerate(self._rows(), 1):
                if number <= start:
                    continue
                value = row[index] if index < len(row) else ""
                # Look at the whole row only when the cell itself is empty.
                if _is_empty(value) and _is_blank(row):
                    if not blank_count:
                        blank_from = number
                    blank_count += 1
                    continue
                if blank_count:
                    for blank in range(blank_from, blank_from + blank_count):
                        yield InputCell(blank, "")
                    blank_count = 0
                yield InputCell(number, value, row)
        except (OSError, UnicodeError, csv.Error, python_calamine.CalamineError) as error:
            raise InputError(f"{self.path.name}, row {number + 1}: cannot read: {error}") from error


def read_input(
    path: Path,
    *,
    column: str | None = None,
    sheet: str | None = None,
    region: str | None = None,
    limits: InputLimits | None = None,
) -> InputTable:
    """Open ``path`` and choose the column to check, reading numbers in ``region``.

    ``limits`` bound what a hostile file may make us allocate (default: the settings'
    defaults); a file over one is refused with ``InputError`` naming the limit.
    """
    limits = limits or InputLimits()
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES + WORKBOOK_SUFFIXES:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise InputError(
            f"{path.name}: unsupported file type ({shown}); use .txt, .csv, .xlsx, .xlsm or .xls"
        )
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from error
    if size == 0:
        raise InputError(f"{path.name}: the file is empty")
    if sheet is not None and suffix not in WORKBOOK_SUFFIXES:
        raise InputError(f"{path.name}: a sheet name only applies to Excel workbooks")
    try:
        if suffix in WORKBOOK_SUFFIXES:
            return _read_workbook(path, column=column, sheet=sheet, region=region, limits=limits)
        return _read_text(
            path, column=column, tabular=suffix == ".csv", region=region, limits=limits
        )
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from error


def bundled_sample() -> Path:
    """Return the demo input shipped with the package (about 3,000 numbers, mixed formats)."""
    return Path(str(importlib.resources.files("addin").joinpath("data", "sample_numbers.csv")))


# --- text files ----------------------------------------------------------------------


def _read_text(
    path: Path, *, column: str | None, tabular: bool, region: str | None, limits: InputLimits
) -> InputTable:
    """Read a .csv (always a table) or a .txt (one value a line, unless tab-separated)."""
    encoding = _text_encoding(path)
    errors = "replace" if encoding == "cp1252" else "strict"
    longest = limits.text_max_field_chars
    # The csv module's bound is process-wide; every reader here uses the one setting.
    csv.field_size_limit(longest)
    sample_text, cut = _sample_text(path, encoding, errors)
    # Excel writes and honours a first line "sep=;" naming the delimiter, and hides it.
    directive = _SEPARATOR_LINE.match(sample_text) if tabular else None
    if directive:
        delimiter = directive.group(1)
    elif tabular:
        delimiter = _sniff_delimiter(sample_text, _DELIMITERS, cut=cut)
    else:
        delimiter = _sniff_delimiter(sample_text, ("\t",), cut=cut)
        tabular = delimiter != _NO_DELIMITER

    def open_rows() -> Iterator[Row]:
        """Re-open the file and yield its rows."""
        with path.open(encoding=encoding, errors=errors, newline="") as handle:
            lines = _bounded_lines(path, handle, longest)
            if directive:
                next(lines, None)
            if not tabular:
                for line in lines:
                    yield (line.rstrip("\r\n"),)
                return
            reader = csv.reader(lines, delimiter=delimiter)
            last: Row = ()
            try:
                for last in reader:
                    yield last
            except csv.Error as error:
                if "field larger than field limit" not in str(error):
                    raise
                raise InputError(
                    f"{path.name}, line {reader.line_num}: a field is longer than"
                    f" {longest:,} characters, the limit ({setting_name('text_max_field_chars')});"
                    " a phone list needs no such field: check the file's quotes, or raise"
                    " the limit"
                ) from None
            _refuse_unclosed_quote(path, encoding, last, reader.line_num)

    sample = _sample_rows(path, open_rows)
    return _choose_column(
        path,
        open_rows,
        sample,
        column=column,
        sheet=None,
        first_column=0,
        region=region,
        lines=not tabular,
        content=lambda: _file_content(path),
    )


def _refuse_unclosed_quote(path: Path, encoding: str, last: Row, line_num: int) -> None:
    """Raise ``InputError`` when the file ended inside a quoted field.

    Python's csv reader (not strict) takes everything from an unclosed quote to the
    end of the file as one field: every number on those lines would be one invalid
    cell, silently. Only the last field of the last row can be such a field; it then
    holds a line break, and the file does not end with the closing quote.
    """
    field = str(last[-1]) if last else ""
    if "\n" not in field and "\r" not in field:
        return
    with path.open("rb") as raw:
        if encoding == "utf-16":  # the tail has no BOM: take the byte order from the head
            big = raw.read(2) == codecs.BOM_UTF16_BE
            encoding = "utf-16-be" if big else "utf-16-le"
        raw.seek(max(0, path.stat().st_size - 64))
        tail = raw.read().decode(encoding, errors="ignore")
    if tail.rstrip("\r\n").endswith('"'):
        return  # a quoted field that holds line breaks, closed
    opened = line_num - field.rstrip("\r\n").count("\n")
    raise InputError(
        f"{path.name}, line {opened}: a quoted field opens there and is never closed, so"
        " every line after it would be read as one cell; check the file's quotes"
    )


def _file_content(path: Path) -> tuple[int, int, int, bytes]:
    """Return what identifies a file's bytes: its size, inode, modification time and a hash.

    The hash is needed: a file rewritten within the clock's resolution keeps its time.
    Hashing (about 1 GB/s) is far cheaper than parsing the file again.
    """
    digest = hashlib.blake2b(digest_size=32)
    with path.open("rb") as handle:
        before = os.fstat(handle.fileno())
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return before.st_size, before.st_ino, before.st_mtime_ns, digest.digest()


def _held() -> object:
    """Return the content token of rows held in memory (they never change)."""
    return _HELD


def _text_encoding(path: Path) -> str:
    """Return the codec the whole file decodes with; refuse binary files with a reason."""
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE_BYTES)
    if head.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{path.name}: this is an Excel workbook or another zip file, not text; "
            "save it as .xlsx or export it as CSV"
        )
    if head.startswith(_OLE_MAGIC):
        raise InputError(
            f"{path.name}: this is an old Excel (.xls) or another Office file, not text; "
            "give it the .xls extension or export it as CSV"
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif b"\x00" in head:
        raise InputError(
            f"{path.name}: this is binary data, not text "
            "(a UTF-16 file needs a byte-order mark; saving it as UTF-8 always works)"
        )
    else:
        candidates = ["utf-8-sig"]
    for encoding in candidates:
        if _decodes(path, encoding):
            return encoding
    if candidates == ["utf-16"]:
        raise InputError(f"{path.name}: the file says it is UTF-16 but is not valid UTF-16")
    return "cp1252"


def _decodes(path: Path, encoding: str) -> bool:
    """Return True when the whole file decodes in ``encoding`` (read in chunks)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _bounded_lines(path: Path, handle: TextIO, longest: int) -> Iterator[str]:
    """Yield the file's lines with their ends; refuse a line longer than ``longest``.

    The check is made while reading, so a file of one huge line is never held whole.
    """
    number = 0
    while line := handle.readline(longest + 1):
        number += 1
        if len(line.rstrip("\r\n")) > longest:
            raise InputError(
                f"{path.name}, line {number}: the line is longer than {longest:,} characters,"
                f" the limit ({setting_name('text_max_field_chars')}); a phone list needs no"
                " such line: is this the right file?"
            )
        yield line


def _sample_text(path: Path, encoding: str, errors: str) -> tuple[str, bool]:
    """Return the start of the file as text, and whether the file goes on past it.

    The sample is the first ``_SAMPLE_BYTES`` bytes, whatever the lines: a huge first
    field makes it short of lines, never large. Control characters of binary data
    are refused.
    """
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE_BYTES)
        cut = bool(handle.read(1))
    # An incremental decoder leaves a character cut by the sample's end undecoded.
    text = codecs.getincrementaldecoder(encoding)(errors).decode(head, final=not cut)
    strange = sum(
        1 for char in text if (char < " " and char not in "\t\r\n\f\v") or char == "\ufffd"
    )
    if strange > max(2, len(text) // 100):
        raise InputError(f"{path.name}: this is binary data, not text")
    return text, cut


def _sniff_delimiter(text: str, candidates: Iterable[str], *, cut: bool = False) -> str:
    """Return the candidate that splits the sample into a steady number of fields, if any.

    The sample is parsed as CSV (a quoted field may hold line breaks); a row the
    sample cuts short, or a field longer than the csv module's limit, ends the rows
    looked at: the delimiter is chosen from the rows before it.
    """
    best: tuple[float, int] | None = None
    chosen = _NO_DELIMITER
    for delimiter in candidates:
        if delimiter not in text:
            continue
        widths = _row_widths(text, delimiter, cut=cut)
        if not widths:
            continue
        width, seen = Counter(widths).most_common(1)[0]
        share = seen / len(widths)
        if width < 2 or share < 0.6:
            continue
        if best is None or (share, width) > best:
            best, chosen = (share, width), delimiter
    return chosen


def _row_widths(text: str, delimiter: str, *, cut: bool) -> list[int]:
    """Return the field count of the sample's first non-empty rows, without a cut last one."""
    widths: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if row:
                widths.append(len(row))
                if len(widths) > _SAMPLE_ROWS:
                    return widths[:_SAMPLE_ROWS]
    except csv.Error:
        return widths  # a field over the limit: the rows before it decide
    if cut and len(widths) > 1:
        widths.pop()  # the sample may end in the middle of a row
    return widths


# --- workbooks -----------------------------------------------------------------------


def _read_workbook(
    path: Path, *, column: str | None, sheet: str | None, region: str | None, limits: InputLimits
) -> InputTable:
    """Read one sheet of an Excel workbook with python-calamine (after its bounds are checked)."""
    try:
        check_workbook(path, limits)
    except WorkbookTooLarge as error:
        raise InputError(f"{path.name}: refused before reading: {error}") from error
    try:
        book = python_calamine.CalamineWorkbook.from_path(path)
    except python_calamine.PasswordError as error:
        raise InputError(
            f"{path.name}: the workbook is password-protected; remove the password in Excel "
            "(File > Info > Protect Workbook) and save it again"
        ) from error
    except (python_calamine.CalamineError, ValueError) as error:
        raise InputError(_workbook_problem(path, error)) from error
    name = _choose_sheet(path, book, sheet)
    try:
        data = book.get_sheet_by_name(name)
    except (python_calamine.CalamineError, ValueError) as error:
        raise InputError(f"{path.name}: cannot read sheet {name!r}: {error}") from error
    if data.start is None:
        raise InputError(f"{path.name}: sheet {name!r} is empty")
    first_column = data.start[1]

    def open_rows() -> Iterator[Row]:
        """Yield the sheet's rows; calamine starts at row 1 and at the first used column."""
        yield from data.iter_rows()

    sample = _sample_rows(path, open_rows)
    return _choose_column(
        path,
        open_rows,
        sample,
        column=column,
        sheet=name,
        first_column=first_column,
        region=region,
    )


def _workbook_problem(path: Path, error: Exception) -> str:
    """Explain why calamine could not open a workbook, from its first bytes."""
    with path.open("rb") as handle:
        head = handle.read(8)
    suffix = path.suffix.lower()
    if head.startswith(_OLE_MAGIC) and suffix != ".xls":
        return (
            f"{path.name}: this is an old-format Excel file (.xls) or another Office "
            f"document with a {suffix} name; open it in Excel and save it as .xlsx"
        )
    if not head.startswith((_OLE_MAGIC, _ZIP_MAGIC)):
        return f"{path.name}: this is not an Excel workbook, whatever its name says"
    return f"{path.name}: the workbook is damaged and cannot be read ({error})"


def _choose_sheet(path: Path, book: python_calamine.CalamineWorkbook, sheet: str | None) -> str:
    """Return the sheet asked for (exact, then ignoring case) or the first visible one."""
    names = book.sheet_names
    if sheet is not None:
        if sheet in names:
            return sheet
        folded = [name for name in names if name.casefold() == sheet.strip().casefold()]
        if folded:
            return folded[0]
        listed = ", ".join(repr(name) for name in names)
        raise InputError(f"{path.name}: no sheet {sheet!r}; the sheets are {listed}")
    for meta in book.sheets_metadata:
        if (
            meta.visible == python_calamine.SheetVisibleEnum.Visible
            and meta.typ == python_calamine.SheetTypeEnum.WorkSheet
        ):
            return meta.name
    if not names:
        raise InputError(f"{path.name}: the workbook has no sheets")
    return names[0]


# --- header and column ---------------------------------------------------------------


def _sample_rows(path: Path, open_rows: Callable[[], Iterator[Row]]) -> list[tuple[int, Row]]:
    """Return the first non-blank rows with their row numbers."""
    sample: list[tuple[int, Row]] = []
    rows = open_rows()
    try:
        for number, row in enumerate(rows, 1):
            if not _is_blank(row):
                sample.append((number, row))
                if len(sample) >= _SAMPLE_ROWS:
                    break
    except (OSError, UnicodeError, csv.Error, python_calamine.CalamineError) as error:
        raise InputError(f"{path.name}: cannot read: {error}") from error
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if not sample:
        raise InputError(f"{path.name}: there is nothing in the file but blank lines")
    return sample


def _choose_column(
    path: Path,
    open_rows: Callable[[], Iterator[Row]],
    sample: list[tuple[int, Row]],
    *,
    column: str | None,
    sheet: str | None,
    first_column: int,
    region: str | None,
    lines: bool = False,
    content: Callable[[], object] | None = None,
) -> InputTable:
    """Detect the header and pick the column, by name, letter, number or by its content."""
    first_number, first = sample[0]
    if lines:
        text = _text(first[0])
        is_header = bool(_PHONE_WORDS.search(text)) and not _holds_number(text, region)
    else:
        is_header = _looks_like_header(first, [row for _, row in sample[1:]], region)
    header_row = first_number if is_header else None
    headers = tuple(_text(cell).strip() for cell in first) if is_header else ()
    data = [row for _, row in (sample[1:] if is_header else sample)]
    if is_header and not data:
        raise InputError(f"{path.name}: there are no rows below the header")
    width = max(len(row) for _, row in sample)
    where = f"{path.name}" + (f", sheet {sheet!r}" if sheet is not None else "")

    if column is None:
        index = _default_column(headers, data, width, region)
    else:
        index = _named_column(where, column, headers, width, first_column)
    return InputTable(
        path=path,
        rows=open_rows,
        header_row=header_row,
        headers=headers,
        column_index=index,
        column_label=column_letters(first_column + index),
        sheet=sheet,
        first_column=first_column,
        content=content,
    )


def _looks_like_header(first: Row, rest: list[Row], region: str | None) -> bool:
    """Return True when the first row names columns rather than holding data."""
    # A row holding a number is data, whatever words sit beside it ("Mobile Shop AG").
    if any(_is_number(cell, region) or _looks_like_phone(cell) for cell in first):
        return False
    texts = [_text(cell) for cell in first]
    if any(_PHONE_WORDS.search(text) for text in texts):
        return True
    if any(not isinstance(cell, str) for cell in first if cell != ""):
        return False
    # Text over rows that hold phone-like values in the same column: a header.
    has_letters = [any(char.isalpha() for char in text) for text in texts]
    for index, lettered in enumerate(has_letters):
        if lettered and any(index < len(row) and _looks_like_phone(row[index]) for row in rest):
            return True
    return False


def _default_column(
    headers: tuple[str, ...], data: list[Row], width: int, region: str | None
) -> int:
    """Pick the phone column: by its header when that is clear, else by its contents."""
    valid = [
        sum(1 for row in data if index < len(row) and _is_number(row[index], region))
        for index in range(width)
    ]
    phone_like = [
        sum(1 for row in data if index < len(row) and _looks_like_phone(row[index]))
        for index in range(width)
    ]
    # Valid numbers first; phone-like values break ties (and decide without a region).
    score = list(zip(valid, phone_like, strict=True))
    best = max(range(width), key=lambda index: (score[index], -index))
    for words in (_PHONE_WORDS, _NUMBER_WORDS):
        named = [index for index, header in enumerate(headers) if words.search(header)]
        if not named:
            continue
        chosen = max(named, key=lambda index: (score[index], -index))
        # A named column that holds no number while another column does is not the answer.
        if score[chosen] == (0, 0) and score[best] != (0, 0):
            return best
        return chosen
    return best


def _is_number(value: object, region: str | None) -> bool:
    """Return True when the cell holds a valid phone number (national ones in ``region``)."""
    if _is_empty(value) or isinstance(value, bool):
        return False
    return normalize(value, region).valid


def _holds_number(text: str, region: str | None) -> bool:
    """Return True when a line holds a number anywhere: a valid one or six digits or more."""
    return _is_number(text, region) or sum(char.isdigit() for char in text) >= 6


def _named_column(
    where: str, column: str, headers: tuple[str, ...], width: int, first_column: int
) -> int:
    """Resolve --column given as a header name, a letter or a 1-based number."""
    wanted = _folded(column)
    for index, header in enumerate(headers):
        if header and _folded(header) == wanted:
            return index
    text = column.strip()
    # A number counts like the letters do: 2 is column B, wherever the data starts.
    if _LETTER_COLUMN.fullmatch(text) or (text.isdigit() and int(text) >= 1):
        absolute = int(text) - 1 if text.isdigit() else column_index(text)
        index = absolute - first_column
        if 0 <= index < width:
            return index
        first, last = first_column, first_column + width - 1
        raise InputError(
            f"{where}: column {text.upper()} is empty; the data is in columns "
            f"{column_letters(first)} to {column_letters(last)} ({first + 1} to {last + 1})"
        )
    if headers:
        listed = ", ".join(repr(header) for header in headers if header)
        raise InputError(
            f"{where}: no column {column!r}; the headers are {listed} "
            f"(a letter or a number also works)"
        )
    raise InputError(
        f"{where}: no column {column!r}: the file has no header row, so give the column "
        f"as a letter ({column_letters(first_column)}) or a number (1)"
    )


def _looks_like_phone(value: object) -> bool:
    """Return True for values with enough digits and few letters to be a phone number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value >= 10**5
    text = _text(value)
    digits = sum(char.isdigit() for char in text)
    letters = sum(char.isalpha() for char in text)
    return digits >= 6 and letters <= 3


def _is_blank(row: Row) -> bool:
    """Return True when every cell of the row is empty or only spaces."""
    return all(_is_empty(cell) for cell in row)


def _is_empty(cell: object) -> bool:
    """Return True for a missing cell, empty text or text of spaces only."""
    return cell is None or (isinstance(cell, str) and (not cell or cell.isspace()))


def _text(value: object) -> str:
    """Return a cell as text for header and content checks (2024.0 -> "2024")."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _folded(text: str) -> str:
    """Return text without case or whitespace, for comparing header names."""
    return "".join(text.split()).casefold()
