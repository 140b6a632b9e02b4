"""The runner against a scripted vendor: every create outcome, every poll outcome, the ledger.

The runner's thread is not started: each test drives its steps (``_sync``,
``_create_due``, ``_poll_due``) from the test thread on a fake clock, so nothing
sleeps and every step is deterministic.
"""

from __future__ import annotations

import ast
import inspect
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from addin.engine import runner as runner_module
from addin.engine import steps as steps_module
from addin.engine.journal import CreateJournal, JournalEntry
from addin.engine.ownership import OwnerLock
from addin.engine.runner import CRASHED_UPLOAD, MAX_UNSENT_ATTEMPTS, MISSING_REASON, Runner
from addin.engine.runner import RunnerSettings as Settings
from addin.engine.states import JobState, TaskState
from addin.engine.steps import TaskSteps
from addin.engine.store import Billed, Store, StoreError, TaskRecord
from addin.upstream.accounting import GATEWAY_STATUSES, Billing, Observer, RequestOutcome
from addin.upstream.client import VendorClient
from addin.upstream.exceptions import (
    AmbiguousCreateError,
    AuthError,
    BadRequestError,
    BalanceError,
    NotFoundError,
    RateLimitError,
    ResultFileError,
    ServerError,
    TransportError,
    UpstreamError,
)
from addin.upstream.models import TaskStatus
from addin.upstream.results import ResultRow

S = TaskState
REALM = "live:https://vendor.example"
CACHE = "cache:https://vendor.example"
KEY_FP = "fp-1"
N1, N2, N3 = "+41790000001", "+41790000002", "+41790000003"
URL = "https://files.example/result.xlsx"


class FakeTime:
    """A monotonic clock and a wall clock that move together, only when told."""

    def __init__(self) -> None:
        """Start at zero (monotonic) and at a fixed wall time."""
        self.elapsed = 0.0
        self.asleep = 0.0

    def monotonic(self) -> float:
        """Return the runner's monotonic seconds."""
        return self.elapsed

    def wall(self) -> float:
        """Return epoch seconds (the store's clock too)."""
        return 1_700_000_000.0 + self.elapsed + self.asleep

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self.elapsed += seconds

    def sleep_machine(self, seconds: float) -> None:
        """Suspend the machine: the wall clock moves on, the monotonic one does not (Linux)."""
        self.asleep += seconds


def status(
    task_id: str = "t1",
    state: str = "pending",
    *,
    total: int = 0,
    success: int = 0,
    failure: int = 0,
    result_url: str | None = None,
    message: str | None = None,
) -> TaskStatus:
    """Return one vendor task answer."""
    now = datetime(2024, 1, 1, tzinfo=UTC)
    return TaskStatus(task_id, None, state, total, success, failure, now, now, result_url, message)


def billing_of(error: UpstreamError) -> Billing:
    """Return what the request that raised ``error`` cost, as the real client reports it."""
    if isinstance(error, AmbiguousCreateError | TransportError):
        return Billing.POSSIBLY
    if error.status in GATEWAY_STATUSES:
        return Billing.POSSIBLY
    return Billing.FREE


Answer = TaskStatus | UpstreamError


@dataclass
class FakeVendor:
    """The vendor client's three calls, answered from scripts; every call is recorded."""

    creates: list[Answer] = field(default_factory=list)
    polls: list[Answer] = field(default_factory=list)
    downloads: list[dict[str, ResultRow] | UpstreamError] = field(default_factory=list)
    created: list[tuple[list[str], str]] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)

    def create_task(self, numbers: list[str], *, user_id: str, observe: Observer) -> TaskStatus:
        """Answer an upload with the next scripted create answer."""
        self.created.append((list(numbers), user_id))
        return self._answer("create", self.creates.pop(0), observe)

    def get_task(self, task_id: str, *, observe: Observer) -> TaskStatus:
        """Answer a status poll with the next scripted answer."""
        self.polled.append(task_id)
        return self._answer("poll", self.polls.pop(0), observe)

    def download_result(self, url: str) -> dict[str, ResultRow]:
        """Answer a result download with the next scripted file (downloads are not billed)."""
        self.downloaded.append(url)
        answer = self.downloads.pop(0)
        if isinstance(answer, UpstreamError):
            raise answer
        return answer

    @staticmethod
    def _answer(kind: str, answer: Answer, observe: Observer) -> TaskStatus:
        """Report the attempt's billing to ``observe``, then return or raise ``answer``."""
        if isinstance(answer, UpstreamError):
            observe(RequestOutcome(kind, billing_of(answer), answer.status, answer.detail))
            raise answer
        observe(RequestOutcome(kind, Billing.BILLED, 200, "OK"))
        return answer


def results(**answers: str) -> dict[str, ResultRow]:
    """Return a result file: ``N1="yes"`` style keywords name the module's numbers."""
    names = {"N1": N1, "N2": N2, "N3": N3}
    return {names[k]: ResultRow(v) for k, v in answers.items()}


