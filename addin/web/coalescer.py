"""Coalesce ``=FBCHECK`` look-ups from many requests into one job.

Excel calls the function once per cell and our JavaScript sends one request per
~100 ms batch, so recalculating 10,000 cells sends dozens of requests. Each
request only queues its numbers here and returns at once; a worker thread
submits everything queued as ONE job after ``quiet`` seconds without a new
number (or ``max_wait`` seconds after the first, whichever comes first), so the
vendor sees one upstream task. ``submit`` may also hold a batch for the user's
confirmation (it returns None): its numbers stay ``unconfirmed`` until
:meth:`LookupCoalescer.settle` records what the user decided. No Flask and no
Excel in here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Seconds without a new number before the queue is submitted.
DEFAULT_QUIET = 1.0
#: Seconds after the first queued number when the queue is submitted regardless.
DEFAULT_MAX_WAIT = 5.0


@dataclass(frozen=True)
class Lookup:
    """Where one number stands: queued, held for confirmation, submitted, declined or failed."""

    state: str  # "queued", "unconfirmed", "submitted", "declined" or "failed"
    job_id: str | None = None
    reason: str | None = None


QUEUED = Lookup("queued")
#: Held until the user confirms the batch (or cancels it).
UNCONFIRMED = Lookup("unconfirmed")


class QueueClosedError(RuntimeError):
    """The look-up queue was closed (the backend is shutting down)."""


class LookupCoalescer:
    """Queue numbers and submit them together through ``submit`` (numbers -> job id or None)."""

    def __init__(
        self,
        submit: Callable[[list[str]], str | None],
        *,
        quiet: float = DEFAULT_QUIET,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        """Prepare the queue; the worker thread starts with the first number."""
        if quiet < 0 or max_wait < quiet:
            raise ValueError("need 0 <= quiet <= max_wait")
        self._submit = submit
        self.quiet = quiet
        self.max_wait = max_wait
        self._lock = threading.Condition()
        self._queue: dict[str, None] = {}
        self._first_at = 0.0
        self._last_at = 0.0
        self._known: dict[str, Lookup] = {}
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
            now = time.monotonic()
            added = False
            for number in numbers:
                if self._known.get(number) in (QUEUED, UNCONFIRMED):
                    continue
                if not self._queue:
                    self._first_at = now
                self._queue[number] = None
                self._known[number] = QUEUED
                added = True
            if added:
                self._last_at = now
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

    def forget_all(self) -> None:
        """Drop the queue and every record (the vendor realm changed: ask again)."""
        with self._lock:
            self._queue.clear()
            self._known.clear()
            self._generation += 1

    def close(self) -> None:
        """Stop the worker; numbers still queued are dropped (their cells ask again)."""
        with self._lock:
            self._closed = True
            self._queue.clear()
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

    def _run(self) -> None:
        """Wait for a quiet moment, then submit the whole queue as one job."""
        while True:
            with self._lock:
                while not self._closed:
                    if self._queue:
                        due = min(self._last_at + self.quiet, self._first_at + self.max_wait)
                        left = due - time.monotonic()
                        if left <= 0:
                            break
                        self._lock.wait(left)
                    else:
                        self._lock.wait()
                if self._closed:
                    return
                batch = list(self._queue)
                self._queue.clear()
                generation = self._generation
            self._submit_batch(batch, generation)

    def _submit_batch(self, batch: list[str], generation: int) -> None:
        """Submit ``batch`` and record its job (or why it failed) for every number."""
        try:
            job_id = self._submit(batch)
        except Exception as exc:  # the cells must learn why, and the worker must live on
            log.exception("submitting %d looked-up numbers failed", len(batch))
            outcome = Lookup("failed", reason=f"could not start the check: {exc}")
        else:
            if job_id is None:
                outcome = UNCONFIRMED
            else:
                outcome = Lookup("submitted", job_id=job_id)
                self.jobs_submitted += 1
        with self._lock:
            # A forget_all() meanwhile means this job belongs to another vendor realm.
            if generation != self._generation:
                return
            for number in batch:
                # A settle() meanwhile (the held batch was already confirmed) wins.
                if self._known.get(number) is QUEUED:
                    self._known[number] = outcome
