"""Upstream tasks: every declared move through the public methods, guarded moves, leases."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from addin.engine.states import (
    FINISHED_TASK_STATES,
    TASK_TRANSITIONS,
    StaleStateError,
    TaskState,
)
from addin.engine.store import Store, TaskRecord
from tests.engine.store.conftest import KEY, OWNER, REALM, Desk, numbers

S = TaskState
OTHER = "b" * 32


def _cancel(d: Desk, t: TaskRecord) -> None:
    """Cancel the task's job (no other job waits on it)."""
    assert d.store.cancel_job(t.job_id) == [t.ref]


#: One public way to make each declared move, from a task already in its source state.
MOVES: dict[tuple[TaskState, TaskState], Callable[[Desk, TaskRecord], object]] = {
    (S.QUEUED, S.CREATING): lambda d, t: d.store.start_upload(t.ref, OWNER, KEY),
    (S.QUEUED, S.CANCELLED): _cancel,
    (S.QUEUED, S.ABANDONED): lambda d, t: d.store.end_task(t.ref, S.QUEUED, S.ABANDONED, "gone"),
    (S.CREATING, S.RUNNING): lambda d, t: d.store.record_created(
        t.ref, source=S.CREATING, task_id="t1", vendor_status="pending"
    ),
    (S.CREATING, S.QUEUED): lambda d, t: d.store.record_not_created(t.ref, OWNER, "500"),
    (S.CREATING, S.UNCERTAIN): lambda d, t: d.store.record_uncertain(t.ref, "reset"),
    (S.CREATING, S.REFUSED): lambda d, t: d.store.end_task(
        t.ref, S.CREATING, S.REFUSED, "402", owner=OWNER
    ),
    (S.UNCERTAIN, S.QUEUED): lambda d, t: d.store.approve_resend_task(t.ref, "again"),
    (S.UNCERTAIN, S.ABANDONED): lambda d, t: d.store.abandon_waiting(t.job_id, "given up"),
    (S.UNCERTAIN, S.RUNNING): lambda d, t: d.store.record_created(
        t.ref, source=S.UNCERTAIN, task_id="t1", vendor_status="pending"
    ),
    (S.RUNNING, S.RUNNING): lambda d, t: d.store.record_poll(t.ref, OWNER, "processing", 2, 1, 0),
    (S.RUNNING, S.PAUSED): lambda d, t: d.store.pause_task(t.ref, OWNER, "402"),
    (S.RUNNING, S.DONE): lambda d, t: d.finish(t.ref, {}),
    (S.RUNNING, S.FAILED): lambda d, t: d.store.end_task(
        t.ref, S.RUNNING, S.FAILED, "failed", owner=OWNER
    ),
    (S.RUNNING, S.LOST): lambda d, t: d.store.end_task(t.ref, S.RUNNING, S.LOST, "404"),
    (S.RUNNING, S.CANCELLED): _cancel,
    (S.RUNNING, S.ABANDONED): lambda d, t: d.store.abandon_realm(REALM, "emulator gone"),
    (S.PAUSED, S.RUNNING): lambda d, t: d.store.resume_task(t.ref, OWNER),
    (S.PAUSED, S.CANCELLED): _cancel,
    (S.PAUSED, S.ABANDONED): lambda d, t: d.store.abandon_waiting(t.job_id, "given up"),
}


def test_every_declared_move_has_a_public_method() -> None:
    assert set(MOVES) == set(TASK_TRANSITIONS)


@pytest.mark.parametrize(("source", "target"), sorted(MOVES), ids=lambda s: str(s))
def test_declared_move(desk: Desk, source: TaskState, target: TaskState) -> None:
    job = desk.job(numbers(2))
    task = desk.walk(desk.only_task(job.job_id).ref, source)
    assert task.state == source
    desk.clock.advance(5)
    MOVES[source, target](desk, task)
    moved = desk.task(task.ref)
    assert moved.state == target
    assert moved.updated_at == desk.clock.now
    if target in FINISHED_TASK_STATES:
        assert moved.finished_at == desk.clock.now
        assert desk.claims() == {}  # the numbers are free for a later task
        assert desk.store.job_counts(job.job_id).get("pending", 0) == 0
    else:
        assert moved.finished_at is None
        assert desk.claims() == dict.fromkeys(numbers(2), task.ref)


