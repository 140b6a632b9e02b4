"""The declared state machines: every open state has a way out, finished states have none."""

from __future__ import annotations

import pytest

from addin.engine.states import (
    ACTIVE_TASK_STATES,
    FINISHED_TASK_STATES,
    JOB_TRANSITIONS,
    OPEN_TASK_STATES,
    PAID_TASK_STATES,
    TASK_TRANSITIONS,
    JobState,
    TaskState,
    check_job_move,
    check_task_move,
    sql_list,
)

S = TaskState


def reachable(start: TaskState) -> set[TaskState]:
    """Return every state a task in ``start`` can reach by declared moves."""
    seen = {start}
    todo = [start]
    while todo:
        state = todo.pop()
        for source, target in TASK_TRANSITIONS:
            if source == state and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_open_and_finished_states_split_every_state() -> None:
    assert set(OPEN_TASK_STATES) | set(FINISHED_TASK_STATES) == set(TaskState)
    assert not set(OPEN_TASK_STATES) & set(FINISHED_TASK_STATES)
    assert set(ACTIVE_TASK_STATES) <= set(OPEN_TASK_STATES)


@pytest.mark.parametrize("state", OPEN_TASK_STATES)
def test_every_open_state_has_a_way_out(state: TaskState) -> None:
    assert any(s == state and t != state for s, t in TASK_TRANSITIONS)
    assert reachable(state) & set(FINISHED_TASK_STATES)


@pytest.mark.parametrize("state", FINISHED_TASK_STATES)
def test_finished_states_have_no_way_out(state: TaskState) -> None:
    assert [t for s, t in TASK_TRANSITIONS if s == state] == []


def test_every_state_is_reachable_from_queued() -> None:
    assert reachable(S.QUEUED) == set(TaskState)


def test_only_queued_tasks_are_uploaded() -> None:
    assert {s for s, t in TASK_TRANSITIONS if t == S.CREATING} == {S.QUEUED}


def test_a_paid_task_goes_back_to_the_queue_only_on_the_users_word() -> None:
    # uncertain -> queued is the user's word (or the bounded re-send policy).
    back = {(s, t) for s, t in TASK_TRANSITIONS if s in PAID_TASK_STATES and t == S.QUEUED}
    assert back == {(S.UNCERTAIN, S.QUEUED)}


def test_a_task_with_a_vendor_id_is_never_refused_or_requeued() -> None:
    for state in (S.RUNNING, S.PAUSED):
        assert reachable(state) & {S.QUEUED, S.CREATING, S.REFUSED, S.UNCERTAIN} == set()


def test_a_task_is_lost_only_from_running() -> None:
    assert {s for s, t in TASK_TRANSITIONS if t == S.LOST} == {S.RUNNING}


def test_nothing_enters_creating_or_uncertain_without_an_upload() -> None:
    assert {s for s, t in TASK_TRANSITIONS if t == S.UNCERTAIN} == {S.CREATING}


def test_paid_states() -> None:
    assert S.QUEUED not in PAID_TASK_STATES
    assert S.REFUSED not in PAID_TASK_STATES
    assert S.UNCERTAIN in PAID_TASK_STATES


def test_check_task_move() -> None:
    check_task_move(S.QUEUED, S.CREATING)
    with pytest.raises(ValueError, match="a task cannot go from running to queued"):
        check_task_move(S.RUNNING, S.QUEUED)
    with pytest.raises(ValueError, match="from done to running"):
        check_task_move(S.DONE, S.RUNNING)


def test_job_moves() -> None:
    assert {t for s, t in JOB_TRANSITIONS if s == JobState.CANCELLED} == set()
    check_job_move(JobState.RUNNING, JobState.DONE)
    check_job_move(JobState.DONE, JobState.RUNNING)
    with pytest.raises(ValueError, match="a job cannot go from cancelled to running"):
        check_job_move(JobState.CANCELLED, JobState.RUNNING)


def test_sql_list() -> None:
    assert sql_list((S.QUEUED, S.RUNNING)) == "'queued', 'running'"
