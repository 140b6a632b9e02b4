"""When to poll a task next, knowing that every poll is billed (pure logic, no I/O).

The promise: the export is noticed about ``target_delay`` seconds after it
happens (at most ``2 * target_delay``, the grace, while the vendor stays within
the pace its polls showed), for a few billed polls, however the vendor's pace
varies. The schedule is one pure function, :func:`next_poll_at`, of the answers
seen so far (:class:`PollObservation`), the settings (:class:`PollSettings`) and
the current moment; :class:`PollSchedule` only collects the answers of one task.

Everything about the pace is learned from what the polls show, never from a
documented or assumed rate:

- **before anything is done** (``pending``, or ``processing`` with nothing done
  yet) the answers say nothing of the pace, only how long the task has waited:
  the first poll comes one grace after the create, then each waits
  ``PENDING_BACKOFF`` times as long as the task has waited so far (a task queued
  for ten minutes is likely to stay queued a while longer), within the bounds;
- **the start bound**: the first answer with numbers done proves at least
  ``done / (its time - the previous answer)``, since processing began after that
  answer;
- **rates between polls**: each pair of answers with numbers done gives the rate
  of that stretch (``done`` grew by so much in so many seconds);
- **their uncertainty**: the plausible top rate is ``MEASURED_SPEEDUP`` times the
  fastest of those rates, or their mean plus ``SPREAD_FACTOR`` spreads (standard
  deviations) if higher; with only the start bound measured it is
  ``START_BOUND_SPEEDUP`` times that bound.

The rule then: poll at the earliest moment the task could plausibly be exported,
plus the grace: ``last answer + remaining / top rate + 2 * target_delay``. The
export cannot come before the last number is done, so that poll notices it at
most the grace late as long as the vendor ran no faster than the top rate; polls
before it would only pay to hear "still processing". After ``completed`` the
export may come at any moment: polls are ``target_delay`` apart. Every delay is
clamped to [min_interval, max_interval]: the floor keeps polls from being too
close, the ceiling bounds how late a vendor faster than plausible is noticed,
and how long a stalled or queued task goes unseen.

Measured on the emulator's ``variable`` profile (``bench/polling_cost.py``, 100
seeds, see the README's figures): a 20,000-number task costs a median of 6 billed
requests (11 at worst) and is noticed a median of 42 s late; about one task in
thirty is noticed more than the grace late (220 s at worst), when a first answer
caught only the start of processing, or a burst came after slow stretches that
no answer foretold: what learning from the answers alone cannot know. A larger
``target_delay`` costs fewer polls and is noticed later.

:func:`wait_limit` gives the default give-up time of a task from its size and the
pace it showed (``FBCHECK_MAX_WAIT`` unset).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from addin.upstream.models import TaskStatus

__all__ = [
    "MEASURED_SPEEDUP",
    "PENDING_BACKOFF",
    "SPREAD_FACTOR",
    "START_BOUND_SPEEDUP",
    "PollObservation",
    "PollSchedule",
    "PollSettings",
    "next_poll_at",
    "wait_limit",
]

#: Before anything is done, wait this many times as long as the task has waited so far.
PENDING_BACKOFF: Final = 4.0
#: How much faster than its fastest measured rate a running task may become ...
MEASURED_SPEEDUP: Final = 2.5
#: ... or how many spreads (standard deviations of the measured rates) above their mean.
SPREAD_FACTOR: Final = 3.0
#: With only the start bound measured (processing began at some unknown moment
#: after the previous answer), how much faster than that bound the task may run.
START_BOUND_SPEEDUP: Final = 3.0

#: The vendor's documented pace (numbers/s): 20,000 numbers in about 29 minutes.
#: Used only for the default give-up time (:func:`wait_limit`), never for polls.
DOCUMENTED_RATE: Final = 11.5
#: The default give-up time: a queue allowance, plus this many times the task's
#: expected processing time at the slower of the documented and the observed pace.
QUEUE_ALLOWANCE: Final = 6 * 3600.0
WAIT_FACTOR: Final = 3.0
#: A task that showed a pace slower than this share of the documented one is judged
#: at this share (a stalled task must still be given up some day).
SLOWEST_PACE_SHARE: Final = 0.1

_TERMINAL: Final = ("exported", "failed")


@dataclass(frozen=True)
class PollObservation:
    """One answer about a task reduced to what the schedule needs (``at``: monotonic s)."""

    at: float
    status: str
    done: int
    total: int

    @classmethod
    def of(cls, at: float, status: TaskStatus) -> PollObservation:
        """Return the observation of ``status`` received at ``at``."""
        state = "failed" if status.is_failed else status.status
        return cls(at, state, status.done, status.total)


@dataclass(frozen=True)
class PollSettings:
    """The bounds of every delay and the target delay after the export (seconds)."""

    min_interval: float
    max_interval: float
    target_delay: float = 60.0

    def __post_init__(self) -> None:
        """Refuse bounds that cannot be met."""
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if not self.target_delay > 0:
            raise ValueError("target_delay must be positive")

    @property
    def grace(self) -> float:
        """Return the seconds allowed after the earliest plausible export: twice the target."""
        return 2 * self.target_delay


def next_poll_at(
    observations: Sequence[PollObservation],
    expected_numbers: int,
    settings: PollSettings,
    now: float,
) -> float:
    """Return the moment of the next poll: within [now + min_interval, now + max_interval].

    ``observations`` are the answers so far, oldest first (the create answer first);
    ``expected_numbers`` the uploaded count, which stands in for ``total`` while the
    vendor reports 0. See the module docstring for the rule.
    """
    planned = _planned(observations, expected_numbers, settings, now)
    low, high = now + settings.min_interval, now + settings.max_interval
    return min(high, max(low, planned)) if math.isfinite(planned) else high


def _planned(
    observations: Sequence[PollObservation],
    expected_numbers: int,
    settings: PollSettings,
    now: float,
) -> float:
    """Return the unclamped moment of the next poll."""
    if not observations:
        return now + settings.grace
    last = observations[-1]
    if last.status in ("completed", *_TERMINAL):
        return last.at + settings.target_delay
    top = top_rate(observations)
    if top is None:
        # Nothing done yet: back off by how long the task has waited so far.
        waited = last.at - observations[0].at
        return last.at + max(settings.grace, PENDING_BACKOFF * waited)
    total = last.total or expected_numbers
    remaining = max(total - last.done, 0)
    return last.at + remaining / top + settings.grace


def measured_rates(observations: Sequence[PollObservation]) -> tuple[float | None, list[float]]:
    """Return (the start bound, the rates between polls) in numbers/s, as the answers prove."""
    working = [o for o in observations if o.status == "processing" and o.done > 0]
    if not working:
        return None, []
    first = working[0]
    before = [o.at for o in observations if o.at < first.at]
    bound = None
    if before and first.at > max(before):
        # Processing began after the last earlier answer: at least this fast.
        bound = first.done / (first.at - max(before))
    between = [
        (later.done - earlier.done) / (later.at - earlier.at)
        for earlier, later in itertools.pairwise(working)
        if later.at > earlier.at
    ]
    # Answers a hair apart prove no rate (an infinite one would poll at once forever).
    finite = [rate for rate in between if math.isfinite(rate)]
    return (bound if bound is not None and math.isfinite(bound) else None), finite


def top_rate(observations: Sequence[PollObservation]) -> float | None:
    """Return the fastest plausible rate (numbers/s), or None before anything is done."""
    bound, between = measured_rates(observations)
    if not between:
        return None if bound is None else bound * START_BOUND_SPEEDUP
    rates = [*between, *([] if bound is None else [bound])]
    spread = statistics.pstdev(rates) if len(rates) > 1 else 0.0
    top = max(max(rates) * MEASURED_SPEEDUP, statistics.fmean(rates) + SPREAD_FACTOR * spread)
    # Every rate 0 and no start bound (the create answer was already under way):
    # nothing proves a pace yet.
    return top if top > 0 else None


def observed_rate(observations: Sequence[PollObservation]) -> float | None:
    """Return the task's mean pace since its processing began (numbers/s), if measured."""
    processing = [o for o in observations if o.status == "processing"]
    if not processing:
        return None
    before = [o.at for o in observations if o.at < processing[0].at]
    # Processing began after the last earlier answer, or with the first one we saw.
    began = max(before) if before else processing[0].at
    last = processing[-1]
    if last.at <= began:
        return None
    return last.done / (last.at - began)


