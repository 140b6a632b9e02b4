"""A seeded global sample of phone inputs, and what plain phonenumbers makes of each.

Run as ``python -m tests.engine.phonenumbers_probe library|normalize [SEED]`` it prints,
as JSON, the answers of a process in which phonenumbers compiles through the real
``re`` module (its own, bounded cache): ``library`` imports nothing of ours, and
``normalize`` imports ``addin.engine.phones`` and takes the pattern cache out again.
The tests compare those answers with the ones of their own process, where the cache is
installed. This module imports only phonenumbers and the standard library at the top.

The sample: for every region phonenumbers knows (and every non-geographic code), the
example number of every number type and the invalid example, each once as it is and
once with its last digits redrawn, one digit fewer or one more; each written in E.164,
international, ``00``, Excel-float (as text and as a float) and national notation; read
in its own region, in US, in another random region or without a region; plus junk.
"""

from __future__ import annotations

import json
import random
import re
import sys
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

SEED = 20261201
JUNK = (
    "",
    "   ",
    "n/a",
    "call me",
    "1-800-FLOWERS",
    "+41 79 828 46 51 ext. 12",
    "201-555-0100, 201-555-0101",
    "+",
    "00",
    "++41798284651",
    "4.17983E+10",
    "tel:+41798284651",
    "+41 (0)79 828 46 51",
    "０７９ ８２８ ４６ ５１",
    "+1 999 555 0100",
    "12",
    "0",
    "#N/A",
    "+800 1234 5678",
    "+999 1234 5678",
    "9" * 20,
)

Sample = list[tuple[str | float, str | None]]


def _numbers(rng: random.Random) -> list[tuple[str, phonenumbers.PhoneNumber]]:
    """Return (region, number): every example of every region, and a variant of each."""
    examples: list[tuple[str, phonenumbers.PhoneNumber]] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        seen: set[str] = set()
        candidates = [phonenumbers.example_number_for_type(region, kind) for kind in _types()]
        candidates.append(phonenumbers.invalid_example_number(region))
        for number in candidates:
            if number is not None and (e164 := _digits(number)) not in seen:
                seen.add(e164)
                examples.append((region, number))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            examples.append(("001", number))
    numbers = []
    for region, number in examples:
        numbers.append((region, number))
        nsn = phonenumbers.national_significant_number(number)
        roll = rng.random()
        if roll < 0.6:
            free = min(3, len(nsn) - 1)
            nsn = nsn[:-free] + "".join(rng.choices("0123456789", k=free))
        elif roll < 0.8:
            nsn = nsn[:-1]
        else:
            nsn += rng.choice("0123456789")
        zeros = len(nsn) - len(nsn.lstrip("0"))
        variant = phonenumbers.PhoneNumber(
            country_code=number.country_code,
            national_number=int(nsn) if nsn.strip("0") else 0,
            italian_leading_zero=zeros > 0 or None,
            number_of_leading_zeros=zeros if zeros > 1 else None,
        )
        numbers.append((region, variant))
    return numbers


def _types() -> list[int]:
    """Return every number type but UNKNOWN."""
    return [kind for kind in PhoneNumberType.values() if kind != PhoneNumberType.UNKNOWN]


def _digits(number: phonenumbers.PhoneNumber) -> str:
    """Return the country code and national significant number."""
    return f"{number.country_code}{phonenumbers.national_significant_number(number)}"


def sample(seed: int = SEED) -> Sample:
    """Return the seeded sample as (value, region) pairs; a float is an Excel number cell."""
    rng = random.Random(seed)
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    items: Sample = []
    for region, number in _numbers(rng):
        international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        own = None if region == "001" else region
        items.append((national, own or "US"))
        for text in (
            "+" + _digits(number),
            international,
            "00" + international.lstrip("+"),
            _digits(number) + ".0",
        ):
            items.append((text, rng.choice((own, "US", rng.choice(regions), None))))
        items.append((float(_digits(number)), rng.choice((own, "US"))))
    for text in JUNK:
        for context in ("US", "CH", None):
            items.append((text, context))
    rng.shuffle(items)
    return items


def _text(value: str | float) -> str:
    """Return the value as phonenumbers is given it (a float as Python writes it)."""
    return value if isinstance(value, str) else repr(value)


def library(items: Sample) -> list[Any]:
    """Return what phonenumbers says of each input: the parse, validity, regions, formats."""
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    rng = random.Random(len(items))
    answers: list[Any] = []
    for value, region in items:
        try:
            number = phonenumbers.parse(_text(value), region)
        except NumberParseException as error:
            answers.append(["error", int(error.error_type)])
            continue
        where = phonenumbers.region_code_for_number(number)
        other = rng.choice(regions)
        answers.append(
            [
                number.country_code,
                number.national_number,
                number.italian_leading_zero,
                number.number_of_leading_zeros,
                number.extension,
                phonenumbers.is_valid_number(number),
                where,
                other,
                phonenumbers.is_valid_number_for_region(number, other),
                region is not None and phonenumbers.is_valid_number_for_region(number, region),
                int(phonenumbers.is_possible_number_with_reason(number)),
                int(phonenumbers.number_type(number)),
                phonenumbers.format_number(number, PhoneNumberFormat.E164),
                phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
                phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
                phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
                phonenumbers.format_out_of_country_calling_number(number, "US"),
                phonenumbers.format_out_of_country_calling_number(number, other),
            ]
        )
    return answers


def plain() -> bool:
    """Return True when every phonenumbers module uses the real ``re`` module."""
    modules = [m for name, m in sys.modules.items() if name.startswith("phonenumbers")]
    return all(getattr(module, "re", re) is re for module in modules)


def main() -> None:
    """Print the plain answers for the sample, as JSON."""
    mode = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEED
    items = sample(seed)
    if mode == "library":
        answers = library(items)
    else:
        from addin.engine import pattern_cache, phones

        pattern_cache.uninstall()
        answers = [
            [result.e164, result.reason]
            for result in (phones.normalize(value, region) for value, region in items)
        ]
    if not plain():
        raise SystemExit("phonenumbers does not use the real re module here")
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
