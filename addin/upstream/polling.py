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

**What earlier tasks of the vendor showed** (:class:`PaceHistory`, optional: None
for a vendor never seen, and the rule is as above): the fastest rate an answer of an
earlier task of the same realm proved, decayed by ``HISTORY_DECAY`` with every later
task and raised by one task at most ``HISTORY_GROWTH`` times. It is the floor of the
plausible top rate (a first answer that caught only the start of processing proves
little: then ``HISTORY_SPEEDUP`` times it), bounds the wait while nothing is done
(a task could begin just after the last answer and run that fast), and caps this
task's own guess at ``HISTORY_SPEEDUP`` times it unless this task measured more.
:class:`PollSchedule` folds each answer into it and hands it back to be stored.

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
seeds, see the README's figures): a 20,000-number task alone (no history) costs a
median of 6 billed requests (11 at worst) and is noticed a median of 42 s late;
about one task in thirty is noticed more than the grace late (220 s at worst),
when a first answer caught only the start of processing, or a burst came after
slow stretches that no answer foretold. With the history of the tasks before it
(after 20 warm-up tasks) the worst is 10 billed requests and 112 s (500 seeds: 1
task of 500 over the grace, 134 s). A larger ``target_delay`` costs fewer polls
and is noticed later.

:func:`wait_limit` gives the default give-up time of a task from its size and the
pace it showed (``FBCHECK_MAX_WAIT`` unset).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from addin.upstream.models import TaskStatus

__all__ = [
    "HISTORY_DECAY",
    "HISTORY_GROWTH",
    "HISTORY_SPEEDUP",
    "MEASURED_SPEEDUP",
    "PENDING_BACKOFF",
    "SPREAD_FACTOR",
    "START_BOUND_SPEEDUP",
    "PaceHistory",
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

#: What earlier tasks of a vendor showed counts this much less with every later task
#: that showed something (a fast spell months ago fades) ...
HISTORY_DECAY: Final = 0.99
#: ... and one task may raise it at most this many times (one odd task, say a burst no
#: later task repeats, cannot make every later task poll at the floor).
HISTORY_GROWTH: Final = 2.0
#: With a history, the plausible top rate is at most this many times the fastest
#: rate earlier tasks showed (unless this task measured faster) and at least that rate.
HISTORY_SPEEDUP: Final = 1.3


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
class PaceHistory:
    """What earlier tasks of one vendor (realm) showed of its pace, observed, never assumed.

    ``top_rate``: the fastest processing rate (numbers/s) an answer of an earlier
    task proved (a rate between two answers, or the start bound), decayed by
    ``HISTORY_DECAY`` with every later task; ``tasks``: how many tasks contributed.

    Only the top rate is kept: it is what the schedule misses when a task's own
    answers prove too little. How long earlier tasks stayed ``pending`` or took from
    ``completed`` to ``exported`` could only make a poll later, which is safe only if
    every later task waits at least as long: nothing an earlier task showed says so.
    """

    top_rate: float
    tasks: int = 1

    def __post_init__(self) -> None:
        """Refuse figures no answer could have shown."""
        if not (math.isfinite(self.top_rate) and self.top_rate > 0):
            raise ValueError("top_rate must be a finite number > 0")
        if self.tasks < 1:
            raise ValueError("tasks must be at least 1")

    @classmethod
    def learn(
        cls,
        history: PaceHistory | None,
        observations: Sequence[PollObservation],
        min_span: float = 0.0,
    ) -> PaceHistory | None:
        """Return ``history`` (None: none yet) with one more task's answers folded in.

        Pure and idempotent per task: called on the same history with a task's
        growing answers, the last call wins. The top rate becomes the larger of the
        old one times ``HISTORY_DECAY`` and the task's fastest proven rate, the latter
        capped at ``HISTORY_GROWTH`` times the old one; a task that proved no rate
        changes nothing. Only stretches at least ``min_span`` seconds long count (the
        schedule passes its ``min_interval``).
        """
        rate = max(_proven_rates(observations, min_span), default=0.0)
        if not (math.isfinite(rate) and rate > 0):
            return history
        if history is None:
            return cls(rate)
        rate = min(rate, history.top_rate * HISTORY_GROWTH)
        return cls(max(history.top_rate * HISTORY_DECAY, rate), history.tasks + 1)


def _proven_rates(observations: Sequence[PollObservation], min_span: float) -> list[float]:
    """Return the rates (numbers/s) of the task's stretches at least ``min_span`` long.

    As :func:`measured_rates` (the start bound and the rates between answers), but
    two answers closer than the polls' floor (a retry, a resumed task), whose counts
    may have moved by a rounding or one jump of the vendor's counter, prove no rate
    worth keeping for other tasks.
    """
    working = [o for o in observations if o.status == "processing" and o.done > 0]
    if not working:
        return []
    rates = []
    before = [o.at for o in observations if o.at < working[0].at]
    if before and working[0].at - max(before) >= max(min_span, 1e-9):
        rates.append(working[0].done / (working[0].at - max(before)))
    rates.extend(
        (later.done - earlier.done) / (later.at - earlier.at)
        for earlier, later in itertools.pairwise(working)
        if later.at - earlier.at >= max(min_span, 1e-9)
    )
    return rates


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
    history: PaceHistory | None = None,
) -> float:
    """Return the moment of the next poll: within [now + min_interval, now + max_interval].

    ``observations`` are the answers so far, oldest first (the create answer first);
    ``expected_numbers`` the uploaded count, which stands in for ``total`` while the
    vendor reports 0; ``history`` what earlier tasks of the vendor showed (None: a
    vendor never seen). See the module docstring for the rule.
    """
    planned = _planned(observations, expected_numbers, settings, now, history)
    low, high = now + settings.min_interval, now + settings.max_interval
    return min(high, max(low, planned)) if math.isfinite(planned) else high


