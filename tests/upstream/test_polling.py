"""Tests of the cost-aware poll schedule on synthetic task progressions (no I/O, no sleeping)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addin.upstream.models import TaskStatus
from addin.upstream.polling import MEASURED_SPEEDUP, PRIOR_SPEEDUP, PollSchedule

EPOCH = datetime(2024, 10, 19, 18, 24, 56, tzinfo=UTC)
PRIOR = 11.5
GRACE = 60.0
#: The bounds recommended for the real service (see the README).
MIN_INTERVAL, MAX_INTERVAL = 30.0, 900.0


def status(state: str, total: int = 0, done: int = 0, result_url: str | None = None) -> TaskStatus:
    """Return a task answer with the given state and counters."""
    return TaskStatus("cs9viu7i61pkfs4oavvg", None, state, total, done, 0, EPOCH, EPOCH, result_url)


@dataclass(frozen=True)
class Vendor:
    """A synthetic task: a queue wait, a constant rate, then an export delay (seconds)."""

    numbers: int
    rate: float
    queue: float = 20.0
    export_delay: float = 10.0

    @property
    def completed_at(self) -> float:
        """Return when the last number is processed."""
        return self.queue + self.numbers / self.rate

    @property
    def exported_at(self) -> float:
        """Return when the result file appears."""
        return self.completed_at + self.export_delay

    def at(self, t: float) -> TaskStatus:
        """Return what a poll at time ``t`` answers."""
        if t < self.queue:
            return status("pending")
        if t < self.completed_at:
            return status("processing", self.numbers, math.floor((t - self.queue) * self.rate))
        if t < self.exported_at:
            return status("completed", self.numbers, self.numbers)
        return status("exported", self.numbers, self.numbers, "https://files.example/r.xlsx")


@dataclass(frozen=True)
class Outcome:
    """What a whole simulated task cost and how late its export was noticed."""

    polls: int
    lateness: float
    delays: tuple[float, ...]


def simulate(
    vendor: Vendor, *, min_interval: float = MIN_INTERVAL, max_interval: float = MAX_INTERVAL
) -> Outcome:
    """Drive a PollSchedule against ``vendor`` from the create answer to the export."""
    schedule = PollSchedule(
        expected_numbers=vendor.numbers,
        min_interval=min_interval,
        max_interval=max_interval,
        prior_rate=PRIOR,
        export_grace=GRACE,
    )
    now = 0.0
    schedule.observe(now, vendor.at(now))
    delays: list[float] = []
    while not schedule.finished:
        delay = schedule.next_delay(now)
        delays.append(delay)
        now += delay
        schedule.observe(now, vendor.at(now))
        assert len(delays) < 10_000, "the schedule never finished"
    return Outcome(len(delays), now - vendor.exported_at, tuple(delays))


SIZES = (100, 1_000, 20_000, 100_000)
RATES = (PRIOR / 3, PRIOR, PRIOR * 3)
QUEUES = (0.0, 20.0, 600.0)
EXPORT_DELAYS = (10.0, 60.0, 300.0)


@pytest.mark.parametrize("numbers", SIZES)
@pytest.mark.parametrize("rate", RATES, ids=["3x-slower", "prior", "3x-faster"])
@pytest.mark.parametrize("queue", QUEUES)
@pytest.mark.parametrize("export_delay", EXPORT_DELAYS)
def test_export_noticed_within_grace_for_any_rate_within_3x_of_the_prior(
    numbers, rate, queue, export_delay
):
    vendor = Vendor(numbers, rate, queue, export_delay)
    outcome = simulate(vendor)
    assert 0 <= outcome.lateness <= max(MIN_INTERVAL, GRACE)
    assert all(MIN_INTERVAL <= d <= MAX_INTERVAL for d in outcome.delays)
    # Every delay is at least the grace, so it never pays more than a poller
    # at the grace interval would (and ~20x less than a fixed 3-second poller).
    assert outcome.polls <= math.ceil(vendor.exported_at / GRACE) + 1


@pytest.mark.parametrize(
    ("numbers", "rate", "most_polls"),
    [
        (100, PRIOR, 1),
        (1_000, PRIOR, 2),
        (20_000, PRIOR, 5),
        (20_000, PRIOR / 3, 9),
        (20_000, PRIOR * 3, 2),
        (100_000, PRIOR, 12),
    ],
)
def test_polls_on_the_emulators_realistic_profile(numbers, rate, most_polls):
    # The emulator's realistic profile: 20 s queue, 11.5 numbers/s, 10 s to export.
    outcome = simulate(Vendor(numbers, rate, queue=20.0, export_delay=10.0))
    assert outcome.polls <= most_polls
    assert outcome.lateness <= GRACE


def test_a_fixed_3_second_poller_would_pay_about_580_for_20k():
    vendor = Vendor(20_000, PRIOR)
    fixed = math.ceil(vendor.exported_at / 3)
    assert 570 <= fixed <= 600
    assert simulate(vendor).polls * 100 <= fixed


def test_a_vendor_far_faster_than_plausible_is_late_by_at_most_max_interval():
    vendor = Vendor(20_000, PRIOR * 10, queue=0.0, export_delay=0.0)
    outcome = simulate(vendor)
    assert GRACE < outcome.lateness <= MAX_INTERVAL


def test_first_poll_after_create_assumes_the_prior_rate_times_the_speedup():
    schedule = PollSchedule(expected_numbers=20_000, min_interval=1, max_interval=10_000)
    schedule.observe(0.0, status("pending"))
    expected = 20_000 / (PRIOR * PRIOR_SPEEDUP) + GRACE
    assert schedule.next_delay(0.0) == pytest.approx(expected)


def test_two_processing_answers_measure_the_rate():
    schedule = PollSchedule(expected_numbers=20_000, min_interval=1, max_interval=10_000)
    schedule.observe(0.0, status("pending"))
    schedule.observe(600.0, status("processing", 20_000, 6_000))
    schedule.observe(1_000.0, status("processing", 20_000, 10_000))
    assert schedule.top_rate() == pytest.approx(10.0 * MEASURED_SPEEDUP)
    expected = 10_000 / (10.0 * MEASURED_SPEEDUP) + GRACE
    assert schedule.next_delay(1_000.0) == pytest.approx(expected)


def test_one_processing_answer_faster_than_the_prior_is_believed():
    schedule = PollSchedule(expected_numbers=100_000, min_interval=1, max_interval=10_000)
    schedule.observe(0.0, status("pending"))
    schedule.observe(100.0, status("processing", 100_000, 10_000))
    assert schedule.top_rate() == pytest.approx(100.0 * MEASURED_SPEEDUP)


def test_a_stalled_task_falls_back_to_the_prior_rate():
    schedule = PollSchedule(expected_numbers=1_000, min_interval=1, max_interval=10_000)
    schedule.observe(0.0, status("processing", 1_000, 500))
    schedule.observe(100.0, status("processing", 1_000, 500))
    assert schedule.top_rate() == pytest.approx(PRIOR * PRIOR_SPEEDUP)
    assert math.isfinite(schedule.next_delay(100.0))


def test_completed_polls_for_the_export_every_grace():
    schedule = PollSchedule(expected_numbers=1_000, min_interval=5, max_interval=900)
    schedule.observe(0.0, status("completed", 1_000, 1_000))
    assert schedule.next_delay(0.0) == GRACE
    assert schedule.next_delay(20.0) == GRACE - 20.0
    assert schedule.next_delay(59.0) == 5


def test_delays_are_clamped_to_the_bounds():
    schedule = PollSchedule(expected_numbers=1_000_000, min_interval=30, max_interval=600)
    schedule.observe(0.0, status("pending"))
    assert schedule.next_delay(0.0) == 600
    schedule.observe(10.0, status("completed", 10, 10))
    assert schedule.next_delay(1_000.0) == 30


def test_next_delay_before_any_answer_uses_the_prior():
    schedule = PollSchedule(expected_numbers=345, min_interval=1, max_interval=900)
    assert schedule.next_delay(0.0) == pytest.approx(345 / (PRIOR * PRIOR_SPEEDUP))


@pytest.mark.parametrize("state", ["exported", "failed", "cancelled"])
def test_terminal_states_finish_the_schedule(state):
    schedule = PollSchedule(expected_numbers=10, min_interval=1, max_interval=900)
    schedule.observe(0.0, status("pending"))
    assert not schedule.finished
    schedule.observe(60.0, status(state, 10, 10))
    assert schedule.finished
    assert schedule.polls_observed == 2


def test_unknown_status_keeps_polling():
    schedule = PollSchedule(expected_numbers=10, min_interval=1, max_interval=900)
    schedule.observe(0.0, status("paused", 10, 3))
    assert not schedule.finished
    assert 1 <= schedule.next_delay(0.0) <= 900


@pytest.mark.parametrize(
    "kwargs",
    [
        {"expected_numbers": -1},
        {"min_interval": 0},
        {"min_interval": 100, "max_interval": 10},
        {"prior_rate": 0},
        {"export_grace": -1},
    ],
)
def test_constructor_refuses_nonsense(kwargs):
    settings = {"expected_numbers": 10, "min_interval": 5.0, "max_interval": 60.0, **kwargs}
    with pytest.raises(ValueError, match=r"must|need"):
        PollSchedule(**settings)


answers = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=5_000),
        st.sampled_from(["pending", "processing", "completed", "exported", "weird"]),
        st.integers(min_value=0, max_value=50_000),
    ),
    max_size=12,
)


@given(
    expected=st.integers(min_value=0, max_value=200_000),
    bounds=st.tuples(
        st.floats(min_value=0.1, max_value=600), st.floats(min_value=0.1, max_value=3_600)
    ).map(sorted),
    steps=answers,
    ask_at=st.floats(min_value=0, max_value=10_000),
)
def test_next_delay_is_always_within_the_bounds(expected, bounds, steps, ask_at):
    low, high = bounds
    schedule = PollSchedule(expected_numbers=expected, min_interval=low, max_interval=high)
    now = 0.0
    for gap, state, done in steps:
        now += gap
        schedule.observe(now, status(state, max(expected, done), done))
        delay = schedule.next_delay(now + ask_at)
        assert low <= delay <= high
