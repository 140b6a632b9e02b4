"""The background runner: the one place where a process does vendor I/O.

It leases the open tasks of its realm (``addin.engine.ownership``), creates
queued ones (a bounded number at once), polls running ones on the cost-aware
schedule, downloads and stores results. The money rules it keeps:

- **Every create attempt ends in one outcome** (``addin.upstream.accounting``):
  *not created* goes back to ``queued`` and is retried with backoff; *created*
  stores the task id (the create journal first, so a store that cannot be
  written loses nothing); *uncertain* parks the task in ``uncertain``, where it
  waits for the user's word (``fbcheck jobs resend`` / ``abandon``, or the task
  pane). Only with ``uncertain_creates="resend"`` does the runner send it again
  by itself, after ``ambiguous_retry_delay`` and at most ``max_uncertain_resends``
  times; each such upload is counted as a possible duplicate.
- **A task found in ``creating``** (its uploader died during the upload) becomes
  ``running`` when the journal holds its id, else ``uncertain``: never re-sent.
- **A paid task is never given up by us.** 401 and 402 while polling, a download
  that keeps failing and a task older than ``max_wait`` (by default from its size
  and observed pace, ``polling.wait_limit``; time nobody watched, such as a sleeping
  machine, does not count) pause the task (state
  ``paused``, the reason kept); it is tried again later and by the next run. Only
  the vendor's 404 for the task, asked with the key that created it, marks it lost.
- **Every request attempt is recorded** with its billing (``Store.record_request``).
- **A store that cannot be written stops the runner** (``fatal`` says why and which
  task ids the journal keeps) instead of retrying for ever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial

from addin.engine.journal import CreateJournal
from addin.engine.ownership import HEARTBEAT_SECONDS, LEASE_SECONDS, OwnerLock
from addin.engine.states import StaleStateError, TaskState
from addin.engine.store import Store, StoreError, TaskRecord
from addin.upstream.accounting import Billing, RequestOutcome
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
from addin.upstream.polling import PollSchedule, wait_limit

log = logging.getLogger(__name__)

MAX_UNSENT_ATTEMPTS = 8
MAX_DOWNLOAD_ATTEMPTS = 3
#: A poll this much later than planned (or twice the longest poll interval) means nobody
#: watched the task meanwhile: a machine that slept, a process stopped in a debugger.
UNWATCHED_GAP = 600.0
MISSING_REASON = "missing from the vendor's result file (the vendor could not process it)"
CRASHED_UPLOAD = (
    "the process that uploaded this task stopped during the upload; the vendor may have"
    " created (and billed) it"
)


def failed_reason(status: TaskStatus) -> str:
    """Return the reason a failed task's numbers carry: the vendor's own message first.

    A failed task was billed, so the runner never creates it again; only a new
    check (the user's word) uploads its numbers again.
    """
    said = f": {status.message}" if status.message else " (it gave no message)"
    return (
        f"the vendor reports task {status.task_id} as {status.status}{said}; it was billed and"
        " is not sent again by itself: check again to upload these numbers again"
    )


@dataclass(frozen=True)
class RunnerSettings:
    """Timing, limits and identity of the runner."""

    realm: str  # where tasks and claims live
    cache_realm: str  # where answers are cached
    key_fp: str  # fingerprint of the API key in use (never the key)
    source: str  # written on every answer: "upstream", or "demo" on the emulator
    poll_min_interval: float
    poll_max_interval: float
    max_wait: float | None  # None: from the task's size and observed pace (polling.wait_limit)
    max_concurrent_tasks: int
    poll_target_delay: float = 60.0
    ambiguous_retry_delay: float = 30.0
    product: str = "facebook"  # the check, part of every cache key
    uncertain_creates: str = "ask"  # "ask": wait for the user's word; "resend": bounded re-sends
    max_uncertain_resends: int = 2
    lease_seconds: float = LEASE_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS


@dataclass
class TrackedTask:
    """What the runner keeps in memory about one task it holds."""

    record: TaskRecord
    due: float = 0.0
    schedule: PollSchedule | None = None
    download_failures: int = 0
    transient_failures: int = 0
    #: Wall time this runner started (or resumed) waiting for the task: ``max_wait`` counts
    #: from here, so a task paused for its age is polled again when a rerun resumes it.
    waiting_since: float | None = None
    #: Wall time the next poll was planned for; a poll far later than that means nobody
    #: watched meanwhile (the machine slept), and that time does not count as waiting.
    planned_wall: float | None = None


#: Said once when the store stops the runner; the reason itself is ``Runner.fatal``, which
#: every command and API answer repeats (the CLI would otherwise print it twice).
STORE_STOP_NOTICE = "the background runner stopped: the store cannot be used (the error says why)"


class _StoreFailed(Exception):
    """The store could not be written; the runner stops."""


@dataclass
class _Pending:
    """Request outcomes collected during one vendor call, stored after it."""

    ref: int
    outcomes: list[RequestOutcome] = field(default_factory=list)


class Runner:
    """Owns upstream I/O for one realm in a daemon thread."""

    def __init__(
        self,
        *,
        store: Store,
        client: VendorClient,
        settings: RunnerSettings,
        owner: OwnerLock,
        journal: CreateJournal,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Prepare a runner; call ``start()`` to run it."""
        self.store = store
        self.client = client
        self.settings = settings
        self.owner_lock = owner
        self.owner = owner.owner
        self.journal = journal
        self.clock = clock
        self.wall = wall
        #: Why the runner stopped by itself (the store could not be written), if it did.
        self.fatal: str | None = None
        #: The task whose upload is in flight, if any.
        self.uploading: int | None = None
        #: Set once the first pass (tasks taken over, paused ones tried again) is done.
        self.first_pass = threading.Event()
        #: False while this runner may hold leases in the store (its lock file must then stay).
        self.leases_released = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        self._tasks: dict[int, TrackedTask] = {}

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Runner:
        """Start the thread and the heartbeat (idempotent) and return self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fbcheck-runner", daemon=True)
            self._heartbeat = threading.Thread(
                target=self._beat, name="fbcheck-heartbeat", daemon=True
            )
            self._thread.start()
            self._heartbeat.start()
        return self

    @property
    def alive(self) -> bool:
        """Return True while the runner thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Ask the runner to look for new or cancelled work now."""
        self._wake.set()

    def request_stop(self) -> None:
        """Ask the runner to stop after the request in flight (its outcome is stored)."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float | None) -> bool:
        """Wait for the runner thread to end; return True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current request; unfinished tasks stay stored for the next start."""
        self.request_stop()
        if self.join(timeout):
            self._thread = None

    # -- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        """Loop until stopped: sync with the store, create, poll, sleep until due."""
        self.leases_released = False
        try:
            self._replay_journal()
            while not self._stop.is_set():
                try:
                    self._sync()
                    self._create_due()
                    self._poll_due()
                    self.first_pass.set()
                except (_StoreFailed, StoreError) as exc:
                    self.fatal = self.fatal or str(exc)
                    log.error(STORE_STOP_NOTICE)
                    return
                except Exception:  # keep the runner alive; the store is the truth
                    log.exception("runner step failed")
                    self._wait(1.0)
                    continue
                self._wait(self._next_delay())
        except (_StoreFailed, StoreError) as exc:
            self.fatal = self.fatal or str(exc)
            log.error(STORE_STOP_NOTICE)
        finally:
            self._stop.set()
            try:
                # After a store failure, no second long wait for a lock: unreleased leases
                # expire, and the owner's kept lock file tells the next run at once.
                with self.store.impatient(bool(self.fatal)):
                    self.store.release_leases(self.owner)
                self.leases_released = True
            except StoreError as exc:
                log.warning("leases not released (they expire by themselves): %s", exc)
            self.store.close()

    def _beat(self) -> None:
        """Renew this runner's leases until it stops."""
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                self.store.renew_leases(self.owner, self.settings.lease_seconds)
            except StoreError as exc:
                log.warning("lease heartbeat failed: %s", exc)
        self.store.close()

    def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds`` or until woken."""
        self._wake.wait(max(0.0, seconds))
        self._wake.clear()

    def _next_delay(self) -> float:
        """Return seconds until the earliest due task (a few seconds when idle)."""
        active = [t.due for t in self._tasks.values()]
        if not active:
            return 2.0
        return min(2.0, max(0.0, min(active) - self.clock()))

    # -- what to work on ----------------------------------------------------------

    def _replay_journal(self) -> None:
        """Store task ids the journal kept because an earlier store write did not happen."""
        for entry in self.journal.entries():
            task = self.store.task(entry.ref)
            if task is None or task.realm != self.settings.realm:
                continue
            if task.task_id is None and task.state in (TaskState.CREATING, TaskState.UNCERTAIN):
                self.store.record_created(
                    entry.ref, source=task.state, task_id=entry.task_id, vendor_status="pending"
                )
                if self.store.task_billing(entry.ref).billed == 0:
                    outcome = RequestOutcome(
                        "create", Billing.BILLED, 200, "recovered from the create journal"
                    )
                    self.store.record_request(
                        outcome, realm=task.realm, key_fp=task.key_fp, ref=entry.ref
                    )
                log.warning("task %s recovered from the create journal", entry.task_id)
            self.journal.clear(entry.slot)

    def _sync(self) -> None:
        """Lease open tasks; settle uploads a dead process left; drop tasks gone elsewhere."""
        records = {
            r.ref: r
            for r in self.store.claim_tasks(
                self.settings.realm,
                self.owner,
                key_fp=self.settings.key_fp,
                lease_seconds=self.settings.lease_seconds,
                owners_gone=self.owner_lock.gone,
            )
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
            if record.state == TaskState.CREATING:
                # Its uploader died inside the upload (ours run in this thread, not now).
                entry = next((e for e in self.journal.entries() if e.ref == ref), None)
                if entry is None:
                    self._write(partial(self.store.record_uncertain, ref, CRASHED_UPLOAD))
                    continue
                self._replay_journal()
                record = self.store.task(ref) or record
            if record.state == TaskState.PAUSED:
                # Paused by an earlier run (balance, key, max wait): try it again at once.
                with suppress(StaleStateError):
                    self._write(partial(self.store.resume_task, ref, self.owner))
                record = self.store.task(ref) or record
            self._tasks[ref] = TrackedTask(record=record, due=now, waiting_since=self.wall())
        self._resend_uncertain()

    def _resend_uncertain(self) -> None:
        """With ``uncertain_creates="resend"``, queue uncertain uploads again (bounded)."""
        if self.settings.uncertain_creates != "resend":
            return
        oldest = self.wall() - self.settings.ambiguous_retry_delay
        for task in self.store.open_tasks(self.settings.realm):
            if (
                task.state == TaskState.UNCERTAIN
                and task.realm == self.settings.realm
                and task.updated_at <= oldest
                and task.uncertain_creates <= self.settings.max_uncertain_resends
            ):
                try:
                    self.store.approve_resend_task(task.ref, "sent again automatically")
                except StaleStateError:
                    continue

    # -- creating ------------------------------------------------------------------

    def _create_due(self) -> None:
        """Create queued tasks while fewer than the allowed number are running."""
        running = sum(1 for t in self._tasks.values() if t.record.state == TaskState.RUNNING)
        now = self.clock()
        for tracked in sorted(self._tasks.values(), key=lambda t: t.record.ref):
            if running >= self.settings.max_concurrent_tasks or self._stop.is_set():
                return
            if tracked.record.state != TaskState.QUEUED or tracked.due > now:
                continue
            if self._create(tracked):
                running += 1

    def _create(self, tracked: TrackedTask) -> bool:
        """Upload one queued task; return True if it is now running."""
        ref = tracked.record.ref
        numbers = self.store.task_numbers(ref)
        try:
            self.store.start_upload(ref, self.owner, self.settings.key_fp)
        except StaleStateError:
            self._tasks.pop(ref, None)  # cancelled or taken over meanwhile
            return False
        pending = _Pending(ref)
        self.uploading = ref
        try:
            status = self.client.create_task(
                numbers, user_id=f"fbcheck-{ref}", observe=pending.outcomes.append
            )
        except AmbiguousCreateError as exc:
            # The request records first: progress never shows an uncertain upload
            # without the possibly billed request behind it.
            self._store_outcomes(pending)
            self._settle_uncertain(ref, f"the upload's outcome is unknown: {exc}")
            return False
        except (AuthError, BalanceError, BadRequestError) as exc:
            self._store_outcomes(pending)
            self._end(ref, TaskState.CREATING, TaskState.REFUSED, f"the vendor refused it: {exc}")
            return False
        except UpstreamError as exc:
            tracked.transient_failures += 1
            if tracked.transient_failures >= MAX_UNSENT_ATTEMPTS:
                reason = f"not created after {MAX_UNSENT_ATTEMPTS} attempts: {exc}"
                self._end(ref, TaskState.CREATING, TaskState.REFUSED, reason)
            else:
                self._write(partial(self.store.record_not_created, ref, self.owner, str(exc)))
                self._plan_poll(tracked, self._backoff(tracked.transient_failures, exc))
                self._refresh(tracked)
            return False
        except Exception as exc:  # anything unforeseen after the body may have left
            self._store_outcomes(pending)
            self._settle_uncertain(ref, f"the upload ended unexpectedly: {exc!r}")
            raise
        else:
            # The task id first (journal, then store): on a full disk the request record
            # below fails too, and the id must be kept (and named) before that.
            self._store_created(ref, status)
        finally:
            self.uploading = None
            self._store_outcomes(pending)
        tracked.transient_failures = 0
        if status.is_failed:  # failed at once: billed, and never created again by itself
            self._end(ref, TaskState.RUNNING, TaskState.FAILED, failed_reason(status))
            return False
        now = self.clock()
        tracked.schedule = self._schedule(tracked.record.n_numbers)
        tracked.schedule.observe(now, status)
        self._plan_poll(tracked, tracked.schedule.next_delay(now))
        self._refresh(tracked)
        return True

    def _settle_uncertain(self, ref: int, reason: str) -> None:
        """Park an upload with an unknown outcome until the user decides."""
        self._tasks.pop(ref, None)
        # Already marked when an interrupted CLI did it from its own thread.
        with suppress(StaleStateError):
            self._write(partial(self.store.record_uncertain, ref, reason))

    def _store_created(self, ref: int, status: TaskStatus) -> None:
        """Store a created task's id: in the journal first, then in the store."""
        slot = self.journal.write(ref, status.task_id)

        def save(source: TaskState) -> None:
            """Record the task as running, coming from ``source``."""
            self.store.record_created(
                ref,
                source=source,
                task_id=status.task_id,
                vendor_status=status.status,
                total=status.total,
                success=status.success,
                failure=status.failure,
            )

        try:
            try:
                self._write(lambda: save(TaskState.CREATING))
            except StaleStateError:
                self._write(lambda: save(TaskState.UNCERTAIN))  # marked meanwhile by a Ctrl-C
        except _StoreFailed as exc:
            kept = f"kept in {self.journal.path}" if slot is not None else "NOT kept anywhere"
            self.fatal = (
                f"the vendor created task {status.task_id} (local task {ref}) but the store could"
                f" not record it ({exc}); the id is {kept}: the next run resumes it without"
                " paying again"
            )
            raise
        self.journal.clear(slot)

    # -- polling ---------------------------------------------------------------------

    def _poll_due(self) -> None:
        """Poll every running (or paused, when its retry is due) task whose time has come."""
        now = self.clock()
        for tracked in list(self._tasks.values()):
            if self._stop.is_set():
                return
            if tracked.due > now:
                continue
            if tracked.record.state == TaskState.PAUSED:
                self._write(partial(self.store.resume_task, tracked.record.ref, self.owner))
                tracked.waiting_since = self.wall()
                self._refresh(tracked)
            if tracked.record.state == TaskState.RUNNING:
                self._poll(tracked)

    def _poll(self, tracked: TrackedTask) -> None:
        """Read one task (a billed request) and act on its status."""
        record = tracked.record
        ref = record.ref
        assert record.task_id is not None
        if tracked.schedule is None:  # resumed: poll now, then adapt
            tracked.schedule = self._schedule(record.n_numbers)
        since = max(record.created_at or 0.0, tracked.waiting_since or 0.0)
        overdue = self.wall() - (tracked.planned_wall or self.wall())
        if since and overdue > self._unwatched_gap():
            # Nobody watched for that long (a sleeping machine): it does not count as waiting.
            since += overdue
            tracked.waiting_since = since
        limit = self.settings.max_wait or wait_limit(
            record.n_numbers, tracked.schedule.observed_rate()
        )
        if since and self.wall() - since > limit:
            self._pause(
                tracked,
                f"task {record.task_id} is not finished after {limit:.0f} s;"
                " it stays open: run again to keep waiting",
            )
            return
        pending = _Pending(ref)
        try:
            status = self.client.get_task(record.task_id, observe=pending.outcomes.append)
        except NotFoundError as exc:
            self._store_outcomes(pending)
            reason = f"the vendor no longer knows task {record.task_id} (404 with its own key)"
            self._end(ref, TaskState.RUNNING, TaskState.LOST, f"{reason}: {exc}")
            self._tasks.pop(ref, None)
            return
        except (AuthError, BalanceError) as exc:
            self._store_outcomes(pending)
            self._pause(
                tracked,
                f"paused: the vendor refused to report task {record.task_id} ({exc}); top up the"
                " balance or set the key back and run again: nothing is uploaded again",
            )
            return
        except UpstreamError as exc:
            self._store_outcomes(pending)
            tracked.transient_failures += 1
            self._write(partial(self.store.note_error, ref, str(exc)))
            self._plan_poll(tracked, self._backoff(tracked.transient_failures, exc))
            return
        self._store_outcomes(pending)
        tracked.transient_failures = 0
        self._write(
            lambda: self.store.record_poll(
                ref, self.owner, status.status, status.total, status.success, status.failure
            )
        )
        now = self.clock()
        if status.is_failed:
            self._end(ref, TaskState.RUNNING, TaskState.FAILED, failed_reason(status))
            return
        if status.is_exported and status.result_url:
            self._download(tracked, status)
            return
        tracked.schedule.observe(now, status)
        self._plan_poll(tracked, tracked.schedule.next_delay(now))
        self._refresh(tracked)

    def _plan_poll(self, tracked: TrackedTask, delay: float) -> None:
        """Set a task's next poll ``delay`` seconds from now (on both clocks)."""
        tracked.due = self.clock() + delay
        tracked.planned_wall = self.wall() + delay

    def _unwatched_gap(self) -> float:
        """Return how much later than planned a poll may come before the gap is not waiting."""
        return max(UNWATCHED_GAP, 2 * self.settings.poll_max_interval)

    def _download(self, tracked: TrackedTask, status: TaskStatus) -> None:
        """Fetch and store the result file; on failure ask the task again for a fresh link."""
        record = tracked.record
        assert status.result_url is not None
        try:
            results = self.client.download_result(status.result_url)
        except UpstreamError as exc:
            tracked.download_failures += 1
            if tracked.download_failures >= MAX_DOWNLOAD_ATTEMPTS:
                tracked.download_failures = 0
                reason = f"the result of task {record.task_id} could not be read: {exc}"
                self._pause(tracked, reason)
                return
            self._write(partial(self.store.note_error, record.ref, str(exc)))
            # The link may have expired: the next (billed) poll returns a fresh one.
            self._plan_poll(tracked, self._backoff(tracked.download_failures))
            return
        answers = {number: (row.answer, row.reason) for number, row in results.items()}
        self._write(
            lambda: self.store.finish_task(
                record.ref,
                self.owner,
                cache_realm=self.settings.cache_realm,
                results=answers,
                source=self.settings.source,
                missing_reason=MISSING_REASON,
                product=self.settings.product,
            )
        )
        self._tasks.pop(record.ref, None)

    # -- helpers -----------------------------------------------------------------------

    def _pause(self, tracked: TrackedTask, reason: str) -> None:
        """Keep a paid task open but stop polling it until a later retry (or the next run)."""
        self._write(lambda: self.store.pause_task(tracked.record.ref, self.owner, reason))
        self._plan_poll(tracked, self.settings.poll_max_interval)
        self._refresh(tracked)

    def _end(self, ref: int, source: TaskState, target: TaskState, reason: str) -> None:
        """End a task without answers (its numbers get ``error`` with ``reason``)."""
        self._write(
            lambda: self.store.end_task(
                ref, source, target, reason, owner=self.owner, answer_source=self.settings.source
            )
        )
        self._tasks.pop(ref, None)

    def _store_outcomes(self, pending: _Pending) -> None:
        """Store the request outcomes collected during one call (once)."""
        outcomes, pending.outcomes[:] = list(pending.outcomes), []
        for outcome in outcomes:
            self._write(
                partial(
                    self.store.record_request,
                    outcome,
                    realm=self.settings.realm,
                    key_fp=self.settings.key_fp,
                    ref=pending.ref,
                )
            )

    @staticmethod
    def _write(action: Callable[[], None]) -> None:
        """Run a store write; a store that cannot be written stops the runner."""
        try:
            action()
        except StoreError as exc:
            raise _StoreFailed(str(exc)) from exc

    def _refresh(self, tracked: TrackedTask) -> None:
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
            target_delay=self.settings.poll_target_delay,
        )

    def _backoff(self, failures: int, error: UpstreamError | None = None) -> float:
        """Return the wait after ``failures`` transient errors in a row, or the Retry-After."""
        base = max(self.settings.poll_min_interval, 1.0)
        wait = float(min(self.settings.poll_max_interval, base * 2 ** min(failures, 10)))
        retry_after = getattr(error, "retry_after", None)
        return max(wait, float(retry_after)) if retry_after else wait
