"""The emulator's clock: real time sped up by a scale, plus an offset tests can advance."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

NANOS_PER_SECOND = 1_000_000_000

#: The last second the clock may be advanced to (2106-02-07T06:28:15Z): task ids
#: hold their creation second in 32 bits, like an xid.
LATEST_NS = (2**32 - 1) * NANOS_PER_SECOND


class EmulatorClock:
    """Emulator time in integer nanoseconds since the Unix epoch.

    ``now = wall time at start + (monotonic elapsed × time_scale) + advanced offset``.
    State is derived from this clock on every read, so no background thread is
    needed; ``advance()`` moves every task forward at once.
    """

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """Start the clock at the current wall time; the time sources are injectable."""
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self._time_scale = float(time_scale)
        self._monotonic_ns = monotonic_ns
        self._wall_ns = wall_ns
        self._start_wall_ns = 0
        self._start_monotonic_ns = 0
        self._offset_ns = 0
        self.reset()

    @property
    def time_scale(self) -> float:
        """Return how many emulator seconds pass per real second."""
        return self._time_scale

    def now_ns(self) -> int:
        """Return the current emulator time in nanoseconds since the epoch."""
        elapsed = self._monotonic_ns() - self._start_monotonic_ns
        return self._start_wall_ns + int(elapsed * self._time_scale) + self._offset_ns

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` emulator seconds (never backwards)."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._offset_ns += round(seconds * NANOS_PER_SECOND)

    def reset(self) -> None:
        """Start again from the current wall time with no advanced offset."""
        self._start_wall_ns = self._wall_ns()
        self._start_monotonic_ns = self._monotonic_ns()
        self._offset_ns = 0

    def to_real_seconds(self, emulator_seconds: float) -> float:
        """Convert a span of emulator seconds into the real seconds it takes."""
        return emulator_seconds / self._time_scale


def format_rfc3339_ns(epoch_ns: int) -> str:
    """Format epoch nanoseconds as RFC 3339 UTC with nine fractional digits and ``Z``."""
    seconds, nanos = divmod(epoch_ns, NANOS_PER_SECOND)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"
