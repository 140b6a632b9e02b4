"""The check engine's front door, shared by the CLI and the add-in backend.

``Checker`` wires the settings to a vendor client (the real API, or the bundled
emulator started in-process when no API key is set), the SQLite store and the
background runner, and offers plan / submit / progress / answers / cancel.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from addin.config import Settings
from addin.engine.errors import UnknownJobError
from addin.engine.planning import Plan, plan_numbers
from addin.engine.runner import Runner, RunnerSettings
from addin.engine.store import Answer, Store
from addin.upstream.client import RetryPolicy, VendorClient

DEMO_REALM = "demo"
DEMO_KEY = "demo"
#: The emulator is free, so the demo polls it often; real tasks use the settings.
DEMO_POLL_MIN_INTERVAL = 0.25
DEMO_POLL_MAX_INTERVAL = 2.0


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
    uncertain_creates: int = 0

    @property
    def finished(self) -> bool:
        """Return True once the job will change no more."""
        return self.state in ("done", "cancelled", "failed")

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
            "eta_seconds": self.eta_seconds,
            "error": self.error,
            "plan": self.plan,
            "finished": self.finished,
            "uncertain_creates": self.uncertain_creates,
        }

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


class Checker:
    """Plan, run and read checks; owns the store, the vendor client and the runner."""

    def __init__(
        self,
        settings: Settings,
        *,
        emulator_config: Mapping[str, Any] | None = None,
        start_runner: bool = True,
    ) -> None:
        """Open the store, connect (or start the demo emulator) and start the runner."""
        self.settings = settings
        self.demo = settings.demo
        self._emulator: Any = None
        self.store = Store(settings.db_path)
        if self.demo:
            from mock_server import create_app as create_emulator
            from mock_server.server import BackgroundServer

            config = {"MOCK_PROFILE": "demo", **(emulator_config or {})}
            self._emulator = BackgroundServer(create_emulator(config)).start()
            base_url, api_key = self._emulator.url, DEMO_KEY
            self.cache_realm = DEMO_REALM
            # Each emulator instance is its own realm: tasks of a gone one can't be polled.
            self.task_realm = f"{DEMO_REALM}:{uuid.uuid4().hex[:12]}"
            self._abandon_dead_demo_tasks()
            poll_min = min(settings.poll_min_interval, DEMO_POLL_MIN_INTERVAL)
            poll_max = min(settings.poll_max_interval, DEMO_POLL_MAX_INTERVAL)
        else:
            assert settings.api_key is not None
            base_url, api_key = settings.api_url, settings.api_key.get_secret_value()
            self.cache_realm = self.task_realm = settings.api_url.rstrip("/")
            poll_min, poll_max = settings.poll_min_interval, settings.poll_max_interval
        self.base_url = base_url
        self.client = VendorClient(
            base_url=base_url,
            api_key=api_key,
            timeout=settings.request_timeout,
            upload_timeout=settings.upload_timeout,
            # Retries sleep in the runner's thread: keep each wait short; longer
            # Retry-After answers are raised and rescheduled by the runner instead.
            retry=RetryPolicy(max_attempts=settings.max_retries + 1, max_delay=10.0),
            max_result_bytes=settings.max_result_bytes,
        )
        self.runner = Runner(
            store=self.store,
            client=self.client,
            realm=self.task_realm,
            cache_realm=self.cache_realm,
            settings=RunnerSettings(
                poll_min_interval=poll_min,
                poll_max_interval=max(poll_min, poll_max),
                max_wait=settings.max_wait,
                max_concurrent_tasks=settings.max_concurrent_tasks,
                source="demo" if self.demo else "upstream",
                ambiguous_retry_delay=settings.ambiguous_retry_delay,
            ),
        )
        if start_runner:
            self.runner.start()

    def _abandon_dead_demo_tasks(self) -> None:
        """Fail open tasks of earlier demo emulators whose process is gone."""
        rows = self.store.read(
            "SELECT DISTINCT realm FROM tasks WHERE realm LIKE 'demo:%'"
            " AND state IN ('queued', 'creating', 'running')"
        )
        for (realm,) in rows:
            # Claiming succeeds only where the owning process is gone.
            if self.store.claim_open_tasks(realm, f"abandon-{uuid.uuid4().hex}", 0):
                self.store.abandon_open_tasks(
                    realm, "the demo emulator that ran this task has stopped; check again"
                )

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
    ) -> Plan:
        """Plan distinct E.164 numbers; nothing is billed."""
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
        )

    def submit(self, plan: Plan, *, kind: str = "check", label: str = "") -> str:
        """Store the job and its queued tasks, wake the runner, return the job id."""
        job_id = self.store.create_job(
            realm=self.task_realm,
            kind=kind,
            label=label,
            refresh=plan.refresh,
            plan=plan.summary(),
            hits=plan.hits,
            in_flight=plan.in_flight,
            chunks=plan.chunks,
            hit_source="demo" if self.demo else "cache",
            owner=self.runner.owner,
        )
        self.runner.wake()
        return job_id

    def progress(self, job_id: str) -> JobProgress | None:
        """Return a job's progress, or None for an unknown job."""
        job = self.store.job(job_id)
        if job is None:
            return None
        counts = self.store.job_counts(job_id)
        tasks = self.store.job_tasks(job_id)
        open_tasks = [t for t in tasks if t.state in ("queued", "creating", "running")]
        processed = sum(min(t.success + t.failure, t.n_numbers) for t in open_tasks)
        processing = sum(t.n_numbers for t in open_tasks)
        distinct = sum(counts.values())
        return JobProgress(
            job_id=job.job_id,
            state=job.state,
            kind=job.kind,
            label=job.label,
            created_at=job.created_at,
            distinct=distinct,
            answered=distinct - counts.get("pending", 0),
            counts=counts,
            tasks=len(tasks),
            tasks_open=len(open_tasks),
            processing=processing,
            processed=processed,
            billed=self.store.job_billed(job_id),
            eta_seconds=_eta(open_tasks),
            error=job.error or (self.runner.last_error if open_tasks else None),
            plan=job.plan,
            uncertain_creates=self.store.job_uncertain_creates(job_id),
        )

    def answers(self, job_id: str) -> dict[str, Answer]:
        """Return a job's known answers by E.164."""
        return self.store.job_answers(job_id)

    def cancel(self, job_id: str) -> CancelReport:
        """Stop what we control for a job and say what was already billed."""
        stopped = self.store.cancel_job(job_id)
        self.runner.wake()
        return CancelReport(job_id, len(stopped), self.store.job_billed(job_id))

    def wait(
        self, job_id: str, *, timeout: float | None = None, interval: float = 0.2
    ) -> JobProgress:
        """Block until a job finishes (or ``timeout``) and return its last progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = self.progress(job_id)
            if progress is None:
                raise UnknownJobError(job_id)
            if progress.finished or (deadline is not None and time.monotonic() >= deadline):
                return progress
            time.sleep(interval)

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        """Stop the runner and the demo emulator; unfinished tasks stay stored."""
        self.runner.stop()
        self.client.close()
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        self.store.close()

    def __enter__(self) -> Checker:
        """Return self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close."""
        self.close()

    # -- the front door for callers (web, CLI) --

    def progress_of(self, job_id: str) -> JobProgress:
        """Return a job's progress, or raise ``UnknownJobError``."""
        progress = self.progress(job_id)
        if progress is None:
            raise UnknownJobError(job_id)
        return progress

    def history(self, limit: int = 50) -> list[JobProgress]:
        """Return the progress of the ``limit`` most recent jobs, newest first."""
        jobs = (self.progress(record.job_id) for record in self.store.jobs(limit=limit))
        return [progress for progress in jobs if progress is not None]

    def cached_answers(self, numbers: Iterable[str]) -> dict[str, tuple[str, float]]:
        """Return fresh cached (answer, checked_at) of ``numbers`` from the vendor in use."""
        return self.store.cached(self.cache_realm, list(numbers), max_age=self.max_age)

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

    def account(self) -> Account:
        """Return what is known of the vendor account; no billed request is sent for it."""
        billed = self.store.billed_total(self.task_realm)
        last_error = self.runner.last_error
        balance: int | None = None
        if self.demo:
            balance, billed, last_error = self._demo_balance(billed, last_error)
        return Account(
            mode="demo" if self.demo else "live",
            api_url=None if self.demo else self.settings.api_url,
            balance=balance,
            billed=billed,
            last_error=last_error,
        )

    def _demo_balance(
        self, billed: int, last_error: str | None
    ) -> tuple[int | None, int, str | None]:
        """Return (balance, billed, last error) as the demo emulator's ledger tells them."""
        import requests

        try:
            ledger = requests.get(f"{self.base_url}/_mock/ledger", timeout=5.0).json()
            demo_account = ledger["keys"][DEMO_KEY]
            return int(demo_account["balance"]), int(demo_account["billed_total"]), last_error
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            return None, billed, f"the demo emulator's ledger is unreadable: {type(exc).__name__}"

    def clear_cache(self) -> int:
        """Forget every cached answer of the vendor in use; return how many."""
        return self.store.clear_cache(self.cache_realm)

    def use_settings(self, settings: Settings) -> None:
        """Plan with new run-time settings (TTL, chunking); the vendor connection stays."""
        self.settings = settings

    def retire(self, reason: str) -> None:
        """Stop for good: demo tasks still open end with ``reason`` (they die with the emulator)."""
        self.runner.stop()
        if self.demo:
            self.store.abandon_open_tasks(self.task_realm, reason)
        self.close()


def _eta(open_tasks: list[Any]) -> float | None:
    """Estimate seconds left from the open tasks' observed throughput."""
    now = time.time()
    done = 0
    elapsed = 0.0
    remaining = 0
    for task in open_tasks:
        processed = min(task.success + task.failure, task.n_numbers)
        remaining += task.n_numbers - processed
        if task.created_at and processed:
            done += processed
            elapsed = max(elapsed, now - task.created_at)
    if remaining == 0:
        return 0.0
    if done == 0 or elapsed <= 0:
        return None
    return remaining / (done / elapsed)


def cache_realm_of(task_realm: str) -> str:
    """Return the cache realm of a task realm: every demo emulator shares the demo cache."""
    return DEMO_REALM if task_realm.startswith(f"{DEMO_REALM}:") else task_realm


@dataclass(frozen=True)
class Account:
    """What is known of the vendor account, for the task pane."""

    mode: str  # "demo" or "live"
    api_url: str | None
    #: The emulator's balance in demo mode; the vendor's is not known without a billed request.
    balance: int | None
    billed: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "mode": self.mode,
            "api_url": self.api_url,
            "balance": self.balance,
            "billed": self.billed,
            "last_error": self.last_error,
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
