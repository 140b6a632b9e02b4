"""The chunking rule: balanced tasks within the minimum and maximum, every number once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addin.engine.chunking import balanced_chunks, chunk_count


@st.composite
def bounds_and_count(draw: st.DrawFn) -> tuple[int, int, int]:
    """Draw a minimum, a maximum the settings accept (>= 2*min - 1) and a count."""
    minimum = draw(st.integers(min_value=1, max_value=300))
    maximum = draw(st.integers(min_value=max(1, 2 * minimum - 1), max_value=2_000))
    count = draw(st.integers(min_value=0, max_value=12_000))
    return minimum, maximum, count


@given(bounds_and_count())
def test_no_chunk_under_the_minimum_or_over_the_maximum_and_every_number_once(drawn):
    minimum, maximum, count = drawn
    items = list(range(count))
    chunks = balanced_chunks(items, minimum=minimum, maximum=maximum)
    if count < minimum:
        assert chunks == []  # held, never padded
        return
    assert all(minimum <= len(chunk) <= maximum for chunk in chunks)
    assert [n for chunk in chunks for n in chunk] == items  # each exactly once, in order
    assert len(chunks) == -(-count // maximum)  # as few tasks as the maximum allows
    sizes = {len(chunk) for chunk in chunks}
    assert max(sizes) - min(sizes) <= 1  # balanced
    assert chunk_count(count, minimum=minimum, maximum=maximum) == len(chunks)


def test_the_issue_example_20050_at_20000_is_two_balanced_tasks():
    chunks = balanced_chunks(list(range(20_050)), minimum=100, maximum=20_000)
    assert [len(chunk) for chunk in chunks] == [10_025, 10_025]


def test_legacy_bounds_keep_single_numbers():
    assert balanced_chunks(["+1"], minimum=1, maximum=20_000) == [["+1"]]


def test_under_the_minimum_nothing_is_made():
    assert balanced_chunks(list(range(99)), minimum=100, maximum=20_000) == []
    assert chunk_count(99, minimum=100, maximum=20_000) == 0


def test_bounds_that_cannot_fit_are_refused():
    with pytest.raises(ValueError, match="cannot be split"):
        balanced_chunks(list(range(160)), minimum=100, maximum=150)
    with pytest.raises(ValueError, match="at least 1"):
        chunk_count(3, minimum=0, maximum=10)
