"""Hostile workbooks are refused before python-calamine reads them; ordinary ones pass."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from addin.engine.sources import InputError, read_input
from addin.engine.workbook_limits import InputLimits, WorkbookTooLarge, check_workbook

MAX_SHEET_CELLS = InputLimits().xlsx_max_sheet_cells

SHEET = "xl/worksheets/sheet1.xml"


def plain_workbook(path: Path, rows: int = 3) -> Path:
    """Write an ordinary workbook with a phone column."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone"])
    for i in range(rows):
        sheet.append([f"+4179111{i:04d}"])
    book.save(path)
    return path


def rewrite_sheet(source: Path, target: Path, change: bytes, *, compress: bool = True) -> Path:
    """Copy a workbook, inserting ``change`` at the end of its first sheet's data."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", method) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == SHEET:
                data = data.replace(b"</sheetData>", change + b"</sheetData>")
            new.writestr(item.filename, data, compress_type=method)
    return target


def test_an_ordinary_workbook_passes(tmp_path: Path) -> None:
    check_workbook(plain_workbook(tmp_path / "ok.xlsx", rows=2000))


def test_a_cell_at_the_far_corner_is_refused(tmp_path: Path) -> None:
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    hostile = rewrite_sheet(plain_workbook(tmp_path / "a.xlsx"), tmp_path / "far.xlsx", far)
    assert hostile.stat().st_size < 20_000
    with pytest.raises(WorkbookTooLarge, match=f"above the limit of {MAX_SHEET_CELLS:,}"):
        check_workbook(hostile)
    with pytest.raises(InputError, match=r"refused before reading: .*17,179,869,184 cells"):
        read_input(hostile)


def test_a_cell_that_inflates_600_times_is_refused(tmp_path: Path) -> None:
    huge = (
        b'<row r="9"><c r="A9" t="inlineStr"><is><t>' + b"9" * 50_000_000 + b"</t></is></c></row>"
    )
    hostile = rewrite_sheet(plain_workbook(tmp_path / "a.xlsx"), tmp_path / "bomb.xlsx", huge)
    assert hostile.stat().st_size < 200_000
    with pytest.raises(WorkbookTooLarge, match=r"compresses [\d,]+ times, above the 200x limit"):
        check_workbook(hostile)


def test_a_big_ordinary_sheet_passes(tmp_path: Path) -> None:
    rows = b"".join(
        b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>+4179%07d</t></is></c></row>' % (i, i, i)
        for i in range(2, 200_000)
    )
    check_workbook(rewrite_sheet(plain_workbook(tmp_path / "a.xlsx"), tmp_path / "big.xlsx", rows))


def test_a_reference_cut_between_two_read_chunks_is_still_seen(tmp_path: Path) -> None:
    source = plain_workbook(tmp_path / "a.xlsx")
    with zipfile.ZipFile(source) as book:
        before = book.read(SHEET).index(b"</sheetData>")
    head, tail = b'<row r="8"><c r="B8" t="inlineStr"><is><t>', b"</t></is></c></row>"
    far = b'<row r="1048576"><c r="ZZ1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    cut = 1024 * 1024 - 3  # the reader's chunk size: 'r="ZZ' straddles the boundary
    pad = cut - before - len(head) - len(tail) - far.index(b'r="ZZ')
    change = head + b"p" * pad + tail + far
    hostile = rewrite_sheet(source, tmp_path / "s.xlsx", change, compress=False)
    with zipfile.ZipFile(hostile) as book:
        assert book.read(SHEET)[cut : cut + 5] == b'r="ZZ'
    with pytest.raises(WorkbookTooLarge, match="702 columns"):
        check_workbook(hostile)


def test_not_a_zip_is_left_to_calamine(tmp_path: Path) -> None:
    (tmp_path / "b.xls").write_bytes(b"\xd0\xcf\x11\xe0 not really")
    check_workbook(tmp_path / "b.xls")


def test_the_cli_refuses_it_with_exit_2_and_no_abort(tmp_path: Path) -> None:
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    hostile = rewrite_sheet(plain_workbook(tmp_path / "a.xlsx"), tmp_path / "far.xlsx", far)
    result = subprocess.run(
        [sys.executable, "-m", "addin.cli", "check", str(hostile), "-o", str(tmp_path / "o.csv")],
        env={"FBCHECK_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "above the limit" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o.csv").exists()
