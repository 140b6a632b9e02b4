"""The emulator clock: scale, advance, reset and the timestamp format."""

from __future__ import annotations

import pytest

from mock_server.clock import EmulatorClock, format_rfc3339_ns


class FakeTime:
    """Hand-moved monotonic and wall time sources, in nanoseconds."""

    def __init__(self) -> None:
        """Start at fixed values."""
        self.monotonic = 5_000
        self.wall = 1_729_362_296_450_567_423

    def monotonic_ns(self) -> int:
        """Return the monotonic time."""
        return self.monotonic

    def wall_ns(self) -> int:
        """Return the wall time."""
        return self.wall


def make_clock(scale: float = 1.0) -> tuple[EmulatorClock, FakeTime]:
    """Return a clock on fake time sources."""
    fake = FakeTime()
    return EmulatorClock(
        time_scale=scale, monotonic_ns=fake.monotonic_ns, wall_ns=fake.wall_ns
    ), fake


def test_the_clock_starts_at_wall_time():
    clock, fake = make_clock()
    assert clock.now_ns() == fake.wall


def test_real_time_is_scaled():
    clock, fake = make_clock(scale=60.0)
    fake.monotonic += 2_000_000_000
    assert clock.now_ns() == fake.wall + 120_000_000_000


def test_advance_adds_emulator_seconds_on_top():
    clock, fake = make_clock(scale=2.0)
    clock.advance(1.5)
    fake.monotonic += 1_000_000_000
    assert clock.now_ns() == fake.wall + 3_500_000_000


def test_advance_refuses_going_back():
    clock, _ = make_clock()
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        clock.advance(-1)


def test_reset_drops_the_offset_and_restarts_from_wall_time():
    clock, fake = make_clock()
    clock.advance(100)
    fake.wall += 7
    clock.reset()
    assert clock.now_ns() == fake.wall


def test_a_non_positive_scale_is_refused():
    with pytest.raises(ValueError, match="time_scale"):
        EmulatorClock(time_scale=0)


def test_real_seconds_of_an_emulator_span():
    clock, _ = make_clock(scale=4.0)
    assert clock.to_real_seconds(10) == 2.5


def test_timestamps_have_nine_fraction_digits_and_z():
    assert format_rfc3339_ns(1_729_362_296_450_567_423) == "2024-10-19T18:24:56.450567423Z"
    assert format_rfc3339_ns(1_729_362_296_000_000_001) == "2024-10-19T18:24:56.000000001Z"
