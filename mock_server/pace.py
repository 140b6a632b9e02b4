"""How fast one emulated task moves: the profile's constant pace, or a variable one per task.

No Flask here. The ``variable`` pace imitates a busy shared service: each task
draws, from a generator seeded by ``MOCK_SEED``, its own queue wait, a sequence
of processing periods with their own rate (stalls included) and its export
delay. The distributions (documented in the README's emulator section):

- queue wait: log-uniform between ``QUEUE_WAIT`` (2 s and 45 minutes), so the
  median is about 73 s, one task in five waits over 10 minutes and one in ten
  over 20 minutes;
- processing: periods of ``PERIOD`` (1 to 5 minutes, uniform); in each, with
  probability ``STALL_PROBABILITY`` nothing moves, otherwise numbers are processed
  at a rate drawn uniformly from ``RATE`` (1 to 35 numbers/s); the mean is about
  15 numbers/s, so 20,000 numbers take about 22 minutes of processing;
- export: ``EXPORT_DELAY`` (5 to 120 s, uniform) from completed to exported.

A task's progress is a piecewise-linear curve of (seconds since processing
started, numbers done); the curve ends at the moment the last number is done.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from typing import Final

__all__ = [
    "EXPORT_DELAY",
    "PERIOD",
    "QUEUE_WAIT",
    "RATE",
    "STALL_PROBABILITY",
    "Progress",
    "TaskTiming",
    "draw_variable_timing",
]

#: Queue wait bounds in seconds (log-uniform between them).
QUEUE_WAIT: Final = (2.0, 45 * 60.0)
#: Length of one processing period, in seconds (uniform).
PERIOD: Final = (60.0, 300.0)
#: Chance that a period is a stall (nothing processed).
STALL_PROBABILITY: Final = 0.15
#: Rate of a period that moves, in numbers per second (uniform).
RATE: Final = (1.0, 35.0)
#: From completed to exported, in seconds (uniform).
EXPORT_DELAY: Final = (5.0, 120.0)


@dataclass(frozen=True)
class Progress:
    """Numbers done over time: breakpoints (seconds since processing began, numbers done).

    The first point is ``(0, 0)``; the last is the finish, where ``done`` is the total.
    Between points the count grows linearly (a flat piece is a stall).
    """

    points: tuple[tuple[float, float], ...]

    @property
    def duration(self) -> float:
        """Return the seconds from the start of processing to the last number."""
        return self.points[-1][0]

    def done_at(self, elapsed: float) -> float:
        """Return the numbers done ``elapsed`` seconds after processing began (fractional)."""
        points = self.points
        if elapsed <= 0:
            return 0.0
        if elapsed >= points[-1][0]:
            return points[-1][1]
        index = bisect.bisect_right([t for t, _ in points], elapsed)
        (t0, d0), (t1, d1) = points[index - 1], points[index]
        return d0 + (d1 - d0) * (elapsed - t0) / (t1 - t0)

    def time_of(self, done: float) -> float:
        """Return the earliest seconds after the start at which ``done`` numbers are done."""
        points = self.points
        if done <= 0:
            return 0.0
        index = bisect.bisect_left([d for _, d in points], done)
        if index >= len(points):
            return points[-1][0]
        (t0, d0), (t1, d1) = points[index - 1], points[index]
        return t0 + (t1 - t0) * (done - d0) / (d1 - d0)


@dataclass(frozen=True)
class TaskTiming:
    """One task's timing: queue wait, processing (a rate or a curve), export delay (seconds)."""

    queue_delay: float
    export_delay: float
    rate: float | None = None  # constant numbers per second; None: all at once
    progress: Progress | None = None  # a variable pace: wins over ``rate``


def draw_variable_timing(rng: random.Random, total: int) -> TaskTiming:
    """Draw the timing of a task of ``total`` numbers on the variable pace."""
    low, high = QUEUE_WAIT
    queue = math.exp(rng.uniform(math.log(low), math.log(high)))
    points: list[tuple[float, float]] = [(0.0, 0.0)]
    elapsed, done = 0.0, 0.0
    while done < total:
        length = rng.uniform(*PERIOD)
        rate = 0.0 if rng.random() < STALL_PROBABILITY else rng.uniform(*RATE)
        if rate > 0 and done + rate * length >= total:
            # The last number is done inside this period: the curve ends there.
            points.append((elapsed + (total - done) / rate, float(total)))
            break
        elapsed += length
        done += rate * length
        points.append((elapsed, done))
    export = rng.uniform(*EXPORT_DELAY)
    return TaskTiming(queue_delay=queue, export_delay=export, progress=Progress(tuple(points)))
