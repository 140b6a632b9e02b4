"""The in-process scheduler of local mode: the steps of its realm's tasks, run in this process.

It leases the open tasks of its realm (``addin.engine.ownership``) and runs
their steps (``addin.engine.steps``: create, poll, download-and-store) when they
are due: at most ``max_concurrent_tasks`` tasks running upstream, one upload at a
time, and the polls and downloads of different tasks at once on a small pool of
threads (``parallel_steps``), so one task's result file is read and stored while
another is polled or uploaded. Each step says when its task's next step is due;
the runner sleeps until the earliest one (at most a couple of seconds while
tasks are open, to notice other processes' changes), and with no task open in
its realm it sleeps until woken (a job submitted, cancelled, resent or
abandoned through the Checker wakes it). It claims its realm's tasks again when so
woken and every couple of seconds, not each time one of its own steps ends (the
step refreshed its task itself): a claim writes, and SQLite has one writer at a
time, so the next upload would wait for the answers another step is storing.

The money rules are the steps' (see ``addin.engine.steps``); the runner adds:
a task has at most one step in flight, a step reads the task's stored record
before it acts (a task finished or taken over meanwhile is left alone), and a
stop waits for the steps in flight, whose outcomes are stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from addin.engine.journal import CreateJournal
from addin.engine.ownership import OwnerLock
from addin.engine.states import TaskState
from addin.engine.steps import (
    CRASHED_UPLOAD,
    MAX_UNSENT_ATTEMPTS,
    MISSING_REASON,
    RunnerSettings,
    Step,
    StoreFailed,
    TaskMemo,
    TaskSteps,
    UnrecordedTask,
)
from addin.engine.store import Store, StoreError, TaskRecord
from addin.upstream.client import VendorClient

__all__ = [
    "CRASHED_UPLOAD",
    "MAX_UNSENT_ATTEMPTS",
    "MISSING_REASON",
    "STORE_STOP_NOTICE",
    "Runner",
    "RunnerSettings",
]

log = logging.getLogger(__name__)

#: Seconds between two looks at the store while tasks are open (another process's changes).
SYNC_SECONDS = 2.0

#: Said once when the store stops the runner; the reason itself is ``Runner.fatal``, which
#: every command and API answer repeats (the CLI would otherwise print it twice).
STORE_STOP_NOTICE = "the background runner stopped: the store cannot be used (the error says why)"


@dataclass
class TrackedTask:
    """What the runner keeps in memory about one task it holds."""

    record: TaskRecord
    memo: TaskMemo = field(default_factory=TaskMemo)
    due: float = 0.0
    #: The step due next (None: the one the task's state calls for).
    step: Step | None = None
    result_url: str | None = None
    #: True while one of its steps is in flight.
    busy: bool = False


def _running(tracked: TrackedTask) -> bool:
    """Return True when the task's record (refreshed by its last step) says running."""
    return tracked.record.state == TaskState.RUNNING


def _upload_in_flight(tasks: list[TrackedTask]) -> bool:
    """Return True when one of ``tasks`` is being uploaded (a step of a queued task)."""
    return any(t.busy and t.record.state == TaskState.QUEUED for t in tasks)


def _running_or_uploading(tasks: list[TrackedTask]) -> int:
    """Return how many of ``tasks`` run upstream or are being uploaded."""
    return sum(
        1
        for t in tasks
        if t.record.state == TaskState.RUNNING or (t.busy and t.record.state == TaskState.QUEUED)
    )


def _uploads_held_back(tasks: list[TrackedTask], max_concurrent: int) -> bool:
    """Return True when no queued task of ``tasks`` may start its upload now."""
    return _upload_in_flight(tasks) or _running_or_uploading(tasks) >= max_concurrent


