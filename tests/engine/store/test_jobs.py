"""Jobs: cache hits, joins and claims in one transaction (threads and processes), user's words."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from addin.engine.states import JobState, TaskState
from addin.engine.store import NewJob, Store
from tests.engine.store.conftest import CACHE, OWNER, REALM, Desk, numbers

S = TaskState


def assert_each_number_in_one_task(store: Store, count: int) -> None:
    """Check the money rule: every number of the realm is in exactly one task and one claim."""
    rows = store.read("SELECT e164, COUNT(*) FROM task_numbers GROUP BY e164")
    assert len(rows) == count
    assert {r[1] for r in rows} == {1}
    assert store.read("SELECT COUNT(*) FROM claims WHERE realm = ?", (REALM,))[0][0] == count


def test_new_numbers_are_claimed_in_chunks(desk: Desk) -> None:
    new = desk.job(list(reversed(numbers(5))), chunk_size=2, fingerprint="f1")
    assert (new.cache_hits, new.joined, new.uploaded, new.tasks) == (0, 0, 5, 3)
    tasks = desk.store.job_tasks(new.job_id)
    assert [desk.store.task_numbers(t.ref) for t in tasks] == [
        numbers(2),
        numbers(2, 2),
        numbers(1, 4),
    ]
    assert {t.state for t in tasks} == {S.QUEUED}
    assert {(t.lease_owner, t.lease_expires) for t in tasks} == {(OWNER, desk.clock.now + 60)}
    assert desk.claims() == {n: t.ref for t in tasks for n in desk.store.task_numbers(t.ref)}
    job = desk.store.job(new.job_id)
    assert job is not None
    assert (job.state, job.fingerprint, job.kind, job.label) == (
        JobState.RUNNING,
        "f1",
        "test",
        "t",
    )
    assert job.plan == {"cache_hits": 0, "in_flight": 0, "to_upload": 5, "tasks": 3, "held": 0}
    assert desk.store.job_counts(new.job_id) == {"pending": 5}


def test_chunks_are_balanced_within_the_minimum(desk: Desk) -> None:
    new = desk.job(numbers(7), chunk_size=5, min_chunk=3)
    tasks = desk.store.job_tasks(new.job_id)
    assert [t.n_numbers for t in tasks] == [4, 3]  # not 5 + 2: no remainder under the minimum
    assert sorted(n for t in tasks for n in desk.store.task_numbers(t.ref)) == numbers(7)


def test_fewer_new_numbers_than_the_minimum_are_held_out_of_the_job(desk: Desk) -> None:
    new = desk.job(numbers(2), chunk_size=5, min_chunk=3)
    assert (new.uploaded, new.tasks, new.held) == (0, 0, 2)
    assert desk.store.job_tasks(new.job_id) == []
    assert desk.claims() == {}
    job = desk.store.job(new.job_id)
    assert job is not None
    assert job.state == JobState.DONE
    assert job.plan["held"] == 2
    assert desk.store.job_counts(new.job_id) == {}


def test_a_job_without_owner_leaves_its_tasks_free(desk: Desk) -> None:
    task = desk.only_task(desk.job(numbers(1), owner=None).job_id)
    assert (task.lease_owner, task.lease_expires) == (None, None)


def test_cache_hits_answer_at_once(desk: Desk) -> None:
    desk.cache({"+41790000000": "yes", "+41790000001": "ban"})
    new = desk.job(numbers(3))
    assert (new.cache_hits, new.joined, new.uploaded, new.tasks) == (2, 0, 1, 1)
    answers = desk.store.job_answers(new.job_id)
    assert {n: (a.answer, a.source) for n, a in answers.items()} == {
        "+41790000000": ("yes", "cache"),
        "+41790000001": ("ban", "cache"),
    }
    assert desk.store.task_numbers(desk.only_task(new.job_id).ref) == ["+41790000002"]


def test_a_job_of_only_hits_is_done(desk: Desk) -> None:
    desk.cache({"+41790000000": "no"})
    new = desk.job(numbers(1))
    assert (new.cache_hits, new.tasks) == (1, 0)
    assert desk.store.job(new.job_id).state == JobState.DONE  # type: ignore[union-attr]
    assert desk.store.job_tasks(new.job_id) == []


def test_refresh_and_stale_entries_skip_the_cache(desk: Desk) -> None:
    desk.cache({"+41790000000": "no"})
    assert desk.job(numbers(1), refresh=True).uploaded == 1
    desk.store.abandon_realm(REALM, "clean up")
    desk.clock.advance(3601)
    assert desk.job(numbers(1)).uploaded == 1


def test_claimed_numbers_are_joined_and_answered_for_both_jobs(desk: Desk) -> None:
    first = desk.job(numbers(2))
    task = desk.only_task(first.job_id)
    second = desk.job(numbers(3), refresh=True)
    assert (second.joined, second.uploaded, second.tasks) == (2, 1, 1)
    assert len(desk.store.job_tasks(second.job_id)) == 2  # the joined one and its own
    assert_each_number_in_one_task(desk.store, 3)
    desk.walk(task.ref, S.RUNNING)
    desk.finish(task.ref, {"+41790000000": "yes"})
    for job_id in (first.job_id, second.job_id):
        answers = desk.store.job_answers(job_id)
        assert answers["+41790000000"].answer == "yes"
        assert (answers["+41790000001"].answer, answers["+41790000001"].reason) == (
            "error",
            "missing",
        )
    assert desk.store.job(first.job_id).state == JobState.DONE  # type: ignore[union-attr]
    assert desk.store.job(second.job_id).state == JobState.RUNNING  # type: ignore[union-attr]
    assert desk.store.cached(CACHE, numbers(2), max_age=60) == {
        "+41790000000": ("yes", desk.clock.now)
    }


def test_two_threads_at_once_put_each_number_in_one_task(desk: Desk) -> None:
    wanted = numbers(300)
    barrier = threading.Barrier(2)
    made: list[NewJob] = []

    def submit() -> None:
        """Create a job for every number as soon as the other thread is ready."""
        barrier.wait()
        made.append(desk.job(wanted, chunk_size=50))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(made) == 2
    assert sorted((j.uploaded, j.joined) for j in made) == [(0, 300), (300, 0)]
    assert_each_number_in_one_task(desk.store, 300)


SUBMIT_SCRIPT = """
import json, sys
from pathlib import Path
from addin.engine.store import Store

