"""When to poll a task next, knowing that every poll is billed (pure logic, no I/O).

The promise: the export is noticed about ``target_delay`` seconds after it
happens (at most twice that), for a few billed polls, however the vendor's pace
varies. The rule: poll at the earliest moment the task could plausibly have been
exported, plus a grace of ``2 * target_delay``. The export cannot come before the
last number is done, so a poll at ``last answer + remaining / top_rate + grace``
notices it at most ``grace`` late as long as the vendor ran no faster than
``top_rate``; polls before that moment would only pay to hear "still processing".
After ``completed`` the export may come at any moment: polls are ``target_delay``
apart.

Everything about the pace is learned from what the polls show:

- **rates between polls**: each pair of processing answers gives the rate of
  that stretch (``done`` grew by so much in so many seconds);
- **how long pending lasted**: the first processing answer proves at least
  ``done / (its time - the last pending answer)``, since processing began after
  that pending answer;
- **how steady the pace is**: the spread (standard deviation) of those rates.

The plausible top rate is the fastest measured rate times ``MEASURED_SPEEDUP``
plus ``SPREAD_FACTOR`` times the spread: a vendor whose rate swings is expected
to swing again. Until the task has shown a steady pace (at least
``STEADY_AFTER`` rates within ``STEADY_VARIATION`` of their mean), the top rate
is never below ``PRIOR_SPEEDUP`` times the prior rate (the vendor's documented
pace): a rate measured over a few minutes of a shared service says nothing of a
burst to come. A steady vendor, slow or fast, is then polled by its own pace.

While ``pending`` the vendor reports ``total`` 0, so the uploaded count
(``expected_numbers``) stands in. Every delay is clamped to
[min_interval, max_interval]: the ceiling bounds the lateness when the vendor is
faster than plausible, and how long a stalled or queued task goes unseen.

Measured on the emulator's ``variable`` profile (``bench/polling_cost.py``): a
20,000-number task costs a median of 5 billed requests, its export noticed a
median of about 40 s late; a larger ``target_delay`` costs fewer polls and is
noticed later.

:func:`wait_limit` gives the default give-up time of a task from its size and the
pace it showed (``FBCHECK_MAX_WAIT`` unset).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from typing import Final

from addin.upstream.models import TaskStatus

__all__ = ["MEASURED_SPEEDUP", "PRIOR_SPEEDUP", "PollSchedule", "wait_limit"]

#: The vendor's documented pace (numbers/s): 20,000 numbers in about 29 minutes.
DOCUMENTED_RATE: Final = 11.5
#: How much faster than the prior rate a task not yet known to be steady may run.
PRIOR_SPEEDUP: Final = 3.0
#: How much faster than its fastest measured rate a running task may become.
MEASURED_SPEEDUP: Final = 1.25
#: How many spreads (standard deviations of the measured rates) above that.
SPREAD_FACTOR: Final = 3.0
#: A pace is steady after this many measured rates ...
STEADY_AFTER: Final = 3
#: ... whose standard deviation is at most this share of their mean.
STEADY_VARIATION: Final = 0.1

#: The default give-up time: a queue allowance, plus this many times the task's
#: expected processing time at the slower of the documented and the observed pace.
QUEUE_ALLOWANCE: Final = 6 * 3600.0
WAIT_FACTOR: Final = 3.0
#: A task that showed a pace slower than this share of the documented one is judged
#: at this share (a stalled task must still be given up some day).
SLOWEST_PACE_SHARE: Final = 0.1


@dataclass(frozen=True)
class _Observation:
    """One poll answer reduced to what the schedule needs."""

    at: float
    status: str
    done: int
    total: int


class PollSchedule:
    """The poll plan of one task: feed it every answer, ask it how long to sleep."""

    def __init__(
        self,
        *,
        expected_numbers: int,
        min_interval: float,
        max_interval: float,
        target_delay: float = 60.0,
        prior_rate: float = DOCUMENTED_RATE,
    ) -> None:
        """Set the task size, the delay bounds and target (seconds), the prior rate (numbers/s)."""
        if expected_numbers < 0:
            raise ValueError("expected_numbers must not be negative")
        if not 0 < min_interval <= max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if prior_rate <= 0 or target_delay <= 0:
            raise ValueError("prior_rate and target_delay must be positive")
        self.expected_numbers = expected_numbers
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.prior_rate = prior_rate
        self.target_delay = target_delay
        self._observations: list[_Observation] = []

    @property
    def grace(self) -> float:
        """Return the seconds allowed after the earliest plausible export: twice the target."""
        return 2 * self.target_delay

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
        state = "failed" if status.is_failed else status.status
        self._observations.append(_Observation(now, state, status.done, status.total))

    def next_delay(self, now: float) -> float:
        """Return how many seconds to wait from ``now`` before the next poll."""
        target = self.next_poll_at(now)
        return min(self.max_interval, max(self.min_interval, target - now))

    def next_poll_at(self, now: float) -> float:
        """Return the unclamped moment of the next poll (see the module docstring)."""
        if not self._observations:
            return now + self.expected_numbers / self.top_rate() + self.grace
        last = self._observations[-1]
        if last.status in ("completed", *_TERMINAL):
            return last.at + self.target_delay
        total = last.total or self.expected_numbers
        remaining = max(total - last.done, 0)
        return last.at + remaining / self.top_rate() + self.grace

    def measured_rates(self) -> list[float]:
        """Return the rates (numbers/s) the answers prove: the start bound, then between polls."""
        processing = [o for o in self._observations if o.status == "processing"]
        rates: list[float] = []
        if processing:
            first = processing[0]
            before = [o.at for o in self._observations if o.at < first.at]
            if before and first.at > max(before):
                # Processing began after the last earlier answer: at least this fast.
                rates.append(first.done / (first.at - max(before)))
        rates.extend(
            (later.done - earlier.done) / (later.at - earlier.at)
            for earlier, later in itertools.pairwise(processing)
            if later.at > earlier.at
        )
        return rates

    def steady(self) -> bool:
        """Return True once the measured pace is known to be steady (see the module docstring)."""
        rates = self.measured_rates()
        if len(rates) < STEADY_AFTER:
            return False
        mean = statistics.fmean(rates)
        return mean > 0 and statistics.pstdev(rates) <= STEADY_VARIATION * mean

    def top_rate(self) -> float:
        """Return the fastest processing rate (numbers/s) we consider plausible now."""
        rates = self.measured_rates()
        learned = 0.0
        if rates:
            spread = statistics.pstdev(rates) if len(rates) > 1 else 0.0
            learned = max(rates) * MEASURED_SPEEDUP + SPREAD_FACTOR * spread
        if learned > 0 and self.steady():
            return learned
        return max(learned, self.prior_rate * PRIOR_SPEEDUP)

    def observed_rate(self) -> float | None:
        """Return the task's mean pace since its processing began (numbers/s), if measured."""
        processing = [o for o in self._observations if o.status == "processing"]
        if not processing:
            return None
        before = [o.at for o in self._observations if o.at < processing[0].at]
        # Processing began after the last earlier answer, or with the first one we saw.
        began = max(before) if before else processing[0].at
        last = processing[-1]
        if last.at <= began:
            return None
        return last.done / (last.at - began)


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


_TERMINAL: Final = ("exported", "failed")
