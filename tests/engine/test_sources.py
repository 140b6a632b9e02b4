"""Tests for addin.engine.sources: every input format, column choice and error path."""

from __future__ import annotations

import codecs
import datetime as dt
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from addin.engine.phones import normalize
from addin.engine.sources import (
    InputCell,
    InputError,
    bundled_sample,
    read_input,
)

FIXTURES = Path(__file__).parent / "source_files"
REPOSITORY = Path(__file__).resolve().parents[2]


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` as-is (no newline translation) and return the path."""
    path.write_bytes(text.encode(encoding))
    return path


def write_workbook(path: Path, sheets: dict[str, dict[str, object]], hidden=()) -> Path:
    """Write a workbook whose sheets map cell references ("B3") to values."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, cells in sheets.items():
        sheet = book.create_sheet(name)
        for ref, value in cells.items():
            sheet[ref] = value
        if name in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def cells(table) -> list[tuple[int, object]]:
    """Return a table's cells as (row, value) pairs."""
    return [(cell.row, cell.value) for cell in table]


# --- CSV -----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    """Comma, semicolon, tab and pipe files all split into columns."""
    lines = ["name", "phone", "city"], ["Alice", "+41 79 828 46 51", "Bern"], ["Bob", "", "Basel"]
    path = write_text(tmp_path / "in.csv", "\n".join(delimiter.join(r) for r in lines) + "\n")
    table = read_input(path)
    assert (table.header, table.column_label, table.header_row) == ("phone", "B", 1)
    assert table.headers == ("name", "phone", "city")
    assert cells(table) == [(2, "+41 79 828 46 51"), (3, "")]


def test_csv_excel_separator_line(tmp_path: Path) -> None:
    """Excel's "sep=;" first line names the delimiter and, as in Excel, is not a row."""
    text = "sep=;\nname;phone\nDoe, Jane;+41 79 828 46 51\n"
    table = read_input(write_text(tmp_path / "in.csv", text))
    assert (table.header, table.header_row, table.column_label) == ("phone", 1, "B")
    assert cells(table) == [(2, "+41 79 828 46 51")]


def test_csv_quoted_fields_keep_their_delimiters(tmp_path: Path) -> None:
    """Quotes protect commas inside a field, and the phone column is found by its header."""
    text = 'id,name,notes,Mobile\r\n1,"Doe, Jane","a, b, c",+41 79 828 46 51\r\n2,X,,0798284652\r\n'
    table = read_input(write_text(tmp_path / "in.csv", text))
    assert table.column_label == "D"
    assert cells(table) == [(2, "+41 79 828 46 51"), (3, "0798284652")]


def test_csv_rows_are_records_not_lines(tmp_path: Path) -> None:
    """A quoted field spanning lines is one row, as Excel shows it."""
    text = 'note,phone\n"two\nlines",+41798284651\nx,+41798284652\n'
    assert cells(read_input(write_text(tmp_path / "in.csv", text))) == [
        (2, "+41798284651"),
        (3, "+41798284652"),
    ]


#: Encodings with the BOM each is written with ("": none).
_ENCODED = {"utf-8": b"", "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}


@pytest.mark.parametrize("encoding", list(_ENCODED))
@pytest.mark.parametrize("end", ["\n", ""])
def test_csv_quote_never_closed_is_refused_with_its_line(
    tmp_path: Path, encoding: str, end: str
) -> None:
    """An unclosed quote would swallow every later line into one invalid cell."""
    text = f'phone\n+41798284650\n"+41798284651\n+41798284652\n+41798284653{end}'
    path = tmp_path / "in.csv"
    path.write_bytes(_ENCODED[encoding] + text.encode(encoding))
    with pytest.raises(InputError, match=r"in\.csv, line 3: a quoted field opens there and is"):
        cells(read_input(path))


@pytest.mark.parametrize("encoding", list(_ENCODED))
def test_csv_quoted_last_field_with_line_breaks_is_read(tmp_path: Path, encoding: str) -> None:
    """A closed quoted field spanning lines at the end of the file is one cell, as before."""
    path = tmp_path / "in.csv"
    path.write_bytes(
        _ENCODED[encoding] + 'phone,note\n+41798284651,"two\nlines"\n'.encode(encoding)
    )
    assert cells(read_input(path)) == [(2, "+41798284651")]


def test_csv_single_column_without_header(tmp_path: Path) -> None:
    """A bare list of numbers has no header; row 1 is data."""
    table = read_input(write_text(tmp_path / "in.csv", "+41798284651\n0798284652\n"))
    assert table.header is None
    assert table.header_row is None
    assert table.column_label == "A"
    assert cells(table) == [(1, "+41798284651"), (2, "0798284652")]


def test_csv_without_header_picks_the_column_of_numbers(tmp_path: Path) -> None:
    """Without a header the column holding phone-like values is chosen."""
    text = "Alice,+41 79 828 46 51,Bern\nBob,079 828 46 52,Basel\n"
    table = read_input(write_text(tmp_path / "in.csv", text))
    assert (table.header, table.column_label) == (None, "B")
    assert cells(table) == [(1, "+41 79 828 46 51"), (2, "079 828 46 52")]


def test_csv_text_header_over_numbers_is_detected(tmp_path: Path) -> None:
    """A header without any phone word is still a header when numbers sit below it."""
    text = "Kunde,Kontakt\nAlice,+41 79 828 46 51\n"
    table = read_input(write_text(tmp_path / "in.csv", text))
    assert (table.header, table.column_label) == ("Kontakt", "B")
    assert cells(table) == [(2, "+41 79 828 46 51")]


def test_phone_header_wins_over_number_header(tmp_path: Path) -> None:
    """'Customer number' comes first, but the phone column is the one called phone."""
    text = "Customer number,Telefon\n12345678,+41 79 828 46 51\n"
    assert read_input(write_text(tmp_path / "in.csv", text)).header == "Telefon"


def test_number_header_is_used_when_nothing_says_phone(tmp_path: Path) -> None:
    """Without a phone word, a column called 'number' is the default."""
    text = "name,number\nAlice,+41 79 828 46 51\n"
    assert read_input(write_text(tmp_path / "in.csv", text)).header == "number"


def test_headerless_contact_list_with_mobile_in_a_name_loses_no_row(tmp_path: Path) -> None:
    """A first row holding a valid number is data, even when a name beside it says "Mobile"."""
    text = "Mobile Shop AG,+41791111111\nMeier GmbH,+41791111112\nMüller,079 111 11 13\n"
    table = read_input(write_text(tmp_path / "in.csv", text), region="CH")
    assert (table.header_row, table.header, table.column_label) == (None, None, "B")
    assert cells(table) == [(1, "+41791111111"), (2, "+41791111112"), (3, "079 111 11 13")]


def test_first_row_with_a_national_number_is_data_in_the_region(tmp_path: Path) -> None:
    """A national number is valid in the caller's region, so its row is never a header."""
    text = "Handy-Laden,079 111 11 11\nBob,079 111 11 12\n"
    table = read_input(write_text(tmp_path / "in.csv", text), region="CH")
    assert table.header_row is None
    assert cells(table)[0] == (1, "079 111 11 11")


def test_phone_column_by_contents_when_the_named_one_holds_no_number(tmp_path: Path) -> None:
    """A header "Phone type" names no numbers: the column that holds them is chosen."""
    text = "name,Phone type,contact\nAlice,mobile,+41 79 828 46 51\nBob,home,0798284652\n"
    table = read_input(write_text(tmp_path / "in.csv", text), region="CH")
    assert (table.header_row, table.header, table.column_label) == (1, "contact", "C")


def test_phone_column_by_contents_when_several_headers_name_one(tmp_path: Path) -> None:
    """Of "Phone (office)" and "Mobile", the one with more valid numbers is chosen."""
    text = (
        "name,Phone (office),Mobile\n"
        "Alice,,+41 79 828 46 51\nBob,044 123 45 67,079 828 46 52\nCarol,,079 828 46 53\n"
    )
    table = read_input(write_text(tmp_path / "in.csv", text), region="CH")
    assert (table.header, table.column_label) == ("Mobile", "C")


def test_phone_column_by_valid_numbers_over_other_digits(tmp_path: Path) -> None:
    """Without a clear header, customer numbers lose to the column of valid phone numbers."""
    text = "Kunde,Kundennr,Kontakt\nA,12345678,+41 79 828 46 51\nB,12345679,079 828 46 52\n"
    table = read_input(write_text(tmp_path / "in.csv", text), region="CH")
    assert (table.header, table.column_label) == ("Kontakt", "C")


def test_blank_rows_inside_are_kept_and_trailing_ones_dropped(tmp_path: Path) -> None:
    """Blank rows between data keep their place; blank rows at the start and end are not input."""
    text = "\n\nphone\n+41798284651\n\n   \n+41798284652\n\n\n"
    table = read_input(write_text(tmp_path / "in.csv", text))
    assert table.header_row == 3
    assert cells(table) == [(4, "+41798284651"), (5, ""), (6, ""), (7, "+41798284652")]


def test_rows_missing_the_column_give_empty_values(tmp_path: Path) -> None:
    """A short row still yields a cell for the chosen column, empty."""
    text = "name,phone\nAlice,+41798284651\nBob\n"
    assert cells(read_input(write_text(tmp_path / "in.csv", text))) == [
        (2, "+41798284651"),
        (3, ""),
    ]


def test_csv_utf8_with_byte_order_mark(tmp_path: Path) -> None:
    """Excel's 'CSV UTF-8' starts with a BOM; it must not stick to the first header."""
    path = tmp_path / "in.csv"
    path.write_bytes(codecs.BOM_UTF8 + "phone,Straße\n+41798284651,Zürich\n".encode())
    table = read_input(path)
    assert table.headers == ("phone", "Straße")
    assert table.header == "phone"


def test_csv_windows_1252_falls_back_without_crashing(tmp_path: Path) -> None:
    """A CSV saved by Excel in the ANSI code page decodes as Windows-1252."""
    text = "Téléphone;Nom\n+41 79 828 46 51;Zoë €\n"
    table = read_input(write_text(tmp_path / "in.csv", text, encoding="cp1252"))
    assert table.headers == ("Téléphone", "Nom")
    assert cells(table) == [(2, "+41 79 828 46 51")]


def test_csv_undefined_windows_1252_bytes_are_replaced(tmp_path: Path) -> None:
    """Bytes Windows-1252 leaves undefined become U+FFFD rather than an error."""
    path = tmp_path / "in.csv"
    path.write_bytes(b"phone\n+41798284651\n+4179828\x81652\n")
    assert cells(read_input(path)) == [(2, "+41798284651"), (3, "+4179828\ufffd652")]


# --- TXT -----------------------------------------------------------------------------


def test_txt_is_one_value_per_line(tmp_path: Path) -> None:
    """Commas and semicolons in a .txt are part of the value, not separators."""
    text = "+41 79 828 46 51\r\n079 828 46 52, 079 828 46 53\r\nabc\r\n"
    table = read_input(write_text(tmp_path / "in.txt", text))
    assert table.header is None
    assert cells(table) == [
        (1, "+41 79 828 46 51"),
        (2, "079 828 46 52, 079 828 46 53"),
        (3, "abc"),
    ]


@pytest.mark.parametrize("header", ["phone", "Phone number", "MSISDN", "Mobile", "E.164", "tel"])
def test_txt_header_only_when_it_reads_like_one(tmp_path: Path, header: str) -> None:
    """A first line naming a phone column is a header."""
    table = read_input(write_text(tmp_path / "in.txt", f"{header}\n+41798284651\n"))
    assert table.header == header
    assert cells(table) == [(2, "+41798284651")]


def test_txt_first_line_of_junk_is_data(tmp_path: Path) -> None:
    """Text that is not a phone header stays a (bad) value, not a silent header."""
    table = read_input(write_text(tmp_path / "in.txt", "hello\n+41798284651\n"))
    assert table.header is None
    assert cells(table) == [(1, "hello"), (2, "+41798284651")]


@pytest.mark.parametrize("first", ["079 111 11 11 mobile", "Mobile +41791111111", "tel 0791111111"])
def test_txt_first_line_holding_a_number_is_data(tmp_path: Path, first: str) -> None:
    """A .txt has a header only when its first line holds no number, whatever words it has."""
    table = read_input(write_text(tmp_path / "in.txt", f"{first}\n+41798284651\n"), region="CH")
    assert table.header_row is None
    assert cells(table) == [(1, first), (2, "+41798284651")]


def test_txt_tab_separated_is_a_table(tmp_path: Path) -> None:
    """Excel's 'Text (Tab delimited)' .txt is read as columns."""
    text = "name\tmobile\nAlice\t+41 79 828 46 51\nBob\t079 828 46 52\n"
    table = read_input(write_text(tmp_path / "in.txt", text))
    assert (table.header, table.column_label) == ("mobile", "B")
    assert cells(table) == [(2, "+41 79 828 46 51"), (3, "079 828 46 52")]


def test_txt_utf16_unicode_text(tmp_path: Path) -> None:
    """Excel's 'Unicode Text' is UTF-16 with a BOM and tabs."""
    text = "phone\tname\r\n+41 79 828 46 51\tZoë\r\n"
    table = read_input(write_text(tmp_path / "in.txt", text, encoding="utf-16"))
    assert table.header == "phone"
    assert cells(table) == [(2, "+41 79 828 46 51")]


def test_iterating_twice_reads_the_file_again(tmp_path: Path) -> None:
    """A table can be walked once to plan and once to write the output."""
    table = read_input(write_text(tmp_path / "in.txt", "+41798284651\n+41798284652\n"))
    assert cells(table) == cells(table) == [(1, "+41798284651"), (2, "+41798284652")]


def test_cells_are_frozen() -> None:
    """An InputCell cannot be changed after the fact."""
    cell = InputCell(row=2, value="+41798284651")
    with pytest.raises(AttributeError):
        cell.row = 3  # type: ignore[misc]


# --- workbooks -----------------------------------------------------------------------


def test_xlsx_number_cells_come_as_floats(tmp_path: Path) -> None:
    """Numbers stored as numbers arrive as Excel stores them; text stays text."""
    path = write_workbook(
        tmp_path / "in.xlsx",
        {"Sheet1": {"A1": "Name", "B1": "Phone", "B2": 41798284651, "B3": "+41 79 828 46 52"}},
    )
    table = read_input(path)
    assert (table.header, table.column_label, table.sheet) == ("Phone", "B", "Sheet1")
    assert cells(table) == [(2, 41798284651.0), (3, "+41 79 828 46 52")]


def test_xlsx_other_cell_types_pass_through(tmp_path: Path) -> None:
    """Dates and booleans reach the normaliser unchanged, which rejects them."""
    path = write_workbook(
        tmp_path / "in.xlsx",
        {"S": {"A1": "phone", "A2": dt.datetime(2024, 1, 2, 3, 4), "A3": True}},
    )
    assert cells(read_input(path)) == [(2, dt.datetime(2024, 1, 2, 3, 4)), (3, True)]


def test_xlsx_default_sheet_is_the_first_visible(tmp_path: Path) -> None:
    """A hidden first sheet is skipped."""
    path = write_workbook(
        tmp_path / "in.xlsx",
        {"Secret": {"A1": "+41798284651"}, "Data": {"A1": "phone", "A2": "+41798284652"}},
        hidden=("Secret",),
    )
    table = read_input(path)
    assert table.sheet == "Data"
    assert cells(table) == [(2, "+41798284652")]


def test_xlsx_sheet_by_name_ignoring_case(tmp_path: Path) -> None:
    """--sheet picks a sheet; case and surrounding spaces do not matter."""
    path = write_workbook(
        tmp_path / "in.xlsx",
        {"First": {"A1": "+41798284651"}, "Second": {"A1": "+41798284652"}},
    )
    assert cells(read_input(path, sheet="Second")) == [(1, "+41798284652")]
    assert read_input(path, sheet=" second ").sheet == "Second"


def test_xlsx_data_away_from_a1_keeps_real_rows_and_letters(tmp_path: Path) -> None:
    """Data starting at C5 reports rows and columns as Excel shows them."""
    path = write_workbook(
        tmp_path / "in.xlsx",
        {"S": {"C5": "Name", "D5": "Phone", "C6": "A", "D6": "+41798284651", "D8": 41798284652}},
    )
    table = read_input(path)
    assert (table.header_row, table.column_label, table.header) == (5, "D", "Phone")
    assert cells(table) == [(6, "+41798284651"), (7, ""), (8, 41798284652.0)]
    assert read_input(path, column="C").column_label == "C"
    assert read_input(path, column="4").column_label == "D"


def test_xlsm_is_read_like_xlsx(tmp_path: Path) -> None:
    """Macro-enabled workbooks hold the same cells."""
    path = write_workbook(tmp_path / "in.xlsx", {"S": {"A1": "phone", "A2": "+41798284651"}})
    macro = path.rename(tmp_path / "in.xlsm")
    assert cells(read_input(macro)) == [(2, "+41798284651")]


def test_legacy_xls_is_read(tmp_path: Path) -> None:
    """An Excel 97-2003 .xls (fixture written by xlwt) reads through calamine."""
    table = read_input(FIXTURES / "legacy.xls")
    assert (table.sheet, table.header, table.column_label) == ("Numbers", "Phone", "B")
    assert cells(table) == [(2, "+41 79 828 46 51"), (3, 41798284652.0)]


# --- column choice -------------------------------------------------------------------


@pytest.fixture
def three_columns(tmp_path: Path) -> Path:
    """Return a CSV with the headers 'Name', 'Phone Number' and 'City'."""
    text = "Name,Phone Number,City\nAlice,+41798284651,Bern\n"
    return write_text(tmp_path / "in.csv", text)


@pytest.mark.parametrize(
    ("column", "label", "first"),
    [
        ("City", "C", "Bern"),
        ("  phone   NUMBER ", "B", "+41798284651"),
        ("phonenumber", "B", "+41798284651"),
        ("a", "A", "Alice"),
        ("C", "C", "Bern"),
        ("1", "A", "Alice"),
        ("3", "C", "Bern"),
    ],
)
def test_column_by_name_letter_or_number(
    three_columns: Path, column: str, label: str, first: str
) -> None:
    """--column accepts a header (any case and spacing), a letter or a 1-based number."""
    table = read_input(three_columns, column=column)
    assert table.column_label == label
    assert cells(table) == [(2, first)]


def test_header_name_wins_over_a_letter(tmp_path: Path) -> None:
    """A column whose header is 'B' is found by that name even though B is a letter."""
    table = read_input(write_text(tmp_path / "in.csv", "phone,x,B\n+41798284651,y,z\n"), column="b")
    assert table.column_label == "C"


def test_unknown_column_name_lists_the_headers(three_columns: Path) -> None:
    """A header that does not exist is named, with the ones that do."""
    with pytest.raises(InputError, match=r"no column 'Mobile'; the headers are 'Name', 'Phone Nu"):
        read_input(three_columns, column="Mobile")


def test_column_letter_beyond_the_data(three_columns: Path) -> None:
    """A letter right of the data says where the data is."""
    with pytest.raises(InputError, match="column F is empty; the data is in columns A to C"):
        read_input(three_columns, column="F")


def test_column_number_beyond_the_data(three_columns: Path) -> None:
    """A column number past the last column is refused, naming the columns in use."""
    with pytest.raises(
        InputError, match=r"column 4 is empty; the data is in columns A to C \(1 to 3\)"
    ):
        read_input(three_columns, column="4")


def test_column_zero_is_refused(three_columns: Path) -> None:
    """Column numbers start at 1; 0 is neither a header, a letter nor a column."""
    with pytest.raises(InputError, match="no column '0'; the headers are"):
        read_input(three_columns, column="0")


def test_column_name_without_a_header_row(tmp_path: Path) -> None:
    """A name cannot match when the file has no header; the error says what to give."""
    path = write_text(tmp_path / "in.txt", "+41798284651\n")
    with pytest.raises(InputError, match="no header row, so give the column as a letter"):
        read_input(path, column="phone")


def test_xlsx_column_letter_left_of_the_data(tmp_path: Path) -> None:
    """Column A of a sheet whose data starts in C is empty, and the error says so."""
    path = write_workbook(tmp_path / "in.xlsx", {"S": {"C1": "phone", "C2": "+41798284651"}})
    with pytest.raises(InputError, match=r"in\.xlsx, sheet 'S': column A is empty.*C to C"):
        read_input(path, column="A")
    with pytest.raises(InputError, match=r"column 2 is empty; the data is in columns C to C"):
        read_input(path, column="2")


# --- errors --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is named."""
    with pytest.raises(InputError, match=r"nope\.csv: no such file"):
        read_input(tmp_path / "nope.csv")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    """A folder with a data-file name is refused."""
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(InputError, match="not a file"):
        read_input(tmp_path / "folder.csv")


@pytest.mark.parametrize("name", ["in.csv", "in.txt", "in.xlsx"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    """A zero-byte file says it is empty, whatever its type."""
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        read_input(tmp_path / name)


@pytest.mark.parametrize(("name", "shown"), [("in.pdf", "'.pdf'"), ("numbers", "no extension")])
def test_unknown_extension(tmp_path: Path, name: str, shown: str) -> None:
    """Only the supported types are read, and the message lists them."""
    (tmp_path / name).write_text("+41798284651\n")
    with pytest.raises(InputError, match=f"unsupported file type \\({shown}\\); use .txt, .csv"):
        read_input(tmp_path / name)


def test_only_blank_lines(tmp_path: Path) -> None:
    """A file of blank lines has nothing to check."""
    with pytest.raises(InputError, match="nothing in the file but blank lines"):
        read_input(write_text(tmp_path / "in.csv", "\n \n\n"))


def test_header_without_rows(tmp_path: Path) -> None:
    """A header alone is an error rather than an empty result."""
    with pytest.raises(InputError, match="no rows below the header"):
        read_input(write_text(tmp_path / "in.csv", "name,phone\n"))


def test_binary_garbage_with_nul_bytes(tmp_path: Path) -> None:
    """Binary data in a .csv is refused, not decoded into nonsense."""
    (tmp_path / "in.csv").write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InputError, match="binary data, not text"):
        read_input(tmp_path / "in.csv")


def test_binary_garbage_without_nul_bytes(tmp_path: Path) -> None:
    """Control characters give binary data away even without NUL bytes."""
    (tmp_path / "in.txt").write_bytes(bytes(range(1, 32)) * 200)
    with pytest.raises(InputError, match="binary data, not text"):
        read_input(tmp_path / "in.txt")


def test_workbook_saved_as_csv(tmp_path: Path) -> None:
    """An .xlsx renamed to .csv gets a hint instead of garbage rows."""
    path = write_workbook(tmp_path / "in.xlsx", {"S": {"A1": "+41798284651"}})
    renamed = path.rename(tmp_path / "in.csv")
    with pytest.raises(InputError, match="is an Excel workbook or another zip file, not text"):
        read_input(renamed)


def test_legacy_xls_saved_as_txt(tmp_path: Path) -> None:
    """An old .xls renamed to .txt gets a hint too."""
    renamed = shutil.copy(FIXTURES / "legacy.xls", tmp_path / "in.txt")
    with pytest.raises(InputError, match=r"old Excel \(\.xls\) or another Office file"):
        read_input(Path(renamed))


def test_utf16_mark_on_invalid_data(tmp_path: Path) -> None:
    """A UTF-16 byte-order mark followed by an odd byte is not UTF-16 text."""
    (tmp_path / "in.txt").write_bytes(codecs.BOM_UTF16_LE + "+41".encode("utf-16-le") + b"\x00")
    with pytest.raises(InputError, match="says it is UTF-16 but is not valid UTF-16"):
        read_input(tmp_path / "in.txt")


def test_corrupt_xlsx(tmp_path: Path) -> None:
    """Random bytes named .xlsx are not a workbook."""
    (tmp_path / "in.xlsx").write_bytes(b"this is not a workbook at all" * 10)
    with pytest.raises(InputError, match=r"in\.xlsx: this is not an Excel workbook"):
        read_input(tmp_path / "in.xlsx")


def test_truncated_xlsx(tmp_path: Path) -> None:
    """A workbook cut short (an interrupted download) is reported as damaged."""
    path = write_workbook(tmp_path / "whole.xlsx", {"S": {"A1": "+41798284651"}})
    (tmp_path / "in.xlsx").write_bytes(path.read_bytes()[:1500])
    with pytest.raises(InputError, match="the workbook is damaged and cannot be read"):
        read_input(tmp_path / "in.xlsx")


def test_password_protected_xlsx() -> None:
    """An encrypted workbook (fixture made with msoffcrypto-tool) asks for the password off."""
    with pytest.raises(InputError, match=r"encrypted\.xlsx: the workbook is password-protected"):
        read_input(FIXTURES / "encrypted.xlsx")


def test_legacy_xls_with_xlsx_name(tmp_path: Path) -> None:
    """An .xls renamed to .xlsx is recognised by its first bytes."""
    renamed = shutil.copy(FIXTURES / "legacy.xls", tmp_path / "in.xlsx")
    with pytest.raises(InputError, match=r"old-format Excel file \(\.xls\).*save it as \.xlsx"):
        read_input(Path(renamed))


def test_corrupt_xls(tmp_path: Path) -> None:
    """A damaged .xls is reported, not raised as a calamine error."""
    (tmp_path / "in.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(InputError, match=r"in\.xls: the workbook is damaged"):
        read_input(tmp_path / "in.xls")


def test_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    """A sheet that does not exist is named along with the ones that do."""
    path = write_workbook(tmp_path / "in.xlsx", {"Jan": {"A1": "1"}, "Feb": {"A1": "2"}})
    with pytest.raises(InputError, match="no sheet 'Mar'; the sheets are 'Jan', 'Feb'"):
        read_input(path, sheet="Mar")


def test_empty_sheet(tmp_path: Path) -> None:
    """A sheet with no cells has nothing to check."""
    path = write_workbook(tmp_path / "in.xlsx", {"Empty": {}, "Full": {"A1": "+41798284651"}})
    with pytest.raises(InputError, match="sheet 'Empty' is empty"):
        read_input(path)


def test_sheet_for_a_text_file(tmp_path: Path) -> None:
    """Naming a sheet for a CSV is a mistake worth reporting."""
    path = write_text(tmp_path / "in.csv", "+41798284651\n")
    with pytest.raises(InputError, match="a sheet name only applies to Excel workbooks"):
        read_input(path, sheet="Sheet1")


def test_a_200_kb_field_past_the_sampled_rows_is_read(tmp_path: Path) -> None:
    """A field above the csv module's default limit (128 KiB) but under ours is data."""
    lines = ["phone"] + ["+41798284651"] * 300 + ['"' + "9" * 200_000 + '"']
    path = write_text(tmp_path / "in.csv", "\n".join(lines) + "\n")
    assert cells(read_input(path))[-1] == (302, "9" * 200_000)


def test_file_removed_before_iterating(tmp_path: Path) -> None:
    """A file that vanishes between checking and reading gives InputError, not OSError."""
    path = write_text(tmp_path / "in.csv", "+41798284651\n")
    table = read_input(path)
    path.unlink()
    with pytest.raises(InputError, match=r"in\.csv, row 1: cannot read"):
        list(table)


# --- the bundled sample --------------------------------------------------------------


def test_bundled_sample_has_the_promised_mix() -> None:
    """About 3,000 rows; with region US about 5% invalid and about 20% repeats."""
    table = read_input(bundled_sample())
    assert (table.header, table.column_label) == ("phone", "A")
    rows = list(table)
    assert len(rows) == 3000
    assert [cell.row for cell in rows] == list(range(2, 3002))
    results = [normalize(cell.value, "US") for cell in rows]
    valid = [result.e164 for result in results if result.e164 is not None]
    assert 0.03 < 1 - len(valid) / len(rows) < 0.08
    assert 0.15 < (len(valid) - len(set(valid))) / len(rows) < 0.25
    reasons = Counter(result.reason for result in results if result.reason)
    for reason in ("contains letters", "too short", "empty cell", "has an extension"):
        assert any(found.startswith(reason) for found in reasons), reason
    assert sum(e164.startswith("+1") for e164 in valid) > len(valid) / 2
    assert {"+41", "+44", "+61", "+33"} <= {e164[:3] for e164 in valid}


def test_bundled_sample_mixes_formats() -> None:
    """The sample really holds the awkward formats the normaliser is meant for."""
    values = [str(cell.value) for cell in read_input(bundled_sample())]
    assert any(value.startswith("00") for value in values)
    assert any(value.endswith(".0") for value in values)
    assert any(value.startswith("'") for value in values)
    assert any("\u00a0" in value for value in values)
    assert any("５" in value or "＋" in value for value in values)
    assert any(value.startswith("(") for value in values)


def test_bundled_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    """bench/make_sample.py is deterministic and the committed file is its output."""
    output = tmp_path / "sample.csv"
    subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "make_sample.py"), "--output", str(output)],
        check=True,
        capture_output=True,
    )
    assert output.read_bytes() == bundled_sample().read_bytes()


def test_xlsx_numeric_headers_read_as_whole_numbers(tmp_path: Path) -> None:
    """A header cell holding the number 2024 is the header "2024", not "2024.0"."""
    path = write_workbook(tmp_path / "in.xlsx", {"S": {"A1": "phone", "B1": 2024, "A2": "+41"}})
    assert read_input(path).headers == ("phone", "2024")
    assert read_input(path, column="2024").column_label == "B"
