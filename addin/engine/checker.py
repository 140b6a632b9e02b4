"""The check engine's front door, shared by the CLI and the add-in backend.

``Checker`` is given a vendor connection (``addin.engine.connection``: the real
API, or the bundled emulator from ``addin.demo``), opens the store and the
create journal, and runs the background runner. Callers plan, submit, follow,
resend or abandon uncertain uploads, read answers and the account, and cancel:
they never reach into the store or the runner.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from addin.closing import ClosedOnExit
from addin.config import Settings
from addin.engine.connection import (
    DEMO_GONE_REASON,
    VendorConnection,
    cache_realm_of,
    is_demo_realm,
)
from addin.engine.errors import UnknownJobError
from addin.engine.journal import CreateJournal
from addin.engine.ownership import HEARTBEAT_SECONDS, QUEUE_OWNER, OwnerLock
from addin.engine.planning import Plan, plan_numbers
from addin.engine.private_files import secure_data_dir
from addin.engine.runner import Runner, RunnerSettings
from addin.engine.states import (
    ACTIVE_TASK_STATES,
    OPEN_TASK_STATES,
    JobState,
    StaleStateError,
    TaskState,
)
from addin.engine.steps import TaskSteps
from addin.engine.store import Answer, JobRecord, Store, StoreError, TaskRecord
from addin.engine.store.problems import data_dir_problem
from addin.upstream.accounting import RequestOutcome
from addin.upstream.exceptions import UpstreamError

log = logging.getLogger(__name__)
#: How many jobs' last counts ``Checker.progress`` keeps.
COUNTED_JOBS = 64

#: Said of numbers a user gave up after an upload with an unknown outcome.
ABANDONED_REASON = (
    "given up by the user: the upload's outcome was unknown (the vendor may have billed it)"
)


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of one job for progress bars and the task pane."""

    job_id: str
    state: str
    kind: str
    label: str
    created_at: float
    distinct: int
    answered: int
    counts: dict[str, int]
    tasks: int
    tasks_open: int
    processing: int
    processed: int
    billed: int
    eta_seconds: float | None
    error: str | None
    plan: dict[str, Any] = field(default_factory=dict)
    #: Uploads that may have created a task we never heard of (possible duplicates).
    uncertain_creates: int = 0
    #: Requests that may have been billed (no usable answer came back).
    possibly_billed: int = 0
    #: Numbers waiting on an upload with an unknown outcome, for the user's word.
    uncertain_numbers: int = 0
    uncertain_tasks: int = 0
    #: Paid tasks the vendor does not answer for now (balance, key, max wait).
    paused_tasks: int = 0
    #: Open tasks that another API key created (fingerprints, never keys).
    other_key_tasks: dict[str, int] = field(default_factory=dict)
    #: Each open task's own latest problem.
    task_errors: list[str] = field(default_factory=list)
    #: True when nothing more happens without a person (or another key).
    settled: bool = False
    #: How many of the job's tasks are in each state.
    task_states: dict[str, int] = field(default_factory=dict)
    #: The team server's user who started the job (None in local mode).
    started_by: str | None = None

    @property
    def finished(self) -> bool:
        """Return True once the job will change no more."""
        return self.state in (JobState.DONE, JobState.CANCELLED)

    @property
    def waiting_for_user(self) -> bool:
        """Return True when some numbers wait for the user's word on an uncertain upload."""
        return self.uncertain_tasks > 0

    def as_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "job_id": self.job_id,
            "state": self.state,
            "kind": self.kind,
            "label": self.label,
            "created_at": self.created_at,
            "distinct": self.distinct,
            "answered": self.answered,
            "counts": self.counts,
            "tasks": self.tasks,
            "tasks_open": self.tasks_open,
            "processing": self.processing,
            "processed": self.processed,
            "billed": self.billed,
            "possibly_billed": self.possibly_billed,
            "eta_seconds": self.eta_seconds,
            "error": self.error,
            "plan": self.plan,
            "finished": self.finished,
            "settled": self.settled,
            "uncertain_creates": self.uncertain_creates,
            "uncertain_numbers": self.uncertain_numbers,
            "uncertain_tasks": self.uncertain_tasks,
            "paused_tasks": self.paused_tasks,
            "other_key_tasks": self.other_key_tasks,
            "task_errors": self.task_errors,
            "task_states": self.task_states,
            "started_by": self.started_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobProgress:
        """Return the progress that :meth:`as_dict` wrote (a team server's answer).

        Keys it does not know (``finished``, which is derived, or a server's additions) are
        left out; a missing or mistyped key raises KeyError or TypeError.
        """
        names = [f.name for f in fields(cls)]
        known = {name: data[name] for name in names if name in data}
        missing = [f.name for f in fields(cls) if f.name not in known and _required(f)]
        if missing:
            raise KeyError(f"job progress without {', '.join(missing)}")
        progress = cls(**known)
        if not isinstance(progress.job_id, str) or not isinstance(progress.distinct, int):
            raise TypeError("job progress with a job_id that is no text or a count no number")
        return progress

    @property
    def percent(self) -> int | None:
        """Return the share of the open tasks' numbers processed, 0-100 (None: no open task)."""
        if not self.processing:
            return None
        return 100 * self.processed // self.processing

    @property
    def checking_text(self) -> str:
        """Return the short text a waiting cell shows: "checking… 40%" (or "checking…")."""
        percent = self.percent
        return "checking…" if percent is None else f"checking… {percent}%"


