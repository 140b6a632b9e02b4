"""Tests for addin.engine.phones: every accepted format, every reason, and properties."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from addin.engine.phones import Normalized, normalize, validate_region
from addin.formats import is_e164

SWISS = "+41798284651"


def _valid_examples() -> list[str]:
    """Return phonenumbers' own valid example numbers for every region and main type."""
    kinds = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    )
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in kinds:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


VALID_EXAMPLES = _valid_examples()


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+41798284651", None),
        ("+41 79 828 46 51", None),
        ("0041 79 828 46 51", None),
        ("0041798284651", "US"),
        ("'+41 79 828 46 51", None),
        ("’+41 79 828 46 51", None),
        ("  +41 79 828 46 51  ", None),
        ("\u00a0+41\u00a079\u00a0828\u00a046\u00a051\u00a0", None),
        ("+41\u202f79\u2009828\u300046 51", None),
        ("＋４１ ７９ ８２８ ４６ ５１", None),
        ("+٤١٧٩٨٢٨٤٦٥١", None),
        ("+41-79-828-46-51", None),
        ("+41–79—828‑46−51", None),
        ("+41.79.828.46.51", None),
        ("+41/79/828 46 51", None),
        ("+41 (79) 828 46 51", None),
        ("+41 (0)79 828 46 51", None),
        ("tel:+41-79-828-46-51", None),
        ("TEL:+41798284651", None),
        ('"+41 79 828 46 51"', None),
        ("\ufeff+41 79 828 46 51\u200b", None),
        ("079 828 46 51", "CH"),
        ("079 828 46 51", "ch"),
        ("41798284651", "CH"),
        (41798284651, None),
        (41798284651, "US"),
        (41798284651.0, None),
        (41798284651.0, "US"),
        ("41798284651.0", "US"),
        ("'41798284651.00", None),
        (798284651.0, "CH"),
        ("011 41 79 828 46 51", "US"),
    ],
)
def test_formats_of_one_number_give_the_same_e164(raw: object, region: str | None) -> None:
    """Every common way of writing +41 79 828 46 51 ends as the same E.164."""
    assert normalize(raw, region) == Normalized(e164=SWISS, reason=None)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(201) 555-0123", "US", "+12015550123"),
        ("201.555.0123", "US", "+12015550123"),
        ("1 201 555 0123", "US", "+12015550123"),
        ("2015550123", "US", "+12015550123"),
        (2015550123.0, "US", "+12015550123"),
        # Eleven digits starting with a country code: the + was lost, not a national number.
        ("12015550123", "CH", "+12015550123"),
        ("+390612345678", None, "+390612345678"),
        ("06 1234 5678", "IT", "+390612345678"),
        ("+44 20 7946 0123", "GB", "+442079460123"),
        ("020 7946 0123", "GB", "+442079460123"),
    ],
)
def test_national_and_international_numbers(raw: object, region: str | None, e164: str) -> None:
    """National numbers use the region; international ones ignore it."""
    assert normalize(raw, region).e164 == e164


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        (None, "US", "empty cell"),
        ("", "US", "empty cell"),
        ("  \u00a0 ", "US", "empty cell"),
        ("'", "US", "empty cell"),
        ("079 828 46 51", None, "national number needs a region"),
        ("2015550123", None, "national number needs a region"),
        ("12345", "US", "too short"),
        ("+4179828465", None, "too short"),
        ("+1 201 555 012", None, "too short"),
        ("5550123", "US", "too short: the area code is missing"),
        ("+417982846511", None, "wrong length for CH"),
        ("(201) 555-0123", "CH", "wrong length for CH"),
        ("+1 999 555 0123", None, "not a valid number for US"),
        ("+41 12 345 67 89", None, "not a valid number for CH"),
        ("+999 123 456", None, "unknown country code"),
        ("+41 79 828 46 51 12 34 56 78 90", None, "too long"),
        ("1" * 101, "US", "too long"),
        ("+49 25000000000000", None, "too long"),
        (25000000000000.0, "DE", "too long"),
        ("1-800-FLOWERS", "US", "contains letters"),
        ("call me", "US", "contains letters"),
        ("#N/A", "US", "contains letters"),
        ("+41 79 828 46 5l", None, "contains letters"),
        ("+41 79 828 46 51 ext. 12", None, "has an extension; give the number without it"),
        ("+41 79 828 46 51 x12", None, "has an extension; give the number without it"),
        ("+41 79 828 46 51 #12", None, "has an extension; give the number without it"),
        ("tel:+41798284651;ext=12", None, "has an extension; give the number without it"),
        ("079 828 46 51, 079 828 46 52", "CH", "more than one number in the cell"),
        ("079 828 46 51; 079 828 46 52", "CH", "more than one number in the cell"),
        ("++41 79 828 46 51", None, "'+' only belongs at the start"),
        ("41+798284651", None, "'+' only belongs at the start"),
        ("=1+1", None, "unexpected character '='"),
        ("+41 79 828 46 51 *", None, "unexpected character '*'"),
        ("+", None, "no digits"),
        ("- -", None, "no digits"),
        (
            "4.17983E+10",
            "US",
            "in scientific notation, so Excel may have rounded it; format the column as text",
        ),
        (1.5, "US", "not a whole number"),
        (41798284651.5, "US", "not a whole number"),
        (1e20, None, "too long"),
        (10**15, None, "too long"),
        pytest.param(10**5000, None, "too long", id="10**5000"),
        (-41798284651, None, "negative number"),
        (-41798284651.0, None, "negative number"),
        (float("nan"), None, "not a phone number"),
        (float("inf"), None, "not a phone number"),
        (True, "US", "not a phone number (TRUE/FALSE)"),
        (False, "US", "not a phone number (TRUE/FALSE)"),
        (dt.datetime(2024, 1, 2, 3, 4), "US", "not a phone number (a date or time)"),
        (dt.date(2024, 1, 2), "US", "not a phone number (a date or time)"),
        (dt.timedelta(hours=1), "US", "not a phone number (a date or time)"),
        (Decimal("41798284651"), None, "not a phone number (Decimal)"),
        (["+41798284651"], None, "not a phone number (list)"),
        (b"+41798284651", None, "not a phone number (bytes)"),
    ],
)
def test_invalid_inputs_get_a_reason(raw: object, region: str | None, reason: str) -> None:
    """Each kind of bad cell gets its own readable reason and no E.164."""
    assert normalize(raw, region) == Normalized(e164=None, reason=reason)


