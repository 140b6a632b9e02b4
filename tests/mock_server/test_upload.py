"""Reading the uploaded file: accepted shapes and each rejection."""

from __future__ import annotations

import io

import pytest

from mock_server.exceptions import (
    EmptyFile,
    FileTooLarge,
    InvalidEncoding,
    InvalidNumber,
    TooManyNumbers,
)
from mock_server.upload import Upload, is_e164, read_numbers


def read(content: bytes, *, max_bytes: int = 10_000, max_numbers: int = 100) -> Upload:
    """Read ``content`` with generous limits unless told otherwise."""
    return read_numbers(io.BytesIO(content), max_bytes=max_bytes, max_numbers=max_numbers)


@pytest.mark.parametrize("text", ["+1", "+41798284651", "+123456789012345"])
def test_valid_e164(text: str):
    assert is_e164(text)


@pytest.mark.parametrize(
    "text", ["", "+", "+0123", "41798284651", "+1234567890123456", "+41 79", "+4179a", "+١٢٣"]
)
def test_invalid_e164(text: str):
    assert not is_e164(text)


def test_numbers_keep_upload_order_and_duplicates():
    upload = read(b"+2\n+1\n+2\n")
    assert upload.numbers == ("+2", "+1", "+2")
    assert upload.distinct == ("+2", "+1")
    assert upload.size_bytes == 9


def test_bom_crlf_whitespace_and_blank_lines_are_tolerated():
    assert read(b"\xef\xbb\xbf+1\r\n\r\n \t+2 \r\n\n").numbers == ("+1", "+2")


def test_a_bom_after_the_first_line_is_an_error():
    with pytest.raises(InvalidNumber, match="line 2"):
        read(b"+1\n\xef\xbb\xbf+2\n")


def test_the_last_line_needs_no_newline():
    assert read(b"+1\n+2").numbers == ("+1", "+2")


def test_a_line_of_exactly_the_limit_is_read_whole():
    line = b"+1" + b" " * 62 + b"\n"
    assert read(line).numbers == ("+1",)


def test_a_line_over_the_limit_is_an_error():
    with pytest.raises(InvalidNumber, match="line 2: longer than 64 bytes"):
        read(b"+1\n+1" + b" " * 63 + b"\n")


def test_a_bad_line_is_named():
    with pytest.raises(InvalidNumber, match=r"line 2: '0791234' is not E.164"):
        read(b"+1\n0791234\n")


def test_a_long_bad_line_is_shortened_in_the_message():
    with pytest.raises(InvalidNumber, match="…"):
        read(b"x" * 50 + b"\n")


def test_non_utf8_is_an_encoding_error():
    with pytest.raises(InvalidEncoding, match="line 1: not UTF-8"):
        read(b"\xe9\n")


def test_an_empty_file_is_an_error():
    with pytest.raises(EmptyFile):
        read(b"")


def test_blank_lines_only_is_an_empty_file():
    with pytest.raises(EmptyFile):
        read(b"\n \n\r\n")


def test_more_bytes_than_allowed_is_an_error():
    with pytest.raises(FileTooLarge, match="10 bytes"):
        read(b"+1\n+2\n+3\n+4\n", max_bytes=10)


def test_more_numbers_than_allowed_is_an_error():
    with pytest.raises(TooManyNumbers, match="more than 2 numbers"):
        read(b"+1\n+2\n+3\n", max_numbers=2)
