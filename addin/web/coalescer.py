"""Coalesce ``=FBCHECK`` look-ups from many requests into one job.

Excel calls the function once per cell and our JavaScript sends one request per
short batch, so recalculating 10,000 cells sends dozens of requests, and a slow
recalculation or a user filling down in steps spreads them over many seconds.
Each request only queues its numbers here and returns at once; a worker thread
submits everything queued as ONE job, so the vendor sees one upstream task
(every task costs a billed create and its polls).

When a batch is submitted follows the sheet (:class:`BatchWindow`): it keeps
collecting while numbers keep arriving, and ends after a quiet moment that
adapts to how they arrive: ``quiet`` seconds (1 s) for a cell typed alone; more
for a batch that is large (``max_quiet``, 5 s, from ``BUSY_SIZE`` numbers, in
proportion below) or whose numbers came in steps (twice the longest gap between
its arrivals), never more than ``max_quiet``. ``max_wait`` (30 s) caps how long
any number waits for company, and a batch that holds ``max_batch`` numbers (a
full upstream task) goes at once. So 10,000 cells arriving over 30 s, in a steady
trickle or in steps a few seconds apart, make at most two tasks, and a single
cell is submitted a second after it arrives.

``submit`` may also hold a batch for the user's confirmation (it returns None):
its numbers stay ``unconfirmed`` until :meth:`LookupCoalescer.settle` records
what the user decided. No Flask and no Excel in here.

Too few for a task: the vendor may refuse a task under a minimum size (v1: 100).
When ``submit`` answers with a :class:`Submission` naming numbers it kept back
(too few new ones to make a task), they stay here as ``below_minimum`` and join
the next batch, so they go out once enough numbers are waiting; or the user drops
them (:meth:`LookupCoalescer.drop_below_minimum`) and their cells say why.
Nothing is padded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: Seconds without a new number before a batch of one arrival is submitted.
DEFAULT_QUIET = 1.0
#: The longest quiet a batch waits for, however slowly its numbers arrived.
DEFAULT_MAX_QUIET = 5.0
#: Seconds after the first queued number when the batch is submitted regardless.
DEFAULT_MAX_WAIT = 30.0
#: The quiet that ends a batch: this many times the longest gap between its arrivals.
GAP_FACTOR = 2.0
#: A batch this large waits the longest quiet (a sheet recalculating, not a cell typed).
BUSY_SIZE = 250
#: The longest the worker sleeps before it looks at the clock again (real seconds).
WORKER_NAP = 0.25


@dataclass(frozen=True)
class Lookup:
    """Where one number stands: queued, held for confirmation, submitted, declined or failed."""

    # "queued", "unconfirmed", "below_minimum", "submitted", "declined" or "failed"
    state: str
    job_id: str | None = None
    reason: str | None = None


QUEUED = Lookup("queued")
#: Held until the user confirms the batch (or cancels it).
UNCONFIRMED = Lookup("unconfirmed")
#: The state of numbers too few for one task of the vendor (they wait for more).
BELOW_MINIMUM = "below_minimum"


@dataclass(frozen=True)
class Submission:
    """What ``submit`` did with a batch: the job (if any) and the numbers it kept back."""

    job_id: str | None
    too_few: tuple[str, ...] = ()
    #: Why those numbers were not sent (shown in their cells and in the pane).
    reason: str | None = None


class QueueClosedError(RuntimeError):
    """The look-up queue was closed (the backend is shutting down)."""


@dataclass
class BatchWindow:
    """The numbers being collected into one job, and when they are due (pure logic)."""

    quiet: float
    max_quiet: float
    max_wait: float
    numbers: dict[str, None] = field(default_factory=dict)
    first_at: float = 0.0
    last_at: float = 0.0
    longest_gap: float = 0.0

    def arrive(self, now: float, numbers: Iterable[str]) -> bool:
        """Add one arrival's new ``numbers`` at ``now``; return True if any was new."""
        new = [n for n in numbers if n not in self.numbers]
        if not new:
            return False
        if not self.numbers:
            self.first_at = self.last_at = now
        else:
            self.longest_gap = max(self.longest_gap, now - self.last_at)
            self.last_at = now
        self.numbers.update(dict.fromkeys(new))
        return True

    def quiet_needed(self) -> float:
        """Return the quiet that ends this batch: longer when it is large or came in steps."""
        busy = self.max_quiet * len(self.numbers) / BUSY_SIZE
        return min(self.max_quiet, max(self.quiet, GAP_FACTOR * self.longest_gap, busy))

    def due_at(self) -> float:
        """Return when the batch is submitted if nothing more arrives."""
        return min(self.last_at + self.quiet_needed(), self.first_at + self.max_wait)

    def take(self) -> list[str]:
        """Return the collected numbers in arrival order and start an empty batch."""
        batch = list(self.numbers)
        self.numbers.clear()
        self.longest_gap = 0.0
        return batch


