"""Hostile input files (issue 9, item 4): every limit is a setting, named when it refuses.

Each limit is shown from both sides (just under passes, just over is refused), the
CLI runs for real as a subprocess (exit 2, the limit and its ``FBCHECK_`` variable
in the message, no traceback, no output file), and zips that lie about their sizes
are caught by inflating them, not by believing their directory.
"""

from __future__ import annotations

import csv
import io
import os
import random
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest

from addin.config import Settings
from addin.engine.sources import InputError, InputLimits, _sniff_delimiter, read_input
from addin.engine.workbook_limits import WorkbookTooLarge, check_workbook
from addin.upstream.exceptions import ResultFileError
from addin.upstream.results import parse_result_file
from tests.lying_zips import members_of, rezip, understate

SHEET = "xl/worksheets/sheet1.xml"


def run_check(tmp_path: Path, source: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run ``fbcheck check SOURCE -o out.csv`` in demo mode with ``FBCHECK_`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        FBCHECK_REGION="CH",
        FBCHECK_POLL_MIN_INTERVAL="0.05",
        FBCHECK_POLL_MAX_INTERVAL="0.3",
    )
    env.update({f"FBCHECK_{name.upper()}": value for name, value in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "addin.cli", "check", str(source), "-o", str(tmp_path / "out.csv")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], tmp_path: Path, *words: str) -> None:
    """Assert exit 2 with every word in the message, no traceback and no output."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert not (tmp_path / "out.csv").exists()


def workbook(rows: Sequence[Sequence[object]]) -> bytes:
    """Return an ordinary .xlsx holding ``rows`` (openpyxl)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def with_sheet_data(data: bytes, extra: bytes) -> bytes:
    """Return the workbook with ``extra`` XML appended to its first sheet's data."""
    members = members_of(data)
    members[SHEET] = members[SHEET].replace(b"</sheetData>", extra + b"</sheetData>")
    return rezip(members)


def inline_cell(ref: str, row: int, text: bytes) -> bytes:
    """Return a row holding one inline-string cell."""
    return b'<row r="%d"><c r="%s" t="inlineStr"><is><t>%s</t></is></c></row>' % (
        row,
        ref.encode(),
        text,
    )


def noise(size: int, *, seed: int, alphabet: str) -> bytes:
    """Return ``size`` random characters of ``alphabet``: text that barely compresses."""
    return "".join(random.Random(seed).choices(alphabet, k=size)).encode()


PHONES = [["phone", "name"], ["+41791110001", "Ann"], ["+41791110002", "Bob"]]


# -- the settings -------------------------------------------------------------


def test_the_limits_are_settings_with_defaults_for_every_row_of_a_few_columns() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    limits = InputLimits.from_settings(settings)
    assert limits == InputLimits()
    assert limits.xlsx_max_sheet_cells >= 1_048_576 * 16
    assert limits.xlsx_max_cells >= 2 * 1_048_576 * 16
    assert limits.xlsx_max_cell_bytes >= 32_767 * 6  # Excel's longest cell, escaped
    assert limits.text_max_field_chars >= 32_767
    custom = Settings(_env_file=None, xlsx_max_cells=10, text_max_field_chars=2048)  # type: ignore[call-arg]
    assert InputLimits.from_settings(custom).xlsx_max_cells == 10
    assert InputLimits.from_settings(custom).text_max_field_chars == 2048


# -- workbooks: rectangle, cells, cell size, inflated size ----------------------


def test_the_rectangle_counts_one_letter_columns(tmp_path: Path) -> None:
    # 100 rows reaching column P: 1,600 cells from A1 (not 26 columns' worth).
    rows = b"".join(inline_cell(f"P{n}", n, b"x") for n in range(4, 101))
    path = tmp_path / "p.xlsx"
    path.write_bytes(with_sheet_data(workbook(PHONES), rows))
    check_workbook(path, InputLimits(xlsx_max_sheet_cells=1600))
    with pytest.raises(WorkbookTooLarge, match=r"1,600 cells \(100 rows, 16 columns from A1\)"):
        check_workbook(path, InputLimits(xlsx_max_sheet_cells=1599))


def test_the_rectangle_limit_is_a_setting_of_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "wide.xlsx"
    path.write_bytes(with_sheet_data(workbook(PHONES), inline_cell("Z40", 40, b"x")))
    result = run_check(tmp_path, path, xlsx_max_sheet_cells="1000")
    assert_refused(
        result, tmp_path, "1,040 cells", "limit of 1,000", "FBCHECK_XLSX_MAX_SHEET_CELLS"
    )
    assert run_check(tmp_path, path, xlsx_max_sheet_cells="1040").returncode == 0


def test_a_cell_at_the_far_corner_is_refused_by_default(tmp_path: Path) -> None:
    path = tmp_path / "far.xlsx"
    path.write_bytes(with_sheet_data(workbook(PHONES), inline_cell("XFD1048576", 1048576, b"x")))
    assert path.stat().st_size < 20_000
    result = run_check(tmp_path, path)
    assert_refused(result, tmp_path, "17,179,869,184 cells", "FBCHECK_XLSX_MAX_SHEET_CELLS")


def test_the_cell_count_limit_is_a_setting_of_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "cells.xlsx"
    path.write_bytes(workbook([["phone"], *([f"+4179111{n:04d}"] for n in range(300))]))
    with zipfile.ZipFile(path) as book:
        held = book.read(SHEET).count(b"<c ")
    assert held == 301
    check_workbook(path, InputLimits(xlsx_max_cells=held))
    with pytest.raises(WorkbookTooLarge, match=r"more than 300 cells and shared strings"):
        check_workbook(path, InputLimits(xlsx_max_cells=held - 1))
    result = run_check(tmp_path, path, xlsx_max_cells=str(held - 1))
    assert_refused(result, tmp_path, "more than 300 cells", "FBCHECK_XLSX_MAX_CELLS")


def test_a_cell_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.xlsx"
    path.write_bytes(with_sheet_data(workbook(PHONES), inline_cell("B9", 9, b"n" * 5000)))
    check_workbook(path, InputLimits(xlsx_max_cell_bytes=6000))
    with pytest.raises(WorkbookTooLarge, match=r"a cell \(or tag\) of more than 4,096 bytes"):
        check_workbook(path, InputLimits(xlsx_max_cell_bytes=4096))
    result = run_check(tmp_path, path, xlsx_max_cell_bytes="4096")
    assert_refused(result, tmp_path, "4,096 bytes", "FBCHECK_XLSX_MAX_CELL_BYTES")


def test_a_long_cell_cut_between_two_inflated_chunks_is_still_seen(tmp_path: Path) -> None:
    # Random text (not compressible) of 3 MiB: it arrives in several chunks.
    text = noise(3 * 1024 * 1024, seed=7, alphabet="abcdef")
    path = tmp_path / "cut.xlsx"
    path.write_bytes(with_sheet_data(workbook(PHONES), inline_cell("B9", 9, text)))
    with pytest.raises(WorkbookTooLarge, match="more than 2,097,152 bytes"):
        check_workbook(path, InputLimits(xlsx_max_cell_bytes=2 * 1024 * 1024))
    check_workbook(path, InputLimits(xlsx_max_cell_bytes=4 * 1024 * 1024))


def with_shared_strings(data: bytes, strings: list[bytes]) -> bytes:
    """Return the workbook with a shared-string table holding ``strings``."""
    members = members_of(data)
    items = b"".join(b"<si><t>%s</t></si>" % text for text in strings)
    members["xl/sharedStrings.xml"] = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">%s</sst>' % items
    )
    return rezip(members)


def test_the_long_cell_of_a_shared_string_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shared.xlsx"
    path.write_bytes(with_shared_strings(workbook(PHONES), [b"short", b"w" * 3000]))
    check_workbook(path, InputLimits(xlsx_max_cell_bytes=4096))
    with pytest.raises(WorkbookTooLarge, match=r"xl/sharedStrings\.xml holds a cell"):
        check_workbook(path, InputLimits(xlsx_max_cell_bytes=2048))


def test_shared_strings_count_as_cells(tmp_path: Path) -> None:
    plain = workbook(PHONES)
    held = members_of(plain)[SHEET].count(b"<c ")
    path = tmp_path / "strings.xlsx"
    path.write_bytes(with_shared_strings(plain, [b"s%d" % n for n in range(50)]))
    check_workbook(path, InputLimits(xlsx_max_cells=held + 50))
    with pytest.raises(WorkbookTooLarge, match=f"more than {held + 49:,} cells and shared strings"):
        check_workbook(path, InputLimits(xlsx_max_cells=held + 49))


def test_the_inflated_size_limit_is_a_setting(tmp_path: Path) -> None:
    text = noise(1_500_000, seed=3, alphabet="0123456789")
    path = tmp_path / "big.xlsx"
    path.write_bytes(with_sheet_data(workbook(PHONES), inline_cell("B9", 9, text)))
    result = run_check(
        tmp_path, path, xlsx_max_inflated_bytes=str(1024 * 1024), xlsx_max_cell_bytes="2000000"
    )
    assert_refused(result, tmp_path, "1,048,576", "FBCHECK_XLSX_MAX_INFLATED_BYTES")


def test_a_bad_limit_setting_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "ok.xlsx"
    path.write_bytes(workbook(PHONES))
    result = run_check(tmp_path, path, xlsx_max_cells="0")
    assert_refused(result, tmp_path, "xlsx_max_cells")


# -- zips whose directory lies ---------------------------------------------------


def lying_workbook(text: bytes, declared: int = 1000) -> bytes:
    """Return a workbook whose sheet really holds ``text`` but whose directory says less."""
    return understate(
        with_sheet_data(workbook(PHONES), inline_cell("B9", 9, text)), SHEET, declared
    )


def test_a_lying_directory_fools_zipfile_but_not_the_check(tmp_path: Path) -> None:
    text = noise(800_000, seed=5, alphabet="0123456789")
    path = tmp_path / "lying.xlsx"
    path.write_bytes(lying_workbook(text))
    with zipfile.ZipFile(path) as book:
        assert len(book.read(SHEET)) == 1000  # no error: the CRC matches the declared prefix
    with pytest.raises(
        WorkbookTooLarge, match=r"inflates to [\d,]+ bytes but its directory says 1,000"
    ):
        check_workbook(path)
    result = run_check(tmp_path, path)
    assert_refused(result, tmp_path, "lies about its sizes")


def test_a_small_declared_size_over_a_huge_inflation_stops_early(tmp_path: Path) -> None:
    # 300 MB of one digit compress to about 0.3 MB; the directory says 1,000 bytes.
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(lying_workbook(b"9" * 300_000_000))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(WorkbookTooLarge, match=r"compresses [\d,]+ times, above the 200x limit"):
        check_workbook(path, InputLimits(xlsx_max_cell_bytes=10**9))
    # The cap stops the inflation too (here before the ratio rule can apply).
    with pytest.raises(
        WorkbookTooLarge, match=r"inflates to more than [\d,]+ bytes, the workbook's"
    ):
        check_workbook(path, InputLimits(xlsx_max_inflated_bytes=1024 * 1024))
    result = run_check(tmp_path, path)
    assert_refused(result, tmp_path, "refused before reading")


def test_a_result_file_whose_directory_lies_is_refused() -> None:
    answers = "Number,facebook\n" + "".join(f"+4179111{n:04d},yes\n" for n in range(5000))
    honest = rezip({"results.csv": answers.encode()})
    assert len(parse_result_file(honest)) == 5000
    lying = understate(honest, "results.csv", 40)
    with zipfile.ZipFile(io.BytesIO(lying)) as archive:
        assert len(archive.read("results.csv")) == 40
    with pytest.raises(ResultFileError, match="lies about its sizes"):
        parse_result_file(lying)


def test_a_result_workbook_whose_directory_lies_is_refused_before_calamine() -> None:
    rows = [["Number", "facebook"], *([f"+4179111{n:04d}", "no"] for n in range(200))]
    honest = workbook(rows)
    assert len(parse_result_file(honest)) == 200
    lying = understate(honest, SHEET, 300)
    with pytest.raises(ResultFileError, match=r"worksheets/sheet1\.xml' inflates to"):
        parse_result_file(lying)
    bomb = understate(with_sheet_data(honest, inline_cell("C9", 9, b"7" * 100_000_000)), SHEET, 300)
    with pytest.raises(ResultFileError, match=r"compresses [\d,]+ times"):
        parse_result_file(bomb)


# -- CSV and text: huge fields --------------------------------------------------


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    """Write rows as CSV (quoted where needed) and return the path."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_a_200_kb_quoted_field_near_the_top_is_read(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "notes.csv",
        [["name", "phone"], ["x" * 200_000, "+41791110001"], ["Bob", "+41791110002"]],
    )
    table = read_input(path, region="CH")
    assert table.header == "phone"
    assert [cell.value for cell in table] == ["+41791110001", "+41791110002"]
    result = run_check(tmp_path, path)
    assert result.returncode == 0, result.stderr
    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as handle:
        out = list(csv.DictReader(handle))
    assert [len(row["name"]) for row in out] == [200_000, 3]
    assert [row["facebook"] in ("yes", "no", "ban") for row in out] == [True, True]


def test_a_200_kb_quoted_field_with_line_breaks_is_read(tmp_path: Path) -> None:
    note = ("y" * 999 + "\n") * 200
    path = write_csv(
        tmp_path / "breaks.csv",
        [["name", "phone"], [note, "+41791110001"], ["Bob", "+41791110002"]],
    )
    table = read_input(path, region="CH")
    assert table.header == "phone"
    assert [cell.value for cell in table] == ["+41791110001", "+41791110002"]


def test_a_20_mb_field_is_exit_2_naming_the_limit(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "huge.csv",
        [["name", "phone"], ["z" * 20_000_000, "+41791110001"], ["Bob", "+41791110002"]],
    )
    with pytest.raises(InputError, match=r"huge\.csv, line 2: .*longer than 1,048,576 characters"):
        read_input(path, region="CH")
    result = run_check(tmp_path, path)
    assert_refused(result, tmp_path, "line 2", "1,048,576", "FBCHECK_TEXT_MAX_FIELD_CHARS")


def test_a_20_mb_field_of_short_lines_is_exit_2_naming_the_limit(tmp_path: Path) -> None:
    note = ("q" * 99 + "\n") * 200_000  # 20 MB inside one quoted field, 100-byte lines
    path = write_csv(
        tmp_path / "lines.csv", [["name", "phone"], ["Ann", "+41791110001"], [note, "+41791110002"]]
    )
    with pytest.raises(InputError, match=r"a field is longer than 1,048,576 characters"):
        list(read_input(path, region="CH"))
    result = run_check(tmp_path, path)
    assert_refused(result, tmp_path, "a field is longer", "FBCHECK_TEXT_MAX_FIELD_CHARS")


def test_a_field_over_a_lower_limit_past_the_sample_names_its_line(tmp_path: Path) -> None:
    rows = [["phone"], *([f"+4179111{n:04d}"] for n in range(300)), ["9" * 200_000]]
    path = write_csv(tmp_path / "late.csv", rows)
    table = read_input(path, limits=InputLimits(text_max_field_chars=100_000))
    with pytest.raises(InputError, match=r"late\.csv, line 302: the line is longer than 100,000"):
        list(table)


def test_sniffing_falls_back_on_the_rows_before_a_field_over_the_limit(tmp_path: Path) -> None:
    # The limit is below the sample: the sniffer's csv parse stops at the big field,
    # the rows above it still say the delimiter is ';'; reading then names the field.
    lines = ["name;phone", "Ann;+41791110001", "Cy;+41791110003", '"' + "a\n" * 2000 + '";+4179']
    text = "\n".join(lines) + "\n"
    old = csv.field_size_limit(2048)
    try:
        assert _sniff_delimiter(text, (",", ";", "\t", "|")) == ";"
    finally:
        csv.field_size_limit(old)
    path = tmp_path / "semi.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"semi\.csv, line \d+: a field is longer than 2,048"):
        read_input(path, region="CH", limits=InputLimits(text_max_field_chars=2048))
    assert read_input(path, region="CH").header == "phone"


def test_a_sample_that_cuts_a_multibyte_character_reads_fine(tmp_path: Path) -> None:
    # 'é' is two bytes in UTF-8: the 256 KiB sample ends in the middle of one.
    path = write_csv(
        tmp_path / "accents.csv",
        [["name", "phone"], ["é" * 140_001, "+41791110001"], ["Zoë", "+41791110002"]],
    )
    table = read_input(path, region="CH")
    assert [cell.value for cell in table] == ["+41791110001", "+41791110002"]


def test_a_txt_line_over_the_limit_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("+41791110001\n" + "5" * 3_000_000 + "\n", encoding="utf-8")
    result = run_check(tmp_path, path)
    assert_refused(result, tmp_path, "line 2", "FBCHECK_TEXT_MAX_FIELD_CHARS")
    assert run_check(tmp_path, path, text_max_field_chars="4000000").returncode == 0
