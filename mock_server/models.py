"""The emulated vendor: tasks as a state machine on a clock, outcomes, billing, faults.

No Flask here. Every public method of ``Emulator`` takes one lock, so any number
of request threads may call it at once. Task state is derived from the clock
whenever a task is read: ``Task.advance`` fires the transitions in
``TRANSITIONS`` whose time has come, so no background thread is needed and
``EmulatorClock.advance`` moves every task forward.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import math
import random
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from mock_server.clock import LATEST_NS, NANOS_PER_SECOND, EmulatorClock, format_rfc3339_ns
from mock_server.exceptions import (
    BadRequest,
    InjectedServerError,
    InsufficientBalance,
    InvalidApiKey,
    InvalidConfig,
    InvalidUserId,
    MissingApiKey,
    ResultExpired,
    ResultNotFound,
    TaskNotFound,
    TooManyActiveTasks,
)
from mock_server.pace import Progress, TaskTiming, draw_variable_timing
from mock_server.settings import (
    EVERY_CREATE,
    ConfigError,
    CreateFault,
    EmulatorSettings,
    Shares,
    updated_settings,
)
from mock_server.upload import Upload

#: A ``user_id`` longer than this is refused; the vendor documents no limit.
MAX_USER_ID_LENGTH = 256

#: Retry-After for a 429 when no active task has a known export time (a stuck task).
DEFAULT_RETRY_AFTER = 60


class TaskState(StrEnum):
    """The vendor's task statuses, in lifecycle order."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    EXPORTED = "exported"
    #: v1 documents it; a share of tasks (``task_failure_rate``) ends here, with a message.
    FAILED = "failed"


#: The two APIs the emulator speaks at once: the legacy "simple" routes and v1.
LEGACY = "legacy"
V1 = "v1"

#: The message of a task that ends ``failed``.
FAILED_MESSAGE = "the check could not be completed for this file (emulated failure)"

#: The header of the result file in each dialect.
RESULT_HEADERS = {LEGACY: ("Number", "facebook"), V1: ("number", "activated")}


@dataclass(frozen=True)
class Transition:
    """One allowed move of the task state machine and what triggers it."""

    source: TaskState
    target: TaskState
    trigger: str


#: The only moves a task makes, tried in this order on every read.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(TaskState.PENDING, TaskState.PROCESSING, "the queue delay has passed"),
    Transition(TaskState.PROCESSING, TaskState.COMPLETED, "every number is processed"),
    Transition(TaskState.COMPLETED, TaskState.EXPORTED, "the export delay has passed"),
    Transition(TaskState.PROCESSING, TaskState.FAILED, "a failing task has processed its numbers"),
)


class Outcome(StrEnum):
    """What the check says about one number; ``fail`` numbers count in ``failure``."""

    YES = "yes"
    NO = "no"
    BAN = "ban"
    FAIL = "fail"