class PollSchedule:
    """The poll plan of one task: feed it every answer, ask it how long to sleep."""

    def __init__(
        self,
        *,
        expected_numbers: int,
        min_interval: float,
        max_interval: float,
        target_delay: float = 60.0,
    ) -> None:
        """Set the task size, the delay bounds and the target delay after export (seconds)."""
        if expected_numbers < 0:
            raise ValueError("expected_numbers must not be negative")
        self.expected_numbers = expected_numbers
        self.settings = PollSettings(min_interval, max_interval, target_delay)
        self._observations: list[PollObservation] = []

    @property
    def observations(self) -> tuple[PollObservation, ...]:
        """Return the answers observed so far, oldest first."""
        return tuple(self._observations)

    @property
    def finished(self) -> bool:
        """Return True once the task is exported or failed: stop polling."""
        return bool(self._observations) and self._observations[-1].status in _TERMINAL

    @property
    def polls_observed(self) -> int:
        """Return how many answers (the create answer included) were observed."""
        return len(self._observations)

    def observe(self, now: float, status: TaskStatus) -> None:
        """Record an answer (the create answer first) received at ``now`` (monotonic s)."""
        self._observations.append(PollObservation.of(now, status))

    def next_delay(self, now: float) -> float:
        """Return how many seconds to wait from ``now`` before the next poll."""
        return next_poll_at(self._observations, self.expected_numbers, self.settings, now) - now

    def observed_rate(self) -> float | None:
        """Return the task's mean pace since its processing began (numbers/s), if measured."""
        return observed_rate(self._observations)


def wait_limit(
    numbers: int, observed_rate: float | None, prior_rate: float = DOCUMENTED_RATE
) -> float:
    """Return the default give-up time (seconds) of a task of ``numbers`` at the pace it showed.

    A queue allowance plus ``WAIT_FACTOR`` times the processing time at the slower of
    the documented pace and the observed one (never slower than ``SLOWEST_PACE_SHARE``
    of the documented pace): 1,000,000 numbers at the documented 11.5 numbers/s take
    about a day, so they are given up after 6 h + 3 days; 20,000 after about 7.5 h.
    """
    pace = prior_rate
    if observed_rate is not None and math.isfinite(observed_rate):
        pace = min(prior_rate, max(observed_rate, prior_rate * SLOWEST_PACE_SHARE))
    return QUEUE_ALLOWANCE + WAIT_FACTOR * numbers / pace