def _planned(
    observations: Sequence[PollObservation],
    expected_numbers: int,
    settings: PollSettings,
    now: float,
    history: PaceHistory | None,
) -> float:
    """Return the unclamped moment of the next poll."""
    if not observations:
        return now + settings.grace
    last = observations[-1]
    if last.status in ("completed", *_TERMINAL):
        return last.at + settings.target_delay
    total = last.total or expected_numbers
    remaining = max(total - last.done, 0)
    known = history.top_rate if history is not None else None
    top = top_rate(observations)
    if top is None:
        # Nothing done yet: back off by how long the task has waited so far ...
        waited = last.at - observations[0].at
        backoff = last.at + max(settings.grace, PENDING_BACKOFF * waited)
        if known is None:
            return backoff
        # ... but no later than the export of a task that began just after the last
        # answer and ran at the fastest rate an earlier task of this vendor showed.
        return min(backoff, last.at + remaining / known + settings.grace)
    if known is not None:
        # This task's answers may prove too little (a first answer just after the
        # start, one long stretch): the vendor has been seen this fast before. And
        # a guess far above what the vendor ever showed only costs polls, unless
        # this task itself measured more.
        bound, between = measured_rates(observations)
        fastest = max([*between, *([] if bound is None else [bound])], default=0.0)
        if not between:
            # Only the start bound: it says little of the top rate (the first answer
            # may have caught only the start of processing).
            top = max(known * HISTORY_SPEEDUP, fastest * HISTORY_SPEEDUP)
        else:
            top = max(known, fastest * HISTORY_SPEEDUP, min(top, known * HISTORY_SPEEDUP))
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
        history: PaceHistory | None = None,
        on_learned: Callable[[PaceHistory], None] | None = None,
    ) -> None:
        """Set the task size, the delay bounds and the target delay after export (seconds).

        ``history``: what earlier tasks of the vendor showed (None: never seen);
        ``on_learned`` is called with the history including this task's answers
        whenever an answer changes it (the caller stores it for later tasks).
        """
        if expected_numbers < 0:
            raise ValueError("expected_numbers must not be negative")
        self.expected_numbers = expected_numbers
        self.settings = PollSettings(min_interval, max_interval, target_delay)
        self.history = history
        self._on_learned = on_learned
        self._learned = history
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
        learned = PaceHistory.learn(self.history, self._observations, self.settings.min_interval)
        if learned is not None and learned != self._learned:
            self._learned = learned
            if self._on_learned is not None:
                self._on_learned(learned)

    @property
    def learned(self) -> PaceHistory | None:
        """Return the history with this task's answers so far folded in."""
        return self._learned

    def next_delay(self, now: float) -> float:
        """Return how many seconds to wait from ``now`` before the next poll."""
        at = next_poll_at(
            self._observations, self.expected_numbers, self.settings, now, self.history
        )
        return at - now

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
