"""Who paid: the cache remembers the user whose job bought each answer, and a plan for one
user counts the numbers other users already paid for (cache hits and joined open tasks).

On both stores (the ``store`` fixture: SQLite and a real PostgreSQL database).
"""

from __future__ import annotations

from addin.engine.planning import plan_numbers
from addin.engine.states import TaskState
from addin.engine.store import Store
from tests.engine.store.conftest import CACHE, REALM, Desk, numbers


def payers(store: Store) -> dict[str, str | None]:
    """Return {e164: paid_by} of every cached answer."""
    return {r[0]: r[1] for r in store.read("SELECT e164, paid_by FROM results")}


def bought(desk: Desk, wanted: list[str], user: str | None, *, refresh: bool = False) -> None:
    """Let ``user``'s job buy answers for the new ones of ``wanted`` (one finished task)."""
    new = desk.job(wanted, started_by=user, refresh=refresh, chunk_size=max(1, len(wanted)))
    (task,) = desk.store.job_tasks(new.job_id)
    desk.walk(task.ref, TaskState.RUNNING)
    answers = {n: "yes" for n in desk.store.task_numbers(task.ref)}
    desk.finish(task.ref, answers)


def plan_for(store: Store, wanted: list[str], user: str | None) -> dict[str, object]:
    """Return the estimate of ``wanted`` for ``user``."""
    return plan_numbers(
        store,
        wanted,
        cache_realm=CACHE,
        task_realm=REALM,
        max_age=3600.0,
        chunk_size=100,
        user=user,
    ).summary()


def test_the_cache_records_the_user_whose_job_bought_each_answer(desk: Desk) -> None:
    bought(desk, numbers(3), "ann")
    bought(desk, numbers(2, start=10), None)  # local mode: nobody named
    assert payers(desk.store) == {
        **dict.fromkeys(numbers(3), "ann"),
        **dict.fromkeys(numbers(2, start=10), None),
    }
    # Bought again (a refresh by another user): the newest payer is kept.
    bought(desk, numbers(1), "bob", refresh=True)
    assert payers(desk.store)[numbers(1)[0]] == "bob"
    assert payers(desk.store)[numbers(2)[1]] == "ann"


def test_a_users_plan_and_job_count_the_answers_colleagues_paid_for(desk: Desk) -> None:
    bought(desk, numbers(6), "ann")
    bought(desk, numbers(2, start=6), None)  # unknown payer: counted as nobody's
    wanted = numbers(12)  # 6 of ann's, 2 unknown, 4 new
    bobs = plan_for(desk.store, wanted, "bob")
    assert (bobs["cache_hits"], bobs["paid_by_colleagues"], bobs["to_upload"]) == (8, 6, 4)
    # Ann's own answers are not her colleagues'.
    assert plan_for(desk.store, wanted, "ann")["paid_by_colleagues"] == 0
    # Local mode: nothing counted, nothing shown.
    assert "paid_by_colleagues" not in plan_for(desk.store, wanted, None)
    # The job counts it again under the lock, and stores it in its plan.
    new = desk.job(wanted, started_by="bob")
    assert (new.cache_hits, new.paid_by_colleagues, new.uploaded) == (8, 6, 4)
    job = desk.store.job(new.job_id)
    assert job is not None
    assert job.plan["paid_by_colleagues"] == 6
    local = desk.job(numbers(3), owner=None)
    assert local.paid_by_colleagues == 0
    stored = desk.store.job(local.job_id)
    assert stored is not None
    assert "paid_by_colleagues" not in stored.plan


def test_numbers_joined_in_a_colleagues_open_task_count_as_paid_by_them(desk: Desk) -> None:
    anns = desk.job(numbers(5), started_by="ann")  # queued: its claims are held
    bought(desk, numbers(2, start=20), "bob")
    wanted = [*numbers(3), *numbers(2, start=20), *numbers(1, start=40)]
    bobs = plan_for(desk.store, wanted, "bob")
    assert (bobs["in_flight"], bobs["cache_hits"], bobs["to_upload"]) == (3, 2, 1)
    assert bobs["paid_by_colleagues"] == 3  # ann's open task; his own answers do not count
    assert plan_for(desk.store, wanted, "ann")["paid_by_colleagues"] == 2  # bob's answers
    new = desk.job(wanted, started_by="bob")
    assert (new.joined, new.paid_by_colleagues, new.uploaded) == (3, 3, 1)
    # Joining a task whose job has no user (local mode) counts for nobody.
    desk.job(numbers(2, start=60), owner=None)
    carl = plan_for(desk.store, [*numbers(2, start=60), *numbers(1)], "carl")
    assert (carl["in_flight"], carl["paid_by_colleagues"]) == (3, 1)
    assert desk.store.task_starters([t.ref for t in desk.store.job_tasks(anns.job_id)]) == {
        t.ref: "ann" for t in desk.store.job_tasks(anns.job_id)
    }
