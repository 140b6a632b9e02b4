"""Tests of result-file parsing: xlsx, zip holding a CSV, plain CSV, and hostile files."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Sequence

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addin.upstream.exceptions import ResultFileError
from addin.upstream.results import MAX_UNCOMPRESSED_BYTES, ResultRow, parse_result_file

YES, NO, BAN = ResultRow("yes"), ResultRow("no"), ResultRow("ban")


def xlsx(rows: Sequence[Sequence[object]], *, sheets: Sequence[str] = ("Results",)) -> bytes:
    """Build an xlsx with openpyxl; ``rows`` go to the last sheet, earlier sheets stay empty."""
    book = openpyxl.Workbook()
    book.active.title = sheets[0]
    for name in sheets[1:]:
        book.create_sheet(name)
    sheet = book.worksheets[-1]
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Build a zip holding the given members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def rewrite_member(data: bytes, name: str, change) -> bytes:
    """Return a copy of a zip whose member ``name`` went through ``change``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    members = {info.filename: source.read(info) for info in source.infolist()}
    members[name] = change(members[name])
    return zipped(members)


# -- xlsx -----------------------------------------------------------------


def test_xlsx_with_the_vendor_header():
    data = xlsx([["Number", "facebook"], ["+41798284651", "yes"], ["+41798284652", "no"]])
    assert parse_result_file(data) == {"+41798284651": YES, "+41798284652": NO}


@pytest.mark.parametrize(
    ("number_header", "answer_header"),
    [
        ("number", "facebook"),
        (" Number ", "Facebook"),
        ("NUMBER", " FACEBOOK\u00a0"),
        ("Phone Number", "fb"),
    ],
)
def test_xlsx_header_case_and_spacing_are_tolerated(number_header, answer_header):
    data = xlsx([[number_header, answer_header], ["+41798284651", "ban"]])
    assert parse_result_file(data) == {"+41798284651": BAN}


def test_xlsx_extra_columns_other_order_title_row_and_numeric_cells():
    data = xlsx(
        [
            ["Facebook check export"],
            [],
            ["checked at", "FACEBOOK", "note", "Number"],
            ["2024-10-19", "YES ", "x", 41798284651.0],
            ["2024-10-19", " No", "", 41798284652],
            ["2024-10-19", "Ban", "", "41798284653"],
            ["2024-10-19", "yes", "", "'+41 79 828 46 54"],
            ["2024-10-19", "no", "", "41798284655.0"],
            ["2024-10-19", "no", "", "0041798284656"],
        ]
    )
    assert parse_result_file(data) == {
        "+41798284651": YES,
        "+41798284652": NO,
        "+41798284653": BAN,
        "+41798284654": YES,
        "+41798284655": NO,
        "+41798284656": NO,
    }


def test_xlsx_unknown_and_empty_answers_become_errors_with_a_reason():
    data = xlsx(
        [
            ["Number", "facebook"],
            ["+41798284651", "maybe"],
            ["+41798284652", None],
            ["+41798284653", "error"],
            ["+41798284654", 1],
        ]
    )
    assert parse_result_file(data) == {
        "+41798284651": ResultRow("error", "unexpected answer 'maybe'"),
        "+41798284652": ResultRow("error", "empty answer in the result file"),
        "+41798284653": ResultRow("error", "the vendor reported an error for this number"),
        "+41798284654": ResultRow("error", "unexpected answer '1'"),
    }


def test_xlsx_rows_without_a_valid_number_are_skipped():
    data = xlsx(
        [
            ["Number", "facebook"],
            ["not a number", "yes"],
            [None, "no"],
            [True, "no"],
            [3.5, "no"],
            ["+0123", "no"],
            ["+1234567890123456", "no"],
            ["+41798284651", "yes"],
        ]
    )
    assert parse_result_file(data) == {"+41798284651": YES}


@pytest.mark.parametrize(
    "answers",
    [["no", "yes", "ban", "error!"], ["ban", "error!", "no", "yes"], ["yes", "no", "ban", "huh"]],
)
def test_conflicting_duplicates_pick_yes_over_ban_over_no_over_error(answers):
    rows = [["Number", "facebook"], *(["+41798284651", answer] for answer in answers)]
    rows += [["+41798284652", "no"], ["+41798284652", "ban"], ["+41798284653", "??"]]
    rows += [["+41798284653", "no"]]
    assert parse_result_file(xlsx(rows)) == {
        "+41798284651": YES,
        "+41798284652": BAN,
        "+41798284653": NO,
    }


