"""The steps of one vendor task: create, poll, download-and-store.

Each step does one thing for one task, records it (the store's guarded moves,
the request ledger, the create journal) and returns a :class:`Next`: which step
comes next for that task and how many seconds from now, or nothing (the task
ended, was paused for good, or is no longer this process's). The steps are the
same code under both schedulers: the in-process runner on SQLite
(``addin.engine.runner``) and the queue workers of team mode
(``addin.engine.workers``). What a step remembers of a task between steps (the
answers the poll schedule learns the pace from, failure counts, when waiting
began) is a :class:`TaskMemo`, kept in memory by the runner and carried in the
queued job's arguments by the workers.

The money rules they keep:

- **Every create attempt ends in one outcome** (``addin.upstream.accounting``):
  *not created* goes back to ``queued`` and is retried with backoff; *created*
  stores the task id (the create journal first, so a store that cannot be
  written loses nothing); *uncertain* parks the task in ``uncertain``, where it
  waits for the user's word (``fbcheck jobs resend`` / ``abandon``, or the task
  pane). Only with ``uncertain_creates="resend"`` does the scheduler send it
  again by itself, after ``ambiguous_retry_delay`` and at most
  ``max_uncertain_resends`` times; each such upload is counted as a possible
  duplicate.
- **A task found in ``creating``** (its uploader died during the upload) becomes
  ``running`` when the journal holds its id, else ``uncertain``: never re-sent.
- **A paid task is never given up by us.** 401 and 402 while polling, a download
  that keeps failing and a task older than ``max_wait`` (by default from its size
  and observed pace, ``polling.wait_limit``; time nobody watched, such as a sleeping
  machine, does not count) pause the task (state ``paused``, the reason kept); it
  is tried again later and by the next run. Only the vendor's 404 for the task,
  asked with the key that created it, marks it lost.
- **Every request attempt is recorded** with its billing (``Store.record_request``).
- **A store that cannot be written stops the scheduler** (:class:`StoreFailed`
  says why and which task ids the journal keeps) instead of retrying for ever.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any

from addin.engine.chunking import balanced_chunks
from addin.engine.journal import CreateJournal
from addin.engine.ownership import HEARTBEAT_SECONDS, LEASE_SECONDS
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
    PayloadTooLargeError,
    UpstreamError,
)
from addin.upstream.models import TaskStatus
from addin.upstream.polling import PaceHistory, PollSchedule, wait_limit

log = logging.getLogger(__name__)

MAX_UNSENT_ATTEMPTS = 8
#: The most tasks one task the vendor refused as too large is split into by itself.
MAX_SPLIT = 10
MAX_DOWNLOAD_ATTEMPTS = 3
#: A poll this much later than planned (or twice the longest poll interval) means nobody
#: watched the task meanwhile: a machine that slept, a process stopped in a debugger.
UNWATCHED_GAP = 600.0
MISSING_REASON = "missing from the vendor's result file (the vendor could not process it)"
CRASHED_UPLOAD = (
    "the process that uploaded this task stopped during the upload; the vendor may have"
    " created (and billed) it"
)
_EPOCH = datetime.fromtimestamp(0, UTC)


def failed_reason(status: TaskStatus) -> str:
    """Return the reason a failed task's numbers carry: the vendor's own message first.

    A failed task was billed, so no scheduler creates it again; only a new
    check (the user's word) uploads its numbers again.
    """
    said = f": {status.message}" if status.message else " (it gave no message)"
    return (
        f"the vendor reports task {status.task_id} as {status.status}{said}; it was billed and"
        " is not sent again by itself: check again to upload these numbers again"
    )


@dataclass(frozen=True)
class RunnerSettings:
    """Timing, limits and identity of the steps and their scheduler."""

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
    #: Steps of different tasks the in-process runner runs at once (polls and downloads;
    #: one upload at a time).
    parallel_steps: int = 4
    #: The fewest numbers of one task (a task the vendor refuses as too large is split
    #: into tasks of at least this many, never fewer).
    min_task_numbers: int = 1


class Step(StrEnum):
    """The steps of one vendor task."""

    CREATE = "create"
    POLL = "poll"
    DOWNLOAD = "download"


#: Words of a refusal that says a task holds too many numbers (or its file is too large).
_TOO_LARGE = re.compile(
    r"too (many|large|big|long)|more than|at most|maximum|\bmax\b|exceed|limit", re.IGNORECASE
)
#: Words of a refusal that says a task holds too few: splitting would not help.
_TOO_FEW = re.compile(r"too few|at least|fewer than|less than|minimum|\bmin\b", re.IGNORECASE)
#: Words of a refusal about the account, not the task's size (a quota, a rate, the balance).
_ACCOUNT = re.compile(
    r"\brate\b|quota|daily|per (day|hour|minute|second)|balance|credit|too many requests",
    re.IGNORECASE,
)
#: Words of a refusal that names the range of counts a task may hold.
_RANGE = re.compile(r"between|\brange\b", re.IGNORECASE)
#: A size or a time in the vendor's message (``25 MiB``, ``4,096 bytes``, ``30 s``): no count.
_MEASURE = re.compile(
    r"\d[\d,_]*(?:\.\d+)?\s*(?:bytes?\b|[kmgt]i?b\b|%|seconds?\b|s\b|ms\b)", re.IGNORECASE
)
#: A count in the vendor's message, with or without thousands separators.
_COUNT = re.compile(r"\d{1,3}(?:[,_ ]\d{3})+(?!\d)|\d+")


def smaller_size(exc: BadRequestError, count: int, minimum: int) -> int | None:
    """Return the most numbers per task to try after ``exc`` refused ``count``, or None.

    The vendor documents a 400 for an invalid "row count" and a 413 for a file too
    large, but neither its limit per task nor its wording (upstream-api.md, "Not
    documented"). A 413, or a 400 whose message speaks of too many numbers, a maximum,
    a limit or a range ("between"), is a size refusal: nothing was created, and the
    same numbers go again in smaller tasks. The size is the largest count the message
    names between ``minimum`` and ``count`` (``more than 1000 numbers`` gives 1000);
    without one, half of ``count``, unless the message speaks of too few. None: not a
    size refusal, or nothing smaller than ``count`` and at least ``minimum``.
    """
    message = exc.detail
    if not isinstance(exc, PayloadTooLargeError) and _ACCOUNT.search(message):
        return None  # smaller tasks would be refused the same
    if isinstance(exc, PayloadTooLargeError):
        named: list[int] = []  # its sizes are bytes, not numbers per task: halve
    else:
        counts = _MEASURE.sub(" ", message)
        named = [int(re.sub(r"[,_ ]", "", text)) for text in _COUNT.findall(counts)]
    if any(n > count for n in named):
        return None  # the task is within a range or under a limit it names: not its size
    fitting = [n for n in named if minimum <= n < count]
    too_large = isinstance(exc, PayloadTooLargeError) or bool(_TOO_LARGE.search(message))
    if fitting and (too_large or _RANGE.search(message)):
        return max(fitting)
    if too_large and (isinstance(exc, PayloadTooLargeError) or not _TOO_FEW.search(message)):
        half = count // 2
        return half if half >= minimum else None
    return None


@dataclass(frozen=True)
class Next:
    """What to do next for one task: ``step`` in ``delay`` seconds, or nothing (``step`` None)."""

    step: Step | None
    delay: float = 0.0
    #: The result file to fetch (``Step.DOWNLOAD`` only).
    result_url: str | None = None


#: Nothing more to do for the task here: it ended, or another process holds it now.
DONE = Next(None)


@dataclass
class TaskMemo:
    """What the steps remember about one task between two steps.

    The runner keeps it in memory; a queue worker passes it to the next job as
    JSON (:meth:`to_json`), so the next step may run on another machine. Times
    are on the scheduler's ``clock`` (monotonic in-process, epoch seconds on the
    queue, where machines share no monotonic clock).
    """

    #: Every answer the schedule observed: [clock time, status, total, success, failure].
    answers: list[tuple[float, str, int, int, int]] | None = None
    download_failures: int = 0
    transient_failures: int = 0
    #: Wall time waiting began (or resumed): ``max_wait`` counts from here, so a task paused
    #: for its age is polled again when a rerun resumes it.
    waiting_since: float | None = None
    #: Wall time the next poll was planned for; a poll far later than that means nobody
    #: watched meanwhile (the machine slept), and that time does not count as waiting.
    planned_wall: float | None = None
    #: What earlier tasks of the realm showed of the vendor's pace when this task's
    #: schedule was first built (kept, so a schedule rebuilt in another step, another
    #: process, folds this task's answers into the same start, never twice).
    pace_start: PaceHistory | None = None
    pace_read: bool = False
    _schedule: PollSchedule | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Return the memo as JSON values (a queued job's argument)."""
        return {
            "answers": None if self.answers is None else [list(a) for a in self.answers],
            "download_failures": self.download_failures,
            "transient_failures": self.transient_failures,
            "waiting_since": self.waiting_since,
            "planned_wall": self.planned_wall,
            "pace_start": None
            if self.pace_start is None
            else [self.pace_start.top_rate, self.pace_start.tasks],
            "pace_read": self.pace_read,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TaskMemo:
        """Return the memo of :meth:`to_json`; None or a malformed memo start afresh."""
        if not isinstance(data, dict):
            return cls()
        try:
            raw = data.get("answers")
            answers = (
                None
                if raw is None
                else [(float(a), str(s), int(t), int(o), int(f)) for a, s, t, o, f in raw]
            )
            return cls(
                answers=answers,
                download_failures=int(data.get("download_failures", 0)),
                transient_failures=int(data.get("transient_failures", 0)),
                waiting_since=_float_or_none(data.get("waiting_since")),
                planned_wall=_float_or_none(data.get("planned_wall")),
                pace_start=_pace_or_none(data.get("pace_start")),
                pace_read=bool(data.get("pace_read", False)),
            )
        except (TypeError, ValueError):
            log.warning("a malformed task memo was dropped; the task is polled afresh")
            return cls()

    def schedule(
        self, settings: RunnerSettings, expected: int, pace: PaceLink | None = None
    ) -> PollSchedule:
        """Return the task's poll schedule, rebuilt from the answers it observed.

        ``pace`` reads what earlier tasks of the realm showed (once per task) and
        stores what this task's answers add to it.
        """
        if self._schedule is None:
            if pace is not None and not self.pace_read:
                self.pace_start = pace.read()
                self.pace_read = True
            replay = PollSchedule(
                expected_numbers=expected,
                min_interval=settings.poll_min_interval,
                max_interval=settings.poll_max_interval,
                target_delay=settings.poll_target_delay,
                history=self.pace_start,
                on_learned=None if pace is None else pace.learned,
            )
            for at, state, total, success, failure in self.answers or []:
                replay.observe(at, _answer(state, total, success, failure))
            self._schedule = replay
            if self.answers is None:
                self.answers = []
        return self._schedule

    def observe(
        self,
        settings: RunnerSettings,
        expected: int,
        now: float,
        s: TaskStatus,
        pace: PaceLink | None = None,
    ) -> None:
        """Feed one vendor answer to the schedule (and keep it for the next step)."""
        schedule = self.schedule(settings, expected, pace)
        schedule.observe(now, s)
        state = "failed" if s.is_failed else s.status
        assert self.answers is not None
        self.answers.append((now, state, s.total, s.success, s.failure))

    def restart(self) -> None:
        """Forget the answers observed: the task was just created."""
        self.answers = []
        self._schedule = None
        self.pace_start = None
        self.pace_read = False


@dataclass(frozen=True)
class PaceLink:
    """Where a task's schedule reads and stores the vendor's pace seen by earlier tasks."""

    read: Callable[[], PaceHistory | None]
    learned: Callable[[PaceHistory], None]


def _pace_or_none(value: object) -> PaceHistory | None:
    """Return a memo's ``pace_start`` (``[top_rate, tasks]``) as a history, or None."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"not a pace history: {value!r}")
    top_rate, tasks = value[0], value[1]
    if not isinstance(top_rate, int | float) or not isinstance(tasks, int):
        raise ValueError(f"not a pace history: {value!r}")
    return PaceHistory(float(top_rate), tasks)


def _float_or_none(value: object) -> float | None:
    """Return ``value`` as a float, None staying None."""
    return None if value is None else float(value)  # type: ignore[arg-type]


def _answer(state: str, total: int, success: int, failure: int) -> TaskStatus:
    """Return a vendor answer with only what the poll schedule reads."""
    return TaskStatus("", None, state, total, success, failure, _EPOCH, _EPOCH)


class StoreFailed(Exception):
    """The store could not be written: the scheduler stops (the message says why)."""


class UnrecordedTask(StoreFailed):
    """The vendor created a task the store could not record: the message names its id."""


@dataclass
class _Pending:
    """Request outcomes collected during one vendor call, stored after it."""

    ref: int
    outcomes: list[RequestOutcome] = field(default_factory=list)


class TaskSteps:
    """The create, poll and download steps of the tasks of one realm, for one owner."""

    def __init__(
        self,
        *,
        store: Store,
        client: VendorClient,
        settings: RunnerSettings,
        owner: str,
        journal: CreateJournal,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Prepare the steps; ``clock`` times the memo, ``wall`` the waits that count."""
        self.store = store
        self.client = client
        self.settings = settings
        self.owner = owner
        self.journal = journal
        self.clock = clock
        self.wall = wall
        realm = settings.realm
        #: Earlier tasks' pace, read when a task's schedule is built and kept up to date.
        self.pace = PaceLink(
            read=partial(store.pace_history, realm),
            learned=lambda learned: self.write(partial(store.record_pace_history, realm, learned)),
        )
        #: The tasks whose upload is in flight.
        self._uploads: set[int] = set()
        self._uploads_lock = threading.Lock()
        #: The most numbers per task the vendor was seen to take, once it refused more
        #: (None: no refusal seen); later tasks above it are split before their upload.
        self.size_cap: int | None = None
        #: True once a refusal that named no size made this process halve a task.
        self._halved = False
        #: Called after a split queued new tasks (the in-process runner's wake-up).
        self.on_new_tasks: Callable[[], None] | None = None

    @property
    def uploading(self) -> int | None:
        """Return the local ref of a task whose upload is in flight, if any."""
        with self._uploads_lock:
            return min(self._uploads) if self._uploads else None

    # -- taking a task over ------------------------------------------------------

    def replay_journal(self) -> None:
        """Store task ids the journal kept because an earlier store write did not happen."""
        with self._uploads_lock:
            in_flight = set(self._uploads)
        for entry in self.journal.entries():
            if entry.ref in in_flight:
                continue  # its upload, in another thread of this process, stores it itself
            task = self.store.task(entry.ref)
            if task is None or task.realm != self.settings.realm:
                continue
            if (
                task.lease_owner not in (None, self.owner)
                and (task.lease_expires or 0.0) >= self.wall()
            ):
                continue  # another live process's upload (a shared data folder) stores it itself
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

    def adopt(self, record: TaskRecord) -> TaskRecord | None:
        """Take over a task this owner just leased; return its record, or None to leave it.

        A task in ``creating`` lost its uploader inside the upload (ours are never
        in flight when this is called): it becomes ``running`` if the journal holds
        its id, else ``uncertain`` (never re-sent). A paused task is tried again.
        """
        ref = record.ref
        if record.state == TaskState.CREATING:
            entry = next((e for e in self.journal.entries() if e.ref == ref), None)
            if entry is None:
                with suppress(StaleStateError):  # settled meanwhile by another process
                    self.write(partial(self.store.record_uncertain, ref, CRASHED_UPLOAD))
                    # The dead upload may have created (and billed) a task: count it as
                    # possibly billed, as an upload whose answer never came back is.
                    outcome = RequestOutcome("create", Billing.POSSIBLY, None, CRASHED_UPLOAD)
                    self.write(
                        partial(
                            self.store.record_request,
                            outcome,
                            realm=record.realm,
                            key_fp=record.key_fp,
                            ref=ref,
                        )
                    )
                return None
            self.replay_journal()
            record = self.store.task(ref) or record
        if record.state == TaskState.PAUSED:
            # Paused by an earlier run (balance, key, max wait): try it again at once.
            with suppress(StaleStateError):
                self.write(partial(self.store.resume_task, ref, self.owner))
            record = self.store.task(ref) or record
        return record

    def resend_uncertain(self) -> None:
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

    # -- the steps ---------------------------------------------------------------------

    def run(self, step: Step, record: TaskRecord, memo: TaskMemo, url: str | None) -> Next:
        """Run ``step`` for the task of ``record``."""
        if step == Step.CREATE:
            return self.create(record, memo)
        if step == Step.DOWNLOAD and url is not None:
            return self.download(record, memo, url)
        return self.poll(record, memo)

    def create(self, record: TaskRecord, memo: TaskMemo) -> Next:
        """Upload one queued task (a billed request) and say what comes next."""
        ref = record.ref
        numbers = self.store.task_numbers(ref)
        cap = self.size_cap
        if cap is not None and len(numbers) > cap:
            split = self._split(
                ref,
                TaskState.QUEUED,
                numbers,
                cap,
                f"not sent: the vendor refused tasks of more than {cap:,} numbers before",
            )
            if split is not None:
                return split
        try:
            self.store.start_upload(ref, self.owner, self.settings.key_fp)
        except StaleStateError:
            return DONE  # cancelled or taken over meanwhile
        pending = _Pending(ref)
        with self._uploads_lock:
            self._uploads.add(ref)
        try:
            status = self.client.create_task(
                numbers, user_id=f"fbcheck-{ref}", observe=pending.outcomes.append
            )
        except AmbiguousCreateError as exc:
            # The request records first: progress never shows an uncertain upload
            # without the possibly billed request behind it.
            self._store_outcomes(pending)
            self._settle_uncertain(ref, f"the upload's outcome is unknown: {exc}")
            return DONE
        except (AuthError, BalanceError, BadRequestError) as exc:
            self._store_outcomes(pending)
            if isinstance(exc, BadRequestError):
                split = self._split_refused(ref, numbers, exc)
                if split is not None:
                    return split
            return self._end(
                ref, TaskState.CREATING, TaskState.REFUSED, f"the vendor refused it: {exc}"
            )
        except UpstreamError as exc:
            memo.transient_failures += 1
            if memo.transient_failures >= MAX_UNSENT_ATTEMPTS:
                reason = f"not created after {MAX_UNSENT_ATTEMPTS} attempts: {exc}"
                return self._end(ref, TaskState.CREATING, TaskState.REFUSED, reason)
            self.write(partial(self.store.record_not_created, ref, self.owner, str(exc)))
            return self._later(memo, Step.CREATE, self._backoff(memo.transient_failures, exc))
        except Exception as exc:  # anything unforeseen after the body may have left
            self._store_outcomes(pending)
            self._settle_uncertain(ref, f"the upload ended unexpectedly: {exc!r}")
            raise
        else:
            # The task id first (journal, then store): on a full disk the request record
            # below fails too, and the id must be kept (and named) before that.
            try:
                self._store_created(ref, status)
            except UnrecordedTask:
                with suppress(StoreFailed):  # fails too, and must not hide the task id
                    self._store_outcomes(pending)
                raise
        finally:
            with self._uploads_lock:
                self._uploads.discard(ref)
            self._store_outcomes(pending)
        memo.transient_failures = 0
        if status.is_failed:  # failed at once: billed, and never created again by itself
            return self._end(ref, TaskState.RUNNING, TaskState.FAILED, failed_reason(status))
        now = self.clock()
        memo.restart()
        memo.observe(self.settings, record.n_numbers, now, status, self.pace)
        delay = memo.schedule(self.settings, record.n_numbers, self.pace).next_delay(now)
        return self._later(memo, Step.POLL, delay)

    def poll(self, record: TaskRecord, memo: TaskMemo) -> Next:
        """Read one running task (a billed request) and act on its status.

        A paused task whose retry is due is resumed first.
        """
        ref = record.ref
        if record.state == TaskState.PAUSED:
            self.write(partial(self.store.resume_task, ref, self.owner))
            memo.waiting_since = self.wall()
            record = self.store.task(ref) or record
        if record.state != TaskState.RUNNING:
            return DONE
        assert record.task_id is not None
        # A resumed task is polled now, then the schedule adapts.
        schedule = memo.schedule(self.settings, record.n_numbers, self.pace)
        since = max(record.created_at or 0.0, memo.waiting_since or 0.0)
        overdue = self.wall() - (memo.planned_wall or self.wall())
        if since and overdue > self._unwatched_gap():
            # Nobody watched for that long (a sleeping machine): it does not count as waiting.
            since += overdue
            memo.waiting_since = since
        limit = self.settings.max_wait or wait_limit(record.n_numbers, schedule.observed_rate())
        if since and self.wall() - since > limit:
            return self._pause(
                ref,
                memo,
                f"task {record.task_id} is not finished after {limit:.0f} s;"
                " it stays open: run again to keep waiting",
            )
        pending = _Pending(ref)
        try:
            status = self.client.get_task(record.task_id, observe=pending.outcomes.append)
        except NotFoundError as exc:
            self._store_outcomes(pending)
            reason = f"the vendor no longer knows task {record.task_id} (404 with its own key)"
            return self._end(ref, TaskState.RUNNING, TaskState.LOST, f"{reason}: {exc}")
        except (AuthError, BalanceError) as exc:
            self._store_outcomes(pending)
            return self._pause(
                ref,
                memo,
                f"paused: the vendor refused to report task {record.task_id} ({exc}); top up the"
                " balance or set the key back and run again: nothing is uploaded again",
            )
        except UpstreamError as exc:
            self._store_outcomes(pending)
            memo.transient_failures += 1
            self.write(partial(self.store.note_error, ref, str(exc)))
            return self._later(memo, Step.POLL, self._backoff(memo.transient_failures, exc))
        self._store_outcomes(pending)
        memo.transient_failures = 0
        self.write(
            lambda: self.store.record_poll(
                ref, self.owner, status.status, status.total, status.success, status.failure
            )
        )
        now = self.clock()
        if status.is_failed:
            return self._end(ref, TaskState.RUNNING, TaskState.FAILED, failed_reason(status))
        if status.is_exported and status.result_url:
            return Next(Step.DOWNLOAD, 0.0, status.result_url)
        memo.observe(self.settings, record.n_numbers, now, status, self.pace)
        return self._later(memo, Step.POLL, schedule.next_delay(now))

    def download(self, record: TaskRecord, memo: TaskMemo, url: str) -> Next:
        """Fetch and store the result file; on failure ask the task again for a fresh link."""
        try:
            results = self.client.download_result(url)
        except UpstreamError as exc:
            memo.download_failures += 1
            if memo.download_failures >= MAX_DOWNLOAD_ATTEMPTS:
                memo.download_failures = 0
                reason = f"the result of task {record.task_id} could not be read: {exc}"
                return self._pause(record.ref, memo, reason)
            self.write(partial(self.store.note_error, record.ref, str(exc)))
            # The link may have expired: the next (billed) poll returns a fresh one.
            return self._later(memo, Step.POLL, self._backoff(memo.download_failures))
        answers = {number: (row.answer, row.reason) for number, row in results.items()}
        self.write(
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
        return DONE

    # -- recording -----------------------------------------------------------------------

    def _settle_uncertain(self, ref: int, reason: str) -> None:
        """Park an upload with an unknown outcome until the user decides."""
        # Already marked when an interrupted CLI did it from its own thread.
        with suppress(StaleStateError):
            self.write(partial(self.store.record_uncertain, ref, reason))

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
                self.write(lambda: save(TaskState.CREATING))
            except StaleStateError:
                self.write(lambda: save(TaskState.UNCERTAIN))  # marked meanwhile by a Ctrl-C
        except StoreFailed as exc:
            kept = f"kept in {self.journal.path}" if slot is not None else "NOT kept anywhere"
            raise UnrecordedTask(
                f"the vendor created task {status.task_id} (local task {ref}) but the store could"
                f" not record it ({exc}); the id is {kept}: the next run resumes it without"
                " paying again"
            ) from exc
        self.journal.clear(slot)

    def _later(self, memo: TaskMemo, step: Step, delay: float) -> Next:
        """Plan ``step`` ``delay`` seconds from now (the planned wall time kept in the memo)."""
        memo.planned_wall = self.wall() + delay
        return Next(step, delay)

    def _pause(self, ref: int, memo: TaskMemo, reason: str) -> Next:
        """Keep a paid task open but stop polling it until a later retry (or the next run)."""
        self.write(lambda: self.store.pause_task(ref, self.owner, reason))
        return self._later(memo, Step.POLL, self.settings.poll_max_interval)

    def _split_refused(self, ref: int, numbers: list[str], exc: BadRequestError) -> Next | None:
        """End or split task ``ref`` that ``exc`` refused as too large; None: not a size refusal.

        A refusal that named no size halves a task once per process: halved once already
        and still too large, the vendor (naming no size, or refusing every size) is not
        asked again and again.
        """
        smaller = smaller_size(exc, len(numbers), self.settings.min_task_numbers)
        if smaller is None:
            return None
        halving = smaller == len(numbers) // 2
        if halving and self._halved:
            return self._end(
                ref,
                TaskState.CREATING,
                TaskState.REFUSED,
                f"the vendor refused it as too large ({exc}), also after halving a task:"
                f" set FBCHECK_MAX_NUMBERS_PER_TASK below {len(numbers):,} and check again",
            )
        self._halved = self._halved or halving
        self.size_cap = min(smaller, self.size_cap or smaller)
        why = f"the vendor refused it as too large ({exc})"
        return self._split(ref, TaskState.CREATING, numbers, smaller, why)

    def _split(
        self, ref: int, source: TaskState, numbers: list[str], maximum: int, why: str
    ) -> Next | None:
        """Queue task ``ref``'s numbers as tasks of at most ``maximum``; None if they cannot be.

        Nothing was created at the vendor for ``ref`` (a 4xx refused it, or it was not
        sent), so its numbers go into new tasks rather than being answered ``error``.
        """
        minimum = self.settings.min_task_numbers
        try:
            groups = balanced_chunks(sorted(numbers), minimum=minimum, maximum=maximum)
        except ValueError:
            return None
        if len(groups) < 2:
            return None
        if len(groups) > MAX_SPLIT:
            if source == TaskState.QUEUED:
                return None  # sent as planned: the vendor's own answer then says why
            # More tasks cost more polls than the estimate the user saw: their word first.
            reason = (
                f"{why}; it takes at most {maximum:,} numbers per task: set"
                f" FBCHECK_MAX_NUMBERS_PER_TASK={maximum} and check again (the estimate"
                f" then shows the cost of {len(groups)} tasks)"
            )
            return self._end(ref, source, TaskState.REFUSED, reason)
        low, high = min(map(len, groups)), max(map(len, groups))
        sizes = f"{low:,}" if low == high else f"{low:,} to {high:,}"
        reason = f"{why}: split into {len(groups)} tasks of {sizes} numbers"
        try:
            self.write(
                partial(
                    self.store.split_task,
                    ref,
                    source,
                    owner=self.owner,
                    groups=groups,
                    reason=reason,
                    lease_seconds=self.settings.lease_seconds,
                )
            )
        except StaleStateError:
            return DONE  # cancelled or taken over meanwhile
        log.info("task %s: %s", ref, reason)
        if self.on_new_tasks is not None:
            self.on_new_tasks()
        return DONE

    def _end(self, ref: int, source: TaskState, target: TaskState, reason: str) -> Next:
        """End a task without answers (its numbers get ``error`` with ``reason``)."""
        self.write(
            lambda: self.store.end_task(
                ref, source, target, reason, owner=self.owner, answer_source=self.settings.source
            )
        )
        return DONE

    def _store_outcomes(self, pending: _Pending) -> None:
        """Store the request outcomes collected during one call (once)."""
        outcomes, pending.outcomes[:] = list(pending.outcomes), []
        for outcome in outcomes:
            self.write(
                partial(
                    self.store.record_request,
                    outcome,
                    realm=self.settings.realm,
                    key_fp=self.settings.key_fp,
                    ref=pending.ref,
                )
            )

    @staticmethod
    def write(action: Callable[[], object]) -> None:
        """Run a store write; a store that cannot be written stops the scheduler."""
        try:
            action()
        except StoreError as exc:
            raise StoreFailed(str(exc)) from exc

    def _unwatched_gap(self) -> float:
        """Return how much later than planned a poll may come before the gap is not waiting."""
        return max(UNWATCHED_GAP, 2 * self.settings.poll_max_interval)

    def _backoff(self, failures: int, error: UpstreamError | None = None) -> float:
        """Return the wait after ``failures`` transient errors in a row, or the Retry-After."""
        base = max(self.settings.poll_min_interval, 1.0)
        wait = float(min(self.settings.poll_max_interval, base * 2 ** min(failures, 10)))
        retry_after = getattr(error, "retry_after", None)
        return max(wait, float(retry_after)) if retry_after else wait
