"""Planning: dedupe, cache hits, joining running tasks, chunking, the estimate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from addin.engine.planning import plan_numbers
from addin.engine.states import TaskState
from addin.engine.store import Store

OWNER = "a" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store in a temporary folder."""
    s = Store(tmp_path / "fbcheck.sqlite3")
    yield s
    s.close()


def _queue(store: Store, numbers: list[str]) -> str:
    """Store a job whose numbers wait in one queued task of realm "tasks"; return its id."""
    return store.create_job(
        realm="tasks",
        cache_realm="c",
        kind="t",
        label="",
        numbers=numbers,
        refresh=True,
        max_age=3600.0,
        chunk_size=max(1, len(numbers)),
        plan={},
        hit_source="cache",
        owner=OWNER,
        lease_seconds=60.0,
    ).job_id


def _cache(store: Store, realm: str, answers: dict[str, str]) -> None:
    """Put answers into the cache through a finished task."""
    job = _queue(store, list(answers))
    (task,) = store.job_tasks(job)
    store.start_upload(task.ref, OWNER, "key")
    store.record_created(
        task.ref, source=TaskState.CREATING, task_id=f"id{task.ref}", vendor_status="pending"
    )
    store.finish_task(
        task.ref,
        OWNER,
        cache_realm=realm,
        results={n: (a, None) for n, a in answers.items()},
        source="upstream",
        missing_reason="m",
    )


def _plan(store: Store, numbers, **kw):
    """Plan with test defaults."""
    args: dict[str, Any] = {
        "cache_realm": "c",
        "task_realm": "tasks",
        "max_age": 3600.0,
        "chunk_size": 2,
    }
    args.update(kw)
    return plan_numbers(store, numbers, **args)


def test_dedupes_and_chunks(store: Store) -> None:
    plan = _plan(store, ["+41790000003", "+41790000001", "+41790000003", "+41790000002"])
    assert plan.distinct == 3
    assert plan.to_upload == 3
    assert plan.tasks == 2
    assert plan.chunks == [["+41790000001", "+41790000002"], ["+41790000003"]]
    assert plan.billed_minimum == 4


def test_cache_hits_are_not_uploaded_unless_refresh(store: Store) -> None:
    _cache(store, "c", {"+41790000001": "yes"})
    plan = _plan(store, ["+41790000001", "+41790000002"])
    assert plan.cache_hits == 1
    assert plan.upload == ["+41790000002"]
    refreshed = _plan(store, ["+41790000001", "+41790000002"], refresh=True)
    assert refreshed.cache_hits == 0
    assert refreshed.to_upload == 2


def test_expired_cache_entries_are_uploaded_again(store: Store) -> None:
    _cache(store, "c", {"+41790000001": "yes"})
    with store.transaction() as db:
        db.execute("UPDATE results SET checked_at = ?", (time.time() - 7200,))
    plan = _plan(store, ["+41790000001"])
    assert plan.cache_hits == 0
    assert plan.to_upload == 1


def test_numbers_in_a_running_task_are_joined_not_uploaded(store: Store) -> None:
    _queue(store, ["+41790000001"])
    plan = _plan(store, ["+41790000001", "+41790000002"], refresh=True)
    assert list(plan.in_flight) == ["+41790000001"]
    assert plan.upload == ["+41790000002"]
    other_realm = _plan(store, ["+41790000001"], task_realm="elsewhere")
    assert other_realm.upload == ["+41790000001"]


def test_summary_counts(store: Store) -> None:
    plan = _plan(store, ["+41790000001"], rows=5, invalid=2)
    summary = plan.summary()
    assert summary["rows"] == 5
    assert summary["invalid"] == 2
    assert summary["to_upload"] == 1
    assert summary["tasks"] == 1
    assert summary["billed_typical"] > summary["billed_minimum"]


def test_needs_confirmation_above_the_threshold_only(store: Store) -> None:
    plan = _plan(store, ["+41790000001", "+41790000002", "+41790000003"])
    assert plan.to_upload == 3
    assert plan.needs_confirmation(2)
    assert not plan.needs_confirmation(3)
    assert not plan.needs_confirmation(1000)
    _cache(store, "c", {"+41790000001": "yes", "+41790000002": "no", "+41790000003": "ban"})
    # Cached numbers cost nothing, so there is nothing to confirm.
    assert not _plan(store, ["+41790000001", "+41790000002", "+41790000003"]).needs_confirmation(0)
