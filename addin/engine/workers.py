"""Team mode's scheduler: each step of each vendor task is a job of a PostgreSQL queue.

The queue is procrastinate's (PostgreSQL only: its jobs table, ``LISTEN/NOTIFY``,
scheduled jobs, locks, worker heartbeats); ``fbcheck worker`` processes on any
number of machines run its jobs. The steps are those of the in-process runner
(``addin.engine.steps``); only the scheduling differs:

- **One job per step.** ``fbcheck.step`` runs one step of one task and defers the
  task's next step at the time the step chose (``schedule_at``: a poll is due when
  the poll schedule says), carrying the task's :class:`~addin.engine.steps.TaskMemo`
  in its arguments, so the next poll may run on another machine.
- **One task, one worker at a time.** Every job of a task has the lock
  ``fbcheck-task-REF`` (no two run at once) and the queueing lock of the same
  name (at most one waits).
- **The sweep** (``fbcheck.sweep``, every ``SWEEP_SECONDS`` on one worker, and at
  once when a job is submitted, cancelled, resent or abandoned; one at a time)
  leases the realm's open tasks to the queue (the store owner ``QUEUE_OWNER``) and
  gives every task without a job its next step (uploads up to
  ``max_concurrent_tasks`` running at once).
- **The recovery** (``fbcheck.recover``, every ``SWEEP_SECONDS``, no lock) sends the
  jobs of dead workers, sweeps included, to another worker.
- **A killed worker.** Each worker writes a heartbeat every
  ``HEARTBEAT_SECONDS``; a job whose worker has not written one for
  ``STALLED_AFTER`` seconds is retried by the next recovery, so another worker takes
  it up within ``STALLED_AFTER + SWEEP_SECONDS`` (about 30 s) of the kill
  (:data:`TAKEOVER_BOUND`). ``STALLED_AFTER`` is the default of the setting
  ``FBCHECK_WORKER_STALLED_AFTER`` (:attr:`WorkerRuntime.stalled_after`); the
  heartbeat follows it (:func:`heartbeat_seconds`), and :func:`takeover_bound`
  gives the bound of another value. The retried step reads the task's stored state first:
  a poll is asked again (one more billed poll at most), a result downloaded
  again (free), and an upload that was in flight is **never** sent again: the task
  is in ``creating``, so it becomes ``uncertain`` and waits for a person's word.

The store is the one of ``FBCHECK_DATABASE_URL``; the queue lives in the same
PostgreSQL database (its tables are created by ``fbcheck db upgrade``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import procrastinate
from procrastinate import exceptions as queue_errors

from addin.engine.ownership import QUEUE_OWNER
from addin.engine.states import TaskState
from addin.engine.steps import DONE, Next, Step, TaskMemo, TaskSteps
from addin.engine.store import Store, TaskRecord

log = logging.getLogger(__name__)

#: The procrastinate queue of fbcheck's jobs.
QUEUE: Final = "fbcheck"
#: Key of the advisory lock under which ``fbcheck db upgrade`` creates the queue's tables.
QUEUE_SCHEMA_LOCK: Final = 0x0FBC_0000_0000_0002
STEP_TASK: Final = "fbcheck.step"
SWEEP_TASK: Final = "fbcheck.sweep"
RECOVER_TASK: Final = "fbcheck.recover"
SWEEP_LOCK: Final = "fbcheck-sweep"
#: Seconds between two sweeps (the periodic job; a wake defers one at once).
SWEEP_SECONDS: Final = 5
#: Seconds between two heartbeats of a worker (at the default ``STALLED_AFTER``; at most).
HEARTBEAT_SECONDS: Final = 5.0
#: A job whose worker wrote no heartbeat for this long is given to another worker
#: (the default of ``FBCHECK_WORKER_STALLED_AFTER``).
STALLED_AFTER: Final = 25.0
#: Heartbeats a worker writes within ``stalled_after``: a late one or two is no death.
HEARTBEATS_PER_STALL: Final = 5


def heartbeat_seconds(stalled_after: float) -> float:
    """Return the seconds between heartbeats when ``stalled_after`` silent seconds mean dead."""
    return min(HEARTBEAT_SECONDS, stalled_after / HEARTBEATS_PER_STALL)


def takeover_bound(stalled_after: float) -> float:
    """Return the longest a killed worker's job waits before another worker takes it."""
    return stalled_after + SWEEP_SECONDS