class OutcomeOracle:
    """Deterministic answers per (seed, number): fixtures first, then failures, then shares."""

    def __init__(
        self, *, seed: int, shares: Shares, failure_rate: float, fixtures: dict[str, str]
    ) -> None:
        """Keep what decides every answer."""
        self._seed = seed
        self._shares = shares
        self._failure_rate = failure_rate
        self._fixtures = fixtures

    def _uniform(self, purpose: str, number: str) -> float:
        """Return a stable pseudo-random number in [0, 1) for this seed, purpose and number."""
        digest = hashlib.blake2b(
            f"{self._seed}|{purpose}|{number}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64

    def outcome(self, number: str) -> Outcome:
        """Return the answer for ``number``."""
        pinned = self._fixtures.get(number)
        if pinned is not None:
            return Outcome(pinned)
        if self._uniform("failure", number) < self._failure_rate:
            return Outcome.FAIL
        draw = self._uniform("answer", number)
        shares = self._shares
        if draw < shares.yes:
            return Outcome.YES
        if draw < shares.yes + shares.no or shares.ban == 0:
            # The second test keeps a zero share at zero despite float rounding.
            return Outcome.NO if shares.no > 0 else Outcome.YES
        return Outcome.BAN


class TaskIdGenerator:
    """Task ids shaped like an xid: 4 bytes of seconds, 5 random, 3 counter, base32hex.

    The random part comes from the OS so ids stay unique across emulator restarts;
    the leading seconds and the counter keep ids in creation order.
    """

    def __init__(self) -> None:
        """Draw the random middle and the counter's start."""
        self._middle = secrets.token_bytes(5)
        self._counter = secrets.randbelow(1 << 23)

    def next_id(self, epoch_seconds: int) -> str:
        """Return the next 20-character id of ``0-9a-v``."""
        self._counter = (self._counter + 1) & 0xFFFFFF
        # Seconds wrap at 32 bits as an xid's do: a clock run past 2106 by a large
        # time scale still makes ids (they stop sorting), never a 500.
        seconds = epoch_seconds & 0xFFFFFFFF
        raw = seconds.to_bytes(4, "big") + self._middle + self._counter.to_bytes(3, "big")
        return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


@dataclass
class ResultLink:
    """One unguessable, expiring link to a task's result file."""

    token: str
    task_id: str
    result_format: str
    expires_ns: int

    @property
    def filename(self) -> str:
        """Return the file name that ends the link's path."""
        return f"results.{self.result_format}"


@dataclass
class Task:
    """One uploaded file moving through ``TRANSITIONS`` on the emulator clock."""

    task_id: str
    key: str
    user_id: str
    uploaded: tuple[str, ...]
    numbers: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    failed_positions: tuple[int, ...]
    created_ns: int
    processing_ns: int
    completed_ns: int | None  # None: stuck, never completes
    exported_ns: int | None
    rate: float | None  # numbers per second; None: all at once
    stuck: bool
    progress: Progress | None = None  # a variable pace (wins over ``rate``)
    create_fault: CreateFault = CreateFault.NONE  # how the create was answered
    dialect: str = LEGACY  # the API it was created through
    fails: bool = False  # ends failed instead of completed (task_failure_rate)
    state: TaskState = TaskState.PENDING
    changed_ns: int = 0
    link: ResultLink | None = None
    download_failed_once: bool = False
    download_expired_once: bool = False

    @property
    def total(self) -> int:
        """Return the number of distinct numbers in the task."""
        return len(self.numbers)

    @property
    def message(self) -> str | None:
        """Return what the vendor says of the task: why it failed, else nothing."""
        return FAILED_MESSAGE if self.state is TaskState.FAILED else None

    def due_ns(self, target: TaskState) -> int | None:
        """Return when the task enters ``target``, or None if it never does."""
        return {
            TaskState.PENDING: self.created_ns,
            TaskState.PROCESSING: self.processing_ns,
            TaskState.COMPLETED: None if self.fails else self.completed_ns,
            TaskState.EXPORTED: None if self.fails else self.exported_ns,
            TaskState.FAILED: self.completed_ns if self.fails else None,
        }[target]

    def advance(self, now_ns: int) -> None:
        """Fire, in order, every declared transition whose time has come."""
        for transition in TRANSITIONS:
            if self.state is not transition.source:
                continue
            due = self.due_ns(transition.target)
            if due is None:
                continue  # this task never makes that move; another from here may apply
            if now_ns < due:
                break
            self.state = transition.target
            self.changed_ns = due

    def processed(self, now_ns: int) -> int:
        """Return how many numbers are processed at ``now_ns`` (after ``advance``)."""
        if self.state is TaskState.PENDING:
            return 0
        if self.state is not TaskState.PROCESSING:
            return self.total
        ceiling = self.total // 2 if self.stuck else self.total
        elapsed_ns = now_ns - self.processing_ns
        if self.progress is not None:
            done = math.floor(self.progress.done_at(elapsed_ns / NANOS_PER_SECOND))
        elif self.rate is None:
            return ceiling
        else:
            done = math.floor(elapsed_ns * self.rate / NANOS_PER_SECOND)
        return max(0, min(done, ceiling))

    def updated_ns(self, now_ns: int) -> int:
        """Return when the status or a counter last changed."""
        if self.state is not TaskState.PROCESSING:
            return self.changed_ns
        done = self.processed(now_ns)
        if self.progress is not None:
            return self.processing_ns + math.ceil(self.progress.time_of(done) * NANOS_PER_SECOND)
        if self.rate is None:
            return self.changed_ns
        return self.processing_ns + math.ceil(done * NANOS_PER_SECOND / self.rate)

    def counters(self, now_ns: int) -> tuple[int, int, int]:
        """Return (total, success, failure) as the vendor reports them at ``now_ns``."""
        if self.state is TaskState.PENDING:
            return 0, 0, 0
        if self.state is TaskState.FAILED:
            return self.total, 0, self.total
        done = self.processed(now_ns)
        failure = bisect.bisect_left(self.failed_positions, done)
        return self.total, done - failure, failure


@dataclass(frozen=True)
class TaskSnapshot:
    """What the status route shows for a task at one moment."""

    created_at: str
    updated_at: str
    task_id: str
    user_id: str
    status: TaskState
    total: int
    success: int
    failure: int
    link: ResultLink | None
    message: str | None = None


@dataclass(frozen=True)
class Creation:
    """A created (and billed) task and the fault, if any, its create is to be answered with."""

    snapshot: TaskSnapshot
    fault: CreateFault


@dataclass(frozen=True)
class ResultFile:
    """The rows of a result file to render: one per distinct number that did not fail."""

    result_format: str
    rows: tuple[tuple[str, str], ...]
    header: tuple[str, str] = RESULT_HEADERS[LEGACY]


@dataclass(frozen=True)
class FaultDraw:
    """The faults to inject into one vendor API request."""

    delay_seconds: float
    drop_connection: bool
    server_error: bool
    retry_after: int | None


@dataclass(frozen=True)
class LedgerEntry:
    """One billed request."""

    route: str
    task_id: str
    time_ns: int


@dataclass
class Account:
    """The balance and billing counters of one API key."""

    balance: int
    billed_total: int = 0
    tasks_created: int = 0
    status_polls: int = 0
    downloads: int = 0
    numbers_uploaded: int = 0
    #: Create requests whose file was read whole, counted before the vendor works on it
    #: (``GET /_mock/received``; not in the ledger, whose shape stays as documented).
    uploads_received: int = 0
    #: Reads of ``/v1/balance`` (free here: the vendor does not say whether it bills them).
    balance_reads: int = 0
    entries: list[LedgerEntry] = field(default_factory=list)

    def bill(self, route: str, task_id: str, now_ns: int) -> None:
        """Charge one unit for a 200 of the create or status route."""
        self.balance -= 1
        self.billed_total += 1
        self.entries.append(LedgerEntry(route=route, task_id=task_id, time_ns=now_ns))


def default_token() -> str:
    """Return an unguessable result link token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


class Emulator:
    """The emulated vendor service: tasks, accounts, result links and fault draws."""

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        clock: EmulatorClock | None = None,
        token_factory: Callable[[], str] = default_token,
    ) -> None:
        """Start empty with ``settings``; the clock and link tokens are injectable."""
        self._initial_settings = settings
        self._clock = clock or EmulatorClock(time_scale=settings.time_scale)
        self._token_factory = token_factory
        self._lock = threading.Lock()
        self._ids = TaskIdGenerator()
        self._settings = settings
        self._tasks: dict[str, Task] = {}
        self._links: dict[str, ResultLink] = {}
        self._accounts: dict[str, Account] = {}
        self._fault_rng = random.Random()
        self._pace_rng = random.Random()
        self._restart()

    def _restart(self) -> None:
        """Return to the configured start state (caller holds the lock or is __init__)."""
        self._settings = self._initial_settings
        self._tasks.clear()
        self._links.clear()
        self._accounts = {
            key: Account(balance=balance) for key, balance in self._settings.api_keys.items()
        }
        self._fault_rng = random.Random(f"faults|{self._settings.seed}")
        # Its own generator, so the faults drawn do not change the paces drawn (and back).
        self._pace_rng = random.Random(f"pace|{self._settings.seed}")
        self._clock.reset()

    @property
    def settings(self) -> EmulatorSettings:
        """Return the settings in force now."""
        return self._settings

    # -- vendor API -------------------------------------------------------------

    def _account(self, key: str | None) -> Account:
        """Return the key's account or raise 401/402."""
        if not key:
            raise MissingApiKey("the X-API-Key header is missing")
        account = self._accounts.get(key)
        if account is None:
            raise InvalidApiKey("the X-API-Key is not valid")
        if account.balance <= 0:
            raise InsufficientBalance("the balance of this API key is spent")
        return account

    def admit_upload(self, key: str | None) -> None:
        """Raise 401, 402 or 429 before an upload is read; ``create_task`` checks again."""
        with self._lock:
            self._account(key)
            assert key is not None  # _account raised otherwise
            self._refuse_over_active_limit(key, self._clock.now_ns())

    def note_upload_received(self, key: str | None) -> None:
        """Count a create request whose file was read whole (an admin counter, not billed)."""
        with self._lock:
            account = self._accounts.get(key or "")
            if account is not None:
                account.uploads_received += 1

    def received(self) -> dict[str, Any]:
        """Return, per key, how many create requests' files the vendor has read whole."""
        with self._lock:
            return {
                "keys": {
                    key: {"uploads_received": account.uploads_received}
                    for key, account in self._accounts.items()
                }
            }

    def take_refusing_create_fault(self) -> CreateFault:
        """Return the create fault that refuses this create request (nothing created), if due.

        Such faults come before the key check, like ``error_rate``, so every create
        request counts down ``create_fault_count``, whatever its key or file.
        """
        with self._lock:
            if self._settings.create_fault.creates_task:
                return CreateFault.NONE
            return self._take_create_fault()

    def _take_create_fault(self) -> CreateFault:
        """Return the configured create fault and count it down (caller holds the lock).

        When the count runs out the fault switches itself off (``none``, count -1), so
        ``GET /_mock/config`` shows what the next create will meet.
        """
        settings = self._settings
        fault = settings.create_fault
        if fault is CreateFault.NONE or settings.create_fault_count == EVERY_CREATE:
            return fault
        left = settings.create_fault_count - 1
        if left == 0:
            self._settings = replace(
                settings, create_fault=CreateFault.NONE, create_fault_count=EVERY_CREATE
            )
        else:
            self._settings = replace(settings, create_fault_count=left)
        return fault

    def balance(self, key: str | None) -> int:
        """Return the key's balance for ``/v1/balance`` (401 for a bad key; never 402)."""
        with self._lock:
            if not key:
                raise MissingApiKey("the X-API-Key header is missing")
            account = self._accounts.get(key)
            if account is None:
                raise InvalidApiKey("the X-API-Key is not valid")
            account.balance_reads += 1
            return account.balance

    def create_task(
        self, key: str | None, user_id: str, upload: Upload, *, dialect: str = LEGACY
    ) -> Creation:
        """Create a task from validated numbers, bill it, and return it as pending.

        A create fault that follows the creation (504, drop, hold, HTML 200) is
        counted down here, under the same lock as the billing, so concurrent creates
        never share one planned fault; the view answers as ``Creation.fault`` says.
        """
        check_user_id(user_id)
        with self._lock:
            account = self._account(key)
            assert key is not None  # _account raised otherwise
            now = self._clock.now_ns()
            self._refuse_over_active_limit(key, now)
            settings = self._settings
            oracle = OutcomeOracle(
                seed=settings.seed,
                shares=settings.shares,
                failure_rate=settings.failure_rate,
                fixtures=dict(settings.fixtures),
            )
            numbers = upload.distinct
            outcomes = tuple(oracle.outcome(number) for number in numbers)
            timing = self._timing(len(numbers))
            processing_ns = now + round(timing.queue_delay * NANOS_PER_SECOND)
            completed_ns: int | None = processing_ns
            if timing.progress is not None:
                completed_ns = processing_ns + math.ceil(
                    timing.progress.duration * NANOS_PER_SECOND
                )
            elif timing.rate is not None:
                completed_ns = processing_ns + math.ceil(
                    len(numbers) * NANOS_PER_SECOND / timing.rate
                )
            exported_ns: int | None = None
            if settings.stuck:
                completed_ns = None
            else:
                assert completed_ns is not None
                exported_ns = completed_ns + round(timing.export_delay * NANOS_PER_SECOND)
            fault = CreateFault.NONE
            if settings.create_fault.creates_task:
                fault = self._take_create_fault()
            # Drawn only when set, so other runs' fault sequences stay as they were.
            fails = (
                settings.task_failure_rate > 0
                and self._fault_rng.random() < settings.task_failure_rate
            )
            task = Task(
                task_id=self._ids.next_id(now // NANOS_PER_SECOND),
                key=key,
                user_id=user_id,
                uploaded=upload.numbers,
                numbers=numbers,
                outcomes=outcomes,
                failed_positions=tuple(
                    i for i, outcome in enumerate(outcomes) if outcome is Outcome.FAIL
                ),
                created_ns=now,
                processing_ns=processing_ns,
                completed_ns=completed_ns,
                exported_ns=exported_ns,
                rate=timing.rate,
                stuck=settings.stuck,
                progress=timing.progress,
                create_fault=fault,
                dialect=dialect,
                fails=fails,
                changed_ns=now,
            )
            self._tasks[task.task_id] = task
            account.bill("create", task.task_id, now)
            account.tasks_created += 1
            account.numbers_uploaded += len(upload.numbers)
            # The vendor answers a creation with the pending task, whatever the profile.
            snapshot = TaskSnapshot(
                created_at=format_rfc3339_ns(now),
                updated_at=format_rfc3339_ns(now),
                task_id=task.task_id,
                user_id=user_id,
                status=TaskState.PENDING,
                total=0,
                success=0,
                failure=0,
                link=None,
            )
            return Creation(snapshot=snapshot, fault=fault)

    def _timing(self, total: int) -> TaskTiming:
        """Return a new task's timing: the settings', or drawn on the variable pace."""
        settings = self._settings
        if settings.pace == "variable":
            return draw_variable_timing(self._pace_rng, total)
        return TaskTiming(
            queue_delay=settings.queue_delay, export_delay=settings.export_delay, rate=settings.rate
        )

    def _refuse_over_active_limit(self, key: str, now_ns: int) -> None:
        """Raise 429 when the key already has the allowed number of unexported tasks."""
        limit = self._settings.max_active_tasks
        if limit is None:
            return
        active = [
            task
            for task in self._tasks_of(key, now_ns)
            if task.state not in (TaskState.EXPORTED, TaskState.FAILED)
        ]
        if len(active) < limit:
            return
        waits = [t.exported_ns - now_ns for t in active if t.exported_ns is not None]
        retry_after = DEFAULT_RETRY_AFTER
        if waits:
            real = self._clock.to_real_seconds(min(waits) / NANOS_PER_SECOND)
            retry_after = max(1, math.ceil(real))
        raise TooManyActiveTasks(
            f"this API key already has {len(active)} unfinished task(s), the limit is {limit}",
            headers={"Retry-After": str(retry_after)},
        )

    def _tasks_of(self, key: str, now_ns: int) -> Iterator[Task]:
        """Yield the key's tasks, each advanced to ``now_ns``."""
        for task in self._tasks.values():
            if task.key == key:
                task.advance(now_ns)
                yield task

    def task_status(self, key: str | None, task_id: str, user_id: str | None) -> TaskSnapshot:
        """Return the task as of now and bill the poll; 404 for another key's task."""
        with self._lock:
            account = self._account(key)
            task = self._tasks.get(task_id)
            if task is None or task.key != key:
                raise TaskNotFound(f"no task {task_id!r} for this API key")
            if user_id is not None and user_id != task.user_id:
                raise TaskNotFound(f"no task {task_id!r} for user_id {user_id!r}")
            now = self._clock.now_ns()
            task.advance(now)
            link = None
            if task.state is TaskState.EXPORTED:
                link = self._current_link(task, now)
            total, success, failure = task.counters(now)
            account.bill("status", task.task_id, now)
            account.status_polls += 1
            return TaskSnapshot(
                created_at=format_rfc3339_ns(task.created_ns),
                updated_at=format_rfc3339_ns(task.updated_ns(now)),
                task_id=task.task_id,
                user_id=task.user_id,
                status=task.state,
                total=total,
                success=success,
                failure=failure,
                link=link,
                message=task.message,
            )

    def _current_link(self, task: Task, now_ns: int) -> ResultLink:
        """Return the task's unexpired result link, issuing a fresh one when needed."""
        if task.link is None or task.link.expires_ns <= now_ns:
            link = ResultLink(
                token=self._token_factory(),
                task_id=task.task_id,
                result_format=self._settings.result_format,
                expires_ns=now_ns + round(self._settings.result_ttl * NANOS_PER_SECOND),
            )
            self._links[link.token] = link
            task.link = link
        return task.link

    def open_result(self, token: str, filename: str) -> ResultFile:
        """Return the rows behind a result link, applying download faults; free of charge."""
        with self._lock:
            link = self._links.get(token)
            if link is None or filename != link.filename:
                raise ResultNotFound("no result file behind this link")
            now = self._clock.now_ns()
            if now >= link.expires_ns:
                raise ResultExpired(
                    "this result link has expired; ask the task again for a fresh result_url"
                )
            task = self._tasks[link.task_id]
            if self._settings.download_fail_once and not task.download_failed_once:
                task.download_failed_once = True
                raise InjectedServerError("injected fault: the first download of a result fails")
            if self._settings.download_expire_once and not task.download_expired_once:
                task.download_expired_once = True
                link.expires_ns = now
                raise ResultExpired(
                    "this result link has expired; ask the task again for a fresh result_url"
                )
            self._accounts[task.key].downloads += 1
            rows = tuple(
                (number, str(outcome))
                for number, outcome in zip(task.numbers, task.outcomes, strict=True)
                if outcome is not Outcome.FAIL
            )
            return ResultFile(
                result_format=link.result_format, rows=rows, header=RESULT_HEADERS[task.dialect]
            )

    def draw_api_faults(self) -> FaultDraw:
        """Draw, from the seeded fault generator, what to inject into one API request."""
        with self._lock:
            settings = self._settings
            rng = self._fault_rng
            delay = settings.latency_ms / 1000
            if settings.latency_jitter_ms > 0:
                delay += rng.random() * settings.latency_jitter_ms / 1000
            drop = settings.drop_rate > 0 and rng.random() < settings.drop_rate
            error = not drop and settings.error_rate > 0 and rng.random() < settings.error_rate
            return FaultDraw(
                delay_seconds=delay,
                drop_connection=drop,
                server_error=error,
                retry_after=settings.retry_after,
            )

    # -- admin ------------------------------------------------------------------

    def now_ns(self) -> int:
        """Return the emulator clock's time."""
        with self._lock:
            return self._clock.now_ns()

    def advance_clock(self, seconds: float) -> int:
        """Move the clock forward and return the new time; 400 past ``clock.LATEST_NS``."""
        with self._lock:
            room = (LATEST_NS - self._clock.now_ns()) / NANOS_PER_SECOND
            if seconds > room:
                raise BadRequest(
                    f"the clock cannot pass {format_rfc3339_ns(LATEST_NS)} (task ids hold"
                    f" 32-bit seconds): at most {max(room, 0):.0f} more seconds;"
                    " POST /_mock/reset starts it again from now"
                )
            self._clock.advance(seconds)
            return self._clock.now_ns()

    def reset(self) -> None:
        """Clear tasks, links and the ledger; restore balances, settings and the clock."""
        with self._lock:
            self._restart()

    def update_settings(self, changes: Any) -> EmulatorSettings:
        """Apply run-time setting changes (a JSON object); raise 400 on a bad one."""
        with self._lock:
            try:
                self._settings = updated_settings(self._settings, changes)
            except ConfigError as exc:
                raise InvalidConfig(str(exc)) from None
            return self._settings

    def ledger(self) -> dict[str, Any]:
        """Return every key's balance, billing counters and billed requests."""
        with self._lock:
            return {
                "keys": {
                    key: {
                        "billed_total": account.billed_total,
                        "tasks_created": account.tasks_created,
                        "status_polls": account.status_polls,
                        "downloads": account.downloads,
                        "numbers_uploaded": account.numbers_uploaded,
                        "balance": account.balance,
                        "balance_reads": account.balance_reads,
                        "entries": [
                            {
                                "route": entry.route,
                                "task_id": entry.task_id,
                                "time": format_rfc3339_ns(entry.time_ns),
                            }
                            for entry in account.entries
                        ],
                    }
                    for key, account in self._accounts.items()
                }
            }

    def list_tasks(self, *, include_numbers: bool = False) -> list[dict[str, Any]]:
        """Return every task in creation order, optionally with its uploaded numbers."""
        with self._lock:
            now = self._clock.now_ns()
            listing: list[dict[str, Any]] = []
            for task in self._tasks.values():
                task.advance(now)
                item: dict[str, Any] = {
                    "task_id": task.task_id,
                    "key": task.key,
                    "user_id": task.user_id,
                    "status": str(task.state),
                    "total": task.total,
                    "numbers": len(task.uploaded),
                    "created_at": format_rfc3339_ns(task.created_ns),
                    "create_fault": str(task.create_fault),
                    "dialect": task.dialect,
                }
                if include_numbers:
                    item["uploaded_numbers"] = list(task.uploaded)
                listing.append(item)
            return listing


def check_user_id(user_id: str) -> None:
    """Raise 400 for a ``user_id`` that is too long or holds control characters."""
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise InvalidUserId(f"user_id is longer than {MAX_USER_ID_LENGTH} characters")
    if not user_id.isprintable():
        raise InvalidUserId("user_id holds control characters")