@dataclass(frozen=True)
class CancelReport:
    """What a cancel stopped and what had already been billed."""

    job_id: str
    tasks_stopped: int
    billed: int


def input_fingerprint(kind: str, numbers: Iterable[str]) -> str:
    """Return a fingerprint of a job's distinct numbers: a rerun of the same input matches it."""
    digest = hashlib.sha256(kind.encode())
    for number in sorted(set(numbers)):
        digest.update(b"\n" + number.encode())
    return digest.hexdigest()[:32]


def runner_settings(settings: Settings, connection: VendorConnection) -> RunnerSettings:
    """Return the steps' settings for ``connection`` (the runner's and the workers' alike)."""
    return RunnerSettings(
        realm=connection.task_realm,
        cache_realm=connection.cache_realm,
        key_fp=connection.key_fp,
        source=connection.source,
        poll_min_interval=connection.poll_min_interval,
        poll_max_interval=connection.poll_max_interval,
        max_wait=settings.max_wait,
        poll_target_delay=settings.target_export_delay,
        max_concurrent_tasks=settings.max_concurrent_tasks,
        parallel_steps=settings.parallel_steps,
        min_task_numbers=settings.min_task_numbers,
        ambiguous_retry_delay=settings.ambiguous_retry_delay,
        uncertain_creates=settings.uncertain_creates,
        max_uncertain_resends=settings.max_uncertain_resends,
        product=connection.product,
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=min(HEARTBEAT_SECONDS, settings.lease_seconds / 4),
    )


