"""The plain reference for ``bench/pipeline.py``: phonenumbers once per distinct cell.

Reads the first column of a CSV (one header row), and runs ``phonenumbers.parse`` and
``phonenumbers.is_valid_number`` once for every distinct cell, with phonenumbers'
patterns kept compiled (``addin.engine.pattern_cache``; without it the ``re`` cache
thrashes on numbers of many regions). It writes nothing: it is the least work any
program that validates these cells must do with phonenumbers. Prints the distinct
cells, how many are valid, and the seconds spent.

Usage: ``python bench/reference_parse.py INPUT.csv [--region US]``
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import phonenumbers

from addin.engine import pattern_cache


def main() -> None:
    """Parse and validate every distinct cell of the input's first column."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--region", default="US")
    args = parser.parse_args()
    started = time.perf_counter()
    pattern_cache.install()
    with args.input.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        next(rows, None)
        cells = dict.fromkeys(row[0] if row else "" for row in rows)
    valid = 0
    for cell in cells:
        try:
            number = phonenumbers.parse(cell, args.region)
        except phonenumbers.NumberParseException:
            continue
        valid += phonenumbers.is_valid_number(number)
    elapsed = time.perf_counter() - started
    print(f"{len(cells)} distinct cells, {valid} valid, {elapsed:.2f} s")


if __name__ == "__main__":
    main()