def test_header_is_found_on_a_later_sheet():
    data = xlsx([["Number", "facebook"], ["+41798284651", "no"]], sheets=("Summary", "Data"))
    assert parse_result_file(data) == {"+41798284651": NO}


def test_xlsx_without_the_facebook_column_names_what_it_found():
    data = xlsx([["Number", "whatsapp"], ["+41798284651", "yes"]])
    with pytest.raises(
        ResultFileError, match=r"no header row with a 'Number' and a 'facebook'.*'whatsapp'"
    ):
        parse_result_file(data, url="https://files.example/r.xlsx")


def test_empty_sheet_has_no_header():
    with pytest.raises(ResultFileError, match="has no rows"):
        parse_result_file(xlsx([]))


def test_too_many_rows_are_refused():
    data = xlsx([["Number", "facebook"], *([f"+4179828465{i}", "no"] for i in range(5))])
    assert len(parse_result_file(data, max_rows=5)) == 5
    with pytest.raises(ResultFileError, match="more than 4 rows"):
        parse_result_file(data, max_rows=4)


def test_truncated_xlsx_is_a_result_file_error():
    data = xlsx([["Number", "facebook"], ["+41798284651", "yes"]])
    with pytest.raises(ResultFileError, match="corrupt or truncated zip") as caught:
        parse_result_file(data[: len(data) // 2], url="https://files.example/r.xlsx")
    assert caught.value.url == "https://files.example/r.xlsx"


def test_xlsx_with_a_broken_sheet_is_a_result_file_error():
    data = rewrite_member(
        xlsx([["Number", "facebook"], ["+41798284651", "yes"]]),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml[: len(xml) // 2],
    )
    with pytest.raises(ResultFileError, match="unreadable"):
        parse_result_file(data)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_xlsx_declaring_an_entity_is_refused(encoding):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    )

    def inject(xml: bytes) -> bytes:
        body = xml.decode("utf-8")
        body = body.split("?>", 1)[1] if body.startswith("<?xml") else body
        return (bomb + body).encode(encoding)

    data = rewrite_member(
        xlsx([["Number", "facebook"], ["+41798284651", "&lol2;"]]),
        "xl/worksheets/sheet1.xml",
        inject,
    )
    with pytest.raises(ResultFileError, match="declares a DOCTYPE or ENTITY"):
        parse_result_file(data)


def test_zip_bomb_by_compression_ratio_is_refused():
    data = zipped(
        {"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": bytes(20 * 1024 * 1024)}
    )
    assert len(data) < 100_000
    with pytest.raises(ResultFileError, match=r"compresses [\d,]+ times.*zip bomb"):
        parse_result_file(data)


def patch_declared_size(data: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size of every member in the central directory."""
    patched = bytearray(data)
    start = 0
    while (start := patched.find(b"PK\x01\x02", start)) != -1:
        patched[start + 24 : start + 28] = struct.pack("<I", size)
        start += 4
    return bytes(patched)


def test_zip_announcing_a_huge_expansion_is_refused():
    data = patch_declared_size(
        zipped({"a.csv": b"Number,facebook\n"}, zipfile.ZIP_STORED), 0xFFFFFFF0
    )
    assert MAX_UNCOMPRESSED_BYTES < 0xFFFFFFF0
    with pytest.raises(ResultFileError, match=r"would expand to .*zip bomb"):
        parse_result_file(data)


def test_zip_understating_its_size_is_caught_while_reading():
    data = patch_declared_size(zipped({"a.csv": b"Number,facebook\n+41798284651,yes\n"}), 10)
    with pytest.raises(
        ResultFileError,
        match=r"'a\.csv' inflates to 33 bytes but its directory says 10 \(a zip that lies",
    ):
        parse_result_file(data)


# -- zip holding a CSV and plain CSV ---------------------------------------


def test_zip_holding_one_csv():
    csv_text = b"Number,facebook\r\n+41798284651,yes\r\n41798284652,ban\r\n"
    data = zipped({"results/result.csv": csv_text})
    assert parse_result_file(data) == {"+41798284651": YES, "+41798284652": BAN}


def test_zip_ignores_macos_resource_forks():
    data = zipped(
        {"result.csv": b"Number,facebook\n+41798284651,no\n", "__MACOSX/._result.csv": b"\x00"}
    )
    assert parse_result_file(data) == {"+41798284651": NO}


@pytest.mark.parametrize(
    "members",
    [{"readme.txt": b"hi"}, {"a.csv": b"Number,facebook\n", "b.csv": b"Number,facebook\n"}, {}],
)
def test_zip_without_exactly_one_csv_lists_its_members(members):
    with pytest.raises(ResultFileError, match=r"exactly one \.csv file; it holds"):
        parse_result_file(zipped(members))


def test_corrupt_zip():
    with pytest.raises(ResultFileError, match="corrupt or truncated zip"):
        parse_result_file(b"PK\x03\x04" + b"garbage" * 10)


def test_csv_with_bom_semicolons_and_extra_columns():
    text = "\ufeffid; NUMBER ;Facebook\n1;+41798284651;Yes\n2;+41798284652;no\n\n"
    assert parse_result_file(text.encode("utf-8")) == {"+41798284651": YES, "+41798284652": NO}


def test_csv_in_utf16_with_tabs():
    text = "Number\tfacebook\n+41798284651\tban\n"
    assert parse_result_file(text.encode("utf-16")) == {"+41798284651": BAN}


def test_csv_in_latin1_with_short_rows():
    text = "Num\xe9ro,x\nNumber,facebook\n+41798284651\n+41798284652,no\n"
    assert parse_result_file(text.encode("latin-1")) == {
        "+41798284651": ResultRow("error", "empty answer in the result file"),
        "+41798284652": NO,
    }


def test_csv_without_number_column():
    with pytest.raises(ResultFileError, match="'phone_no', 'facebook'"):
        parse_result_file(b"phone_no,facebook\n+41798284651,yes\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the result file is empty"),
        (b"\n\n", "has no rows"),
        (
            b"<!DOCTYPE html><html><title>Access denied</title></html>",
            r"HTML or XML page \(served as text/html\)",
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "legacy .xls"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary data"),
        (b"\xff\xfe\x00\xd8", "not valid UTF-16"),
    ],
)
def test_files_that_are_not_results(data, message):
    with pytest.raises(ResultFileError, match=message):
        parse_result_file(data, url="https://files.example/r", content_type="text/html")


# -- anything at all: a ResultFileError or answers, never a crash ---------------

VALID_XLSX = xlsx([["Number", "facebook"], *([f"+4179828465{i}", "yes"] for i in range(10))])
VALID_PARTS = {
    info.filename: zipfile.ZipFile(io.BytesIO(VALID_XLSX)).read(info)
    for info in zipfile.ZipFile(io.BytesIO(VALID_XLSX)).infolist()
}


def parse_or_refuse(data: bytes) -> None:
    """Parse ``data``; only a ResultFileError may escape, and answers must be well formed."""
    try:
        rows = parse_result_file(data)
    except ResultFileError as exc:
        message = str(exc)
        rows = {}
    else:
        message = "parsed"
    assert message
    for number, row in rows.items():
        assert number.startswith("+")
        assert number[1:].isdigit()
        assert row.answer in ("yes", "no", "ban", "error")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_never_crash(data):
    parse_or_refuse(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["Number", "facebook", "+41798284651", "yes", "x", "", "4179"])),
        max_size=8,
    ),
    st.sampled_from([",", ";", "\t"]),
)
def test_arbitrary_csv_never_crashes(rows, delimiter):
    parse_or_refuse("\n".join(delimiter.join(row) for row in rows).encode())


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(VALID_PARTS)),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=40),
    st.binary(max_size=20),
)
def test_damaged_xlsx_parts_never_crash(name, position, cut, insert):
    part = VALID_PARTS[name]
    position %= len(part) + 1
    damaged = part[:position] + insert + part[position + cut :]
    parse_or_refuse(zipped({**VALID_PARTS, name: damaged}))