def settings(**overrides: Any) -> Settings:
    """Return runner settings with fast, test-sized timings."""
    values: dict[str, Any] = {
        "realm": REALM,
        "cache_realm": CACHE,
        "key_fp": KEY_FP,
        "source": "upstream",
        "poll_min_interval": 1.0,
        "poll_max_interval": 30.0,
        "max_wait": 3600.0,
        "max_concurrent_tasks": 2,
    }
    values.update(overrides)
    return Settings(**values)


class Rig:
    """A store, a journal, a fake vendor and runners on one data folder and one fake clock."""

    def __init__(self, data_dir: Path) -> None:
        """Open the store and the journal under ``data_dir``."""
        self.data_dir = data_dir
        self.time = FakeTime()
        self.store = Store(data_dir / "fbcheck.sqlite3", clock=self.time.wall)
        self.journal = CreateJournal(data_dir / "fbcheck.journal")
        self.vendor = FakeVendor()
        self.locks: list[OwnerLock] = []
        self.runner = self.new_runner()

    def new_runner(self, **overrides: Any) -> Runner:
        """Return a runner (another process's, in effect) with its own owner lock."""
        lock = OwnerLock(self.data_dir)
        self.locks.append(lock)
        steps = TaskSteps(
            store=self.store,
            client=cast(VendorClient, self.vendor),
            settings=settings(**overrides),
            owner=lock.owner,
            journal=self.journal,
            clock=self.time.monotonic,
            wall=self.time.wall,
        )
        return Runner(steps=steps, owner=lock)

    def submit(self, *numbers: str, chunk_size: int = 10, owner: str | None = None) -> str:
        """Store a job as the Checker does (tasks leased to the runner); return its id."""
        return self.store.create_job(
            realm=REALM,
            cache_realm=CACHE,
            kind="check",
            label="",
            numbers=list(numbers),
            refresh=False,
            max_age=3600.0,
            chunk_size=chunk_size,
            plan={},
            hit_source="cache",
            owner=owner or self.runner.owner,
            lease_seconds=60.0,
        ).job_id

    def step(self, runner: Runner | None = None) -> None:
        """Run one loop iteration of the runner: sync, create, poll."""
        r = runner or self.runner
        r._sync()
        r._create_due()
        r._poll_due()

    def later(self, seconds: float = 31.0, *, rounds: int = 1) -> None:
        """Let ``seconds`` pass, then step; ``rounds`` times."""
        for _ in range(rounds):
            self.time.advance(seconds)
            self.step()

    def task(self, job_id: str) -> TaskRecord:
        """Return the one task of a job, fresh from the store."""
        (task,) = self.store.job_tasks(job_id)
        return task

    def ledger(self) -> list[tuple[str, str, int | None]]:
        """Return every stored request outcome as (kind, billing, status)."""
        rows = self.store.read("SELECT kind, billing, status FROM requests ORDER BY id")
        return [(r[0], r[1], r[2]) for r in rows]

    def answers(self, job_id: str) -> dict[str, tuple[str, str | None]]:
        """Return a job's answers as {e164: (answer, reason)}."""
        return {n: (a.answer, a.reason) for n, a in self.store.job_answers(job_id).items()}

    def close(self) -> None:
        """Release the locks and close the store."""
        for lock in self.locks:
            lock.release()
        self.store.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A rig on a fresh data folder."""
    r = Rig(tmp_path / "data")
    yield r
    r.close()


@pytest.mark.parametrize("module", [runner_module, steps_module], ids=["runner", "steps"])
def test_runner_reads_no_wall_clock_of_its_own(module: Any) -> None:
    tree = ast.parse(inspect.getsource(module))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("time", "monotonic", "sleep")
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "time"
    ]
    assert calls == [], f"time.*() called on lines {calls} of {module.__name__}"


# -- create outcomes -------------------------------------------------------------


def test_created_stores_the_task_id_and_clears_the_journal(rig: Rig) -> None:
    job = rig.submit(N2, N1)
    rig.vendor.creates.append(status("t1", total=2))
    rig.step()
    task = rig.task(job)
    assert rig.vendor.created == [([N1, N2], f"fbcheck-{task.ref}")]
    assert (task.state, task.task_id, task.vendor_status, task.total) == (
        S.RUNNING,
        "t1",
        "pending",
        2,
    )
    assert (task.key_fp, task.create_attempts, task.created_at) == (KEY_FP, 1, rig.time.wall())
    assert rig.journal.entries() == []
    assert rig.ledger() == [("create", "billed", 200)]
    assert rig.runner.uploading is None
    assert rig.runner.fatal is None


@pytest.mark.parametrize(
    "error",
    [
        ServerError("vendor JSON: retry later", status=500),
        NotFoundError("no such route", status=404),
        TransportError("connection refused"),
    ],
    ids=["500", "404", "refused"],
)
def test_not_created_goes_back_to_queued_and_is_retried_later(
    rig: Rig, error: UpstreamError
) -> None:
    job = rig.submit(N1)
    rig.vendor.creates += [error, status("t1")]
    rig.step()
    task = rig.task(job)
    assert (task.state, task.task_id, task.error) == (S.QUEUED, None, str(error))
    assert rig.store.in_flight(REALM, [N1]) == {N1: task.ref}  # still claimed
    rig.step()
    assert len(rig.vendor.created) == 1  # not at once: after a backoff
    rig.later(2.0)
    assert len(rig.vendor.created) == 2
    assert rig.task(job).state == S.RUNNING
    assert rig.task(job).create_attempts == 2


def test_retry_after_is_respected(rig: Rig) -> None:
    job = rig.submit(N1)
    rig.vendor.creates += [RateLimitError("slow down", status=429, retry_after=20.0), status()]
    rig.step()
    rig.later(15.0)
    assert len(rig.vendor.created) == 1
    rig.later(6.0)
    assert rig.task(job).state == S.RUNNING


def test_not_created_too_often_is_refused(rig: Rig) -> None:
    job = rig.submit(N1)
    rig.vendor.creates += [ServerError("down", status=500)] * MAX_UNSENT_ATTEMPTS
    rig.step()
    rig.later(rounds=MAX_UNSENT_ATTEMPTS - 1)
    task = rig.task(job)
    assert task.state == S.REFUSED
    assert len(rig.vendor.created) == MAX_UNSENT_ATTEMPTS
    last = ServerError("down", status=500)
    reason = f"not created after {MAX_UNSENT_ATTEMPTS} attempts: {last}"
    assert rig.answers(job) == {N1: ("error", reason)}
    assert rig.store.in_flight(REALM, [N1]) == {}
    assert rig.store.task_billing(task.ref) == Billed(0, 0)


def test_uncertain_waits_for_the_users_word(rig: Rig) -> None:
    job = rig.submit(N1, N2)
    rig.vendor.creates.append(AmbiguousCreateError("read timeout after the upload"))
    rig.step()
    task = rig.task(job)
    assert task.state == S.UNCERTAIN
    assert task.uncertain_creates == 1
    assert task.error is not None
    assert "outcome is unknown" in task.error
    assert rig.ledger() == [("create", "possibly", None)]
    assert rig.store.in_flight(REALM, [N1, N2]) == {N1: task.ref, N2: task.ref}
    rig.later(3600.0, rounds=5)
    assert len(rig.vendor.created) == 1  # never sent again by itself
    assert rig.store.job_waiting_numbers(job, S.UNCERTAIN) == 2
    # The user's word: send it again.
    assert rig.store.approve_resend(job) == [task.ref]
    rig.vendor.creates.append(status("t2"))
    rig.step()
    assert len(rig.vendor.created) == 2
    assert rig.task(job).state == S.RUNNING


def test_uncertain_is_resent_after_the_delay_at_most_max_times(rig: Rig) -> None:
    runner = rig.new_runner(
        uncertain_creates="resend", ambiguous_retry_delay=100.0, max_uncertain_resends=2
    )
    job = rig.submit(N1, owner=runner.owner)
    rig.vendor.creates += [AmbiguousCreateError("reset")] * 3
    rig.step(runner)
    assert rig.task(job).state == S.UNCERTAIN
    rig.time.advance(99.0)
    rig.step(runner)
    rig.step(runner)
    assert len(rig.vendor.created) == 1  # not before ambiguous_retry_delay
    for _ in range(20):
        rig.time.advance(101.0)
        rig.step(runner)
    assert len(rig.vendor.created) == 3  # the first upload and two re-sends
    task = rig.task(job)
    assert (task.state, task.uncertain_creates) == (S.UNCERTAIN, 3)
    assert rig.store.task_billing(task.ref) == Billed(billed=0, possibly=3)


@pytest.mark.parametrize(
    "error",
    [
        BalanceError("balance spent", status=402),
        AuthError("unknown key", status=401),
        BadRequestError("file has no numbers", status=400),
    ],
    ids=["402", "401", "400"],
)
def test_refused_create_answers_every_number_and_frees_its_claims(
    rig: Rig, error: UpstreamError
) -> None:
    job = rig.submit(N1, N2)
    rig.vendor.creates.append(error)
    rig.step()
    task = rig.task(job)
    assert task.state == S.REFUSED
    reason = f"the vendor refused it: {error}"
    assert rig.answers(job) == {N1: ("error", reason), N2: ("error", reason)}
    assert rig.store.in_flight(REALM, [N1, N2]) == {}
    assert rig.store.job(job).state == JobState.DONE  # type: ignore[union-attr]
    assert rig.ledger() == [("create", "free", error.status)]
    rig.later(rounds=3)
    assert len(rig.vendor.created) == 1


def test_at_most_max_concurrent_tasks_run_at_once(rig: Rig) -> None:
    job = rig.submit(N1, N2, N3, chunk_size=1)
    rig.vendor.creates += [status("t1"), status("t2"), status("t3")]
    rig.step()
    assert [t.state for t in rig.store.job_tasks(job)] == [S.RUNNING, S.RUNNING, S.QUEUED]
    rig.vendor.polls.append(status("t1", "exported", result_url=URL))
    rig.vendor.polls.append(status("t2", "processing"))
    rig.vendor.downloads.append(results(N1="yes"))
    rig.later()
    rig.step()
    assert [t.state for t in rig.store.job_tasks(job)] == [S.DONE, S.RUNNING, S.RUNNING]


# -- uploads another process left ------------------------------------------------


def dead_owner(rig: Rig) -> str:
    """Return the id of an owner whose process died (its lock file is left, unheld)."""
    owner = "d" * 32
    (rig.data_dir / "owners" / f"{owner}.lock").write_bytes(b"")
    return owner


def test_a_creating_task_of_a_dead_owner_becomes_uncertain(rig: Rig) -> None:
    owner = dead_owner(rig)
    job = rig.submit(N1, owner=owner)
    rig.store.start_upload(rig.task(job).ref, owner, KEY_FP)
    rig.step()
    task = rig.task(job)
    assert (task.state, task.error, task.uncertain_creates) == (S.UNCERTAIN, CRASHED_UPLOAD, 1)
    rig.later(rounds=3)
    assert rig.vendor.created == []


def test_a_creating_task_of_a_live_owner_is_left_alone(rig: Rig) -> None:
    other = rig.new_runner()
    job = rig.submit(N1, owner=other.owner)
    rig.store.start_upload(rig.task(job).ref, other.owner, KEY_FP)
    rig.step()
    assert rig.task(job).state == S.CREATING
    assert rig.task(job).lease_owner == other.owner


def test_a_creating_task_whose_id_the_journal_holds_resumes_running(rig: Rig) -> None:
    owner = dead_owner(rig)
    job = rig.submit(N1, owner=owner)
    ref = rig.task(job).ref
    rig.store.start_upload(ref, owner, KEY_FP)
    rig.journal.write(ref, "t-journal")
    rig.vendor.polls.append(status("t-journal", "processing", total=1))
    rig.step()
    task = rig.task(job)
    assert (task.state, task.task_id, task.lease_owner) == (
        S.RUNNING,
        "t-journal",
        rig.runner.owner,
    )
    assert rig.vendor.created == []
    assert rig.vendor.polled == ["t-journal"]
    assert rig.journal.entries() == []
    # Its create was billed, though no outcome of it was ever stored.
    assert rig.ledger() == [("create", "billed", 200), ("poll", "billed", 200)]


def test_an_uncertain_task_whose_id_the_journal_holds_is_replayed_at_start(rig: Rig) -> None:
    job = rig.submit(N1)
    ref = rig.task(job).ref
    rig.store.start_upload(ref, rig.runner.owner, KEY_FP)
    rig.store.record_uncertain(ref, "interrupted by Ctrl-C")
    rig.journal.write(ref, "t-late")
    rig.runner._replay_journal()
    assert (rig.task(job).state, rig.task(job).task_id) == (S.RUNNING, "t-late")
    assert rig.journal.entries() == []


# -- a store that cannot be written -----------------------------------------------


def test_store_failure_after_the_create_is_fatal_and_the_journal_keeps_the_id(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = rig.submit(N1)
    ref = rig.task(job).ref
    rig.vendor.creates.append(status("t-kept"))

    def disk_full(*args: object, **kwargs: object) -> None:
        """Fail as a full disk does."""
        raise StoreError("the disk holding the store is full")

    monkeypatch.setattr(rig.store, "record_created", disk_full)
    rig.runner._run()  # returns by itself: the runner stops
    assert rig.runner.fatal is not None
    assert "t-kept" in rig.runner.fatal
    assert f"local task {ref}" in rig.runner.fatal
    assert str(rig.journal.path) in rig.runner.fatal
    assert rig.journal.entries() == [JournalEntry(0, ref, "t-kept")]
    assert rig.task(job).state == S.CREATING
    assert rig.ledger() == [("create", "billed", 200)]
    monkeypatch.undo()

    # The next run replays the id: no second create, no second billed create.
    rig.time.advance(61.0)  # the stopped runner's leases have expired
    nxt = rig.new_runner()
    rig.vendor.polls.append(status("t-kept", "exported", result_url=URL))
    rig.vendor.downloads.append(results(N1="no"))
    nxt._replay_journal()
    rig.step(nxt)
    assert len(rig.vendor.created) == 1
    assert rig.vendor.polled == ["t-kept"]
    assert rig.journal.entries() == []
    assert rig.answers(job) == {N1: ("no", None)}
    assert rig.store.task_billing(ref) == Billed(billed=2, possibly=0)


def test_store_failure_on_any_write_stops_the_runner(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = rig.submit(N1)
    rig.vendor.creates.append(ServerError("down", status=500))

    def locked(*args: object, **kwargs: object) -> None:
        """Fail as a store locked by another program does."""
        raise StoreError("the store is locked by another program")

    monkeypatch.setattr(rig.store, "record_not_created", locked)
    rig.runner._run()
    assert rig.runner.fatal == "the store is locked by another program"
    assert rig.task(job).lease_owner is None  # its leases were given up on the way out


# -- polling -----------------------------------------------------------------------


def created(rig: Rig, *numbers: str, task_id: str = "t1") -> str:
    """Submit a job and let the runner create its task; return the job id."""
    job = rig.submit(*numbers)
    rig.vendor.creates.append(status(task_id, total=len(numbers)))
    rig.step()
    assert rig.task(job).state == S.RUNNING
    return job


def test_a_task_is_polled_and_its_answers_stored(rig: Rig) -> None:
    job = created(rig, N1, N2, N3)
    rig.vendor.polls += [
        status("t1", "processing", total=3, success=1),
        status("t1", "exported", total=3, success=2, failure=1, result_url=URL),
    ]
    rig.vendor.downloads.append(results(N1="yes", N2="ban"))
    rig.later()
    task = rig.task(job)
    assert (task.state, task.polls, task.success) == (S.RUNNING, 1, 1)
    rig.later()
    assert rig.vendor.downloaded == [URL]
    assert rig.task(job).state == S.DONE
    assert rig.answers(job) == {
        N1: ("yes", None),
        N2: ("ban", None),
        N3: ("error", MISSING_REASON),
    }
    assert rig.store.cached(CACHE, [N1, N2, N3], max_age=60) == {
        N1: ("yes", rig.time.wall()),
        N2: ("ban", rig.time.wall()),
    }
    assert rig.store.in_flight(REALM, [N1, N2, N3]) == {}
    assert rig.ledger() == [("create", "billed", 200)] + [("poll", "billed", 200)] * 2
    rig.later(rounds=3)
    assert len(rig.vendor.polled) == 2


def test_no_poll_before_it_is_due(rig: Rig) -> None:
    created(rig, N1)
    rig.step()
    rig.later(0.5)
    assert rig.vendor.polled == []


@pytest.mark.parametrize(
    "error",
    [BalanceError("balance spent", status=402), AuthError("unknown key", status=401)],
    ids=["402", "401"],
)
def test_refused_polls_pause_the_task_and_it_resumes_later(rig: Rig, error: UpstreamError) -> None:
    job = created(rig, N1)
    rig.vendor.polls.append(error)
    rig.later()
    task = rig.task(job)
    assert task.state == S.PAUSED
    assert task.error is not None
    assert "nothing is uploaded again" in task.error
    assert rig.store.job_counts(job) == {"pending": 1}  # not failed
    assert rig.store.in_flight(REALM, [N1]) == {N1: task.ref}
    rig.later(10.0)
    assert len(rig.vendor.polled) == 1  # paused: not asked again at once
    rig.vendor.polls.append(status("t1", "exported", result_url=URL))
    rig.vendor.downloads.append(results(N1="yes"))
    rig.later(21.0)
    assert rig.task(job).state == S.DONE
    assert rig.answers(job) == {N1: ("yes", None)}
    assert rig.ledger() == [
        ("create", "billed", 200),
        ("poll", "free", error.status),
        ("poll", "billed", 200),
    ]


def test_a_paused_task_is_resumed_by_the_next_runner(rig: Rig) -> None:
    job = created(rig, N1)
    rig.vendor.polls.append(BalanceError("balance spent", status=402))
    rig.later()
    assert rig.task(job).state == S.PAUSED
    rig.store.release_leases(rig.runner.owner)
    nxt = rig.new_runner()
    rig.vendor.polls.append(status("t1", "processing"))
    rig.step(nxt)
    assert rig.task(job).state == S.RUNNING
    assert rig.vendor.polled == ["t1", "t1"]


def test_404_marks_the_task_lost(rig: Rig) -> None:
    job = created(rig, N1)
    rig.vendor.polls.append(NotFoundError("no such task", status=404))
    rig.later()
    task = rig.task(job)
    assert task.state == S.LOST
    (answer, reason) = rig.answers(job)[N1]
    assert answer == "error"
    assert reason is not None
    assert "no longer knows task t1" in reason
    assert rig.store.in_flight(REALM, [N1]) == {}
    rig.later(rounds=3)
    assert rig.vendor.polled == ["t1"]


def test_a_failed_vendor_task_fails(rig: Rig) -> None:
    job = created(rig, N1)
    rig.vendor.polls.append(status("t1", "failed"))
    rig.later()
    assert rig.task(job).state == S.FAILED
    (answer, reason) = rig.answers(job)[N1]
    assert answer == "error"
    assert reason is not None
    assert reason.startswith("the vendor reports task t1 as failed (it gave no message)")
    assert rig.store.job(job).state == JobState.DONE  # type: ignore[union-attr]
    assert rig.ledger()[-1] == ("poll", "billed", 200)


def test_a_failed_task_keeps_the_vendor_message_and_is_never_created_again(rig: Rig) -> None:
    job = created(rig, N1)
    rig.vendor.polls.append(status("t1", "failed", message="invalid rows in file"))
    rig.later()
    (answer, reason) = rig.answers(job)[N1]
    assert answer == "error"
    assert reason is not None
    assert "failed: invalid rows in file" in reason
    assert "not sent again by itself" in reason
    creates = len(rig.vendor.created)
    rig.later(rounds=3)
    assert len(rig.vendor.created) == creates  # billed once, never re-created
    assert rig.vendor.polled == ["t1"]


def test_a_transient_poll_error_is_noted_and_retried(rig: Rig) -> None:
    job = created(rig, N1)
    rig.vendor.polls += [TransportError("connection reset"), status("t1", "processing")]
    rig.later()
    task = rig.task(job)
    assert (task.state, task.error) == (S.RUNNING, "connection reset")
    rig.later(2.0)
    assert rig.vendor.polled == ["t1", "t1"]
    assert rig.task(job).error is None
    assert rig.ledger()[1:] == [("poll", "possibly", None), ("poll", "billed", 200)]


def test_max_wait_pauses_without_a_poll(rig: Rig) -> None:
    rig.runner = rig.new_runner(max_wait=100.0)
    job = created(rig, N1)
    rig.later(101.0)
    task = rig.task(job)
    assert task.state == S.PAUSED
    assert task.error is not None
    assert "not finished after 100 s" in task.error
    assert rig.vendor.polled == []
    assert rig.store.job_counts(job) == {"pending": 1}


HOUR = 3600.0


def test_the_default_give_up_time_follows_the_tasks_size_and_pace(rig: Rig) -> None:
    rig.runner = rig.new_runner(max_wait=None, poll_max_interval=HOUR)
    numbers = [f"+4179{n:07d}" for n in range(2_000)]
    job = rig.submit(*numbers, chunk_size=2_000)
    rig.vendor.creates.append(status("t1"))
    rig.step()
    # The vendor crawls at 0.05 numbers/s: judged at a tenth of the documented pace,
    # 2,000 numbers may take 6 h + 3 x 2,000 / 1.15 s (about 7.45 h) before a pause.
    for hour in range(1, 8):
        rig.vendor.polls.append(status("t1", "processing", total=2_000, success=180 * hour))
        rig.later(HOUR)
        assert rig.task(job).state == S.RUNNING, f"paused after {hour} h"
    rig.later(HOUR)  # 8 h
    task = rig.task(job)
    assert task.state == S.PAUSED
    assert "not finished after 26817 s" in (task.error or "")
    assert len(rig.vendor.polled) == 7


def test_a_machine_that_slept_for_hours_resumes_without_new_billing(rig: Rig) -> None:
    rig.runner = rig.new_runner(max_wait=None)
    job = created(rig, N1)
    rig.vendor.polls.append(status("t1", "processing", total=1))
    rig.later(30.0)
    rig.time.sleep_machine(20 * HOUR)  # far beyond the default give-up time of one number
    rig.vendor.polls.append(status("t1", "exported", total=1, success=1, result_url=URL))
    rig.vendor.downloads.append(results(N1="yes"))
    rig.later(30.0)
    assert rig.answers(job) == {N1: ("yes", None)}
    assert len(rig.vendor.created) == 1
    assert rig.ledger() == [("create", "billed", 200)] + [("poll", "billed", 200)] * 2


def test_a_backend_restarted_hours_later_resumes_its_task_without_new_billing(
    rig: Rig,
) -> None:
    rig.runner = rig.new_runner(max_wait=None)
    job = created(rig, N1)
    # The backend stops (its lock goes with the process) and starts again 20 h later.
    rig.runner.owner_lock.release()
    rig.time.advance(20 * HOUR)
    nxt = rig.new_runner(max_wait=None)
    rig.vendor.polls.append(status("t1", "exported", total=1, success=1, result_url=URL))
    rig.vendor.downloads.append(results(N1="no"))
    rig.step(nxt)
    assert rig.answers(job) == {N1: ("no", None)}
    assert (len(rig.vendor.created), rig.vendor.polled) == (1, ["t1"])
    assert rig.ledger() == [("create", "billed", 200), ("poll", "billed", 200)]


def test_a_rerun_polls_a_task_paused_for_its_age(rig: Rig) -> None:
    rig.runner = rig.new_runner(max_wait=100.0)
    job = created(rig, N1)
    rig.later(101.0)
    assert rig.task(job).state == S.PAUSED
    rig.runner.owner_lock.release()
    rig.store.release_leases(rig.runner.owner)
    # The rerun keeps waiting: max_wait counts from when it resumed the task.
    nxt = rig.new_runner(max_wait=100.0)
    rig.vendor.polls.append(status("t1", "exported", result_url=URL))
    rig.vendor.downloads.append(results(N1="yes"))
    rig.step(nxt)
    assert rig.vendor.polled == ["t1"]
    assert rig.answers(job) == {N1: ("yes", None)}


def test_download_failures_pause_after_three(rig: Rig) -> None:
    job = created(rig, N1)
    exported = status("t1", "exported", result_url=URL)
    rig.vendor.polls += [exported] * 4
    rig.vendor.downloads += [ResultFileError("truncated")] * 3 + [results(N1="no")]
    rig.later()
    assert (rig.task(job).state, rig.task(job).error) == (S.RUNNING, "truncated")
    rig.later(2.0)
    assert rig.task(job).state == S.RUNNING
    rig.later(4.0)
    task = rig.task(job)
    assert task.state == S.PAUSED
    assert task.error is not None
    assert "could not be read" in task.error
    assert (len(rig.vendor.polled), len(rig.vendor.downloaded)) == (3, 3)
    rig.later(30.0)  # resumed: a fresh (billed) poll, a fresh link
    assert rig.task(job).state == S.DONE
    assert rig.answers(job) == {N1: ("no", None)}
    assert rig.store.task_billing(task.ref) == Billed(billed=5, possibly=0)


def test_a_cancelled_task_is_no_longer_polled(rig: Rig) -> None:
    job = created(rig, N1)
    assert rig.store.cancel_job(job) == [rig.task(job).ref]
    rig.later(rounds=3)
    assert rig.vendor.polled == []


def test_every_request_outcome_is_in_the_ledger(rig: Rig) -> None:
    job = rig.submit(N1)
    rig.vendor.creates += [ServerError("down", status=500), status("t1")]
    rig.vendor.polls += [
        ServerError("down", status=503),
        TransportError("reset"),
        status("t1", "exported", result_url=URL),
    ]
    rig.vendor.downloads.append(results(N1="yes"))
    rig.step()
    rig.later(rounds=4)
    assert rig.task(job).state == S.DONE
    assert rig.ledger() == [
        ("create", "free", 500),
        ("create", "billed", 200),
        ("poll", "possibly", 503),
        ("poll", "possibly", None),
        ("poll", "billed", 200),
    ]
    assert rig.store.job_billing(job) == Billed(billed=2, possibly=2)
    assert rig.store.realm_billing(REALM) == Billed(billed=2, possibly=2)
    keys = {r[0] for r in rig.store.read("SELECT key_fp FROM requests")}
    assert keys == {KEY_FP}


# -- the runner's own thread: steps of different tasks at once, idle until woken -----------


def wait_until(check: Any, what: str, timeout: float = 20.0) -> None:
    """Wait until ``check()`` is true (the runner thread works meanwhile), or fail naming it."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@dataclass
