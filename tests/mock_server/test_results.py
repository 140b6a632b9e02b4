"""Rendering result files: xlsx and zip holding a CSV."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from openpyxl import load_workbook

from mock_server.results import render, render_xlsx_openpyxl

ROWS = [("+41798284651", "yes"), ("+14155550100", "ban")]


def test_xlsx_has_the_header_then_the_rows():
    workbook = load_workbook(io.BytesIO(render("xlsx", ROWS)), read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert rows == [("Number", "facebook"), *ROWS]


def parts(workbook: bytes) -> list[tuple[str, bytes]]:
    """Return the workbook's parts in archive order, core.xml without its two timestamps."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        found = [(name, archive.read(name)) for name in archive.namelist()]
    stamp = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*")
    return [(name, stamp.sub(rb"\1", data)) for name, data in found]


@pytest.mark.parametrize("header", [("Number", "facebook"), ("number", "activated")])
@pytest.mark.parametrize("count", [0, 1, 2_345])
def test_xlsx_is_byte_for_byte_the_one_openpyxl_writes_row_by_row(header, count):
    rows = [(f"+4179{index:07d}", ("yes", "no", "ban")[index % 3]) for index in range(count)]
    rows += [("<&>\"'", "x & y")] if count else []
    ours = parts(render("xlsx", rows, header))
    assert ours == parts(render_xlsx_openpyxl(rows, header))
    assert any(b"<dcterms:created" in data for _, data in ours)  # the stamps were there


def test_zip_holds_one_csv_with_crlf_lines():
    with zipfile.ZipFile(io.BytesIO(render("zip", ROWS))) as archive:
        assert archive.namelist() == ["results.csv"]
        text = archive.read("results.csv").decode("utf-8")
    assert text == "Number,facebook\r\n+41798284651,yes\r\n+14155550100,ban\r\n"


def test_an_empty_result_still_has_the_header():
    with zipfile.ZipFile(io.BytesIO(render("zip", []))) as archive:
        assert archive.read("results.csv") == b"Number,facebook\r\n"


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown result format 'pdf'"):
        render("pdf", ROWS)
