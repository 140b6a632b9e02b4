"""Parse the vendor's result file (xlsx, a zip holding a CSV, or plain CSV) safely.

The format is sniffed from the bytes, never trusted from the URL or the
Content-Type. Before any parser sees a zip, its declared and actual uncompressed
sizes and its compression ratios are bounded (no zip bomb; every member is
inflated with a counted cap, and one whose real size differs from its declared
size is refused), and every XML part of
an xlsx is scanned for a DOCTYPE or ENTITY declaration, which a spreadsheet never
needs and an entity-expansion attack always does. The xlsx itself is read with
python-calamine, far faster than openpyxl.

The header row (within the first rows of the first sheet that has one) must name
a number column ("Number", in any case and spacing) and an answer column:
``facebook`` (the legacy API) or ``activated`` (v1); other columns and their
order do not matter. Only an explicit, determined answer counts: ``yes``, ``no``
and ``ban`` (and the booleans ``true``/``false`` of an ``activated`` column);
anything else, an empty cell or a word such as ``undetermined``, becomes
``error`` with the vendor's word in the reason, never ``no`` (the v1 contract:
"undetermined is not a negative"). When a number appears twice with
different answers, the most informative answer wins whatever the row order:
``yes`` over ``ban`` over ``no`` over ``error``, because an active account beats
a banned one and either beats no account (a conflicting pair most likely means
two accounts, and any answer beats a failure).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from python_calamine import CalamineError, CalamineWorkbook

from addin.formats import ANSWERS, ERROR, is_e164
from addin.upstream.exceptions import ResultFileError
from addin.zip_limits import MAX_COMPRESSION_RATIO, ZipProblem, inflate_member, zip_size_problem

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_UNCOMPRESSED_BYTES",
    "ResultRow",
    "parse_result_file",
]

log = logging.getLogger(__name__)

#: Limit on the sum of uncompressed members of a zip: about twice a 2,000,000-row
#: result (about 260 MB of sheet XML) and well below what would exhaust memory.
MAX_UNCOMPRESSED_BYTES: Final = 512 * 1024 * 1024
# How many leading non-empty rows may precede the header (a title, a note).
_HEADER_SEARCH_ROWS: Final = 10
_CHUNK: Final = 1024 * 1024

_NUMBER_HEADERS: Final = frozenset(
    {"number", "phone", "phone number", "phone_number", "phonenumber", "msisdn", "e164", "e.164"}
)
_ANSWER_HEADERS: Final = frozenset({"facebook", "fb", "activated"})
# Explicit determined answers written another way (booleans of an ``activated`` column).
_ANSWER_ALIASES: Final = {"true": "yes", "false": "no", "banned": "ban"}
# Higher wins when one number has two different answers (see the module docstring).
_PRECEDENCE: Final = {"yes": 3, "ban": 2, "no": 1, ERROR: 0}
_NUMBER_NOISE: Final = re.compile(r"[\s\-().]")
_FLOAT_TEXT: Final = re.compile(r"(\+?\d+)\.0*")
# Declarations that a spreadsheet never needs, in the encodings an XML part may use.
_FORBIDDEN_MARKUP: Final = tuple(
    word.encode(encoding)
    for word in ("<!doctype", "<!entity")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)
_XML_SUFFIXES: Final = (".xml", ".rels", ".vml")

Cell = object


@dataclass(frozen=True)
class ResultRow:
    """The vendor's answer for one number: yes, no, ban, or error with a reason."""

    answer: str
    reason: str | None = None


def parse_result_file(
    data: bytes,
    *,
    url: str = "",
    content_type: str | None = None,
    max_rows: int = 2_000_000,
) -> dict[str, ResultRow]:
    """Return the answers of a result file keyed by E.164 number.

    ``url`` and ``content_type`` only make error messages clearer; the format is
    sniffed from the content.
    """
    reader = _ResultReader(url=url, content_type=content_type, max_rows=max_rows)
    return reader.parse(data)


