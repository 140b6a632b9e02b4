"""Formats shared by every layer: each rule is defined here once and imported where needed.

- **E.164**: ``+`` then 1 to 15 ASCII digits, the first not 0 (ITU-T E.164 caps a
  number at 15 digits; the vendor documents "``+`` then 1-15 digits, first digit
  not 0"). Digits are ``[0-9]``, not ``\\d``, which would also accept other
  scripts' digits that the vendor cannot read.
- **Vendor task ids** go into a URL path, so only URL-safe characters are accepted
  (the vendor's ids are 20 characters of ``0-9a-v``; the rule is looser on purpose).
- **Answers**: the vendor's definitive answers are ``yes``, ``no`` and ``ban``; only
  they are cached. ``error`` (no answer for a valid number) and ``invalid`` (not a
  phone number, never uploaded) complete what one input row can end as.
- **Timestamps** are written as RFC 3339 UTC to the second: ``2024-10-19T18:24:56Z``.
- **A1 column letters**: ``A`` is column index 0, ``Z`` 25, ``AA`` 26.
- **The package version**, as installed.
- **Region codes**: ISO 3166 alpha-2 codes that ``phonenumbers`` knows (the default
  region of the settings, of a look-up, of a selection).

Imports only the standard library and ``phonenumbers``' region list: the settings,
the engine, the vendor client and the add-in backend all import this module.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import metadata
from typing import Final

import phonenumbers

__all__ = [
    "ANSWERS",
    "E164",
    "E164_PATTERN",
    "ERROR",
    "INVALID",
    "OUTCOMES",
    "RESULT_ANSWERS",
    "TASK_ID",
    "TASK_ID_PATTERN",
    "UNKNOWN_VERSION",
    "column_index",
    "column_letters",
    "is_e164",
    "is_task_id",
    "package_version",
    "utc_timestamp",
    "validate_region",
]

#: An E.164 number: "+", then 1 to 15 digits, the first not 0.
E164_PATTERN: Final = r"\+[1-9][0-9]{0,14}"
E164: Final = re.compile(E164_PATTERN)

#: A vendor task id: URL-safe characters only, since it goes into a URL path.
TASK_ID_PATTERN: Final = r"[A-Za-z0-9_-]{1,128}"
TASK_ID: Final = re.compile(TASK_ID_PATTERN)

#: The vendor's definitive answers, in display order: the only answers cached.
ANSWERS: Final[tuple[str, ...]] = ("yes", "no", "ban")
#: No answer for a valid number (the vendor failed it, or it is missing from the
#: result file); never cached, so the next check asks again.
ERROR: Final = "error"
#: Not a phone number: never uploaded.
INVALID: Final = "invalid"
#: What one row of a vendor result file can say.
RESULT_ANSWERS: Final[tuple[str, ...]] = (*ANSWERS, ERROR)
#: What one input row ends as (the ``facebook`` column of a result), in display order.
OUTCOMES: Final[tuple[str, ...]] = (*ANSWERS, INVALID, ERROR)

#: The version reported when the package is not installed (a bare checkout).
UNKNOWN_VERSION: Final = "0+unknown"

_DISTRIBUTION: Final = "fbcheck"


def is_e164(text: str) -> bool:
    """Return True when ``text`` is exactly an E.164 number (no spaces, no newline)."""
    return E164.fullmatch(text) is not None


def is_task_id(text: str) -> bool:
    """Return True when ``text`` is exactly a task id the vendor client accepts."""
    return TASK_ID.fullmatch(text) is not None


def package_version() -> str:
    """Return the installed fbcheck version, or UNKNOWN_VERSION outside an install."""
    try:
        return metadata.version(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def utc_timestamp(moment: float | dt.datetime | None) -> str:
    """Return a UNIX time or datetime as RFC 3339 UTC to the second (naive = UTC; None = "")."""
    if moment is None:
        return ""
    if isinstance(moment, dt.datetime):
        stamp = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    else:
        stamp = dt.datetime.fromtimestamp(moment, dt.UTC)
    # isoformat(timespec="seconds") truncates the fraction: never a second ahead.
    return stamp.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def column_letters(index: int) -> str:
    """Return the A1 letters of a 0-based column index (0 -> A, 25 -> Z, 26 -> AA)."""
    if index < 0:
        raise ValueError(f"a column index is 0 or more, got {index}")
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """Return the 0-based column index of A1 letters, in any case (A -> 0, aa -> 26)."""
    if not letters or not letters.isascii() or not letters.isalpha():
        raise ValueError(f"column letters are A to Z, got {letters!r}")
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - ord("A") + 1
    return number - 1


def validate_region(code: object) -> str:
    """Return ``code`` as an upper-case ISO 3166 alpha-2 region phonenumbers knows."""
    if not isinstance(code, str):
        raise ValueError(f"region must be text such as 'CH' or 'US', not {code!r}")
    region = code.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown region {code!r}: use a two-letter country code such as CH, DE or US"
        )
    return region
