"""The background runner: the one owner of all vendor I/O.

It creates queued tasks (a bounded number at once), polls running ones on the
cost-aware schedule, downloads and stores results, and on start takes over
every unfinished task of its realm, resuming it by polling, never by creating
it again.

Create policy (the vendor has no idempotency key):

- The task row is ``queued`` before anything is sent and flips to ``creating``
  just before the upload; the vendor's task id is stored the moment the create
  returns. A crash inside that one request is the only window where a task can
  be created twice: on restart a ``creating`` task is uploaded again.
- An upload that surely did not reach the vendor (connection refused, a 5xx or
  429 answer) goes back to ``queued`` and is retried with backoff.
- An upload that may have reached it (a read timeout or a dropped connection
  after the body was sent, an unreadable 200) is not retried at once: it waits
  ``ambiguous_retry_delay`` seconds (30 by default) and is uploaded again, at
  most ``MAX_UNCERTAIN_UPLOADS`` times in all; the job counts each such upload
  as a possible duplicate create (``JobProgress.uncertain_creates``), and the
  CLI and task pane show it. A restart during an upload counts the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from addin.engine.store import Store, TaskRecord
from addin.upstream.client import VendorClient
from addin.upstream.exceptions import (
    AmbiguousCreateError,
    AuthError,
    BadRequestError,
    BalanceError,
    NotFoundError,
    UpstreamError,
)
from addin.upstream.models import TaskStatus
from addin.upstream.polling import PollSchedule

log = logging.getLogger(__name__)

MAX_UNCERTAIN_UPLOADS = 3
MAX_UNSENT_ATTEMPTS = 8
MAX_DOWNLOAD_ATTEMPTS = 3
MISSING_REASON = "missing from the vendor's result file (the vendor could not process it)"


@dataclass(frozen=True)
class RunnerSettings:
    """Timing and limits of the runner."""

    poll_min_interval: float
    poll_max_interval: float
    max_wait: float
    max_concurrent_tasks: int
    source: str  # written on every answer: "upstream", or "demo" on the emulator
    ambiguous_retry_delay: float = 30.0


@dataclass
class _Tracked:
    """What the runner keeps in memory about one open task."""

    record: TaskRecord
    due: float = 0.0
    schedule: PollSchedule | None = None
    started: float = field(default_factory=time.monotonic)
    download_failures: int = 0
    transient_failures: int = 0


class Runner:
    """Owns upstream I/O for one realm in a daemon thread."""

    def __init__(
        self,
        *,
        store: Store,
        client: VendorClient,
        realm: str,
        cache_realm: str,
        settings: RunnerSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare a runner; call ``start()`` to run it."""
        self.store = store
        self.client = client
        self.realm = realm
        self.cache_realm = cache_realm
        self.settings = settings
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tasks: dict[int, _Tracked] = {}
        self.last_error: str | None = None

    def start(self) -> Runner:
        """Start the thread (idempotent) and return self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fbcheck-runner", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Ask the runner to look for new or cancelled work now."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current request; unfinished tasks stay stored for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- the loop ------------------------------------------------------------

    def _run(self) -> None:
        """Loop until stopped: sync with the store, create, poll, sleep until due."""
        while not self._stop.is_set():
            try:
                self._sync()
                self._create_due()
                self._poll_due()
            except Exception as exc:  # keep the runner alive; the store is the truth
                log.exception("runner step failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._wait(1.0)
                continue
            self._wait(self._next_delay())
        self.store.release(self.owner)
        self.store.close()

    def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds`` or until woken."""
        self._wake.wait(max(0.0, seconds))
        self._wake.clear()

    def _next_delay(self) -> float:
        """Return seconds until the earliest due task (a few seconds when idle)."""
        if not self._tasks:
            return 5.0
        now = self.clock()
        return max(0.0, min(t.due for t in self._tasks.values()) - now)

    def _sync(self) -> None:
        """Claim open tasks from the store; drop those cancelled or finished elsewhere."""
        records = {
            r.ref: r for r in self.store.claim_open_tasks(self.realm, self.owner, os.getpid())
        }
        for ref in list(self._tasks):
            if ref not in records:
                del self._tasks[ref]
        now = self.clock()
        for ref, record in records.items():
            tracked = self._tasks.get(ref)
            if tracked is not None:
                tracked.record = record
                continue
            tracked = _Tracked(record=record, due=now)
            if record.state == "creating":
                # Killed during the upload: the one documented double-billing window.
                self.store.mark_unsent(
                    ref, "restarted during the upload; uploading again", uncertain=True
                )
                tracked.record = self.store.task(ref) or record
            self._tasks[ref] = tracked

    def _create_due(self) -> None:
        """Create queued tasks while fewer than the allowed number are running."""
        running = sum(1 for t in self._tasks.values() if t.record.state == "running")
        now = self.clock()
        for tracked in sorted(self._tasks.values(), key=lambda t: t.record.ref):
            if running >= self.settings.max_concurrent_tasks or self._stop.is_set():
                return
            if tracked.record.state != "queued" or tracked.due > now:
                continue
            if self._create(tracked):
                running += 1

    def _create(self, tracked: _Tracked) -> bool:
        """Upload one queued task; return True if it is now running."""
        ref = tracked.record.ref
        numbers = self.store.task_numbers(ref)
        self.store.mark_creating(ref)
        try:
            status = self.client.create_task(numbers, user_id=f"fbcheck-{ref}")
        except AmbiguousCreateError as exc:
            self.store.mark_unsent(
                ref, f"upload may have reached the vendor ({exc}); uploading again", uncertain=True
            )
            self._refresh(tracked)
            if tracked.record.uncertain_creates >= MAX_UNCERTAIN_UPLOADS:
                self.store.fail_task(
                    ref,
                    f"upload outcome unknown {MAX_UNCERTAIN_UPLOADS} times, not retried: {exc}",
                )
                return False
            tracked.due = self.clock() + self.settings.ambiguous_retry_delay
            return False
        except (AuthError, BalanceError, BadRequestError) as exc:
            self.last_error = str(exc)
            self.store.fail_task(ref, f"the vendor refused the upload: {exc}")
            return False
        except UpstreamError as exc:
            tracked.transient_failures += 1
            if tracked.transient_failures >= MAX_UNSENT_ATTEMPTS:
                self.store.fail_task(ref, f"upload failed {MAX_UNSENT_ATTEMPTS} times: {exc}")
                return False
            self.store.mark_unsent(ref, str(exc))
            tracked.due = self.clock() + self._backoff(tracked.transient_failures, exc)
            self._refresh(tracked)
            return False
        self.store.mark_created(
            ref, status.task_id, status.status, status.total, status.success, status.failure
        )
        tracked.transient_failures = 0
        tracked.started = self.clock()
        tracked.schedule = self._schedule(tracked.record.n_numbers)
        tracked.schedule.observe(tracked.started, status)
        tracked.due = tracked.started + tracked.schedule.next_delay(tracked.started)
        self._refresh(tracked)
        return True

    def _poll_due(self) -> None:
        """Poll every running task whose time has come."""
        now = self.clock()
        for tracked in list(self._tasks.values()):
            if self._stop.is_set():
                return
            if tracked.record.state == "running" and tracked.due <= now:
                self._poll(tracked)

    def _poll(self, tracked: _Tracked) -> None:
        """Read one task (a billed request) and act on its status."""
        record = tracked.record
        assert record.task_id is not None
        if tracked.schedule is None:  # resumed after a restart: poll now, then adapt
            tracked.schedule = self._schedule(record.n_numbers)
        if (
            record.created_at is not None
            and time.time() - record.created_at > self.settings.max_wait
        ):
            self._drop(
                tracked,
                f"gave up after {self.settings.max_wait:.0f} s waiting for task {record.task_id}",
            )
            return
        try:
            status = self.client.get_task(record.task_id)
        except NotFoundError:
            self._drop(tracked, f"the vendor no longer knows task {record.task_id}")
            return
        except (AuthError, BalanceError) as exc:
            self.last_error = str(exc)
            self._drop(tracked, f"cannot read task {record.task_id}: {exc}")
            return
        except UpstreamError as exc:
            tracked.transient_failures += 1
            self.last_error = str(exc)
            tracked.due = self.clock() + self._backoff(tracked.transient_failures, exc)
            return
        tracked.transient_failures = 0
        self.store.record_poll(
            record.ref, status.status, status.total, status.success, status.failure
        )
        now = self.clock()
        if status.is_failed:
            self._drop(tracked, f"the vendor reports task {record.task_id} as {status.status}")
            return
        if status.status == "exported" and status.result_url:
            self._download(tracked, status)
            return
        tracked.schedule.observe(now, status)
        tracked.due = now + tracked.schedule.next_delay(now)
        self._refresh(tracked)

    def _download(self, tracked: _Tracked, status: TaskStatus) -> None:
        """Fetch and store the result file; on failure ask the task again for a fresh link."""
        record = tracked.record
        assert status.result_url is not None
        try:
            results = self.client.download_result(status.result_url)
        except UpstreamError as exc:
            tracked.download_failures += 1
            self.last_error = str(exc)
            if tracked.download_failures >= MAX_DOWNLOAD_ATTEMPTS:
                self._drop(tracked, f"result of task {record.task_id} could not be read: {exc}")
                return
            # The link may have expired: the next (billed) poll returns a fresh one.
            tracked.due = self.clock() + self._backoff(tracked.download_failures)
            self._refresh(tracked)
            return
        answers = {number: (row.answer, row.reason) for number, row in results.items()}
        self.store.finish_task(
            record.ref,
            realm=self.cache_realm,
            results=answers,
            source=self.settings.source,
            missing_reason=MISSING_REASON,
        )
        self._tasks.pop(record.ref, None)

    def _drop(self, tracked: _Tracked, reason: str) -> None:
        """Fail a task for good and forget it."""
        self.store.fail_task(tracked.record.ref, reason)
        self._tasks.pop(tracked.record.ref, None)

    def _refresh(self, tracked: _Tracked) -> None:
        """Reload a task's stored record."""
        record = self.store.task(tracked.record.ref)
        if record is not None:
            tracked.record = record

    def _schedule(self, expected: int) -> PollSchedule:
        """Return a fresh poll schedule for a task of ``expected`` numbers."""
        return PollSchedule(
            expected_numbers=expected,
            min_interval=self.settings.poll_min_interval,
            max_interval=self.settings.poll_max_interval,
        )

    def _backoff(self, failures: int, error: UpstreamError | None = None) -> float:
        """Return the wait after ``failures`` transient errors in a row, or the Retry-After."""
        base = max(self.settings.poll_min_interval, 1.0)
        wait = float(min(self.settings.poll_max_interval, base * 2 ** min(failures, 10)))
        retry_after = getattr(error, "retry_after", None)
        return max(wait, float(retry_after)) if retry_after else wait