class MeetingVendor(FakeVendor):
    """A vendor whose polls all wait for each other: only polls in flight at once get answers."""

    meeting: threading.Barrier = field(default_factory=lambda: threading.Barrier(2, timeout=10))
    uploads_at_once: int = 0
    most_uploads_at_once: int = 0
    guard: threading.Lock = field(default_factory=threading.Lock)

    def create_task(self, numbers: list[str], *, user_id: str, observe: Observer) -> TaskStatus:
        """Count the uploads in flight together, then answer as scripted."""
        with self.guard:
            self.uploads_at_once += 1
            self.most_uploads_at_once = max(self.most_uploads_at_once, self.uploads_at_once)
        try:
            time.sleep(0.05)  # long enough for a second upload to start, were it allowed
            return super().create_task(numbers, user_id=user_id, observe=observe)
        finally:
            with self.guard:
                self.uploads_at_once -= 1

    def get_task(self, task_id: str, *, observe: Observer) -> TaskStatus:
        """Answer only once the other task's poll is in flight too (else the barrier breaks)."""
        self.meeting.wait()
        with self.guard:
            return super().get_task(task_id, observe=observe)


def test_polls_of_different_tasks_run_at_once_and_uploads_one_at_a_time(rig: Rig) -> None:
    vendor = MeetingVendor()
    rig.vendor = vendor
    runner = rig.new_runner(parallel_steps=2)
    job = rig.submit(N1, N2, chunk_size=1, owner=runner.owner)
    vendor.creates += [status("t1"), status("t2")]
    vendor.polls += [status("t1", "processing"), status("t2", "processing")]
    runner.start()
    try:
        wait_until(
            lambda: [t.state for t in rig.store.job_tasks(job)] == [S.RUNNING, S.RUNNING],
            "both uploads",
        )
        rig.time.advance(31.0)
        runner.wake()
        # Each poll waits for the other: a runner polling one task after the other would
        # break the barrier after 10 s and record two failed polls instead of answers.
        wait_until(lambda: len(rig.ledger()) == 4, "both polls")
    finally:
        runner.stop()
    assert sorted(vendor.polled) == ["t1", "t2"]
    assert rig.ledger() == [("create", "billed", 200)] * 2 + [("poll", "billed", 200)] * 2
    assert not vendor.meeting.broken
    assert vendor.most_uploads_at_once == 1
    assert runner.fatal is None


