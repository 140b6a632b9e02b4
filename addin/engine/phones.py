"""Phone normalisation: whatever a cell or a file holds becomes E.164 or a reason why not.

Accepted input, in the order it is cleaned:

* ``None`` or blank text is an ``empty cell``; ``True``/``False`` and dates are not numbers.
* Excel number cells arrive as ``int`` or ``float`` (``41798284651.0``); a float must be
  a whole number below 10^15, since Excel keeps only 15 significant digits.
* Text: Unicode compatibility forms are folded (full-width digits and ``＋``, every kind of
  space), other Unicode decimal digits become ASCII, invisible format characters
  (zero-width space, byte-order mark, direction marks) go, a leading apostrophe (Excel's
  "this is text" marker) and a ``tel:`` prefix are dropped, then the separators
  space, ``-`` (and the Unicode dashes), ``.``, ``/`` and parentheses are removed.
  Letters (vanity numbers such as ``1-800-FLOWERS``), an extension (``ext. 12``), two
  numbers in one cell or any other character make the input invalid: the vendor checks
  exactly one number, and guessing would bill a number the user never meant.
* ``00`` at the start is the international prefix and becomes ``+`` (if that gives no
  valid number, the region's own reading is tried: ``0011`` dials abroad from Australia).
* A text like ``41798284651.0`` is a number cell exported as text and reads as its
  digits; ``4.17983E+10`` has lost digits already and is refused.
* With ``+`` the number is international. Without it, it is read as a national number of
  ``region``. If that reading is not a valid number and the digits (11 to 15, no leading
  0) form a valid international number, they are taken as E.164 whose ``+`` was lost:
  Excel number cells drop it, and MSISDN columns never had it. Shorter digit strings are
  never reinterpreted this way, because a 10-digit national number of one country is
  often a valid number of another (US ``2015550123`` would become Egypt ``+20 15550123``).
* Every result passes ``phone_validity.is_valid_number`` and has at most 15 digits: a
  number in an unassigned range would be billed for an answer that can only be "no".

Speed (about 18 µs a distinct cell of the global mix here, at a load of 3 on two cores,
against 83 µs for ``phonenumbers.parse`` and ``is_valid_number`` on the same cells):
results are cached per ``(raw, region)``, so duplicates cost a dictionary look-up, and
where ``phonenumbers.parse`` (the slow part) would only confirm what the digits already
say, the number is built directly: canonical E.164, and national digits in regions with
a plain national prefix. The validity check is never skipped. ``read_clean(...,
shortcuts=False)`` reads by the same rules through ``phonenumbers.parse`` and the
library's own ``is_valid_number`` only; the differential tests hold the shortcuts to
it, with no difference allowed, over every example number in every notation, seeded
edits of them and the benchmark's global mix.
``cleaned`` and ``read_clean`` are the two halves of ``normalize_once``: the cheap
cleaning, then the reading, which depends on the cleaned text and the region alone.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberFormat,
    ValidationResult,
)

from addin.engine import pattern_cache, phone_validity
from addin.formats import is_e164, validate_region

__all__ = [
    "Normalized",
    "cache_clear",
    "cleaned",
    "normalize",
    "normalize_many",
    "normalize_once",
    "read_clean",
    "validate_region",
]

# phonenumbers compiles its metadata patterns on use; keep them all (see pattern_cache).
pattern_cache.install()

#: Distinct inputs remembered. About 280 bytes each, so a full cache holds about 300 MB;
#: smaller and a million-row file with scattered duplicates re-parses most of them.
CACHE_SIZE = 2**20

# Reasons shown to the user. Module constants so a million invalid rows share one string.
EMPTY = "empty cell"
NEEDS_REGION = "national number needs a region"
TOO_SHORT = "too short"
TOO_LONG = "too long"
LETTERS = "contains letters"
EXTENSION = "has an extension; give the number without it"
SEVERAL = "more than one number in the cell"
NO_DIGITS = "no digits"
UNKNOWN_COUNTRY = "unknown country code"
NOT_WHOLE = "not a whole number"
NEGATIVE = "negative number"
NOT_A_NUMBER = "not a phone number"
SCIENTIFIC = "in scientific notation, so Excel may have rounded it; format the column as text"
LOCAL_ONLY = "too short: the area code is missing"

# E.164 allows 15 digits; anything this long is rejected before any parsing work.
_MAX_TEXT_LENGTH = 100
_MAX_DIGITS = 17
_DIGITS = re.compile(r"\+?[0-9]+")
# Text of digits and the plainest separators, with a digit: nothing to fold or refuse.
_PLAIN = re.compile(r"[0-9+ ()/-]*[0-9][0-9+ ()/-]*")
_ASCII_DIGITS = frozenset("0123456789")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
# "ext. 12", "extension 12", "x12", "#12", ";ext=12" after the last digit of the number.
_EXTENSION = re.compile(
    r"[0-9][\s.)-]*(?:;\s*ext=|ext(?:ension)?\.?|x|#)\s*[0-9]{1,7}\s*$", re.IGNORECASE
)
# A number cell exported as text: "41798284651.0", or "4.17983E+10" already rounded.
_FLOAT_TEXT = re.compile(r"([0-9]+)\.0+")
_SCIENTIFIC = re.compile(r"[0-9]+(?:[.,][0-9]*)?[eE]\+?[0-9]+")
_SEVERAL = re.compile(r"[0-9]\s*[,;\n\r|]\s*[+(]?[0-9]")
_SEPARATORS = str.maketrans("", "", " \t-./()[]")
_QUOTES = "'‘’`"
# Dashes that NFKC leaves alone; they separate digit groups like "-".
_DASHES = frozenset("‐‑‒–—―−﹘﹣")
_COUNTRY_CODES = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_SHARED_COUNTRY_CODES = frozenset(
    code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) > 1
)
_POSSIBLE_REASON = {
    ValidationResult.TOO_SHORT: TOO_SHORT,
    ValidationResult.TOO_LONG: TOO_LONG,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: LOCAL_ONLY,
    ValidationResult.INVALID_COUNTRY_CODE: UNKNOWN_COUNTRY,
}
# phonenumbers only ever sees clean digits here, so "not a number" means too few of them.
_PARSE_REASON = {
    NumberParseException.INVALID_COUNTRY_CODE: UNKNOWN_COUNTRY,
    NumberParseException.NOT_A_NUMBER: TOO_SHORT,
    NumberParseException.TOO_SHORT_AFTER_IDD: TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: TOO_SHORT,
    NumberParseException.TOO_LONG: TOO_LONG,
}


@dataclass(frozen=True, slots=True)
class Normalized:
    """The outcome for one input: an E.164 number, or the reason it is invalid."""

    e164: str | None
    reason: str | None

    def __post_init__(self) -> None:
        """Refuse a result that is both or neither valid and invalid."""
        if (self.e164 is None) == (self.reason is None):
            raise ValueError("exactly one of e164 and reason must be set")

    @property
    def valid(self) -> bool:
        """Return True when the input is a valid number."""
        return self.e164 is not None


def normalize(raw: object, region: str | None = None) -> Normalized:
    """Return the E.164 form of ``raw``, reading national numbers in ``region``.

    Never raises for any ``raw``; an unknown ``region`` raises ``ValueError`` because it
    is a caller's mistake, not a bad cell (check it once with ``validate_region``).
    """
    if region is not None:
        region = validate_region(region)
    if raw is None or isinstance(raw, str | int | float):
        return _normalize_cached(raw, region)
    return _normalize_uncached(raw, region)


def normalize_once(raw: object, region: str | None = None) -> Normalized:
    """Return ``normalize(raw, region)`` without remembering it (the caller keeps results)."""
    if region is not None:
        region = validate_region(region)
    return _normalize_uncached(raw, region)


def normalize_many(values: Iterable[object], region: str | None = None) -> list[Normalized]:
    """Return ``normalize_once`` of each value, the region checked once for all of them."""
    if region is not None:
        region = validate_region(region)
    return [_normalize_uncached(raw, region) for raw in values]


def cache_clear() -> None:
    """Forget every cached result (for benchmarks that measure the uncached cost)."""
    _normalize_cached.cache_clear()


def _normalize_uncached(raw: object, region: str | None) -> Normalized:
    """Normalise one value of any type without the cache."""
    clean = cleaned(raw)
    if isinstance(clean, Normalized):
        return clean
    return _read_clean(clean, region)


def cleaned(raw: object) -> str | Normalized:
    """Return ``raw`` cleaned to ``+digits`` or ``digits``, or the invalid result it already is.

    What follows depends on the cleaned text and the region alone, so callers that see
    one number in several notations (``+41 79 ...``, ``+4179...``) read it once:
    ``normalize_once(raw, region)`` is ``read_clean(cleaned(raw), region)``.
    """
    if raw is None:
        return _invalid(EMPTY)
    if isinstance(raw, str):
        return _clean_text(raw)
    # bool is an int subclass: TRUE in a cell is not the number 1.
    if isinstance(raw, bool):
        return _invalid(f"{NOT_A_NUMBER} (TRUE/FALSE)")
    if isinstance(raw, int):
        return _clean_whole(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return _invalid(NOT_A_NUMBER)
        if not raw.is_integer():
            return _invalid(NOT_WHOLE)
        return _clean_whole(int(raw))
    if isinstance(raw, datetime | date | time | timedelta):
        return _invalid(f"{NOT_A_NUMBER} (a date or time)")
    return _invalid(f"{NOT_A_NUMBER} ({type(raw).__name__})")


def read_clean(clean: str, region: str | None = None, *, shortcuts: bool = True) -> Normalized:
    """Return the number of a text ``cleaned`` returned, reading national ones in ``region``.

    ``shortcuts=False`` reads it the slow way the shortcuts stand in for: every number
    through ``phonenumbers.parse`` and the library's own ``is_valid_number``, by the
    same rules (the differential tests hold the two to identical answers; the benches
    time both).
    """
    if region is not None:
        region = validate_region(region)
    return _read_clean(clean, region, shortcuts)


_normalize_cached = lru_cache(maxsize=CACHE_SIZE, typed=True)(_normalize_uncached)


def _clean_whole(value: int) -> str | Normalized:
    """Clean an Excel number cell, which has lost any ``+`` and leading zeros."""
    if value < 0:
        return _invalid(NEGATIVE)
    # Above 15 digits Excel has already rounded the value, so it cannot be trusted.
    if value >= 10**15:
        return _invalid(TOO_LONG)
    # Its digits never start with "00" (and a 0 is "0"): read as digits without "+".
    return str(value)


def _clean_text(text: str) -> str | Normalized:
    """Clean free text down to ``+digits`` or ``digits``, or say why it is no number."""
    if is_e164(text):
        return text
    if len(text) > _MAX_TEXT_LENGTH:
        return _invalid(TOO_LONG)
    if _PLAIN.fullmatch(text):
        # Digits, spaces, "+", "-", "/" and parentheses only: none of the checks below
        # can match (they need a letter, a quote, ".", ",", ";", "#" or a line end).
        return _compact(text.translate(_SEPARATORS))
    if not text.isascii():
        text = _fold_unicode(text)
    text = text.strip().lstrip(_QUOTES).strip().strip('"“”').strip()
    if not text:
        return _invalid(EMPTY)
    whole = _FLOAT_TEXT.fullmatch(text)
    if whole:
        text = whole.group(1)
    elif _SCIENTIFIC.fullmatch(text):
        return _invalid(SCIENTIFIC)
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    if _EXTENSION.search(text):
        return _invalid(EXTENSION)
    if _ASCII_LETTER.search(text) or (not text.isascii() and any(char.isalpha() for char in text)):
        return _invalid(LETTERS)
    if _SEVERAL.search(text):
        return _invalid(SEVERAL)
    return _compact(text.translate(_SEPARATORS))


def _compact(compact: str) -> str | Normalized:
    """Return separator-free text if it is ``+digits`` or ``digits``, else why not."""
    if not _DIGITS.fullmatch(compact):
        return _invalid(_describe_junk(compact))
    if compact in ("00", "+"):
        return _invalid(NO_DIGITS)
    return compact


def _read_clean(compact: str, region: str | None, shortcuts: bool = True) -> Normalized:
    """Normalise ``+digits`` or ``digits`` (see ``cleaned``); ``shortcuts``: see ``read_clean``."""
    if compact.startswith("00"):
        digits = compact[2:]
        result = _normalize_international(digits, region, shortcuts)
        # 00 is the international prefix almost everywhere; where the region dials
        # abroad differently (0011 in AU) or has national numbers starting 00 (UY),
        # the region's own reading is the second guess.
        if not result.valid and region is not None:
            national = _normalize_digits(compact, region, shortcuts)
            if national.valid:
                return national
        return result
    if compact.startswith("+"):
        return _normalize_international(compact[1:], region, shortcuts)
    return _normalize_digits(compact, region, shortcuts)


def _fold_unicode(text: str) -> str:
    """Fold full-width forms, Unicode digits, spaces, dashes and invisible marks to ASCII."""
    folded = []
    for char in unicodedata.normalize("NFKC", text):
        if char.isascii():
            folded.append(char)
        elif char.isdecimal():
            folded.append(str(unicodedata.decimal(char)))
        elif char in _DASHES:
            folded.append("-")
        elif char.isspace():
            folded.append(" ")
        elif unicodedata.category(char) != "Cf":
            folded.append(char)
    return "".join(folded)


def _describe_junk(compact: str) -> str:
    """Name the first character that has no place in a phone number."""
    if not any(char in _ASCII_DIGITS for char in compact):
        return NO_DIGITS
    for index, char in enumerate(compact):
        if char in _ASCII_DIGITS or (char == "+" and index == 0):
            continue
        if char == "+":
            return "'+' only belongs at the start"
        return f"unexpected character {char!r}"
    return NOT_A_NUMBER


def _normalize_digits(digits: str, region: str | None, shortcuts: bool = True) -> Normalized:
    """Normalise digits without ``+``: national in ``region``, else E.164 that lost its ``+``."""
    if len(digits) > _MAX_DIGITS:
        return _invalid(TOO_LONG)
    national: PhoneNumber | str | None = None
    if region is not None:
        if shortcuts:
            own = _own_country_code(digits, region)
            if own is not None:
                return own
            national, checked = _national_number(digits, region)
        else:
            national, checked = _parse(digits, region), False
        if isinstance(national, PhoneNumber) and (
            checked or _is_valid(national, region, shortcuts)
        ):
            return _valid(national)
    if 11 <= len(digits) <= 15 and digits[0] != "0":
        international = _normalize_international(digits, region, shortcuts)
        if international.valid:
            return international
    if national is None:
        return _invalid(NEEDS_REGION)
    if isinstance(national, str):
        return _invalid(national)
    return _invalid(_why_invalid(national))


def _own_country_code(digits: str, region: str) -> Normalized | None:
    """Return the number for 11-15 digits starting with the region's own country code.

    That is an Excel number cell of a local number (41798284651 in CH). The parser keeps
    all the digits as the national number when that is valid, and otherwise either strips
    the country code or fails, after which the international reading applies; both give
    ``+digits``. So: the national reading if valid, else the canonical international one.
    None means no shortcut applies (or nothing valid was found): use the parser.
    """
    plan = _national_plan(region)
    if plan is None or not 11 <= len(digits) <= 15:
        return None
    country_code, prefix, international_prefix = plan
    if (
        not digits.startswith(str(country_code))
        or (prefix and digits.startswith(prefix))
        or international_prefix.match(digits)
    ):
        return None
    whole = _build(country_code, digits)
    if phone_validity.is_valid_number_for_region(whole, region):
        return _accepted(f"+{country_code}{digits}")
    international = _normalize_international(digits, region)
    return international if international.valid else None


def _national_number(digits: str, region: str) -> tuple[PhoneNumber | str, bool]:
    """Read national digits in ``region``: the number or why not, and True if known valid.

    ``phonenumbers.parse`` costs more than the validity check, so the number is built
    directly where that gives exactly what the parser would: in regions whose national
    prefix is a plain literal (CH "0", US "1", none in IT), for digits that start with
    neither the country code nor the international prefix. Digits without the national
    prefix are the national number as they are; with it, the parser strips it when what
    remains is valid. Every other case goes to the parser.
    """
    plan = _national_plan(region)
    if plan is not None:
        country_code, prefix, international_prefix = plan
        if not digits.startswith(str(country_code)) and not international_prefix.match(digits):
            if not prefix or not digits.startswith(prefix):
                return _build(country_code, digits), False
            if len(digits) > len(prefix):
                stripped = _build(country_code, digits[len(prefix) :])
                if phone_validity.is_valid_number_for_region(stripped, region):
                    return stripped, True
    return _parse(digits, region), False


@lru_cache(maxsize=512)
def _national_plan(region: str) -> tuple[int, str, re.Pattern[str]] | None:
    """Return (country code, national prefix, international prefix) for direct building."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix_transform_rule is not None:
        return None
    prefix = metadata.national_prefix or ""
    if (metadata.national_prefix_for_parsing or "") != prefix or (prefix and not prefix.isdigit()):
        return None
    international = re.compile(metadata.international_prefix or "(?!)")
    return metadata.country_code or 0, prefix, international


