"""When to poll a task next, knowing that every poll is billed (pure logic, no I/O).

The rule: poll at the earliest moment the task could plausibly have finished,
plus the grace we allow for noticing the export. Since the export cannot happen
before the finish, a poll at ``earliest_finish + grace`` notices an export at
most ``grace`` seconds late, however the task went, as long as the vendor was not
faster than the rate we called plausible. Polls before that moment would only
pay to hear "still processing".

The plausible top speed is, in order of knowledge:

- nothing processed seen yet (pending, or the first processing answer): the
  prior rate times ``PRIOR_SPEEDUP`` (3), or the speed already proven by the
  first processing answer if that is higher;
- two or more processing answers: the fastest rate measured between answers,
  or since the first one, times ``MEASURED_SPEEDUP`` (1.25).

While ``pending`` the vendor reports ``total`` 0, so the uploaded count
(``expected_numbers``) stands in. After ``completed`` the export may come at any
moment, so polls are ``export_grace`` apart. Every delay is clamped to
[min_interval, max_interval]: the ceiling bounds the lateness when the vendor is
faster than plausible, and bounds how long a stalled or queued task goes unseen.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Final

from addin.upstream.models import TaskStatus

__all__ = ["MEASURED_SPEEDUP", "PRIOR_SPEEDUP", "PollSchedule"]

#: How much faster than the prior rate an unmeasured vendor may plausibly run.
PRIOR_SPEEDUP: Final = 3.0
#: How much faster than its measured rate a running task may plausibly become.
MEASURED_SPEEDUP: Final = 1.25


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
        prior_rate: float = 11.5,
        export_grace: float = 60.0,
    ) -> None:
        """Set the task size, the delay bounds (seconds) and the prior rate (numbers/s)."""
        if expected_numbers < 0:
            raise ValueError("expected_numbers must not be negative")
        if not 0 < min_interval <= max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if prior_rate <= 0 or export_grace <= 0:
            raise ValueError("prior_rate and export_grace must be positive")
        self.expected_numbers = expected_numbers
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.prior_rate = prior_rate
        self.export_grace = export_grace
        self._observations: list[_Observation] = []

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
            return now + self._remaining_time(self.expected_numbers, self._prior_top_rate())
        last = self._observations[-1]
        if last.status in ("completed", *_TERMINAL):
            return last.at + self.export_grace
        total = last.total or self.expected_numbers
        remaining = max(total - last.done, 0)
        return last.at + self._remaining_time(remaining, self.top_rate()) + self.export_grace

    def top_rate(self) -> float:
        """Return the fastest processing rate (numbers/s) we consider plausible now."""
        processing = [o for o in self._observations if o.status == "processing"]
        if len(processing) < 2:
            return max(self._prior_top_rate(), self._proven_rate(processing))
        rates = [
            (later.done - earlier.done) / (later.at - earlier.at)
            for earlier, later in itertools.pairwise(processing)
            if later.at > earlier.at
        ]
        first, last = processing[0], processing[-1]
        if last.at > first.at:
            rates.append((last.done - first.done) / (last.at - first.at))
        measured = max(rates, default=0.0)
        if measured <= 0:
            # Stalled so far: it may resume at any plausible speed.
            return max(self._prior_top_rate(), self._proven_rate(processing))
        return measured * MEASURED_SPEEDUP

    def _prior_top_rate(self) -> float:
        """Return the plausible top rate before anything was measured."""
        return self.prior_rate * PRIOR_SPEEDUP

    def _proven_rate(self, processing: list[_Observation]) -> float:
        """Return the rate the first processing answer proves at least, times the margin.

        Processing began after the last ``pending`` answer (or the first answer),
        so ``done`` numbers took at most that long.
        """
        if not processing:
            return 0.0
        first = processing[0]
        before = [o.at for o in self._observations if o.at < first.at]
        started_by = max(before) if before else first.at
        if first.at <= started_by:
            return 0.0
        return first.done / (first.at - started_by) * MEASURED_SPEEDUP

    @staticmethod
    def _remaining_time(remaining: int, rate: float) -> float:
        """Return the seconds ``remaining`` numbers take at ``rate``."""
        return remaining / rate if rate > 0 else math.inf


_TERMINAL: Final = ("exported", "failed")