class _ResultReader:
    """One parse of one file, carrying what error messages need to say."""

    def __init__(self, *, url: str, content_type: str | None, max_rows: int) -> None:
        """Remember where the file came from and the row limit."""
        self.url = url
        self.content_type = content_type
        self.max_rows = max_rows

    def error(self, detail: str) -> ResultFileError:
        """Build a ResultFileError naming the file's URL."""
        return ResultFileError(detail, url=self.url)

    def parse(self, data: bytes) -> dict[str, ResultRow]:
        """Sniff the format and dispatch to the matching reader."""
        if not data:
            raise self.error("the result file is empty")
        if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            return self.parse_zip(data)
        if data.startswith(b"\xd0\xcf\x11\xe0"):
            raise self.error("a legacy .xls (OLE2) file; expected xlsx, zip or CSV")
        return self.parse_csv_bytes(data, "the CSV file")

    def parse_zip(self, data: bytes) -> dict[str, ResultRow]:
        """Check a zip for bombs, then read it as an xlsx or as a zip holding one CSV."""
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise self.error(f"corrupt or truncated zip ({exc})") from None
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            self.check_declared_sizes(members)
            names = {m.filename.lower(): m for m in members}
            if "xl/workbook.xml" in names:
                # Real sizes, not the directory's: each member inflated within the cap first.
                self.check_all_members(data, members)
                self.check_xlsx_parts(data, members)
                return self.parse_xlsx(data)
            csvs = [
                m
                for m in members
                if m.filename.lower().endswith(".csv") and not m.filename.startswith("__MACOSX/")
            ]
            if len(csvs) != 1:
                listing = ", ".join(sorted(m.filename for m in members)[:10]) or "nothing"
                raise self.error(
                    f"a zip must hold an xlsx workbook or exactly one .csv file; it holds {listing}"
                )
            text = self.read_member(data, csvs[0])
        return self.parse_csv_bytes(text, f"{csvs[0].filename!r} in the zip")

    def check_declared_sizes(self, members: Sequence[zipfile.ZipInfo]) -> None:
        """Refuse a zip whose directory announces too much data or a bomb-like ratio."""
        problem = zip_size_problem(members, max_total=MAX_UNCOMPRESSED_BYTES)
        if problem is not None:
            raise self.error(f"the zip is refused: {problem} (zip bomb?)")

    def stream_member(
        self, data: bytes, member: zipfile.ZipInfo, *, cap: int = MAX_UNCOMPRESSED_BYTES
    ) -> Iterator[bytes]:
        """Yield a member's real bytes in chunks, inflated with a counted cap.

        The directory's sizes are not trusted (``addin.zip_limits.inflate_member``):
        a member that inflates past ``cap``, past the ratio, or to another size than
        declared is refused as it streams.
        """
        try:
            yield from inflate_member(
                io.BytesIO(data), member, cap=cap, cap_name="limit for a result file"
            )
        except ZipProblem as exc:
            raise self.error(f"the zip is refused: {exc}") from None

    def read_member(self, data: bytes, member: zipfile.ZipInfo) -> bytes:
        """Return one member's bytes, inflated within the limit."""
        return b"".join(self.stream_member(data, member))

    def check_all_members(self, data: bytes, members: Sequence[zipfile.ZipInfo]) -> None:
        """Inflate every member once, within the limit in all, before calamine reads any."""
        left = MAX_UNCOMPRESSED_BYTES
        for member in members:
            for chunk in self.stream_member(data, member, cap=left):
                left -= len(chunk)

    def check_xlsx_parts(self, data: bytes, members: Sequence[zipfile.ZipInfo]) -> None:
        """Decompress every XML part once: verify its CRC and refuse DOCTYPE or ENTITY."""
        overlap = max(len(word) for word in _FORBIDDEN_MARKUP)
        for member in members:
            if not member.filename.lower().endswith(_XML_SUFFIXES):
                continue
            tail = b""
            for chunk in self.stream_member(data, member):
                # Carry the end of the previous chunk so a word split across chunks is seen.
                window = (tail + chunk).lower()
                if any(word in window for word in _FORBIDDEN_MARKUP):
                    raise self.error(
                        f"{member.filename!r} declares a DOCTYPE or ENTITY, which a result "
                        "file never needs (refused as unsafe XML)"
                    )
                tail = window[-overlap:]

    def parse_xlsx(self, data: bytes) -> dict[str, ResultRow]:
        """Read the first sheet that has a header row with python-calamine."""
        try:
            workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        except (CalamineError, ValueError, OSError) as exc:
            raise self.error(f"unreadable xlsx ({exc})") from None
        with workbook:
            first_problem: ResultFileError | None = None
            for index, name in enumerate(workbook.sheet_names):
                try:
                    sheet = workbook.get_sheet_by_index(index)
                    return self.collect(sheet.iter_rows(), f"sheet {name!r}")
                except CalamineError as exc:
                    raise self.error(f"unreadable sheet {name!r} ({exc})") from None
                except _NoHeaderError as exc:
                    first_problem = first_problem or self.error(str(exc))
            raise first_problem or self.error("the workbook has no sheets")

    def parse_csv_bytes(self, data: bytes, what: str) -> dict[str, ResultRow]:
        """Decode CSV bytes (BOM-aware) and read them."""
        text = self.decode_text(data, what)
        head = text.lstrip()[:64].lower()
        if head.startswith(("<!doctype html", "<html", "<?xml", "<")):
            served = f" (served as {self.content_type})" if self.content_type else ""
            raise self.error(f"{what} is an HTML or XML page{served}, not a result file")
        first_line = text.split("\n", 1)[0]
        delimiter = max((",", ";", "\t"), key=first_line.count)
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            return self.collect(rows, what)
        except _NoHeaderError as exc:
            raise self.error(str(exc)) from None
        except csv.Error as exc:
            raise self.error(f"{what} is not valid CSV ({exc})") from None

    def decode_text(self, data: bytes, what: str) -> str:
        """Decode UTF-16 (with a BOM), UTF-8 (BOM optional) or, failing that, Latin-1."""
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            try:
                return data.decode("utf-16")
            except UnicodeDecodeError as exc:
                raise self.error(f"{what} is not valid UTF-16 ({exc.reason})") from None
        if b"\x00" in data[:_CHUNK]:
            raise self.error(f"{what} is binary data, not an xlsx, zip or CSV file")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Numbers and answers are ASCII, so a legacy single-byte encoding loses nothing.
            return data.decode("latin-1")

    def collect(self, rows: Iterable[Sequence[Cell]], what: str) -> dict[str, ResultRow]:
        """Find the header, then read every row into answers keyed by E.164."""
        iterator = iter(rows)
        number_col, answer_col = self.find_header(iterator, what)
        answers: dict[str, ResultRow] = {}
        skipped = 0
        count = 0
        for row in iterator:
            number_cell = row[number_col] if number_col < len(row) else None
            answer_cell = row[answer_col] if answer_col < len(row) else None
            if not _is_filled(number_cell) and not any(_is_filled(cell) for cell in row):
                continue
            count += 1
            if count > self.max_rows:
                raise self.error(f"{what} has more than {self.max_rows:,} rows")
            # Fast paths first: the vendor's rows are almost always clean E.164 and
            # lower-case answers, and this loop runs once per number.
            if isinstance(number_cell, str) and is_e164(number_cell):
                number: str | None = number_cell
            else:
                number = _number_from_cell(number_cell)
            if number is None:
                skipped += 1
                continue
            answer = _CLEAN_ANSWERS.get(answer_cell) if isinstance(answer_cell, str) else None
            if answer is None:
                answer = _answer_from_cell(answer_cell)
            previous = answers.get(number)
            if previous is None or _PRECEDENCE[answer.answer] > _PRECEDENCE[previous.answer]:
                answers[number] = answer
        if skipped:
            log.warning("%s: skipped %d rows without a valid E.164 number", what, skipped)
        return answers

    def find_header(self, rows: Iterator[Sequence[Cell]], what: str) -> tuple[int, int]:
        """Consume rows up to the header; return the number and answer column indexes."""
        seen: list[str] = []
        looked = 0
        for row in rows:
            labels = [_header_label(cell) for cell in row]
            if not any(labels):
                continue
            number_col = next((i for i, x in enumerate(labels) if x in _NUMBER_HEADERS), None)
            answer_col = next((i for i, x in enumerate(labels) if x in _ANSWER_HEADERS), None)
            if number_col is not None and answer_col is not None:
                return number_col, answer_col
            if not seen:
                seen = [label for label in labels if label]
            looked += 1
            if looked >= _HEADER_SEARCH_ROWS:
                break
        if not seen:
            raise _NoHeaderError(
                f"{what} has no rows, so no 'Number' and 'facebook' (or 'activated') header"
            )
        found = ", ".join(repr(label) for label in seen[:12])
        raise _NoHeaderError(
            f"{what} has no header row with a 'Number' and a 'facebook' (or 'activated')"
            f" column (first row: {found})"
        )