def _build(country_code: int, significant: str) -> PhoneNumber:
    """Return the number for a country code and national significant digits."""
    zeros = len(significant) - len(significant.lstrip("0"))
    return PhoneNumber(
        country_code=country_code,
        national_number=int(significant),
        italian_leading_zero=zeros > 0 or None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )


def _normalize_international(
    digits: str, region: str | None = None, shortcuts: bool = True
) -> Normalized:
    """Normalise the digits after ``+``, building the number directly when it is canonical."""
    if len(digits) > _MAX_DIGITS:
        return _invalid(TOO_LONG)
    # Country codes are prefix-free, so at most one of the first three prefixes is one;
    # none starts with 0 (int("064") would read New Zealand's 64 in "+064...").
    for length in (1, 2, 3) if shortcuts and digits[:1] != "0" else ():
        if len(digits) > length and int(digits[:length]) in _COUNTRY_CODES:
            significant = digits[length:]
            # All zeros is the one national number phonenumbers writes otherwise ("0000").
            if significant.strip("0") and _is_valid_parts(
                int(digits[:length]), significant, region
            ):
                return _accepted("+" + digits)
            break
    # Not canonical (a "(0)" national prefix, say) or invalid: let the full parser decide.
    parsed = _parse("+" + digits, None)
    if isinstance(parsed, str):
        return _invalid(parsed)
    if _is_valid(parsed, region, shortcuts):
        return _valid(parsed)
    return _invalid(_why_invalid(parsed))