def test_an_idle_runner_sleeps_until_woken(rig: Rig) -> None:
    runner = rig.new_runner()
    assert runner._next_delay() is None  # nothing open in the realm: only a wake brings work
    other = rig.new_runner()
    rig.submit(N1, owner=other.owner)
    # Another process's open task: looked at again soon (that process may stop and leave it).
    assert runner._next_delay() == runner_module.SYNC_SECONDS


def test_a_queued_task_behind_an_upload_in_flight_is_not_due(rig: Rig) -> None:
    runner = rig.runner
    job = rig.submit(N1, N2, chunk_size=1)
    runner._sync()
    first, second = rig.store.job_tasks(job)
    assert runner._next_delay() == 0.0  # both queued, nothing in flight: upload now
    runner._tasks[first.ref].busy = True  # its upload is in flight (a step thread's)
    # The second waits for the end of that upload, which wakes the runner: until then
    # it sleeps (looking at the store again after the sync period), not claim after claim.
    assert runner._next_delay() == runner_module.SYNC_SECONDS
    runner._tasks[first.ref].busy = False
    assert runner._next_delay() == 0.0
    assert second.state == S.QUEUED


def test_a_queued_task_beyond_the_running_limit_waits_for_the_polls(rig: Rig) -> None:
    runner = rig.new_runner(max_concurrent_tasks=1)
    job = rig.submit(N1, N2, chunk_size=1, owner=runner.owner)
    rig.vendor.creates.append(status("t1"))
    rig.step(runner)
    assert [t.state for t in rig.store.job_tasks(job)] == [S.RUNNING, S.QUEUED]
    delay = runner._next_delay()
    # Due next: the running task's poll (in 30 s; the store looked at again before), not
    # the queued task that may not start yet.
    assert delay == runner_module.SYNC_SECONDS
    rig.vendor.polls.append(status("t1", "exported", result_url=URL))
    rig.vendor.downloads.append(results(N1="yes"))
    rig.vendor.creates.append(status("t2"))
    rig.time.advance(31.0)
    rig.step(runner)  # t1 polled, downloaded and done: a place for the next upload
    assert runner._next_delay() == 0.0
    rig.step(runner)
    assert [t.state for t in rig.store.job_tasks(job)] == [S.DONE, S.RUNNING]


