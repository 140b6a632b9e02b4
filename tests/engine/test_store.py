"""The SQLite store: cache TTL, jobs, task lifecycle, answers for every waiting job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.engine.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store in a temporary folder."""
    s = Store(tmp_path / "db" / "fbcheck.sqlite3")
    yield s
    s.close()


def _job(store: Store, chunks, *, hits=None, in_flight=None, realm="r", owner=None) -> str:
    """Create a job with the given chunks."""
    return store.create_job(
        realm=realm,
        kind="test",
        label="t",
        refresh=False,
        plan={},
        hits=hits or {},
        in_flight=in_flight or {},
        chunks=chunks,
        hit_source="cache",
        owner=owner,
    )


def test_schema_created_on_open(tmp_path: Path) -> None:
    s = Store(tmp_path / "x.sqlite3")
    names = {r[0] for r in s.read("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"results", "jobs", "job_numbers", "tasks", "task_numbers"} <= names


def test_job_with_only_hits_is_done_at_once(store: Store) -> None:
    job = _job(store, [], hits={"+41798284651": ("yes", time.time())})
    record = store.job(job)
    assert record is not None
    assert record.state == "done"
    answers = store.job_answers(job)
    assert answers["+41798284651"].answer == "yes"
    assert answers["+41798284651"].source == "cache"


def test_task_lifecycle_caches_answers_and_finishes_job(store: Store) -> None:
    job = _job(store, [["+41790000001", "+41790000002", "+41790000003"]])
    (task,) = store.job_tasks(job)
    assert task.state == "queued"
    assert store.in_flight("r", ["+41790000001", "+41799999999"]) == {"+41790000001": task.ref}
    store.mark_creating(task.ref)
    store.mark_created(task.ref, "cs9viu7i61pkfs4oavvg", "pending", 0, 0, 0)
    store.record_poll(task.ref, "processing", 3, 1, 0)
    polled = store.task(task.ref)
    assert polled is not None
    assert (polled.state, polled.billed, polled.polls, polled.create_attempts) == (
        "running",
        2,
        1,
        1,
    )
    store.finish_task(
        task.ref,
        realm="cache-r",
        results={"+41790000001": ("yes", None), "+41790000002": ("ban", None)},
        source="upstream",
        missing_reason="missing",
    )
    answers = store.job_answers(job)
    assert answers["+41790000001"].answer == "yes"
    assert answers["+41790000002"].answer == "ban"
    # Absent from the result file: an error with a reason, never a silent "no".
    assert (answers["+41790000003"].answer, answers["+41790000003"].reason) == ("error", "missing")
    assert store.job(job).state == "done"  # type: ignore[union-attr]
    cached = store.cached("cache-r", ["+41790000001", "+41790000002", "+41790000003"], max_age=60)
    assert set(cached) == {"+41790000001", "+41790000002"}  # errors are not cached
    assert store.in_flight("r", ["+41790000001"]) == {}


def test_cache_respects_ttl_and_realm(store: Store) -> None:
    job = _job(store, [["+41790000001"]])
    (task,) = store.job_tasks(job)
    store.mark_created(task.ref, "t1", "pending", 0, 0, 0)
    store.finish_task(
        task.ref, realm="a", results={"+41790000001": ("no", None)}, source="u", missing_reason="m"
    )
    assert store.cached("a", ["+41790000001"], max_age=60) != {}
    assert store.cached("b", ["+41790000001"], max_age=60) == {}
    later = time.time() + 120
    assert store.cached("a", ["+41790000001"], max_age=60, now=later) == {}
    assert store.clear_cache("a") == 1
    assert store.cached("a", ["+41790000001"], max_age=60) == {}


def test_a_second_job_joining_a_task_gets_the_answer_too(store: Store) -> None:
    first = _job(store, [["+41790000001"]])
    (task,) = store.job_tasks(first)
    second = _job(store, [], in_flight={"+41790000001": task.ref})
    assert store.job(second).state == "running"  # type: ignore[union-attr]
    store.mark_created(task.ref, "t1", "pending", 0, 0, 0)
    store.finish_task(
        task.ref, realm="c", results={"+41790000001": ("yes", None)}, source="u", missing_reason="m"
    )
    assert store.job_answers(second)["+41790000001"].answer == "yes"
    assert store.job(second).state == "done"  # type: ignore[union-attr]


def test_fail_task_answers_error_with_reason(store: Store) -> None:
    job = _job(store, [["+41790000001", "+41790000002"]])
    (task,) = store.job_tasks(job)
    store.fail_task(task.ref, "the vendor reports task x as failed")
    answers = store.job_answers(job)
    assert {a.answer for a in answers.values()} == {"error"}
    assert answers["+41790000001"].reason == "the vendor reports task x as failed"
    assert store.job(job).state == "done"  # type: ignore[union-attr]


def test_cancel_stops_tasks_no_other_job_needs(store: Store) -> None:
    mine = _job(store, [["+41790000001"], ["+41790000002"]])
    t1, t2 = store.job_tasks(mine)
    other = _job(store, [], in_flight={"+41790000002": t2.ref})
    stopped = store.cancel_job(mine)
    assert stopped == [t1.ref]
    assert store.task(t1.ref).state == "cancelled"  # type: ignore[union-attr]
    assert store.task(t2.ref).state == "queued"  # type: ignore[union-attr]
    assert store.job(mine).state == "cancelled"  # type: ignore[union-attr]
    assert store.job(other).state == "running"  # type: ignore[union-attr]
    assert store.job_counts(mine) == {"error": 2}


def test_claim_takes_tasks_of_dead_or_released_owners_only(store: Store) -> None:
    job = _job(store, [["+41790000001"]], owner="someone-alive")
    (task,) = store.job_tasks(job)
    # The owner's pid is this (alive) process: another runner must not take it.
    assert store.claim_open_tasks("r", "me", 1) == []
    store.release("someone-alive")
    claimed = store.claim_open_tasks("r", "me", 1)
    assert [t.ref for t in claimed] == [task.ref]
    with store.transaction() as db:
        db.execute("UPDATE tasks SET owner = 'dead', owner_pid = 999999999")
    assert [t.ref for t in store.claim_open_tasks("r", "me2", 1)] == [task.ref]