#: The longest a killed worker's job waits before another worker takes it (seconds),
#: at the default ``STALLED_AFTER``.
TAKEOVER_BOUND: Final = takeover_bound(STALLED_AFTER)
#: Jobs one worker runs at once.
WORKER_CONCURRENCY: Final = 4
#: Tasks the queue works on (uncertain ones wait for a person).
_WORKED = (TaskState.QUEUED, TaskState.CREATING, TaskState.RUNNING, TaskState.PAUSED)
_OPEN_JOBS: Final = (
    "SELECT lock FROM procrastinate_jobs"
    " WHERE queue_name = %(queue)s AND status IN ('todo', 'doing') AND lock IS NOT NULL"
)


def task_lock(ref: int) -> str:
    """Return the lock (and queueing lock) of every job of task ``ref``."""
    return f"fbcheck-task-{ref}"


def make_app(database_url: str, *, sync: bool = False) -> procrastinate.App:
    """Return the queue's app on ``database_url`` with fbcheck's jobs registered.

    ``sync``: a connector for synchronous callers (``fbcheck serve --team``'s wakes,
    ``fbcheck db upgrade``); workers use the asynchronous one.
    """
    connector: procrastinate.BaseConnector = (
        procrastinate.SyncPsycopgConnector(conninfo=database_url)
        if sync
        else procrastinate.PsycopgConnector(conninfo=database_url)
    )
    app = procrastinate.App(connector=connector)
    _register(app)
    return app


def apply_queue_schema(database_url: str) -> bool:
    """Create the queue's tables in ``database_url`` unless there; return True if created.

    ``fbcheck db upgrade`` calls this after the store's own revisions. Two upgrades at
    once take turns: the look and the creation run under the session advisory lock
    ``QUEUE_SCHEMA_LOCK``, so the second sees the tables and leaves them (without it,
    both saw none and the second failed on procrastinate's ``CREATE TYPE``).
    """
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as guard:
        guard.execute("SELECT pg_advisory_lock(%s)", (QUEUE_SCHEMA_LOCK,))
        try:
            app = make_app(database_url, sync=True)
            with app.open():
                if queue_schema_present(app):
                    return False
                app.schema_manager.apply_schema()
            return True
        finally:
            guard.execute("SELECT pg_advisory_unlock(%s)", (QUEUE_SCHEMA_LOCK,))


def queue_schema_present(app: procrastinate.App) -> bool:
    """Return True when the queue's tables exist (the app open)."""
    row = app.connector.get_sync_connector().execute_query_one(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
    )
    return bool(row["present"])


def wake_workers(app: procrastinate.App) -> None:
    """Ask the workers for a sweep now (a job was submitted, cancelled, resent, abandoned)."""
    with suppress(queue_errors.AlreadyEnqueued):  # a sweep is waiting already
        app.configure_task(
            SWEEP_TASK, queue=QUEUE, lock=SWEEP_LOCK, queueing_lock=SWEEP_LOCK
        ).defer(timestamp=int(time.time()))


