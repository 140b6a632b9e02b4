"""phones' shortcuts against the plain phonenumbers reading: examples and the global mix.

Zero differences allowed: a shortcut that gives another E.164 would bill another
number, and one that gives another reason tells the user something else than the
library would. The mutated inputs are in ``test_phones_mutations.py`` (a file of their
own, so the two run side by side under ``make test``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from addin.engine.phones import Normalized, normalize, read_clean
from tests.engine.phone_differential import differences, example_inputs

PIPELINE = Path(__file__).resolve().parents[2] / "bench" / "pipeline.py"
#: Rows of the bench's global mix compared (about three quarters are distinct readings).
GLOBAL_ROWS = 100_000


def _pipeline() -> ModuleType:
    """Import ``bench/pipeline.py``, whose generator makes the global mix of the bench."""
    spec = importlib.util.spec_from_file_location("bench_pipeline", PIPELINE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _shown(found: list[tuple[object, str | None, Normalized, Normalized]]) -> str:
    """Return the first differences, one a line: input, region, shortcut, plain."""
    return "\n".join(
        f"{raw!r} in {region}: {fast} != {plain}" for raw, region, fast, plain in found[:20]
    )


def test_every_example_number_in_every_notation_reads_as_phonenumbers_reads_it() -> None:
    """Every example of every region, in E.164, international, 00, float and national."""
    compared, found = differences(example_inputs())
    assert compared > 20_000
    assert not found, f"{len(found)} of {compared} differ:\n{_shown(found)}"


def test_the_benchmarks_global_mix_reads_as_phonenumbers_reads_it() -> None:
    """The cells bench/pipeline.py --mix global checks, in its region (US)."""
    cells = _pipeline().make_cells("global", GLOBAL_ROWS, seed=3)
    compared, found = differences((cell, "US") for cell in cells)
    assert compared > GLOBAL_ROWS // 2
    assert not found, f"{len(found)} of {compared} differ:\n{_shown(found)}"


@pytest.mark.parametrize(
    ("clean", "region", "reason"),
    [
        # int("064") is 64 (New Zealand): no country code starts with 0.
        ("+06497121234", None, "unknown country code"),
        ("0006497121234", "TC", "unknown country code"),
        ("+081686123456", None, "unknown country code"),
        ("00081686123456", "ZW", "unknown country code"),
    ],
)
def test_digits_after_the_plus_starting_with_zero_name_no_country(
    clean: str, region: str | None, reason: str
) -> None:
    """'+0...' is no country code, however valid the digits after the zero would be."""
    assert normalize(clean, region) == Normalized(e164=None, reason=reason)
    assert read_clean(clean, region, shortcuts=False) == Normalized(e164=None, reason=reason)
