"""Team mode's queue workers: `fbcheck worker` processes, a PostgreSQL queue, the emulator.

A throwaway PostgreSQL cluster on loopback (``tests/postgres.py``) holds the
store and the queue; the emulator is the vendor over HTTP; jobs are submitted by a Checker in
queue mode (``FBCHECK_SCHEDULER=queue``: it runs no runner of its own, as
``fbcheck serve --team`` does) and done by real ``fbcheck worker`` processes,
one of them killed with SIGKILL in the middle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from addin.config import Settings
from addin.engine.checker import Checker
from addin.engine.states import TaskState
from addin.engine.steps import CRASHED_UPLOAD
from addin.engine.workers import SWEEP_SECONDS, apply_queue_schema, takeover_bound
from addin.vendor import open_checker
from tests.conftest import Emulator

KEY = "worker-test-key"
#: The workers' FBCHECK_WORKER_STALLED_AFTER here: a killed one is taken over within
#: 10 s rather than 30 s (heartbeats every second).
STALLED_AFTER = 5.0
TAKEOVER_BOUND = takeover_bound(STALLED_AFTER)
REPOSITORY = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def db_upgrade(url: str, tmp_path: Path) -> str:
    """Run ``fbcheck db upgrade`` on ``url``; return what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATABASE_URL=url,
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(REPOSITORY),
    )
    done = subprocess.run(
        [sys.executable, "-m", "addin.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def queue_url(pg_store_url: str, tmp_path: Path) -> str:
    """Return a new database at the store's head revision, the queue's tables added by
    ``fbcheck db upgrade``."""
    assert "the workers' queue tables created" in db_upgrade(pg_store_url, tmp_path)
    assert "the workers' queue tables present" in db_upgrade(pg_store_url, tmp_path)
    assert apply_queue_schema(pg_store_url) is False  # nothing left to do
    return pg_store_url


def environment(tmp_path: Path, url: str, vendor: Emulator, **extra: str) -> dict[str, str]:
    """Return the environment of the team's processes (workers and the submitting side)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        FBCHECK_DATABASE_URL=url,
        FBCHECK_SCHEDULER="queue",
        FBCHECK_API_KEY=KEY,
        FBCHECK_API_URL=vendor.url,
        FBCHECK_POLL_MIN_INTERVAL="0.2",
        FBCHECK_POLL_MAX_INTERVAL="1",
        FBCHECK_MAX_NUMBERS_PER_TASK="100",
        FBCHECK_MAX_CONCURRENT_TASKS="20",
        FBCHECK_REGION="CH",
        FBCHECK_WORKER_STALLED_AFTER=f"{STALLED_AFTER:g}",
        PYTHONPATH=str(REPOSITORY),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str], tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    """Start ``fbcheck worker --name NAME``; its output goes to a file beside the test."""
    with (tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "addin.cli", "worker", "--name", name],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(worker: subprocess.Popen[bytes]) -> None:
    """Stop a worker (SIGTERM, then SIGKILL if it lingers)."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def checker_for(env: dict[str, str]) -> Checker:
    """Return a Checker in queue mode on the environment's store and vendor."""
    keys = {k.removeprefix("FBCHECK_").lower(): v for k, v in env.items() if k[:8] == "FBCHECK_"}
    return open_checker(Settings(**keys))  # type: ignore[arg-type]


def numbers(count: int) -> list[str]:
    """Return ``count`` distinct Swiss mobile numbers in E.164."""
    return [f"+4179{n:07d}" for n in range(1_000_000, 1_000_000 + count)]


def uploads(vendor: Emulator) -> Counter[str]:
    """Return how many times the vendor received each number."""
    return Counter(n for t in vendor.tasks(with_numbers=True) for n in t["uploaded_numbers"])


def wait_for(check: Any, what: str, timeout: float) -> None:
    """Wait until ``check()`` is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def logs(tmp_path: Path) -> str:
    """Return every worker's output (for failure messages)."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("w*.log")))


def assert_shorter_bound(tmp_path: Path, name: str) -> None:
    """Assert that worker ``name`` said it takes a worker over after ``STALLED_AFTER``."""
    said = (tmp_path / f"{name}.log").read_text(errors="replace")
    assert f"a worker without a heartbeat for {STALLED_AFTER:g} s is taken over" in said, said


def test_two_workers_finish_a_job_and_a_killed_one_loses_nothing(
    tmp_path: Path, queue_url: str, emulators: Any
) -> None:
    vendor = emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 1_000_000})
    env = environment(tmp_path, queue_url, vendor)
    values = numbers(1200)  # 12 tasks of 100
    workers = [start_worker(env, tmp_path, name) for name in ("w1", "w2")]
    try:
        with checker_for(env) as checker:
            assert not checker.runner.alive  # queue mode: this process does no vendor I/O
            job = checker.submit(checker.plan(values))
            # Every upload done (none in flight), polls under way: kill one worker now. The
            # vendor counts a create as it answers and the worker stores its id a moment
            # later; a kill between the two is a real uncertain upload (tested elsewhere),
            # so wait for the store to hold all 12 ids with no upload in flight.
            wait_for(lambda: vendor.ledger()["tasks_created"] == 12, "12 uploads", 90)

            def ids_stored() -> bool:
                """Return True once every task's vendor id is stored and none is creating."""
                tasks = checker.store.job_tasks(job)
                return len(tasks) == 12 and all(
                    t.task_id and t.state != TaskState.CREATING for t in tasks
                )

            wait_for(ids_stored, "the 12 task ids in the store", 30)
            workers[0].kill()
            workers[0].wait(10)
            progress = checker.wait(job, timeout=90 + TAKEOVER_BOUND)
            assert progress.finished, logs(tmp_path)
            answers = checker.answers(job)
    finally:
        for worker in workers:
            stop(worker)
    assert workers[0].returncode == -signal.SIGKILL
    assert_shorter_bound(tmp_path, "w2")
    assert set(answers) == set(values)
    assert {a.answer for a in answers.values()} <= {"yes", "no", "ban"}
    uploaded = uploads(vendor)
    assert set(uploaded) == set(values)
    assert [n for n, times in uploaded.items() if times > 1] == []  # 0 duplicates
    assert vendor.ledger()["tasks_created"] == 12


