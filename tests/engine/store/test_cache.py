"""The result cache: fresh yes/no/ban answers per realm; errors never cached."""

from __future__ import annotations

from addin.engine.states import TaskState
from tests.engine.store.conftest import CACHE, Desk, numbers


def test_answers_are_cached_per_realm_with_their_time(desk: Desk) -> None:
    desk.cache({"+41790000000": "yes", "+41790000001": "no", "+41790000002": "ban"})
    found = desk.store.cached(CACHE, numbers(4), max_age=60)
    assert found == {
        "+41790000000": ("yes", desk.clock.now),
        "+41790000001": ("no", desk.clock.now),
        "+41790000002": ("ban", desk.clock.now),
    }
    assert desk.store.cached("other", numbers(3), max_age=60) == {}


def test_errors_are_never_cached(desk: Desk) -> None:
    task = desk.walk(desk.only_task(desk.job(numbers(2)).job_id).ref, TaskState.RUNNING)
    desk.store.finish_task(
        task.ref,
        "a" * 32,
        cache_realm=CACHE,
        results={"+41790000000": ("error", "invalid")},
        source="upstream",
        missing_reason="missing",
    )
    assert desk.store.cached(CACHE, numbers(2), max_age=60) == {}


def test_entries_expire_after_max_age(desk: Desk) -> None:
    desk.cache({"+41790000000": "yes"})
    desk.clock.advance(60)
    assert desk.store.cached(CACHE, numbers(1), max_age=60) != {}
    desk.clock.advance(1)
    assert desk.store.cached(CACHE, numbers(1), max_age=60) == {}
    assert desk.store.cached(CACHE, numbers(1), max_age=60, now=desk.clock.now - 1) != {}


def test_a_newer_answer_replaces_the_old_one(desk: Desk) -> None:
    desk.cache({"+41790000000": "yes"})
    desk.clock.advance(10)
    desk.cache({"+41790000000": "ban"})
    assert desk.store.cached(CACHE, numbers(1), max_age=60) == {
        "+41790000000": ("ban", desk.clock.now)
    }
    (row,) = desk.store.read("SELECT task_id FROM results")
    assert row[0] is not None


def test_clear_cache_of_one_realm_or_all(desk: Desk) -> None:
    desk.cache({"+41790000000": "yes", "+41790000001": "no"})
    with desk.store.transaction() as db:
        db.execute(
            "INSERT INTO results (realm, e164, answer, checked_at)"
            " VALUES ('other', '+41790000000', 'yes', 0)"
        )
    assert desk.store.clear_cache(CACHE) == 2
    assert desk.store.clear_cache() == 1
    assert desk.store.clear_cache() == 0


def test_many_numbers_at_once(desk: Desk) -> None:
    many = numbers(2500)
    desk.cache(dict.fromkeys(many, "no"))
    assert len(desk.store.cached(CACHE, many, max_age=60)) == 2500