def _parse(text: str, region: str | None) -> PhoneNumber | str:
    """Parse clean digits with phonenumbers; return the number or why it cannot be one."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        return _PARSE_REASON.get(error.error_type, NOT_A_NUMBER)
    if number.extension:
        return EXTENSION
    return number


def _is_valid(number: PhoneNumber, region: str | None, shortcuts: bool = True) -> bool:
    """Return ``phonenumbers.is_valid_number(number)``, asking the likely region first."""
    if not shortcuts:
        valid: bool = phonenumbers.is_valid_number(number)
        return valid
    nsn = phonenumbers.national_significant_number(number)
    return _is_valid_parts(number.country_code or 0, nsn, region)


def _is_valid_parts(country_code: int, nsn: str, region: str | None) -> bool:
    """Return ``is_valid_number`` of a country code and national significant number."""
    # A country code shared by several regions (+1 has 25) makes is_valid_number try them
    # in turn; valid in the caller's region implies valid, at half the cost.
    if country_code in _SHARED_COUNTRY_CODES:
        if region is not None and phone_validity.valid_in_region(country_code, nsn, region):
            return True
        # Trying all 25 regions of +1 is the slow part; a length none of them allows
        # (an 11-digit "national" number) cannot be valid in any.
        lengths = _possible_lengths(country_code)
        if lengths and len(nsn) not in lengths:
            return False
    return phone_validity.valid_number(country_code, nsn)


@lru_cache(maxsize=64)
def _possible_lengths(country_code: int) -> frozenset[int]:
    """Return every national length valid in some region of a country code (empty: any)."""
    lengths: set[int] = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code]:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        if metadata is None or metadata.general_desc is None:
            return frozenset()
        possible = metadata.general_desc.possible_length
        if not possible:
            return frozenset()
        lengths.update(possible)
    return frozenset(lengths)


def _valid(number: PhoneNumber) -> Normalized:
    """Return the valid result for a parsed number."""
    return _accepted(_e164(number))


def _accepted(e164: str) -> Normalized:
    """Return the valid result, unless it is longer than the 15 digits E.164 allows."""
    # phonenumbers accepts some longer national numbers (Germany has 14-digit ones),
    # but the vendor takes at most 15 digits after the '+'.
    if len(e164) > 16:
        return _invalid(TOO_LONG)
    return Normalized(e164=e164, reason=None)


def _why_invalid(number: PhoneNumber) -> str:
    """Explain why a parsed number is not valid."""
    possible = phonenumbers.is_possible_number_with_reason(number)
    country_code = number.country_code or 0
    where = phonenumbers.region_code_for_country_code(country_code)
    if where == "001":
        where = f"+{country_code}"
    if possible == ValidationResult.INVALID_LENGTH:
        return f"wrong length for {where}"
    return _POSSIBLE_REASON.get(possible) or f"not a valid number for {where}"


def _e164(number: PhoneNumber) -> str:
    """Format a parsed number as E.164."""
    text: str = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return text


@lru_cache(maxsize=1024)
def _invalid(reason: str) -> Normalized:
    """Return the shared invalid result for ``reason``."""
    return Normalized(e164=None, reason=reason)