def test_undeclared_moves_raise_value_error_and_change_nothing(desk: Desk) -> None:
    task = desk.only_task(desk.job(numbers(1)).job_id)
    for source in TaskState:
        for target in TaskState:
            if (source, target) in TASK_TRANSITIONS:
                continue
            with pytest.raises(ValueError, match=f"cannot go from {source} to {target}"):
                desk.store.end_task(task.ref, source, target, "nope")
    assert desk.task(task.ref) == task


def test_record_created_from_queued_is_undeclared(desk: Desk) -> None:
    task = desk.only_task(desk.job(numbers(1)).job_id)
    with pytest.raises(ValueError, match="cannot go from queued to running"):
        desk.store.record_created(task.ref, source=S.QUEUED, task_id="x", vendor_status="pending")


@pytest.mark.parametrize(
    ("state", "wrong"),
    [
        (S.QUEUED, lambda d, t: d.store.pause_task(t.ref, OWNER, "x")),
        (S.QUEUED, lambda d, t: d.store.record_uncertain(t.ref, "x")),
        (S.QUEUED, lambda d, t: d.store.record_poll(t.ref, OWNER, "processing", 1, 1, 0)),
        (S.RUNNING, lambda d, t: d.store.start_upload(t.ref, OWNER, KEY)),
        (S.UNCERTAIN, lambda d, t: d.store.record_not_created(t.ref, OWNER, "x")),
        (S.PAUSED, lambda d, t: d.store.record_poll(t.ref, OWNER, "processing", 1, 1, 0)),
        (S.CREATING, lambda d, t: d.store.resume_task(t.ref, OWNER)),
    ],
)
def test_move_from_the_wrong_state_is_stale_and_changes_nothing(
    desk: Desk, state: TaskState, wrong: Callable[[Desk, TaskRecord], object]
) -> None:
    task = desk.walk(desk.only_task(desk.job(numbers(1)).job_id).ref, state)
    desk.clock.advance(5)
    with pytest.raises(StaleStateError, match=f"task {task.ref}: expected .*, found {state}"):
        wrong(desk, task)
    assert desk.task(task.ref) == task


def test_finishing_a_task_that_is_not_running_writes_no_answer(desk: Desk) -> None:
    job = desk.job(numbers(1))
    task = desk.only_task(job.job_id)
    with pytest.raises(StaleStateError):
        desk.finish(task.ref, {numbers(1)[0]: "yes"})
    assert desk.store.job_answers(job.job_id) == {}
    assert desk.store.cached("cache-r", numbers(1), max_age=3600) == {}
    assert desk.task(task.ref) == task


def test_a_move_under_another_owners_lease_is_stale(desk: Desk) -> None:
    task = desk.only_task(desk.job(numbers(1), owner=OTHER).job_id)
    with pytest.raises(StaleStateError, match=f"lease {OTHER}"):
        desk.store.start_upload(task.ref, OWNER, KEY)
    assert desk.task(task.ref) == task


def test_a_missing_task_is_stale(desk: Desk) -> None:
    with pytest.raises(StaleStateError, match="found missing"):
        desk.store.pause_task(999, OWNER, "x")


def test_counters_are_kept(desk: Desk) -> None:
    task = desk.only_task(desk.job(numbers(3)).job_id)
    s = desk.store
    s.start_upload(task.ref, OWNER, KEY)
    s.record_not_created(task.ref, OWNER, "500")
    s.start_upload(task.ref, OWNER, KEY)
    s.record_uncertain(task.ref, "reset")
    s.approve_resend_task(task.ref, "again")
    s.claim_tasks(REALM, OWNER, key_fp=KEY, lease_seconds=60, owners_gone=lambda owners: set())
    s.start_upload(task.ref, OWNER, KEY)
    desk.clock.advance(1)
    s.record_created(task.ref, source=S.CREATING, task_id="tid", vendor_status="pending", total=3)
    s.record_poll(task.ref, OWNER, "processing", 3, 1, 1)
    s.note_error(task.ref, "a timeout")
    record = desk.task(task.ref)
    assert (record.create_attempts, record.uncertain_creates, record.polls) == (3, 1, 1)
    assert (record.task_id, record.key_fp, record.created_at) == ("tid", KEY, desk.clock.now)
    assert (record.total, record.success, record.failure, record.processed) == (3, 1, 1, 2)
    assert record.error == "a timeout"
    assert s.task_numbers(task.ref) == numbers(3)
    assert s.open_tasks() == [record]
    assert s.open_tasks("elsewhere") == []