class _StepPool:
    """A few threads that run steps of different tasks; each closes its store connection."""

    def __init__(self, runner: Runner, size: int) -> None:
        """Start ``size`` threads."""
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, args=(runner.store,), daemon=True, name=name)
            for name in (f"fbcheck-step-{i}" for i in range(size))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the next free thread."""
        self._jobs.put(job)

    def close(self) -> None:
        """Let the steps in flight end (their outcomes are stored), then stop the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self, store: Store) -> None:
        """Run jobs until told to stop."""
        try:
            while (job := self._jobs.get()) is not None:
                job()
        finally:
            store.close()


class Runner:
    """Owns upstream I/O for one realm in a daemon thread (and its step threads)."""

    def __init__(self, *, steps: TaskSteps, owner: OwnerLock) -> None:
        """Prepare a runner of ``steps`` (their owner is ``owner``'s); call ``start()``."""
        if steps.owner != owner.owner:
            raise ValueError("the steps work for another owner than this runner's lock")
        self.steps = steps
        steps.on_new_tasks = self.wake  # a split queued tasks: claim them now
        self.owner_lock = owner
        self.owner = owner.owner
        #: Why the runner stopped by itself (the store could not be written), if it did.
        self.fatal: str | None = None
        #: Set once the first pass (tasks taken over, paused ones tried again) is done.
        self.first_pass = threading.Event()
        #: False while this runner may hold leases in the store (its lock file must then stay).
        self.leases_released = True
        self._wake = threading.Event()
        #: Set by ``wake()``: the next loop looks at the store (new, cancelled or resent work).
        self._look = threading.Event()
        #: When the loop last looked at the store (``clock()``; None: not yet).
        self._looked_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        self._tasks: dict[int, TrackedTask] = {}
        self._lock = threading.Lock()  # guards _tasks and each TrackedTask
        self._pool: _StepPool | None = None
        #: A store failure met by a step thread, raised by the runner's own thread.
        self._step_failure: BaseException | None = None

    # The steps' store, vendor client, settings, journal and clocks are the runner's.
    @property
    def store(self) -> Store:
        """Return the store the steps write."""
        return self.steps.store

    @property
    def client(self) -> VendorClient:
        """Return the vendor client of the steps."""
        return self.steps.client

    @property
    def settings(self) -> RunnerSettings:
        """Return the settings of the steps."""
        return self.steps.settings

    @property
    def journal(self) -> CreateJournal:
        """Return the create journal of the steps."""
        return self.steps.journal

    @property
    def clock(self) -> Callable[[], float]:
        """Return the monotonic clock of the steps (their memo's and the pace's)."""
        return self.steps.clock

    @property
    def wall(self) -> Callable[[], float]:
        """Return the wall clock of the steps (the waits that count)."""
        return self.steps.wall

    @property
    def uploading(self) -> int | None:
        """Return the local ref of the task whose upload is in flight, if any."""
        return self.steps.uploading

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
        self._look.set()
        self._wake.set()

    def request_stop(self) -> None:
        """Ask the runner to stop after the requests in flight (their outcomes are stored)."""
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
        """Stop after the current requests; unfinished tasks stay stored for the next start."""
        self.request_stop()
        if self.join(timeout):
            self._thread = None

    # -- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        """Loop until stopped: sync with the store, start due steps, sleep until one is due."""
        self.leases_released = False
        failure: BaseException | None = None
        try:
            self.steps.replay_journal()
            if self.settings.parallel_steps > 1:
                self._pool = _StepPool(self, self.settings.parallel_steps)
            while not self._stop.is_set():
                try:
                    self._raise_step_failure()
                    if self._store_to_look_at():
                        self._sync()
                    self._create_due()
                    self._poll_due()
                    self.first_pass.set()
                except (StoreFailed, StoreError) as exc:
                    failure = exc
                    return
                except Exception:  # keep the runner alive; the store is the truth
                    log.exception("runner step failed")
                    self._wait(1.0)
                    continue
                self._wait(self._next_delay())
        except (StoreFailed, StoreError) as exc:
            failure = exc
        finally:
            self._stop.set()
            if self._pool is not None:
                self._pool.close()  # the steps in flight end first: their outcomes are stored
                self._pool = None
            # Said once all steps ended: a task id the store could not keep is the one
            # thing the user must be told, whichever thread met the failure first.
            step_failure = self._step_failure
            if isinstance(step_failure, UnrecordedTask) or failure is None:
                failure = step_failure or failure
            if failure is not None:
                self.fatal = str(failure)
                log.error(STORE_STOP_NOTICE)
            try:
                # After a store failure, no second long wait for a lock: unreleased leases
                # expire, and the owner's kept lock file tells the next run at once.
                with self.store.impatient(bool(self.fatal)):
                    self.store.release_leases(self.owner)
                self.leases_released = True
            except StoreError as exc:
                log.warning("leases not released (they expire by themselves): %s", exc)
            self.store.close()

    def _store_to_look_at(self) -> bool:
        """Return True when this loop should sync with the store (and note that it does).

        It does when woken by ``wake()`` (a job submitted, cancelled, resent or
        abandoned), on its first loop, and every ``SYNC_SECONDS`` for other processes'
        changes; not merely because one of its own steps ended: that step refreshed its
        task's record itself, and a claim is a write transaction, which would wait for
        the answers another step is storing before the next upload could start.
        """
        now = self.clock()
        looked_at = self._looked_at
        if not self._look.is_set() and looked_at is not None and now - looked_at < SYNC_SECONDS:
            return False
        self._look.clear()  # before the sync: a wake during it asks for one more
        self._looked_at = now
        return True

    def _beat(self) -> None:
        """Renew this runner's leases until it stops."""
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                self.store.renew_leases(self.owner, self.settings.lease_seconds)
            except StoreError as exc:
                log.warning("lease heartbeat failed: %s", exc)
        self.store.close()

    def _wait(self, seconds: float | None) -> None:
        """Sleep up to ``seconds`` (None: until woken) or until woken."""
        self._wake.wait(None if seconds is None else max(0.0, seconds))
        self._wake.clear()

    def _next_delay(self) -> float | None:
        """Return seconds until the earliest due step; None to sleep until woken.

        With steps in flight their ends wake the runner; with nothing of its own
        but tasks of other processes open in the realm, it looks again after
        ``SYNC_SECONDS`` (their owner may stop and leave them); with nothing open
        at all, only a new job (a wake) can bring work.
        """
        with self._lock:
            tasks = list(self._tasks.values())
            # A queued task behind an upload in flight or a full set of running tasks is
            # not due: the end of the step that holds it back wakes the runner. Counting
            # it would have the runner claim its tasks again and again meanwhile, each
            # claim a write transaction taken from the steps that store answers.
            held_back = _uploads_held_back(tasks, self.settings.max_concurrent_tasks)
            due = [
                t.due
                for t in tasks
                if not t.busy and not (held_back and t.record.state == TaskState.QUEUED)
            ]
            busy = any(t.busy for t in tasks)
        if due:
            return min(SYNC_SECONDS, max(0.0, min(due) - self.clock()))
        if busy:
            return SYNC_SECONDS
        realm = self.settings.realm
        if any(t.realm == realm for t in self.store.open_tasks(realm)):
            return SYNC_SECONDS
        return None

    def _raise_step_failure(self) -> None:
        """Raise the store failure a step thread met, if any."""
        if self._step_failure is not None:
            raise self._step_failure

    # -- what to work on ----------------------------------------------------------

    def _replay_journal(self) -> None:
        """Store task ids the journal kept because an earlier store write did not happen."""
        self.steps.replay_journal()

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
        with self._lock:
            for ref in list(self._tasks):
                if ref not in records and not self._tasks[ref].busy:
                    del self._tasks[ref]
            known = {ref: t for ref, t in self._tasks.items()}
            for ref, tracked in known.items():
                if ref in records and not tracked.busy:
                    tracked.record = records[ref]
        now = self.clock()
        for ref, record in records.items():
            if ref in known:
                continue
            adopted = self.steps.adopt(record)
            if adopted is None:
                continue
            with self._lock:
                self._tasks.setdefault(
                    ref, TrackedTask(record=adopted, memo=TaskMemo(waiting_since=self.wall()))
                ).due = now
        self.steps.resend_uncertain()

    # -- starting steps ------------------------------------------------------------------

    def _create_due(self) -> None:
        """Upload queued tasks (one at a time) while fewer than the allowed number run."""
        with self._lock:
            tracked_tasks = sorted(self._tasks.values(), key=lambda t: t.record.ref)
            running = _running_or_uploading(tracked_tasks)
            uploading = _upload_in_flight(tracked_tasks)
        now = self.clock()
        for tracked in tracked_tasks:
            if running >= self.settings.max_concurrent_tasks or self._stop.is_set() or uploading:
                return
            if tracked.busy or tracked.record.state != TaskState.QUEUED or tracked.due > now:
                continue
            self._start(tracked, Step.CREATE)
            if self._pool is not None:
                return  # its end wakes the runner for the next upload
            if _running(tracked):
                running += 1

    def _poll_due(self) -> None:
        """Poll every running (or paused, when its retry is due) task whose time has come."""
        now = self.clock()
        with self._lock:
            tracked_tasks = list(self._tasks.values())
        for tracked in tracked_tasks:
            if self._stop.is_set():
                return
            if tracked.busy or tracked.due > now:
                continue
            if tracked.record.state in (TaskState.PAUSED, TaskState.RUNNING):
                self._start(tracked, tracked.step or Step.POLL)

    def _start(self, tracked: TrackedTask, step: Step) -> None:
        """Run ``step`` of a task: on the pool when the runner runs, else here and now."""
        with self._lock:
            tracked.busy = True
        if self._pool is None:
            self._step(tracked, step)
        else:
            self._pool.submit(lambda: self._in_thread(tracked, step))

    def _in_thread(self, tracked: TrackedTask, step: Step) -> None:
        """Run a step on a pool thread; a failure stops the runner or retries the task later."""
        try:
            self._step(tracked, step)
        except (StoreFailed, StoreError) as exc:
            self._step_failure = self._step_failure or exc
            self._stop.set()
        except Exception:
            log.exception("runner step failed")
            with self._lock:
                tracked.due = self.clock() + 1.0
                tracked.busy = False
        self._wake.set()

    def _step(self, tracked: TrackedTask, step: Step) -> None:
        """Run ``step`` (and a download that follows at once) and plan the task's next step."""
        ref = tracked.record.ref
        try:
            url = tracked.result_url
            while True:
                # The stored record, not the remembered one: a task finished, cancelled or
                # taken over since is left alone.
                record = self.store.task(ref)
                if record is None or record.lease_owner != self.owner:
                    self._forget(tracked)
                    return
                upcoming = self.steps.run(step, record, tracked.memo, url)
                if upcoming.step == Step.DOWNLOAD and upcoming.delay <= 0:
                    step, url = Step.DOWNLOAD, upcoming.result_url
                    continue
                break
        except BaseException:
            with self._lock:
                tracked.busy = False
            raise
        if upcoming.step is None:
            self._forget(tracked)
            return
        record = self.store.task(ref)
        with self._lock:
            if record is not None:
                tracked.record = record
            tracked.step = upcoming.step
            tracked.result_url = upcoming.result_url
            tracked.due = self.clock() + upcoming.delay
            tracked.busy = False

    def _forget(self, tracked: TrackedTask) -> None:
        """Drop a task this runner no longer works on."""
        with self._lock:
            tracked.busy = False
            if self._tasks.get(tracked.record.ref) is tracked:
                del self._tasks[tracked.record.ref]