def test_true_is_not_confused_with_one_by_the_cache() -> None:
    """The cache keys on type as well as value, so True never shares the result of 1."""
    assert normalize(1, "US").reason == "too short"
    assert normalize(True, "US").reason == "not a phone number (TRUE/FALSE)"
    assert normalize(1.0, "US").reason == "too short"


def test_unknown_region_raises() -> None:
    """A bad region is the caller's mistake, reported before any cell is judged."""
    with pytest.raises(ValueError, match="unknown region 'XX'"):
        normalize("+41798284651", "XX")


@pytest.mark.parametrize(("code", "expected"), [("CH", "CH"), ("us", "US"), (" gb ", "GB")])
def test_validate_region_accepts_known_codes(code: str, expected: str) -> None:
    """Known alpha-2 codes come back upper-case and trimmed."""
    assert validate_region(code) == expected


@pytest.mark.parametrize("code", ["XX", "", "CHE", "001", "U S"])
def test_validate_region_rejects_unknown_codes(code: str) -> None:
    """Anything phonenumbers does not know is refused with a hint."""
    with pytest.raises(ValueError, match="two-letter country code"):
        validate_region(code)


def test_validate_region_rejects_non_text() -> None:
    """A region that is not text (from a bad config value) is refused clearly."""
    with pytest.raises(ValueError, match="must be text"):
        validate_region(41)


@pytest.mark.parametrize(("e164", "reason"), [(None, None), ("+41798284651", "too short")])
def test_normalized_holds_exactly_one_outcome(e164: str | None, reason: str | None) -> None:
    """A result that is both valid and invalid, or neither, cannot be built."""
    with pytest.raises(ValueError, match="exactly one"):
        Normalized(e164=e164, reason=reason)


def test_valid_property() -> None:
    """``valid`` tells the two outcomes apart."""
    assert Normalized(e164=SWISS, reason=None).valid
    assert not Normalized(e164=None, reason="too short").valid


# --- properties ----------------------------------------------------------------------

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.text(),
    st.text(alphabet="0123456789 +-().'/\u00a0０１２３４５６７８９＋"),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)
regions = st.sampled_from([None, "CH", "US", "GB", "DE", "IT", "BR", "IN", "JP"])