def test_the_loop_looks_at_the_store_when_woken_or_after_the_sync_period(rig: Rig) -> None:
    runner = rig.runner
    assert runner._store_to_look_at()  # the first loop
    # A loop that follows the end of one of its own steps: that step refreshed its task.
    assert not runner._store_to_look_at()
    rig.time.advance(runner_module.SYNC_SECONDS - 0.1)
    assert not runner._store_to_look_at()
    runner.wake()  # a job submitted, cancelled, resent or abandoned
    assert runner._store_to_look_at()
    assert not runner._store_to_look_at()
    rig.time.advance(runner_module.SYNC_SECONDS)  # other processes' changes
    assert runner._store_to_look_at()


def test_uploads_follow_each_other_without_a_claim_between_them(rig: Rig) -> None:
    runner = rig.new_runner(parallel_steps=2, max_concurrent_tasks=3)
    job = rig.submit(N1, N2, N3, chunk_size=1, owner=runner.owner)
    rig.vendor.creates += [status("t1"), status("t2"), status("t3")]
    claims = 0
    claim = rig.store.claim_tasks

    def counted(*args: Any, **kwargs: Any) -> list[TaskRecord]:
        """Count the runner's claims (each a write transaction), then claim."""
        nonlocal claims
        claims += 1
        return claim(*args, **kwargs)

    rig.store.claim_tasks = counted  # type: ignore[method-assign]
    runner.start()
    try:
        wait_until(
            lambda: [t.state for t in rig.store.job_tasks(job)] == [S.RUNNING] * 3,
            "three uploads",
        )
    finally:
        runner.stop()
    # One claim took the three tasks; each upload's end started the next (the fake
    # clock stood still, so the sync period never passed).
    assert claims == 1
    assert [numbers for numbers, _ in rig.vendor.created] == [[N1], [N2], [N3]]


def test_a_woken_idle_runner_takes_the_new_job(rig: Rig) -> None:
    runner = rig.new_runner()
    rig.vendor.creates.append(status("t1"))
    runner.start()
    try:
        wait_until(runner.first_pass.is_set, "the first pass")
        job = rig.submit(N1, owner=runner.owner)
        runner.wake()
        wait_until(lambda: rig.task(job).state == S.RUNNING, "the upload")
    finally:
        runner.stop()
    assert len(rig.vendor.created) == 1
