"""Write the bundled demo input, addin/data/sample_numbers.csv, deterministically.

About 3,000 rows (``phone,name``) in the formats people really paste: E.164, the 00
prefix, spaces, dashes, dots, parentheses, Excel numbers as text (``12015550123.0``),
national numbers, full-width digits, a leading apostrophe, non-breaking spaces; about
20% of the rows repeat a number in another format and about 5% are bad (letters, too
short, empty, an extension, two numbers in one cell). National numbers are mostly US,
so the demo reads best with region US; a few Swiss national ones show what a number of
another region gives.

Every valid number is valid for phonenumbers and fictitious where the country reserves
a range for fiction: US 555-0100 to 555-0199, UK drama numbers 020 7946 0xxx, Australian
0491 570 xxx and 02 5550 xxxx, French 01 99 00 xx xx. Switzerland reserves none, so the
Swiss numbers use +41 79 555 0x xx, which merely look like demo numbers.

Usage: ``python bench/make_sample.py [--output PATH]``; prints the mix it wrote.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from addin.engine.phones import normalize

SEED = 20241019
ROWS = 3000
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "addin" / "data" / "sample_numbers.csv"

US_AREAS = (
    "201", "202", "212", "213", "214", "305", "312", "404", "415", "503", "512", "602",
    "617", "646", "702", "713", "718", "801", "808", "917", "206", "303", "407", "720",
)  # fmt: skip
FIRST_NAMES = (
    "Alex", "Ana", "Ben", "Carla", "Dan", "Eva", "Finn", "Gina", "Hugo", "Ida", "Jon",
    "Kim", "Lea", "Max", "Nina", "Omar", "Pia", "Raj", "Sara", "Tom", "Uma", "Vera",
)  # fmt: skip
BAD_VALUES = (
    "call me",
    "1-800-FLOWERS",
    "n/a",
    "#N/A",
    "TBD",
    "12345",
    "555-0123",
    "+41 79",
    "",
    "",
    "   ",
    "(201) 555-0100 ext. 12",
    "+1 201 555 0100 x7",
    "201-555-0100, 201-555-0101",
    "+1 999 555 0100",
    "2.01555E+09",
    "+44 20 7946 0123 4567 89",
    "0",
)

Format = Callable[[str], str]


def full_width(text: str) -> str:
    """Return text with ASCII digits and '+' in their full-width forms."""
    return text.translate(str.maketrans("0123456789+", "０１２３４５６７８９＋"))


def us_formats(national: str) -> list[Format]:
    """Return the ways a US number (10 digits, no country code) is written."""
    area, exchange, line = national[:3], national[3:6], national[6:]
    return [
        lambda _: f"({area}) {exchange}-{line}",
        lambda _: f"({area}) {exchange}-{line}",
        lambda _: f"{area}-{exchange}-{line}",
        lambda _: f"{area}.{exchange}.{line}",
        lambda _: f"{area}{exchange}{line}",
        lambda _: f"{area} {exchange} {line}",
        lambda _: f"1 {area} {exchange} {line}",
        lambda _: f"1-{area}-{exchange}-{line}",
        lambda _: f"+1{area}{exchange}{line}",
        lambda _: f"+1 {area} {exchange} {line}",
        lambda _: f"+1 ({area}) {exchange}-{line}",
        lambda _: f"001 {area} {exchange} {line}",
        lambda _: f"1{area}{exchange}{line}.0",
        lambda _: f"'{area}{exchange}{line}",
        lambda _: f"{area}\u00a0{exchange}\u00a0{line}",
        lambda _: full_width(f"({area}) {exchange}-{line}"),
        lambda _: f" {area}-{exchange}-{line} ",
    ]


def international_formats(country: str, groups: list[str], trunk: str) -> list[Format]:
    """Return the ways a non-US number is written, from its digit groups after the code."""
    digits = "".join(groups)
    spaced = " ".join(groups)
    return [
        lambda _: f"+{country}{digits}",
        lambda _: f"+{country}{digits}",
        lambda _: f"+{country} {spaced}",
        lambda _: f"+{country} {spaced}",
        lambda _: f"00{country} {spaced}",
        lambda _: f"+{country}-{'-'.join(groups)}",
        lambda _: f"+{country}.{'.'.join(groups)}",
        lambda _: f"+{country} ({trunk}){spaced}" if trunk else f"+{country} {spaced}",
        lambda _: f"{country}{digits}.0",
        lambda _: f"'+{country} {spaced}",
        lambda _: f"+{country}\u00a0{spaced.replace(' ', chr(0xA0))}",
        lambda _: full_width(f"+{country} {spaced}"),
    ]


def swiss_national(groups: list[str]) -> Format:
    """Return the Swiss national way of writing a number (0 79 ...)."""
    return lambda _: f"0{groups[0]} {groups[1]} {groups[2]} {groups[3]}"


def make_numbers(rng: random.Random) -> list[tuple[str, list[Format]]]:
    """Return distinct valid numbers as (E.164, ways to write it), in a mixed order."""
    numbers: list[tuple[str, list[Format]]] = []
    us = [(area, f"{ending:04d}") for area in US_AREAS for ending in range(100, 200)]
    for area, last_four in rng.sample(us, 1700):
        national = f"{area}555{last_four}"
        numbers.append((f"+1{national}", us_formats(national)))
    for line in rng.sample(range(100), 90):
        groups = ["79", "555", f"0{line // 10}", f"{line % 10}{rng.randrange(10)}"]
        formats = international_formats("41", groups, "0")
        # Swiss national numbers: valid with region CH, "wrong length" with region US.
        formats.append(swiss_national(groups))
        numbers.append(("+41" + "".join(groups), formats))
    for line in rng.sample(range(1000), 220):
        groups = ["20", "7946", f"0{line:03d}"]
        numbers.append(("+44" + "".join(groups), international_formats("44", groups, "0")))
    for line in rng.sample(range(6, 160), 120):
        groups = ["491", "570", f"{line:03d}"]
        numbers.append(("+61" + "".join(groups), international_formats("61", groups, "0")))
    for line in rng.sample(range(10000), 60):
        groups = ["2", "5550", f"{line:04d}"]
        numbers.append(("+61" + "".join(groups), international_formats("61", groups, "0")))
    for line in rng.sample(range(10000), 130):
        groups = ["1", "99", "00", f"{line // 100:02d}", f"{line % 100:02d}"]
        numbers.append(("+33" + "".join(groups), international_formats("33", groups, "0")))
    rng.shuffle(numbers)
    return numbers


def make_rows(seed: int = SEED, rows: int = ROWS) -> list[tuple[str, str]]:
    """Return the sample as (phone, name) rows."""
    rng = random.Random(seed)
    numbers = make_numbers(rng)
    table: list[tuple[str, str]] = []
    seen: list[tuple[str, list[Format]]] = []
    fresh = iter(numbers)
    while len(table) < rows:
        roll = rng.random()
        if roll < 0.05:
            phone = rng.choice(BAD_VALUES)
        elif roll < 0.25 and seen:
            # The same person again, typed differently.
            e164, formats = rng.choice(seen)
            phone = rng.choice(formats)(e164)
        else:
            e164, formats = next(fresh)
            seen.append((e164, formats))
            phone = rng.choice(formats)(e164)
        name = f"{rng.choice(FIRST_NAMES)} Demo {len(table) + 1:04d}"
        table.append((phone, name))
    return table


def write_sample(path: Path, rows: list[tuple[str, str]]) -> None:
    """Write the rows as UTF-8 CSV with a byte-order mark, so Excel shows them right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("phone", "name"))
        writer.writerows(rows)


def describe(rows: list[tuple[str, str]], region: str) -> str:
    """Summarise how the rows normalise in ``region``."""
    results = [normalize(phone, region) for phone, _ in rows]
    valid = [result.e164 for result in results if result.e164 is not None]
    reasons = Counter(result.reason for result in results if result.reason is not None)
    return (
        f"region {region}: {len(rows)} rows, {len(valid)} valid, {len(set(valid))} distinct, "
        f"{len(valid) - len(set(valid))} duplicate rows, {len(rows) - len(valid)} invalid "
        f"({', '.join(f'{reason}: {count}' for reason, count in reasons.most_common())})"
    )


def main() -> None:
    """Write the sample and print its mix for regions US and CH."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    rows = make_rows()
    write_sample(args.output, rows)
    print(f"wrote {args.output}")
    for region in ("US", "CH"):
        print(describe(rows, region))


if __name__ == "__main__":
    main()
