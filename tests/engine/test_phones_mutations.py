"""phones' shortcuts against the plain phonenumbers reading on seeded edits of examples.

Digits changed, deleted or inserted, extra leading zeros, the national prefix written
after the country code or in front, the international prefix of the region: the inputs
a shortcut is most likely to read differently from ``phonenumbers.parse``. Zero
differences allowed (see ``test_phones_differential.py``).
"""

from __future__ import annotations

from tests.engine.phone_differential import differences, mutated_inputs

#: Edits of each example number (each in up to eight notations).
PER_EXAMPLE = 6


def test_edited_example_numbers_read_as_phonenumbers_reads_them() -> None:
    """Every edit, in every notation and region, gets the plain reading's answer."""
    compared, found = differences(mutated_inputs(PER_EXAMPLE))
    assert compared > 40_000
    shown = "\n".join(
        f"{raw!r} in {region}: {fast} != {plain}" for raw, region, fast, plain in found[:20]
    )
    assert not found, f"{len(found)} of {compared} differ:\n{shown}"