@settings(max_examples=400)
@given(raw=anything, region=regions)
@example(raw="+410798284651", region=None)
@example(raw="00000", region="US")
def test_never_raises_and_every_e164_is_valid(raw: object, region: str | None) -> None:
    """Any input gives exactly one outcome; every E.164 given out is well formed and valid."""
    result = normalize(raw, region)
    if result.e164 is None:
        assert result.reason
    else:
        assert is_e164(result.e164)
        assert phonenumbers.is_valid_number(phonenumbers.parse(result.e164))


@settings(max_examples=300)
@given(raw=anything, region=regions, again=regions)
def test_normalising_an_output_gives_it_back(
    raw: object, region: str | None, again: str | None
) -> None:
    """An E.164 result is a fixed point, whatever region the second call uses."""
    e164 = normalize(raw, region).e164
    if e164 is not None:
        assert normalize(e164, again).e164 == e164


def _national_region(e164: str) -> str:
    """Return the region whose national format a number is written in."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    assert region is not None
    return region


def _full_width(text: str) -> str:
    """Return text with ASCII digits and '+' replaced by their full-width forms."""
    return text.translate(str.maketrans("0123456789+", "０１２３４５６７８９＋"))


@st.composite
def spelled(draw: st.DrawFn) -> tuple[str, object, str | None]:
    """Draw a valid number and one way a user might have written it."""
    e164 = draw(st.sampled_from(VALID_EXAMPLES))
    number = phonenumbers.parse(e164)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    separator = draw(st.sampled_from([" ", "-", ".", "\u00a0", "–", "/", ""]))
    variants: list[tuple[object, str | None]] = [
        (e164, None),
        (international, None),
        (international.replace(" ", separator), None),
        ("00" + international[1:], None),
        ("'" + international, None),
        ("\u00a0" + international + " ", None),
        (_full_width(international), None),
        ("tel:" + e164, None),
        (national, _national_region(e164)),
        (_full_width(national), _national_region(e164)),
    ]
    digits = e164[1:]
    if 11 <= len(digits) <= 15:
        # A number cell: Excel dropped the '+', so only the digits survive.
        variants.append((float(digits), None))
        variants.append((int(digits), None))
        variants.append((digits + ".0", None))
    raw, region = draw(st.sampled_from(variants))
    return e164, raw, region


@settings(max_examples=500)
@given(case=spelled())
def test_spellings_of_a_valid_number_agree(case: tuple[str, object, str | None]) -> None:
    """Spaces, dashes, 00, apostrophes, NBSP, full-width digits and floats all agree."""
    e164, raw, region = case
    assert normalize(raw, region) == Normalized(e164=e164, reason=None)


def test_every_example_number_survives_its_national_format() -> None:
    """Exhaustively: each region's example numbers round-trip through their national format."""
    for e164 in VALID_EXAMPLES:
        number = phonenumbers.parse(e164)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        assert normalize(national, _national_region(e164)).e164 == e164, national


def _national_digits(region: str) -> list[str]:
    """Return the digits of a region's example numbers written nationally."""
    kinds = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    )
    found = []
    for kind in kinds:
        number = phonenumbers.example_number_for_type(region, kind)
        if number is not None:
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            found.append("".join(char for char in national if char.isdigit()))
    return found


@st.composite
def national_digits(draw: st.DrawFn) -> tuple[str, str]:
    """Draw a region and digits near its example numbers, often with its national prefix."""
    region = draw(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
    seeds = _national_digits(region)
    digits = list(draw(st.sampled_from(seeds))) if seeds else ["1", "2"]
    for _ in range(draw(st.integers(0, 2))):
        digits[draw(st.integers(0, len(digits) - 1))] = draw(st.sampled_from("0123456789"))
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert metadata is not None
    prefix = metadata.national_prefix or ""
    if draw(st.booleans()):
        digits = [*prefix, *digits]
    return region, "".join(digits)


@settings(max_examples=500)
@given(case=national_digits())
def test_national_numbers_agree_with_phonenumbers(case: tuple[str, str]) -> None:
    """Whenever phonenumbers reads digits as a valid national number, so does normalize.

    normalize builds many numbers without ``phonenumbers.parse`` (it is the slow part);
    this holds it to the parser's answer in every region.
    """
    region, digits = case
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(number) and len(expected) <= 16:
        assert normalize(digits, region).e164 == expected