@dataclass
class WorkerRuntime:
    """What a worker's jobs use: the store and the steps on this worker's vendor connection."""

    store: Store
    steps: TaskSteps
    #: Seconds without a heartbeat after which a worker counts as dead (the setting).
    stalled_after: float = STALLED_AFTER

    # -- one step ------------------------------------------------------------------

    def run_step(self, ref: int, step: Step, memo: TaskMemo, url: str | None) -> Next:
        """Run ``step`` of task ``ref`` as its stored state allows; return the next step."""
        record = self._worked(ref)
        if record is None:
            return DONE
        if record.state == TaskState.CREATING:
            # Only a job of this task could be uploading it, and this one is that job now:
            # the upload before it died in flight. Never sent again without a person.
            adopted = self.steps.adopt(record)
            if adopted is None:
                return DONE
            record, step = adopted, Step.POLL
        if step == Step.CREATE and record.state != TaskState.QUEUED:
            step = Step.POLL  # created meanwhile (or paused): follow it
        if step != Step.CREATE and record.state == TaskState.QUEUED:
            step = Step.CREATE
        while True:
            upcoming = self.steps.run(step, record, memo, url)
            if upcoming.step != Step.DOWNLOAD or upcoming.delay > 0:
                return upcoming
            step, url = Step.DOWNLOAD, upcoming.result_url
            again = self._worked(ref)
            if again is None:
                return DONE
            record = again

    def _worked(self, ref: int) -> TaskRecord | None:
        """Return task ``ref`` if the queue works on it (open, leased to the queue)."""
        record = self.store.task(ref)
        if record is None or record.state not in _WORKED or record.lease_owner != QUEUE_OWNER:
            return None
        if record.realm != self.steps.settings.realm:
            return None
        return record

    # -- the sweep ----------------------------------------------------------------------

    def sweep(self, locked: set[str]) -> list[tuple[int, Next, TaskMemo]]:
        """Lease the realm's open tasks to the queue; return the steps of those without a job.

        ``locked``: the locks of the jobs waiting or running now.
        """
        settings = self.steps.settings
        self.steps.replay_journal()
        records = self.store.claim_tasks(
            settings.realm,
            QUEUE_OWNER,
            key_fp=settings.key_fp,
            lease_seconds=settings.lease_seconds,
            owners_gone=lambda owners: set(),  # other owners' leases end by time alone
        )
        running = sum(
            1
            for r in records
            if r.state == TaskState.RUNNING
            or (r.state in (TaskState.QUEUED, TaskState.CREATING) and task_lock(r.ref) in locked)
        )
        planned: list[tuple[int, Next, TaskMemo]] = []
        for record in records:
            if task_lock(record.ref) in locked:
                continue
            memo = TaskMemo(waiting_since=self.steps.wall())
            adopted = self.steps.adopt(record)  # a dead upload: uncertain; paused: resumed
            if adopted is None:
                continue
            if adopted.state in (TaskState.RUNNING, TaskState.PAUSED):
                planned.append((adopted.ref, Next(Step.POLL), memo))
            elif adopted.state == TaskState.QUEUED and running < settings.max_concurrent_tasks:
                planned.append((adopted.ref, Next(Step.CREATE), memo))
                running += 1
        self.steps.resend_uncertain()
        return planned


def _runtime(context: procrastinate.JobContext) -> WorkerRuntime:
    """Return the worker's runtime from a job's context."""
    runtime = (context.additional_context or {}).get("fbcheck")
    if not isinstance(runtime, WorkerRuntime):
        raise RuntimeError("an fbcheck job ran outside `fbcheck worker`")
    return runtime


async def _defer_step(app: procrastinate.App, ref: int, upcoming: Next, memo: TaskMemo) -> None:
    """Queue ``upcoming`` for task ``ref`` at the time it is due."""
    assert upcoming.step is not None
    at = datetime.now(UTC) + timedelta(seconds=max(0.0, upcoming.delay))
    try:
        await app.configure_task(
            STEP_TASK,
            queue=QUEUE,
            lock=task_lock(ref),
            queueing_lock=task_lock(ref),
            schedule_at=at,
        ).defer_async(
            ref=ref, step=upcoming.step.value, memo=memo.to_json(), url=upcoming.result_url
        )
    except queue_errors.AlreadyEnqueued:
        log.warning("task %s already has its next step queued", ref)