class _NoHeaderError(Exception):
    """A sheet or CSV without the expected header; the reader may try another sheet."""


_CLEAN_ANSWERS: Final = {word: ResultRow(word) for word in ANSWERS}


def _is_filled(cell: Cell) -> bool:
    """Return True for a cell holding something other than blanks."""
    return not (cell is None or (isinstance(cell, str) and not cell.strip()))


def _header_label(cell: Cell) -> str:
    """Normalise a header cell: lower case, single spaces, no BOM or non-breaking spaces."""
    if not isinstance(cell, str):
        return ""
    return " ".join(cell.replace("\ufeff", "").split()).lower()


def _number_from_cell(cell: Cell) -> str | None:
    """Return the E.164 form of a number cell (text, int or integral float), else None."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        text = str(cell)
    elif isinstance(cell, float):
        if not cell.is_integer() or cell <= 0:
            return None
        text = str(int(cell))
    elif isinstance(cell, str):
        text = cell.replace("\ufeff", "").strip().lstrip("'")
        # A number that went through a float on the vendor's side: "41798284651.0".
        if match := _FLOAT_TEXT.fullmatch(text):
            text = match.group(1)
        text = _NUMBER_NOISE.sub("", text)
        if text.startswith("00"):
            text = "+" + text[2:]
    else:
        return None
    if not text.startswith("+"):
        text = "+" + text
    return text if is_e164(text) else None


def _answer_from_cell(cell: Cell) -> ResultRow:
    """Return the normalised answer, or an error row naming what the vendor wrote."""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    text = "" if cell is None else str(cell)
    answer = " ".join(text.split()).lower()
    answer = _ANSWER_ALIASES.get(answer, answer)
    if answer in _CLEAN_ANSWERS:
        return _CLEAN_ANSWERS[answer]
    if not answer:
        return ResultRow(ERROR, "empty answer in the result file")
    if answer == "error":
        return ResultRow(ERROR, "the vendor reported an error for this number")
    return ResultRow(ERROR, f"unexpected answer {text.strip()[:40]!r}")