# -- leases ------------------------------------------------------------------------


def _claim(store: Store, owner: str, *, key_fp: str = KEY, gone: Iterable[str] = ()) -> list[int]:
    """Claim the realm's tasks for ``owner`` (``gone`` are dead owners); return the refs held."""
    held = store.claim_tasks(
        REALM, owner, key_fp=key_fp, lease_seconds=60, owners_gone=lambda owners: owners & set(gone)
    )
    return [t.ref for t in held]


def test_claim_takes_a_free_lease(desk: Desk) -> None:
    ref = desk.only_task(desk.job(numbers(1), owner=None).job_id).ref
    assert _claim(desk.store, OTHER) == [ref]
    task = desk.task(ref)
    assert (task.lease_owner, task.lease_expires) == (OTHER, desk.clock.now + 60)


def test_claim_keeps_its_own_lease_and_leaves_a_live_one(desk: Desk) -> None:
    ref = desk.only_task(desk.job(numbers(1)).job_id).ref
    assert _claim(desk.store, OTHER) == []
    assert desk.task(ref).lease_owner == OWNER
    desk.clock.advance(30)
    assert _claim(desk.store, OWNER) == [ref]
    assert desk.task(ref).lease_expires == desk.clock.now + 60


def test_claim_takes_an_expired_lease(desk: Desk) -> None:
    ref = desk.only_task(desk.job(numbers(1)).job_id).ref
    desk.clock.advance(59)
    assert _claim(desk.store, OTHER) == []
    desk.clock.advance(2)
    assert _claim(desk.store, OTHER) == [ref]


def test_claim_takes_a_dead_owners_lease_at_once(desk: Desk) -> None:
    ref = desk.only_task(desk.job(numbers(1)).job_id).ref
    assert _claim(desk.store, OTHER, gone={"c" * 32}) == []
    assert _claim(desk.store, OTHER, gone={OWNER}) == [ref]


def test_a_dead_owners_leases_in_other_realms_are_freed_too(desk: Desk) -> None:
    here = desk.only_task(desk.job(numbers(1)).job_id).ref
    elsewhere = desk.only_task(desk.job(numbers(1, 1), realm="elsewhere").job_id).ref
    assert _claim(desk.store, OTHER, gone={OWNER}) == [here]
    # Its lock file is gone now: its lease in the other realm is not left to expire.
    assert (desk.task(elsewhere).lease_owner, desk.task(elsewhere).lease_expires) == (None, None)


def test_claim_asks_only_about_live_foreign_owners(desk: Desk) -> None:
    desk.job(numbers(1))
    seen: list[set[str]] = []

    def owners_gone(owners: set[str]) -> set[str]:
        """Remember the question."""
        seen.append(owners)
        return set()

    desk.store.claim_tasks(REALM, OWNER, key_fp=KEY, lease_seconds=60, owners_gone=owners_gone)
    assert seen == []  # only our own lease: nobody to ask about
    desk.store.claim_tasks(REALM, OTHER, key_fp=KEY, lease_seconds=60, owners_gone=owners_gone)
    assert seen == [{OWNER}]


def test_claim_leaves_another_keys_paid_tasks_but_takes_its_queued_ones(desk: Desk) -> None:
    running = desk.walk(desk.only_task(desk.job(numbers(1)).job_id).ref, S.RUNNING)
    requeued = desk.only_task(desk.job(numbers(1, 1)).job_id)
    desk.store.start_upload(requeued.ref, OWNER, KEY)
    desk.store.record_not_created(requeued.ref, OWNER, "500")
    assert desk.task(requeued.ref).key_fp == KEY
    desk.store.release_leases(OWNER)
    assert _claim(desk.store, OTHER, key_fp="key-2") == [requeued.ref]
    assert desk.task(running.ref).lease_owner is None
    assert _claim(desk.store, OWNER, key_fp=KEY) == [running.ref]


def test_claim_leaves_uncertain_and_finished_tasks_and_other_realms(desk: Desk) -> None:
    uncertain = desk.walk(desk.only_task(desk.job(numbers(1)).job_id).ref, S.UNCERTAIN)
    done = desk.walk(desk.only_task(desk.job(numbers(1, 1)).job_id).ref, S.RUNNING)
    desk.finish(done.ref, {})
    desk.job(numbers(1, 2), realm="elsewhere", owner=None)
    desk.store.release_leases(OWNER)
    assert _claim(desk.store, OTHER) == []
    assert desk.task(uncertain.ref).lease_owner is None