class Checker(ClosedOnExit):
    """Plan, run and read checks on one vendor connection; owns the store and the runner."""

    def __init__(
        self,
        settings: Settings,
        connection: VendorConnection,
        *,
        start_runner: bool = True,
    ) -> None:
        """Open the store and the journal, and start the runner on ``connection``."""
        self.settings = settings
        self.connection = connection
        self.demo = connection.demo
        self.cache_realm = connection.cache_realm
        self.task_realm = connection.task_realm
        try:
            notice = secure_data_dir(settings.data_dir)
        except OSError as exc:
            raise StoreError(data_dir_problem(settings.data_dir, exc)) from exc
        if notice:
            log.warning("%s", notice)
        self.store = Store(settings.store_location, lock_timeout=settings.store_lock_timeout)
        #: Why the last balance request failed, if it did.
        self.balance_error: str | None = None
        #: The last counts of recent jobs (``_counts``), the oldest first.
        self._counted: dict[str, tuple[Any, dict[str, int], int]] = {}
        self._counts_lock = threading.Lock()
        try:
            self.owner = OwnerLock(settings.data_dir)
            self.journal = CreateJournal(settings.data_dir / "fbcheck.journal")
        except (OSError, RuntimeError) as exc:
            self.store.close()
            raise StoreError(data_dir_problem(settings.data_dir, exc)) from exc
        if self.demo:
            try:
                self._abandon_dead_demo_tasks()
            except BaseException:
                self.owner.release()
                self.store.close()
                raise
        steps = TaskSteps(
            store=self.store,
            client=connection.client,
            settings=runner_settings(settings, connection),
            owner=self.owner.owner,
            journal=self.journal,
        )
        self.runner = Runner(steps=steps, owner=self.owner)
        #: Team mode: the `fbcheck worker` processes do the vendor I/O, not this process.
        self.queued = settings.scheduler == "queue"
        self._queue_app: Any = None
        self._queue_lock = threading.Lock()
        if start_runner and not self.queued:
            self.runner.start()

    @property
    def base_url(self) -> str:
        """Return the vendor's base URL (the emulator's in demo mode)."""
        return self.connection.client.base_url

    def _abandon_dead_demo_tasks(self) -> None:
        """End open tasks of earlier demo emulators: their emulator (and bill) is gone."""
        now = time.time()
        by_realm: dict[str, list[TaskRecord]] = {}
        for task in self.store.open_tasks("demo:"):
            if is_demo_realm(task.realm) and task.realm != self.task_realm:
                by_realm.setdefault(task.realm, []).append(task)
        for realm, tasks in by_realm.items():
            owners = {
                t.lease_owner
                for t in tasks
                if t.lease_owner and t.lease_expires and t.lease_expires >= now
            }
            if owners and owners - self.owner.gone(owners):
                continue  # a live process still runs that emulator
            self.store.abandon_realm(realm, DEMO_GONE_REASON)

    # -- planning and jobs ---------------------------------------------------

    @property
    def max_age(self) -> float:
        """Return the cache TTL in seconds."""
        return self.settings.cache_ttl_days * 86400.0

    def plan(
        self,
        numbers: Iterable[str],
        *,
        refresh: bool = False,
        rows: int | None = None,
        invalid: int = 0,
        user: str | None = None,
    ) -> Plan:
        """Plan distinct E.164 numbers; nothing is billed.

        ``user``: the team server's user asking (the plan counts what colleagues paid for).
        """
        return plan_numbers(
            self.store,
            numbers,
            cache_realm=self.cache_realm,
            task_realm=self.task_realm,
            max_age=self.max_age,
            chunk_size=self.settings.max_numbers_per_task,
            refresh=refresh,
            rows=rows,
            invalid=invalid,
            min_size=self.settings.min_task_numbers,
            product=self.connection.product,
            user=user,
        )

    def submit(
        self,
        plan: Plan,
        *,
        kind: str = "check",
        label: str = "",
        fingerprint: str | None = None,
        started_by: str | None = None,
    ) -> str:
        """Store the job, claim its numbers and queue its tasks (one transaction); return its id.

        Numbers answered or claimed by another job since ``plan`` was made are
        taken from the cache or joined, never uploaded twice. ``started_by`` names
        the team server's user who asked (None in local mode).
        """
        new = self.store.create_job(
            realm=self.task_realm,
            cache_realm=self.cache_realm,
            kind=kind,
            label=label,
            numbers=[*plan.hits, *plan.in_flight, *plan.upload],
            refresh=plan.refresh,
            max_age=self.max_age,
            chunk_size=self.settings.max_numbers_per_task,
            plan=plan.summary(),
            hit_source=self.connection.source if self.demo else "cache",
            fingerprint=fingerprint,
            owner=QUEUE_OWNER if self.queued else self.runner.owner,
            lease_seconds=self.runner.settings.lease_seconds,
            min_chunk=self.settings.min_task_numbers,
            product=self.connection.product,
            started_by=started_by,
        )
        self.wake()
        return new.job_id

    def wake(self) -> None:
        """Tell whoever does the vendor I/O that there is new work: the runner, or the workers."""
        if not self.queued:
            self.runner.wake()
            return
        if self.settings.database_url is None:
            return
        from addin.engine.store.postgres import libpq_url
        from addin.engine.workers import make_app, wake_workers  # team mode only

        with self._queue_lock:  # requests of several threads may be the first at once
            if self._queue_app is None:
                url = libpq_url(self.settings.database_url.get_secret_value())
                app = make_app(url, sync=True)
                app.open()
                self._queue_app = app
        wake_workers(self._queue_app)

    def open_job(self, fingerprint: str, *, started_by: str | None = None) -> str | None:
        """Return the unfinished job of this vendor with the input ``fingerprint``, if any.

        ``started_by``: only among that user's jobs (None: anyone's, the local backend).
        """
        job = self.store.open_job(fingerprint, self.task_realm, started_by=started_by)
        return job.job_id if job is not None else None

    def progress(self, job_id: str) -> JobProgress | None:
        """Return a job's progress, or None for an unknown job."""
        # Tasks first: the transaction that ends a job's last task also ends the job, so a
        # job read after its tasks is never "running" with none of them left to move.
        tasks = self.store.job_tasks(job_id)
        job = self.store.job(job_id)
        if job is None:
            return None
        counts, waiting = self._counts(job, tasks)
        open_tasks = [t for t in tasks if t.state in OPEN_TASK_STATES]
        mine = self.connection.key_fp
        other_keys: dict[str, int] = {}
        for t in open_tasks:
            if t.key_fp and t.key_fp != mine and t.state != TaskState.QUEUED:
                other_keys[t.key_fp] = other_keys.get(t.key_fp, 0) + 1
        movable = [
            t
            for t in open_tasks
            if t.state in ACTIVE_TASK_STATES
            and (t.state == TaskState.QUEUED or t.key_fp in (None, mine))
        ]
        uncertain = [t for t in open_tasks if t.state == TaskState.UNCERTAIN]
        if self.settings.uncertain_creates == "resend":
            # The runner sends these again by itself (bounded), so they still move.
            limit = self.settings.max_uncertain_resends
            movable += [t for t in uncertain if t.uncertain_creates <= limit]
        billing = self.store.job_billing(job_id)
        distinct = sum(counts.values())
        task_errors = [f"task {t.task_id or t.ref}: {t.error}" for t in open_tasks if t.error]
        return JobProgress(
            job_id=job.job_id,
            state=job.state.value,
            kind=job.kind,
            label=job.label,
            created_at=job.created_at,
            distinct=distinct,
            answered=distinct - counts.get("pending", 0),
            counts=counts,
            tasks=len(tasks),
            tasks_open=len(open_tasks),
            processing=sum(t.n_numbers for t in movable),
            processed=sum(t.processed for t in movable),
            billed=billing.billed,
            possibly_billed=billing.possibly,
            eta_seconds=_eta(movable),
            error=job.error or (task_errors[0] if task_errors else None),
            plan=job.plan,
            uncertain_creates=sum(t.uncertain_creates for t in tasks if t.job_id == job_id),
            uncertain_numbers=waiting,
            uncertain_tasks=len(uncertain),
            paused_tasks=sum(1 for t in open_tasks if t.state == TaskState.PAUSED),
            other_key_tasks=other_keys,
            task_errors=task_errors,
            # Not before the runner's first pass: it tries paused tasks again at once.
            settled=(job.state != JobState.RUNNING or not movable)
            and (self.runner.first_pass.is_set() or not self.runner.alive),
            task_states=_count_states(t for t in tasks if t.job_id == job_id),
            started_by=job.started_by,
        )

    def _counts(self, job: JobRecord, tasks: list[TaskRecord]) -> tuple[dict[str, int], int]:
        """Return a job's counts by answer and its numbers waiting on uncertain uploads.

        Both are counted over every number of the job (a scan of a million rows takes a
        second), and both change only in the transactions that move one of the job's
        tasks, or the job itself, to another state: a task's end answers its numbers,
        a cancel the job's. So they are counted again only when the job or one of the
        tasks it waits on (read before them) shows another state or update time than
        at the last count; a change that lands between the reads is seen, at the
        latest, by the next reading.
        """
        signature = (
            job.state,
            job.updated_at,
            tuple((t.ref, t.state, t.updated_at) for t in tasks),
        )
        with self._counts_lock:
            known = self._counted.get(job.job_id)
        if known is not None and known[0] == signature:
            return dict(known[1]), known[2]
        counts = self.store.job_counts(job.job_id)
        waiting = 0
        if any(t.state == TaskState.UNCERTAIN for t in tasks):
            waiting = self.store.job_waiting_numbers(job.job_id, TaskState.UNCERTAIN)
        with self._counts_lock:
            self._counted[job.job_id] = (signature, counts, waiting)
            while len(self._counted) > COUNTED_JOBS:
                del self._counted[next(iter(self._counted))]
        return dict(counts), waiting

    def answers(self, job_id: str) -> dict[str, Answer]:
        """Return a job's known answers by E.164."""
        return self.store.job_answers(job_id)

    def answers_page(
        self, job_id: str, *, after: str | None, limit: int
    ) -> list[tuple[str, Answer]]:
        """Return up to ``limit`` known answers of a job in number order, after ``after``."""
        return self.store.job_answers_page(job_id, after=after, limit=limit)

    def cancel(self, job_id: str) -> CancelReport:
        """Stop what we control for a job and say what was already billed."""
        stopped = self.store.cancel_job(job_id)
        self.wake()
        return CancelReport(job_id, len(stopped), self.store.job_billing(job_id).billed)

    def resend(self, job_id: str) -> int:
        """The user's word: upload the job's uncertain tasks again; return how many."""
        refs = self.store.approve_resend(job_id)
        self.wake()
        return len(refs)

    def abandon(self, job_id: str) -> int:
        """The user's word: give up the job's uncertain and paused tasks; return how many."""
        refs = self.store.abandon_waiting(job_id, ABANDONED_REASON)
        self.wake()
        return len(refs)

    def wait(
        self, job_id: str, *, timeout: float | None = None, interval: float = 0.2
    ) -> JobProgress:
        """Block until a job finishes or settles (or ``timeout``) and return its last progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = self.progress(job_id)
            if progress is None:
                raise UnknownJobError(job_id)
            if (
                progress.finished
                or progress.settled
                or self.runner.fatal
                or (deadline is not None and time.monotonic() >= deadline)
            ):
                return progress
            time.sleep(interval)

    # -- interruptions and failures ----------------------------------------------

    @property
    def fatal(self) -> str | None:
        """Return why the runner stopped by itself (the store could not be written), if it did."""
        return self.runner.fatal

    @property
    def uploading(self) -> int | None:
        """Return the local ref of the task whose upload is in flight, if any."""
        return self.runner.uploading

    def stop_runner(self, timeout: float) -> bool:
        """Stop the runner after the request in flight is answered; return True if it stopped."""
        self.runner.request_stop()
        return self.runner.join(timeout)

    def mark_upload_interrupted(self, reason: str) -> None:
        """Record the upload in flight as uncertain: the process stops before its answer."""
        ref = self.runner.uploading
        if ref is None:
            return
        with suppress(StaleStateError):  # its answer arrived meanwhile and was recorded
            self.store.record_uncertain(ref, reason)

    # -- lifecycle -------------------------------------------------------------

    def close(self, *, wait: bool = True) -> None:
        """Stop the runner and the connection; unfinished tasks stay stored.

        ``wait=False`` (a second Ctrl-C) does not wait for a request in flight.
        """
        if wait:
            self.runner.stop()
        else:
            self.runner.request_stop()
        self.connection.close()
        if self._queue_app is not None:
            self._queue_app.close()
            self._queue_app = None
        self.owner.release(keep_file=not self.runner.leases_released)
        self.store.close()

    def retire(self, demo_reason: str) -> None:
        """Close a Checker being replaced (a new API key); a demo one ends its emulator's tasks."""
        self.runner.stop()
        if self.demo:
            self.store.abandon_realm(self.task_realm, demo_reason)
        self.close()

    # -- the front door for callers (web, CLI) --

    def progress_of(self, job_id: str) -> JobProgress:
        """Return a job's progress, or raise ``UnknownJobError``."""
        progress = self.progress(job_id)
        if progress is None:
            raise UnknownJobError(job_id)
        return progress

    def history(self, limit: int = 50, *, started_by: str | None = None) -> list[JobProgress]:
        """Return the progress of the ``limit`` most recent jobs, newest first.

        With ``started_by``, only that user's jobs (the team server's own history).
        """
        records = self.store.jobs(limit=limit, started_by=started_by)
        jobs = (self.progress(record.job_id) for record in records)
        return [progress for progress in jobs if progress is not None]

    def cached_answers(self, numbers: Iterable[str]) -> dict[str, tuple[str, float]]:
        """Return fresh cached (answer, checked_at) of ``numbers`` from the vendor in use."""
        return self.store.cached(
            self.cache_realm, list(numbers), max_age=self.max_age, product=self.connection.product
        )

    def stale_answers(self, numbers: Iterable[str]) -> dict[str, tuple[str, float]]:
        """Return cached (answer, checked_at) of ``numbers`` older than the cache lifetime.

        Shown marked as stale instead of being bought again, unless the user asks
        for a refresh; a number with a fresh answer is not among them.
        """
        wanted = list(numbers)
        fresh = self.cached_answers(wanted)
        # Every age: the checked_at of any answer is after the epoch.
        every = self.store.cached(self.cache_realm, wanted, max_age=self.store.clock())
        return {number: found for number, found in every.items() if number not in fresh}

    def failed_uploads(self, numbers: Iterable[str]) -> dict[str, str]:
        """Return {number: the vendor's message} for numbers whose latest task failed.

        The vendor billed that task (``failed`` is a state after creation), so a
        recalculation must not buy them again by itself; a fresh answer found since
        wins.
        """
        wanted = list(numbers)
        failed = self.store.failed_numbers(self.task_realm, wanted)
        fresh = self.cached_answers(list(failed))
        return {number: message for number, message in failed.items() if number not in fresh}

    def cached_answers_for_job(
        self, job_id: str, numbers: Iterable[str]
    ) -> dict[str, tuple[str, float]]:
        """Return fresh cached answers of ``numbers``, or {} when the job ran on another vendor.

        A job made before the API key changed belongs to another realm: its
        cells must not get answers of the vendor in use now.
        """
        job = self.store.job(job_id)
        if job is None or cache_realm_of(job.realm) != self.cache_realm:
            return {}
        return self.cached_answers(numbers)

    def number_statuses(self, job_id: str, numbers: Iterable[str]) -> dict[str, NumberStatus]:
        """Return where each of ``numbers`` stands in job ``job_id`` (the job is read once)."""
        progress = self.progress(job_id)
        answers = self.answers(job_id) if progress is not None else {}
        statuses: dict[str, NumberStatus] = {}
        for number in numbers:
            answer = answers.get(number)
            if answer is None:
                statuses[number] = NumberStatus("pending", progress=progress)
            elif answer.answer == "error":
                statuses[number] = NumberStatus("error", reason=answer.reason, progress=progress)
            else:
                statuses[number] = NumberStatus("answered", answer=answer.answer, progress=progress)
        return statuses

    @property
    def has_vendor_balance(self) -> bool:
        """Return True when the vendor's API offers a balance route (v1)."""
        return self.connection.client.has_balance

    def vendor_balance(self) -> float | None:
        """Return the account's balance, or None when it cannot be known.

        On v1 this asks ``/v1/balance``, which the vendor does not say is free: the
        request is recorded as possibly billed, so call it only when a person looks
        (the CLI's estimate, the task pane's account panel). Otherwise the
        connection's free balance (the demo emulator's ledger), if any.
        """
        client = self.connection.client
        if not client.has_balance:
            return self.connection.balance()

        def record(outcome: RequestOutcome) -> None:
            """Store the balance request's outcome with the realm's other requests."""
            self.store.record_request(
                outcome, realm=self.task_realm, key_fp=self.connection.key_fp, ref=None
            )

        try:
            return client.get_balance(observe=record)
        except UpstreamError as exc:
            self.balance_error = str(exc)
            return None

    def account(self, *, live_balance: bool = False) -> Account:
        """Return what is known of the vendor account.

        ``live_balance`` (a person looks at the account panel) asks v1's balance route,
        a possibly billed request; without it nothing is sent to the vendor.
        """
        balance = self.vendor_balance() if live_balance else self.connection.balance()
        billing = self.store.realm_billing(self.task_realm)
        if balance is not None and float(balance).is_integer():
            balance = int(balance)
        return Account(
            mode="demo" if self.demo else "live",
            api_url=None if self.demo else self.settings.vendor_url,
            balance=balance,
            billed=billing.billed,
            possibly_billed=billing.possibly,
            last_error=self.fatal or self.store.latest_error(self.task_realm),
            dialect=self.settings.dialect,
            balance_live=live_balance and self.has_vendor_balance,
        )

    def clear_cache(self) -> int:
        """Forget every cached answer of the vendor in use; return how many."""
        return self.store.clear_cache(self.cache_realm)

    def use_settings(self, settings: Settings) -> None:
        """Plan with new run-time settings (TTL, chunking); the vendor connection stays."""
        self.settings = settings