class LookupCoalescer:
    """Queue numbers and submit them together through ``submit``.

    ``submit`` answers a job id, None (held for confirmation) or a :class:`Submission`.
    """

    def __init__(
        self,
        submit: Callable[[list[str]], str | Submission | None],
        *,
        quiet: float = DEFAULT_QUIET,
        max_wait: float = DEFAULT_MAX_WAIT,
        max_quiet: float | None = None,
        max_batch: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the queue; the worker thread starts with the first number.

        ``quiet`` is the shortest quiet that ends a batch, ``max_quiet`` the longest
        (default 5 s, or ``max_wait`` if shorter), ``max_wait`` the longest any number
        waits, ``max_batch`` the size that goes at once (None: no limit); ``clock``
        (monotonic seconds) is injectable for tests.
        """
        if max_quiet is None:
            max_quiet = max(quiet, min(DEFAULT_MAX_QUIET, max_wait))
        if not 0 <= quiet <= max_quiet <= max_wait:
            raise ValueError("need 0 <= quiet <= max_quiet <= max_wait")
        if max_batch is not None and max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._submit = submit
        self.quiet = quiet
        self.max_wait = max_wait
        self.max_batch = max_batch
        self._clock = clock
        self._lock = threading.Condition()
        self._window = BatchWindow(quiet=quiet, max_quiet=max_quiet, max_wait=max_wait)
        # Batches cut and waiting for the worker, with the generation they were cut in.
        self._ready: list[tuple[list[str], int]] = []
        self._known: dict[str, Lookup] = {}
        # Numbers ``submit`` kept back (too few for a task), in arrival order.
        self._short: dict[str, None] = {}
        self._short_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        # Bumped by forget_all(), so a batch submitted before it records nothing.
        self._generation = 0
        #: How many jobs were submitted (for tests and the bench).
        self.jobs_submitted = 0

    def add(self, numbers: Iterable[str]) -> None:
        """Queue E.164 ``numbers`` (queued or held ones are not queued twice)."""
        with self._lock:
            if self._closed:
                raise QueueClosedError("the look-up queue is closed: the backend is shutting down")
            now = self._clock()
            if self._window.numbers and self._window.due_at() <= now:
                # The batch was due before these arrived: they start the next one.
                self._cut()
            fresh = [n for n in numbers if self._known.get(n) not in (QUEUED, UNCONFIRMED)]
            if self._window.arrive(now, fresh):
                for number in fresh:
                    self._known[number] = QUEUED
                # Numbers too few for a task go out with the newcomers: together they may do.
                self._window.arrive(now, list(self._short))
                for number in self._short:
                    self._known[number] = QUEUED
                self._short.clear()
                if self.max_batch is not None and len(self._window.numbers) >= self.max_batch:
                    self._cut()  # a full task gains nothing from waiting
            if self._window.numbers or self._ready:
                self._start_worker()
                self._lock.notify_all()

    def lookup(self, number: str) -> Lookup | None:
        """Return where ``number`` stands, or None when it was never queued (or forgotten)."""
        with self._lock:
            return self._known.get(number)

    def settle(self, numbers: Iterable[str], outcome: Lookup) -> None:
        """Record what became of numbers held for confirmation (submitted, declined, failed)."""
        with self._lock:
            for number in numbers:
                known = self._known.get(number)
                # Queued too: the batch may be confirmed before the worker records it held.
                if known is QUEUED or known is UNCONFIRMED:
                    self._known[number] = outcome

    def adopt(self, outcomes: Mapping[str, Lookup]) -> None:
        """Take what another team server instance settled for these numbers.

        Replaces what this coalescer knows of a number unless it is submitted here
        (its job is followed): unknown, queued (the batch that takes it leaves it
        alone), held for confirmation, declined or failed.
        """
        with self._lock:
            for number, outcome in outcomes.items():
                known = self._known.get(number)
                if known is None or known.state != "submitted":
                    self._known[number] = outcome

    def forget(self, numbers: Iterable[str]) -> None:
        """Forget declined or failed numbers (asked again through another instance)."""
        with self._lock:
            for number in numbers:
                known = self._known.get(number)
                if known is not None and known.state in ("declined", "failed"):
                    del self._known[number]

    def release(self, numbers: Iterable[str]) -> list[str]:
        """Forget the numbers of ``numbers`` held for confirmation here; return them.

        The team server's held batch lives in the store: confirmed or cancelled through
        another instance, it is gone without this coalescer hearing of it. Released
        numbers are unknown again; the cells asking for them queue them again (planned
        again: what that instance started is joined, not uploaded twice).
        """
        with self._lock:
            released = [n for n in numbers if self._known.get(n) is UNCONFIRMED]
            for number in released:
                del self._known[number]
            return released

    def below_minimum(self) -> tuple[int, str | None]:
        """Return how many numbers wait because they are too few for a task, and why."""
        with self._lock:
            return len(self._short), self._short_reason if self._short else None

    def drop_below_minimum(self, reason: str) -> int:
        """The user's word: give up the numbers too few for a task (cells say ``reason``)."""
        with self._lock:
            dropped = Lookup("failed", reason=reason)
            for number in self._short:
                self._known[number] = dropped
            count = len(self._short)
            self._short.clear()
            return count

    def forget_all(self) -> None:
        """Drop the queue and every record (the vendor realm changed: ask again)."""
        with self._lock:
            self._window.take()
            self._ready.clear()
            self._known.clear()
            self._short.clear()
            self._generation += 1

    def close(self) -> None:
        """Stop the worker; numbers still queued are dropped (their cells ask again)."""
        with self._lock:
            self._closed = True
            self._window.take()
            self._ready.clear()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def _start_worker(self) -> None:
        """Start the worker thread once (called with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="fbcheck-lookup-coalescer", daemon=True
            )
            self._thread.start()

    def _cut(self) -> None:
        """End the batch being collected and hand it to the worker (lock held)."""
        batch = self._window.take()
        if batch:
            self._ready.append((batch, self._generation))

    def _run(self) -> None:
        """Submit each batch once it is due (see :class:`BatchWindow`), one job per batch."""
        while True:
            with self._lock:
                while not self._closed and not self._ready:
                    if self._window.numbers:
                        left = self._window.due_at() - self._clock()
                        if left <= 0:
                            self._cut()
                            break
                        # Look at the clock again soon: it may be a test's hand-moved one.
                        self._lock.wait(min(left, WORKER_NAP))
                    else:
                        self._lock.wait()
                if self._closed:
                    return
                batch, generation = self._ready.pop(0)
            self._submit_batch(batch, generation)

    def _submit_batch(self, batch: list[str], generation: int) -> None:
        """Submit ``batch`` and record its job (or why it failed) for every number."""
        too_few: tuple[str, ...] = ()
        short_outcome = QUEUED
        try:
            result = self._submit(batch)
        except Exception as exc:  # the cells must learn why, and the worker must live on
            log.exception("submitting %d looked-up numbers failed", len(batch))
            outcome = Lookup("failed", reason=f"could not start the check: {exc}")
        else:
            if result is None:
                outcome = UNCONFIRMED
            else:
                submission = result if isinstance(result, Submission) else Submission(result)
                outcome = Lookup("submitted", job_id=submission.job_id)
                too_few = submission.too_few
                short_outcome = Lookup(BELOW_MINIMUM, reason=submission.reason)
                if submission.job_id is not None:
                    self.jobs_submitted += 1
        with self._lock:
            # A forget_all() meanwhile means this job belongs to another vendor realm.
            if generation != self._generation:
                return
            short_here = set(too_few)
            for number in batch:
                # A settle() meanwhile (the held batch was already confirmed) wins.
                if self._known.get(number) is QUEUED:
                    if number in short_here:
                        self._known[number] = short_outcome
                        self._short[number] = None
                    else:
                        self._known[number] = outcome
            if self._short:
                self._short_reason = short_outcome.reason or self._short_reason