location, count, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = Store(location if location.startswith("postgresql://") else Path(location))
print("ready", flush=True)
sys.stdin.readline()
numbers = [f"+4179{n:07d}" for n in range(count)]
new = store.create_job(
    realm="r", cache_realm="c", kind="test", label="", numbers=numbers, refresh=False,
    max_age=3600.0, chunk_size=chunk, plan={}, hit_source="cache",
)
print(json.dumps({"uploaded": new.uploaded, "joined": new.joined}), flush=True)
"""


@pytest.mark.parametrize(
    ("backend", "processes", "count", "chunk"),
    [
        ("sqlite", 3, 300, 50),
        # Above ANALYZE_FROM: the statistics refresh runs inside the race too.
        ("postgresql", 2, 12_000, 500),
    ],
)
def test_processes_at_once_put_each_number_in_one_task(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    processes: int,
    count: int,
    chunk: int,
) -> None:
    location = (
        str(request.getfixturevalue("pg_store_url"))
        if backend == "postgresql"
        else str(tmp_path / "fbcheck.sqlite3")
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", SUBMIT_SCRIPT, location, str(count), str(chunk)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0
            results.append(json.loads(out))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    joins = [(0, count)] * (processes - 1)
    assert sorted((r["uploaded"], r["joined"]) for r in results) == [*joins, (count, 0)]
    store = Store(location if backend == "postgresql" else Path(location))
    assert_each_number_in_one_task(store, count)
    store.close()


def test_open_job_finds_the_unfinished_job_by_fingerprint(desk: Desk) -> None:
    old = desk.job(numbers(1), fingerprint="f")
    desk.store.cancel_job(old.job_id)
    assert desk.store.open_job("f", REALM) is None
    desk.clock.advance(1)
    first = desk.job(numbers(1), fingerprint="f")
    desk.clock.advance(1)
    newest = desk.job(numbers(1), fingerprint="f")
    found = desk.store.open_job("f", REALM)
    assert found is not None
    assert found.job_id == newest.job_id != first.job_id
    assert desk.store.open_job("f", "elsewhere") is None
    assert desk.store.open_job("g", REALM) is None
    assert [j.job_id for j in desk.store.jobs(limit=2)] == [newest.job_id, first.job_id]


def test_cancel_stops_only_tasks_no_other_job_needs(desk: Desk) -> None:
    mine = desk.job(numbers(2), chunk_size=1)
    t1, t2 = desk.store.job_tasks(mine.job_id)
    other = desk.job(numbers(1, 1))
    assert other.joined == 1
    assert desk.store.cancel_job(mine.job_id) == [t1.ref]
    assert desk.task(t1.ref).state == S.CANCELLED
    assert desk.task(t2.ref).state == S.QUEUED
    assert desk.store.job(mine.job_id).state == JobState.CANCELLED  # type: ignore[union-attr]
    assert desk.store.job(other.job_id).state == JobState.RUNNING  # type: ignore[union-attr]
    assert desk.store.job_counts(mine.job_id) == {"error": 2}
    assert desk.claims() == {"+41790000001": t2.ref}


def test_cancel_leaves_uploads_in_flight_and_uncertain_ones(desk: Desk) -> None:
    job = desk.job(numbers(2), chunk_size=1)
    creating, uncertain = desk.store.job_tasks(job.job_id)
    desk.walk(creating.ref, S.CREATING)
    desk.walk(uncertain.ref, S.UNCERTAIN)
    assert desk.store.cancel_job(job.job_id) == []
    assert desk.task(creating.ref).state == S.CREATING
    assert desk.task(uncertain.ref).state == S.UNCERTAIN


def test_approve_resend_queues_the_jobs_uncertain_uploads(desk: Desk) -> None:
    job = desk.job(numbers(3), chunk_size=1)
    a, b, c = desk.store.job_tasks(job.job_id)
    desk.walk(a.ref, S.UNCERTAIN)
    desk.walk(b.ref, S.UNCERTAIN)
    desk.walk(c.ref, S.RUNNING)
    assert desk.store.job_waiting_numbers(job.job_id, S.UNCERTAIN) == 2
    assert desk.store.approve_resend(job.job_id) == [a.ref, b.ref]
    for ref in (a.ref, b.ref):
        task = desk.task(ref)
        assert (task.state, task.lease_owner, task.error) == (
            S.QUEUED,
            None,
            "sent again on the user's word",
        )
        assert task.uncertain_creates == 1
    assert desk.task(c.ref).state == S.RUNNING
    assert desk.store.job_waiting_numbers(job.job_id, S.QUEUED) == 2
    assert desk.store.approve_resend(job.job_id) == []


def test_abandon_waiting_gives_up_uncertain_and_paused_tasks(desk: Desk) -> None:
    job = desk.job(numbers(3), chunk_size=1)
    a, b, c = desk.store.job_tasks(job.job_id)
    desk.walk(a.ref, S.UNCERTAIN)
    desk.walk(b.ref, S.PAUSED)
    desk.walk(c.ref, S.RUNNING)
    assert desk.store.abandon_waiting(job.job_id, "given up") == [a.ref, b.ref]
    assert [desk.task(r).state for r in (a.ref, b.ref, c.ref)] == [
        S.ABANDONED,
        S.ABANDONED,
        S.RUNNING,
    ]
    answers = desk.store.job_answers(job.job_id)
    assert {n: (x.answer, x.reason) for n, x in answers.items()} == {
        "+41790000000": ("error", "given up"),
        "+41790000001": ("error", "given up"),
    }
    assert desk.claims() == {"+41790000002": c.ref}
    desk.finish(c.ref, {"+41790000002": "no"})
    assert desk.store.job(job.job_id).state == JobState.DONE  # type: ignore[union-attr]


def test_job_waiting_numbers_counts_only_unanswered_numbers(desk: Desk) -> None:
    job = desk.job(numbers(2))
    task = desk.walk(desk.only_task(job.job_id).ref, S.PAUSED)
    assert desk.store.job_waiting_numbers(job.job_id, S.PAUSED) == 2
    assert desk.store.job_waiting_numbers(job.job_id, S.RUNNING) == 0
    desk.store.resume_task(task.ref, OWNER)
    desk.finish(task.ref, {})
    assert desk.store.job_waiting_numbers(job.job_id, S.DONE) == 0


def test_abandon_realm_ends_every_open_task_of_that_realm_only(desk: Desk) -> None:
    job = desk.job(numbers(3), chunk_size=1)
    a, b, c = desk.store.job_tasks(job.job_id)
    desk.walk(b.ref, S.CREATING)
    desk.walk(c.ref, S.RUNNING)
    kept = desk.job(numbers(1, 9), realm="r2")
    assert desk.store.abandon_realm(REALM, "emulator gone") == 3
    for ref in (a.ref, b.ref, c.ref):
        assert desk.task(ref).state == S.ABANDONED
    assert desk.task(b.ref).uncertain_creates == 1  # its upload may have been billed
    assert {a.source for a in desk.store.job_answers(job.job_id).values()} == {"demo"}
    assert desk.store.job(job.job_id).state == JobState.DONE  # type: ignore[union-attr]
    assert desk.only_task(kept.job_id).state == S.QUEUED


def test_job_reads(desk: Desk) -> None:
    assert desk.store.job("nope") is None
    assert desk.store.task(12345) is None
    assert desk.store.job_answers("nope") == {}
    assert desk.store.job_counts("nope") == {}
    assert desk.store.job_tasks("nope") == []


def test_answers_come_in_pages_in_number_order(desk: Desk) -> None:
    # Numbers of several lengths and countries: code-point order, as Python sorts.
    mixed = ["+41790000001", "+1202555014", "+12025550143", "+4179000000", "+33612345678"]
    desk.cache(dict.fromkeys(mixed, "no") | {"+447700900123": "yes"})
    new = desk.job([*mixed, "+447700900123", "+41790000009"])  # the last one is uploaded
    expected = sorted(desk.store.job_answers(new.job_id).items())
    assert len(expected) == 6
    for limit in (1, 2, 4, 6, 10):
        pages, after = [], None
        while True:
            page = desk.store.job_answers_page(new.job_id, after=after, limit=limit)
            pages.extend(page)
            if len(page) < limit:
                break
            after = page[-1][0]
        assert pages == expected, limit
    assert desk.store.job_answers_page(new.job_id, after="+9", limit=5) == []
    assert desk.store.job_answers_page("nope", after=None, limit=5) == []