async def _open_locks(app: procrastinate.App) -> set[str]:
    """Return the locks of the jobs waiting or running now."""
    rows = await app.connector.execute_query_all_async(_OPEN_JOBS, queue=QUEUE)
    return {str(row["lock"]) for row in rows}


async def _retry_stalled(app: procrastinate.App, stalled_after: float) -> int:
    """Give jobs of workers silent for ``stalled_after`` seconds to another; return how many."""
    stalled = list(
        await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after)
    )
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except queue_errors.UniqueViolation:
            # The worker died after queueing the task's next step: that one stands, and
            # the dead job is closed as failed (it is kept in the jobs table for the record).
            await app.job_manager.finish_job(
                job, status=procrastinate.jobs.Status.FAILED, delete_job=False
            )
            log.warning("job %s of a stopped worker: its next step is queued already", job.id)
            continue
        except queue_errors.ConnectorException:
            continue  # retried meanwhile by another worker's recovery
        log.warning("job %s (%s) of a stopped worker is taken over", job.id, job.task_name)
    return len(stalled)


def _register(app: procrastinate.App) -> None:
    """Register fbcheck's jobs on ``app``."""

    @app.task(name=STEP_TASK, queue=QUEUE, pass_context=True)
    async def step_job(
        context: procrastinate.JobContext,
        ref: int,
        step: str,
        memo: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> None:
        """Run one step of one task and queue its next."""
        runtime = _runtime(context)
        kept = TaskMemo.from_json(memo)
        upcoming = await asyncio.to_thread(runtime.run_step, ref, Step(step), kept, url)
        if upcoming.step is not None:
            await _defer_step(app, ref, upcoming, kept)
        else:
            await _defer_sweep(app)  # a slot may be free for the next upload

    # Without a lock: a worker killed inside a sweep holds the sweep's lock until this
    # job, run by another worker, gives that sweep to someone else.
    @app.periodic(cron=f"* * * * * */{SWEEP_SECONDS}", periodic_id="recover")
    @app.task(name=RECOVER_TASK, queue=QUEUE, pass_context=True)
    async def recover_job(context: procrastinate.JobContext, timestamp: int) -> None:
        """Give the jobs of dead workers (no heartbeat for ``stalled_after``) to the living."""
        await _retry_stalled(app, _runtime(context).stalled_after)

    @app.periodic(cron=f"* * * * * */{SWEEP_SECONDS}", periodic_id="sweep")
    @app.task(name=SWEEP_TASK, queue=QUEUE, lock=SWEEP_LOCK, pass_context=True)
    async def sweep_job(context: procrastinate.JobContext, timestamp: int) -> None:
        """Give every task without a job its next step (sweeps run one at a time)."""
        runtime = _runtime(context)
        locked = await _open_locks(app)
        planned = await asyncio.to_thread(runtime.sweep, locked)
        for ref, upcoming, memo in planned:
            await _defer_step(app, ref, upcoming, memo)


async def _defer_sweep(app: procrastinate.App) -> None:
    """Queue a sweep now unless one waits."""
    with suppress(queue_errors.AlreadyEnqueued):
        await app.configure_task(
            SWEEP_TASK, queue=QUEUE, lock=SWEEP_LOCK, queueing_lock=SWEEP_LOCK
        ).defer_async(timestamp=int(time.time()))


def run_worker(app: procrastinate.App, runtime: WorkerRuntime, *, name: str | None = None) -> None:
    """Run a worker on ``app`` until SIGINT or SIGTERM (the jobs in flight end first)."""
    app.run_worker(
        queues=[QUEUE],
        name=name,
        concurrency=WORKER_CONCURRENCY,
        update_heartbeat_interval=heartbeat_seconds(runtime.stalled_after),
        stalled_worker_timeout=runtime.stalled_after,
        additional_context={"fbcheck": runtime},
        delete_jobs="successful",
    )