def test_a_task_the_vendor_refuses_as_too_large_is_split_by_the_workers(
    tmp_path: Path, queue_url: str, emulators: Any
) -> None:
    # The same step as in-process (tests/engine/test_size_refusals.py); here its new
    # tasks are queued jobs the workers' sweep gives out.
    vendor = emulators.start(
        MOCK_PROFILE="instant", MOCK_API_KEYS={KEY: 1_000_000}, MOCK_MAX_NUMBERS=40
    )
    env = environment(tmp_path, queue_url, vendor)
    values = numbers(200)  # 2 tasks of 100, each split into 3 (34, 33, 33)
    workers = [start_worker(env, tmp_path, name) for name in ("w1", "w2")]
    try:
        with checker_for(env) as checker:
            job = checker.submit(checker.plan(values))
            progress = checker.wait(job, timeout=120)
            assert progress.finished, logs(tmp_path)
            answers = checker.answers(job)
            states = Counter(t.state for t in checker.store.job_tasks(job))
    finally:
        for worker in workers:
            stop(worker)
    assert set(answers) == set(values)
    assert {a.answer for a in answers.values()} <= {"yes", "no", "ban"}, logs(tmp_path)
    assert states == {TaskState.REFUSED: 2, TaskState.DONE: 6}
    uploaded = uploads(vendor)
    assert set(uploaded) == set(values)
    assert set(uploaded.values()) == {1}


def test_a_worker_killed_inside_an_upload_leaves_it_uncertain_never_resent(
    tmp_path: Path, queue_url: str, emulators: Any
) -> None:
    vendor = emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 1_000_000})
    vendor.configure(create_latency_ms=4000)
    env = environment(tmp_path, queue_url, vendor)
    values = numbers(50)
    first = start_worker(env, tmp_path, "w1")
    second: subprocess.Popen[bytes] | None = None
    try:
        with checker_for(env) as checker:
            job = checker.submit(checker.plan(values))
            wait_for(
                lambda: [t.state for t in checker.store.job_tasks(job)] == [TaskState.CREATING],
                "the upload in flight",
                60,
            )
            first.kill()
            first.wait(10)
            second = start_worker(env, tmp_path, "w2")
            wait_for(
                lambda: [t.state for t in checker.store.job_tasks(job)] == [TaskState.UNCERTAIN],
                "the takeover",
                60 + TAKEOVER_BOUND,
            )
            (task,) = checker.store.job_tasks(job)
            assert task.error == CRASHED_UPLOAD
            # A few more sweeps of the live worker: still one upload, no second one.
            time.sleep(3 * SWEEP_SECONDS)
            assert [t.state for t in checker.store.job_tasks(job)] == [TaskState.UNCERTAIN]
    finally:
        stop(first)
        if second is not None:
            stop(second)
    assert_shorter_bound(tmp_path, "w2")
    assert len(vendor.tasks()) <= 1  # the emulator may have created it: billed once at most
    assert all(times == 1 for times in uploads(vendor).values())


@pytest.mark.parametrize("missing", ["queue", "store"])
def test_a_worker_facing_an_outdated_schema_refuses_and_names_the_upgrade(
    tmp_path: Path, pg_url: str, pg_store_url: str, emulators: Any, missing: str
) -> None:
    vendor = emulators.start(MOCK_API_KEYS={KEY: 100})
    # "store": an empty database (no revision at all); "queue": the store's tables only.
    env = environment(tmp_path, pg_url if missing == "store" else pg_store_url, vendor)
    done = subprocess.run(
        [sys.executable, "-m", "addin.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 8, done.stderr
    assert "fbcheck db upgrade" in done.stderr


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"FBCHECK_DATABASE_URL": ""}, "FBCHECK_DATABASE_URL=postgresql://"),
        ({"FBCHECK_DATABASE_URL": "sqlite:///x.db"}, "FBCHECK_DATABASE_URL=postgresql://"),
        ({"FBCHECK_API_KEY": ""}, "FBCHECK_API_KEY"),
    ],
    ids=["no-url", "not-postgres", "demo-mode"],
)
def test_a_worker_without_its_settings_says_which_and_exits_2(
    tmp_path: Path, changes: dict[str, str], said: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        FBCHECK_DATABASE_URL="postgresql://u:p@127.0.0.1:1/db",
        FBCHECK_API_KEY=KEY,
        FBCHECK_API_URL="http://127.0.0.1:1",
        PYTHONPATH=str(REPOSITORY),
    )
    env.update(changes)
    done = subprocess.run(
        [sys.executable, "-m", "addin.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
