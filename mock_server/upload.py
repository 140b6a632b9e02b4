"""Reading the uploaded text file of numbers, line by line, with the vendor's rules.

One E.164 number per line (``+`` then 1-15 digits, the first not 0). Tolerated:
LF or CRLF line ends, a missing final newline, a UTF-8 byte-order mark, spaces
or tabs around a number, and blank lines anywhere. Anything else on a line fails
the whole upload, and the error names the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from mock_server.exceptions import (
    EmptyFile,
    FileTooLarge,
    InvalidEncoding,
    InvalidNumber,
    TooManyNumbers,
)

#: The vendor's number format: ``+`` then 1-15 digits, the first not 0.
E164 = re.compile(r"\+[1-9][0-9]{0,14}")

#: No valid line (16 characters plus whitespace) comes near this; it bounds memory per line.
MAX_LINE_BYTES = 64

_UTF8_BOM = b"\xef\xbb\xbf"
_WHITESPACE = " \t\r\n"


class LineReader(Protocol):
    """A binary stream with ``readline(limit)``, such as an uploaded file."""

    def readline(self, size: int = -1, /) -> bytes:
        """Return one line of at most ``size`` bytes, or ``b""`` at the end."""
        ...


@dataclass(frozen=True)
class Upload:
    """The numbers of one accepted file, in upload order, duplicates kept."""

    numbers: tuple[str, ...]
    size_bytes: int

    @property
    def distinct(self) -> tuple[str, ...]:
        """Return each number once, in order of first appearance."""
        return tuple(dict.fromkeys(self.numbers))


def is_e164(text: str) -> bool:
    """Return True when ``text`` is exactly one E.164 number."""
    return E164.fullmatch(text) is not None


def _shown(raw: str) -> str:
    """Return a short quoted form of a bad line for an error message."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def read_numbers(stream: LineReader, *, max_bytes: int, max_numbers: int) -> Upload:
    """Read and validate every line of ``stream``; raise a 400 error on the first bad one."""
    numbers: list[str] = []
    size = 0
    line_number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        size += len(raw)
        if size > max_bytes:
            raise FileTooLarge(f"the file is over the limit of {max_bytes} bytes")
        # A partial read without a newline is a line over the limit, unless it is the last.
        complete = raw.endswith(b"\n")
        if not complete and len(raw) > MAX_LINE_BYTES:
            raise InvalidNumber(
                f"line {line_number + 1}: longer than {MAX_LINE_BYTES} bytes, not a phone number"
            )
        line_number += 1
        if line_number == 1 and raw.startswith(_UTF8_BOM):
            raw = raw[len(_UTF8_BOM) :]
        try:
            text = raw.decode("utf-8").strip(_WHITESPACE)
        except UnicodeDecodeError:
            raise InvalidEncoding(f"line {line_number}: not UTF-8 text") from None
        if not text:
            continue
        if not is_e164(text):
            raise InvalidNumber(
                f"line {line_number}: {_shown(text)} is not E.164"
                " (+ then 1-15 digits, the first not 0)"
            )
        if len(numbers) >= max_numbers:
            raise TooManyNumbers(f"more than {max_numbers} numbers; the limit per task")
        numbers.append(text)
    if not numbers:
        raise EmptyFile("the file holds no phone number")
    return Upload(numbers=tuple(numbers), size_bytes=size)