def test_claim_holds_paused_and_creating_tasks(desk: Desk) -> None:
    paused = desk.walk(desk.only_task(desk.job(numbers(1)).job_id).ref, S.PAUSED)
    creating = desk.walk(desk.only_task(desk.job(numbers(1, 1)).job_id).ref, S.CREATING)
    assert _claim(desk.store, OWNER) == [paused.ref, creating.ref]


def test_renew_leases_extends_only_the_owners(desk: Desk) -> None:
    mine = [t.ref for t in desk.store.job_tasks(desk.job(numbers(2), chunk_size=1).job_id)]
    theirs = desk.only_task(desk.job(numbers(1, 5), owner=OTHER).job_id).ref
    desk.clock.advance(50)
    assert desk.store.renew_leases(OWNER, 60) == 2
    assert [desk.task(ref).lease_expires for ref in mine] == [desk.clock.now + 60] * 2
    assert desk.task(theirs).lease_expires == desk.clock.now + 10
    desk.clock.advance(30)  # past the first leases, within the renewed ones
    assert _claim(desk.store, "c" * 32) == [theirs]


def test_release_leases_lets_the_next_runner_take_them_at_once(desk: Desk) -> None:
    ref = desk.only_task(desk.job(numbers(1)).job_id).ref
    desk.store.release_leases(OWNER)
    task = desk.task(ref)
    assert (task.lease_owner, task.lease_expires) == (None, None)
    assert _claim(desk.store, OTHER) == [ref]


def test_in_flight_reads_claims_of_one_realm(desk: Desk) -> None:
    ref = desk.only_task(desk.job(numbers(2)).job_id).ref
    assert desk.store.in_flight(REALM, numbers(3)) == dict.fromkeys(numbers(2), ref)
    assert desk.store.in_flight("elsewhere", numbers(3)) == {}


@pytest.mark.parametrize("source", [S.QUEUED, S.CREATING])
def test_a_split_moves_numbers_claims_and_waiting_jobs_to_new_tasks(
    desk: Desk, source: TaskState
) -> None:
    first = desk.job(numbers(6))
    ref = desk.walk(desk.only_task(first.job_id).ref, source).ref
    second = desk.job(numbers(6))  # joins the task: no task of its own
    assert second.joined == 6
    groups = [numbers(6)[:3], numbers(6)[3:]]
    refs = desk.store.split_task(
        ref, source, owner=OWNER, groups=groups, reason="too large", lease_seconds=60.0
    )
    old = desk.task(ref)
    assert (old.state, old.error) == (S.REFUSED, "too large")
    news = [desk.task(r) for r in refs]
    assert [(t.state, t.job_id, t.lease_owner) for t in news] == [
        (S.QUEUED, first.job_id, OWNER)
    ] * 2
    assert [desk.store.task_numbers(r) for r in refs] == groups
    expected = {n: refs[0] for n in groups[0]} | {n: refs[1] for n in groups[1]}
    assert desk.store.in_flight(REALM, numbers(6)) == expected
    for job in (first, second):
        pointed = desk.store.read(
            "SELECT e164, task_ref FROM job_numbers WHERE job_id = ? AND answer IS NULL",
            (job.job_id,),
        )
        assert dict(pointed) == expected  # nobody answered: both jobs wait on the new tasks
    assert desk.store.job(first.job_id).state == "running"  # type: ignore[union-attr]


def test_a_split_of_a_task_that_moved_on_or_of_other_numbers_changes_nothing(
    desk: Desk,
) -> None:
    ref = desk.only_task(desk.job(numbers(4)).job_id).ref
    with pytest.raises(ValueError, match="each once"):
        desk.store.split_task(
            ref, S.QUEUED, owner=OWNER, groups=[numbers(3)], reason="x", lease_seconds=60.0
        )
    desk.walk(ref, S.RUNNING)
    with pytest.raises(StaleStateError):
        desk.store.split_task(
            ref,
            S.CREATING,
            owner=OWNER,
            groups=[numbers(4)[:2], numbers(4)[2:]],
            reason="x",
            lease_seconds=60.0,
        )
    assert desk.task(ref).state == S.RUNNING
    assert desk.store.in_flight(REALM, numbers(4)) == dict.fromkeys(numbers(4), ref)
    assert len(desk.store.read("SELECT ref FROM tasks")) == 1
