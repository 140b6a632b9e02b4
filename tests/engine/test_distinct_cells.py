"""DistinctCells: one result per distinct cell, the same in worker processes as here."""

from __future__ import annotations

import datetime as dt

import pytest

from addin.engine.distinct_cells import DistinctCells, default_workers
from addin.engine.phones import normalize
from tests.engine import phonenumbers_probe as probe

ODD_CELLS: list[object] = [
    True,
    1,
    1.0,
    False,
    0,
    None,
    "",
    "  ",
    41798284651.0,
    41798284651,
    "41798284651",
    -41798284651,
    float("nan"),
    dt.datetime(2024, 10, 19, 18, 24),
    dt.date(2024, 10, 19),
    1e20,
    41798284651.5,
]


@pytest.fixture(scope="module")
def values() -> list[object]:
    """Every sample value twice (in another order), and cells of every other type."""
    cells: list[object] = [value for value, _ in probe.sample()]
    return [*cells, *ODD_CELLS, *reversed(cells), *ODD_CELLS]


def collect(cells: DistinctCells, values: list[object]) -> list[tuple[int, tuple[object, ...]]]:
    """Add every value, finish, and return (index, outcome) per row."""
    for value in values:
        cells.add(value)
    cells.finish()
    return [(index, cells.outcome(index)) for index in cells.rows]


def test_workers_give_the_same_outcome_for_every_row(values: list[object]) -> None:
    """Two worker processes from the first cell on: every row as normalised here."""
    with DistinctCells("US", workers=2, pool_from=0, chunk=700) as pooled:
        in_workers = collect(pooled, values)
        assert pooled.used_workers
    with DistinctCells("US", workers=0) as here:
        in_process = collect(here, values)
        assert not here.used_workers
    assert in_workers == in_process
    assert [outcome for _, outcome in in_process] == [
        (r.e164, r.reason) for r in (normalize(value, "US") for value in values)
    ]
    assert pooled.numbers() == here.numbers()
    assert pooled.invalid_rows() == here.invalid_rows()


def test_rows_remember_their_distinct_cell() -> None:
    """Repeats share one cell; rows keep their order; counts and numbers follow."""
    with DistinctCells("CH", workers=0) as cells:
        for value in ["079 828 46 51", "+41798284651", "079 828 46 51", "junk", "", "junk"]:
            cells.add(value)
        cells.finish()
    assert list(cells.rows) == [0, 1, 0, 2, 3, 2]
    assert len(cells) == 4
    assert cells.numbers() == ["+41798284651"]
    assert cells.invalid_rows() == 3
    assert cells.index_of("+41798284651") == 1
    assert cells.index_of("never seen") is None
    assert cells.result(2).reason == "contains letters"


def test_a_cell_keeps_its_type() -> None:
    """TRUE, 1 and 1.0 are equal in Python but not the same cell."""
    with DistinctCells("CH", workers=0) as cells:
        for value in (True, 1, 1.0, "1"):
            cells.add(value)
        cells.finish()
    assert list(cells.rows) == [0, 1, 2, 3]
    assert cells.result(0).reason == "not a phone number (TRUE/FALSE)"
    assert cells.result(1).reason == cells.result(2).reason


def test_small_inputs_stay_in_this_process() -> None:
    """Below the break-even no worker starts."""
    with DistinctCells("US", workers=2, pool_from=1000) as cells:
        for number in range(999):
            cells.add(f"+1201555{number:04d}")
        cells.finish()
        assert not cells.used_workers


def test_results_are_not_read_before_finish() -> None:
    """A cell queued for a worker has no result until finish(); no add after it."""
    with DistinctCells("US", workers=2, pool_from=0, chunk=10) as cells:
        index = cells.add("+12015550100")
        with pytest.raises(RuntimeError, match="before finish"):
            cells.outcome(index)
        cells.finish()
        assert cells.outcome(index) == ("+12015550100", None)
        with pytest.raises(RuntimeError, match="after finish"):
            cells.add("+12015550101")


def test_unknown_region_is_refused() -> None:
    """A region phonenumbers does not know is the caller's mistake."""
    with pytest.raises(ValueError, match="region"):
        DistinctCells("XX")


def test_default_workers_use_at_most_two_cores() -> None:
    """One core: none; more: up to two."""
    assert 0 <= default_workers() <= 2
