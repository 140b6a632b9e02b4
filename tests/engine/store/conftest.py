"""Fixtures of the store tests: a store on a fake clock and a helper that walks tasks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from addin.engine.states import TaskState
from addin.engine.store import NewJob, Store, TaskRecord

REALM = "r"
CACHE = "cache-r"
OWNER = "a" * 32
KEY = "key-1"


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        """Start at ``start``."""
        self.now = start

    def __call__(self) -> float:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


class Desk:
    """Repeated steps on a store: create jobs, walk a task into a state."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        """Work on ``store``."""
        self.store = store
        self.clock = clock

    def job(
        self,
        numbers: Sequence[str],
        *,
        realm: str = REALM,
        chunk_size: int = 100,
        owner: str | None = OWNER,
        refresh: bool = False,
        max_age: float = 3600.0,
        fingerprint: str | None = None,
        **extra: Any,
    ) -> NewJob:
        """Create a job for ``numbers`` with test defaults."""
        return self.store.create_job(
            realm=realm,
            cache_realm=CACHE,
            kind="test",
            label="t",
            numbers=numbers,
            refresh=refresh,
            max_age=max_age,
            chunk_size=chunk_size,
            plan={},
            hit_source="cache",
            fingerprint=fingerprint,
            owner=owner,
            lease_seconds=60.0,
            **extra,
        )

    def only_task(self, job_id: str) -> TaskRecord:
        """Return the one task of a job."""
        (task,) = self.store.job_tasks(job_id)
        return task

    def task(self, ref: int) -> TaskRecord:
        """Return a task that must exist."""
        task = self.store.task(ref)
        assert task is not None
        return task

    def walk(self, ref: int, state: TaskState) -> TaskRecord:
        """Bring a queued task into ``state`` through the public methods."""
        s = self.store
        if state == TaskState.QUEUED:
            return self.task(ref)
        s.start_upload(ref, OWNER, KEY)
        if state == TaskState.CREATING:
            return self.task(ref)
        if state == TaskState.UNCERTAIN:
            s.record_uncertain(ref, "no answer came back")
            return self.task(ref)
        s.record_created(ref, source=TaskState.CREATING, task_id=f"t{ref}", vendor_status="pending")
        if state == TaskState.PAUSED:
            s.pause_task(ref, OWNER, "402")
        else:
            assert state == TaskState.RUNNING, state
        return self.task(ref)

    def finish(self, ref: int, answers: dict[str, str]) -> None:
        """Answer a running task."""
        self.store.finish_task(
            ref,
            OWNER,
            cache_realm=CACHE,
            results={n: (a, None) for n, a in answers.items()},
            source="upstream",
            missing_reason="missing",
        )

    def cache(self, answers: dict[str, str]) -> None:
        """Put answers into the cache through a finished task."""
        new = self.job(list(answers), refresh=True, chunk_size=max(1, len(answers)))
        task = self.only_task(new.job_id)
        self.walk(task.ref, TaskState.RUNNING)
        self.finish(task.ref, answers)

    def claims(self, realm: str = REALM) -> dict[str, int]:
        """Return every claim of ``realm`` as {e164: ref}."""
        rows = self.store.read("SELECT e164, ref FROM claims WHERE realm = ?", (realm,))
        return {r[0]: r[1] for r in rows}


def numbers(count: int, start: int = 0) -> list[str]:
    """Return ``count`` Swiss mobile numbers in E.164."""
    return [f"+4179{n:07d}" for n in range(start, start + count)]


@pytest.fixture
def clock() -> FakeClock:
    """A fake wall clock."""
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """A store on the fake clock: an SQLite file in a temporary folder, or a new PostgreSQL
    database (skipped, saying why, where no PostgreSQL cluster can be started)."""
    if request.param == "postgresql":
        location: Path | str = request.getfixturevalue("pg_store_url")
    else:
        location = tmp_path / "db" / "fbcheck.sqlite3"
    s = Store(location, clock=clock)
    yield s
    s.close()


@pytest.fixture
def desk(store: Store, clock: FakeClock) -> Desk:
    """The step helper on ``store``."""
    return Desk(store, clock)
