"""Inputs for the differential tests of ``phones``: its shortcuts against the plain reading.

``phones.normalize_once`` builds most numbers without ``phonenumbers.parse`` and decides
validity with its own patterns (``phone_validity``); ``read_clean(..., shortcuts=False)``
reads the same cleaned text through ``phonenumbers.parse`` and the library's own
``is_valid_number``, by the same rules. :func:`differences` runs both over many inputs
and returns every one on which they disagree (a wrong E.164 would bill the wrong number).

The inputs, all seeded:

* :func:`example_inputs`: every example number phonenumbers has (every type of every
  region, the invalid examples, the non-geographic codes), in E.164, international,
  ``00``, Excel-float (as a float and as text) and national notation, read without a
  region, in US, in its own region and in a random one;
* :func:`mutated_inputs`: those numbers with digits changed, deleted or inserted, extra
  leading zeros, the national prefix written after the country code, a zero too many
  before the country code (``+064``, ``00064``), the region's national prefix or
  international prefix in front, in the same notations and regions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberFormat, PhoneNumberType

from addin.engine.phones import Normalized, cleaned, normalize_once, read_clean

Case = tuple[object, str | None]
Difference = tuple[object, str | None, Normalized, Normalized]

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
NON_GEO = "001"


def examples() -> list[tuple[str, PhoneNumber]]:
    """Return (region, number) for every example number phonenumbers has."""
    found: list[tuple[str, PhoneNumber]] = []
    for region in REGIONS:
        for kind in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append((region, number))
        invalid = phonenumbers.invalid_example_number(region)
        if invalid is not None:
            found.append((region, invalid))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.append((NON_GEO, number))
    return found


def _contexts(rng: random.Random, region: str) -> tuple[str | None, ...]:
    """Return the regions an input of ``region`` is read in: none, US, its own, any."""
    own = None if region == NON_GEO else region
    return (None, "US", own, rng.choice(REGIONS))


def example_inputs(seed: int = 1) -> Iterator[Case]:
    """Yield every example number in every notation, read in four regions."""
    rng = random.Random(seed)
    for region, number in examples():
        nsn = phonenumbers.national_significant_number(number)
        digits = f"{number.country_code}{nsn}"
        international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        for context in _contexts(rng, region):
            yield "+" + digits, context
            yield international, context
            yield "00" + international.lstrip("+"), context
            yield digits + ".0", context
            yield float(digits), context
            yield national, context


def _prefixes(region: str) -> tuple[str, str]:
    """Return a region's national prefix and a literal international prefix ("" if none)."""
    metadata = PhoneMetadata.metadata_for_region(region) if region != NON_GEO else None
    if metadata is None:
        return "", ""
    national = metadata.national_prefix or ""
    international = metadata.preferred_international_prefix or metadata.international_prefix or ""
    return national, international if international.isdigit() else ""


def mutate(rng: random.Random, nsn: str, national_prefix: str) -> str:
    """Return ``nsn`` with one to three random edits of the kinds users make."""
    chars = list(nsn)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.35 and chars:
            chars[rng.randrange(len(chars))] = rng.choice("0123456789")
        elif roll < 0.55 and len(chars) > 1:
            del chars[rng.randrange(len(chars))]
        elif roll < 0.75:
            chars.insert(rng.randrange(len(chars) + 1), rng.choice("0123456789"))
        elif roll < 0.9:
            chars[:0] = "0" * rng.randint(1, 2)
        else:
            chars[:0] = national_prefix or "0"
    return "".join(chars)


def mutated_inputs(per_example: int, seed: int = 2) -> Iterator[Case]:
    """Yield ``per_example`` edits of every example number, in every notation and region."""
    rng = random.Random(seed)
    for region, number in examples():
        code = number.country_code
        nsn = phonenumbers.national_significant_number(number)
        national_prefix, international_prefix = _prefixes(region)
        own = None if region == NON_GEO else region
        for _ in range(per_example):
            body = mutate(rng, nsn, national_prefix)
            if rng.random() < 0.2:
                body = national_prefix + body  # "+44 0 20 ...": the prefix after the code
            context = rng.choice(_contexts(rng, region))
            yield f"+{code}{body}", context
            yield f"00{code}{body}", context
            # A zero too many before the code: "+064..." must not read as +64.
            yield f"{rng.choice(('+0', '000'))}{code}{body}", context
            yield f"{code}{body}", context
            if body and len(body) + len(str(code)) <= 15:
                yield float(f"{code}{body}"), context
            if own is not None:
                yield national_prefix + body, own
                yield body, own
                if international_prefix:
                    yield f"{international_prefix}{code}{body}", own


def differences(cases: Iterable[Case]) -> tuple[int, list[Difference]]:
    """Return how many distinct readings were compared, and each on which the two differ.

    ``normalize_once(raw, region)`` is ``read_clean(cleaned(raw), region)``, so inputs
    that clean to the same text (``+41 79 ...``, ``+4179...``, ``4179....0``) in the
    same region are one reading; the fast side is the whole ``normalize_once`` anyway.
    """
    seen: set[tuple[str, str | None]] = set()
    found: list[Difference] = []
    for raw, region in cases:
        clean = cleaned(raw)
        if isinstance(clean, Normalized) or (clean, region) in seen:
            continue
        seen.add((clean, region))
        fast = normalize_once(raw, region)
        plain = read_clean(clean, region, shortcuts=False)
        if fast != plain:
            found.append((raw, region, fast, plain))
    return len(seen), found