def _required(item: Field[Any]) -> bool:
    """Return True for a dataclass field without a default."""
    return item.default is MISSING and item.default_factory is MISSING


def _count_states(tasks: Iterable[TaskRecord]) -> dict[str, int]:
    """Return how many tasks are in each state."""
    found: dict[str, int] = {}
    for task in tasks:
        found[task.state.value] = found.get(task.state.value, 0) + 1
    return found


def _eta(open_tasks: list[TaskRecord]) -> float | None:
    """Estimate seconds left from the open tasks' observed throughput."""
    now = time.time()
    done = 0
    elapsed = 0.0
    remaining = 0
    for task in open_tasks:
        remaining += task.n_numbers - task.processed
        if task.created_at and task.processed:
            done += task.processed
            elapsed = max(elapsed, now - task.created_at)
    if remaining == 0:
        return 0.0
    if done == 0 or elapsed <= 0:
        return None
    return remaining / (done / elapsed)


@dataclass(frozen=True)
class Account:
    """What is known of the vendor account, for the task pane."""

    mode: str  # "demo" or "live"
    api_url: str | None
    #: The emulator's balance in demo mode; v1's from ``/v1/balance`` when a person looks.
    balance: float | None
    billed: int
    last_error: str | None
    #: Requests that may have been billed (no usable answer came back, or ``/v1/balance``).
    possibly_billed: int = 0
    #: The vendor API's dialect: ``legacy`` or ``v1``.
    dialect: str = "legacy"
    #: True when ``balance`` was just read from the vendor (v1).
    balance_live: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "mode": self.mode,
            "api_url": self.api_url,
            "balance": self.balance,
            "billed": self.billed,
            "possibly_billed": self.possibly_billed,
            "last_error": self.last_error,
            "dialect": self.dialect,
            "balance_live": self.balance_live,
        }


@dataclass(frozen=True)
class NumberStatus:
    """Where one number stands in one job: answered, failed, or still pending."""

    state: str  # "answered", "error" or "pending"
    answer: str | None = None
    reason: str | None = None
    #: The job's progress (None when the job is unknown).
    progress: JobProgress | None = None

    @property
    def still_checking(self) -> bool:
        """Return True while the number has no answer and its job still runs."""
        return self.state == "pending" and self.progress is not None and not self.progress.finished
