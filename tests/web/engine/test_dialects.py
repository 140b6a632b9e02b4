"""The ribbon check and =FBCHECK on both dialects of the demo emulator; too few look-ups on v1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from addin.web.engine_host import host_of
from tests.web.conftest import AddinClient
from tests.web.engine_app import (
    column_of,
    engine_app,
    ledger,
    number,
    ok,
    payload,
    post,
    wait_for,
    wait_job,
)

CHECK = "/xlwings/check-selection"
LOOKUPS = "/api/lookups"
POLL = "/api/lookups/poll"
SHORT = "/api/lookups/below-minimum"


@contextmanager
def backend(tmp_path: Path, dialect: str) -> Iterator[tuple[Flask, AddinClient]]:
    """Yield a demo backend whose emulator is spoken to in ``dialect``."""
    with engine_app(tmp_path / dialect, api_dialect=dialect) as app:
        yield app, AddinClient(app)


def emulator_tasks(app: Flask) -> list[dict[str, Any]]:
    """Return the demo emulator's tasks with their uploaded numbers."""
    with host_of(app).checker() as checker:
        base_url = checker.base_url
    answer = requests.get(f"{base_url}/_mock/tasks", params={"numbers": "1"}, timeout=5)
    return list(answer.json()["tasks"])


def items(numbers: list[str]) -> dict[str, Any]:
    """Return a look-up body."""
    return {"items": [{"value": n, "region": None} for n in numbers]}


def poll(client: AddinClient, numbers: list[str]) -> dict[str, Any]:
    """Return one poll's results by number."""
    return ok(post(client, POLL, {"numbers": numbers}))["results"]  # type: ignore[no-any-return]


def answered(client: AddinClient, numbers: list[str]) -> dict[str, str]:
    """Poll until every number is answered; return the answers."""

    def done() -> dict[str, str] | None:
        results = poll(client, numbers)
        if any(r["status"] == "pending" for r in results.values()):
            return None
        return {n: r["answer"] for n, r in results.items()}

    return wait_for(done)  # type: ignore[no-any-return]


def test_fbcheck_and_the_ribbon_give_the_same_answers_in_both_dialects(tmp_path: Path) -> None:
    lookups = [number(i) for i in range(120)]
    selection = [number(i) for i in range(200, 350)]
    seen: dict[str, tuple[dict[str, str], dict[int, Any], list[int], dict[str, Any]]] = {}
    for dialect in ("legacy", "v1"):
        with backend(tmp_path, dialect) as (app, client):
            ok(post(client, LOOKUPS, items(lookups)))
            by_lookup = answered(client, lookups)
            body = ok(post(client, CHECK, payload(("A1:A150", selection))))
            wait_job(client, body["job_id"])
            written = ok(
                post(
                    client,
                    f"/xlwings/write-results/{body['job_id']}",
                    payload(("A1:A150", selection)),
                )
            )
            tasks = emulator_tasks(app)
            assert {t["dialect"] for t in tasks} == {dialect}
            sizes = sorted(t["numbers"] for t in tasks)
            seen[dialect] = (by_lookup, column_of(written["actions"], "B"), sizes, ledger(app))
            uploaded = [n for t in tasks for n in t["uploaded_numbers"]]
            assert sorted(uploaded) == sorted(lookups + selection)  # each number once
    legacy, v1 = seen["legacy"], seen["v1"]
    assert legacy[0] == v1[0]  # the same =FBCHECK answers
    assert legacy[1] == v1[1]  # the same cells written by the ribbon check
    assert legacy[2] == v1[2] == [120, 150]  # one task each, same sizes
    assert legacy[3]["tasks_created"] == v1[3]["tasks_created"] == 2
    assert set(legacy[0].values()) <= {"yes", "no", "ban"}


def test_v1_holds_lookups_under_the_minimum_then_sends_them_with_the_next(tmp_path: Path) -> None:
    first = [number(i) for i in range(40)]
    later = [number(i) for i in range(40, 110)]
    with backend(tmp_path, "v1") as (app, client):
        body = ok(post(client, LOOKUPS, items(first)))
        assert {r["status"] for r in body["results"]} == {"pending"}
        short = wait_for(lambda: (h := ok(client.get(SHORT)))["waiting"] and h)
        assert short["waiting"] == 40
        assert short["minimum"] == 100
        assert "fewer than the vendor's minimum of 100" in short["reason"]
        progress = {r["progress"] for r in poll(client, first).values()}
        assert len(progress) == 1
        assert progress.pop().startswith("not sent yet: 40 new number(s)")
        assert ledger(app)["billed_total"] == 0
        assert emulator_tasks(app) == []
        # Nothing is sent by itself while they wait, whatever the polls.
        poll(client, first)
        assert emulator_tasks(app) == []
        ok(post(client, LOOKUPS, items(later)))
        answers = answered(client, first + later)
        assert set(answers.values()) <= {"yes", "no", "ban"}
        tasks = emulator_tasks(app)
        assert [t["numbers"] for t in tasks] == [110]  # together, in one task
        assert ok(client.get(SHORT))["waiting"] == 0


def test_held_lookups_dropped_in_the_pane_say_why(tmp_path: Path) -> None:
    few = [number(i) for i in range(10)]
    with backend(tmp_path, "v1") as (app, client):
        ok(post(client, LOOKUPS, items(few)))
        wait_for(lambda: ok(client.get(SHORT))["waiting"] == 10)
        assert ok(post(client, f"{SHORT}/drop"))["dropped"] == 10
        results = poll(client, few)
        assert {r["status"] for r in results.values()} == {"error"}
        assert all("dropped on your word" in r["reason"] for r in results.values())
        assert ok(client.get(SHORT))["waiting"] == 0
        assert ledger(app)["billed_total"] == 0
        assert emulator_tasks(app) == []


def test_the_ribbon_check_below_the_minimum_sends_nothing(tmp_path: Path) -> None:
    cells = [number(i) for i in range(12)]
    with backend(tmp_path, "v1") as (app, client):
        body = ok(post(client, CHECK, payload(("A1:A12", cells))))
        assert "12 not sent: fewer new numbers than the vendor's minimum of 100" in body["message"]
        assert set(column_of(body["actions"], "B").values()) == {"not sent: too few"}
        assert body["plan"]["held"] == 12
        assert body["plan"]["tasks"] == 0
        assert emulator_tasks(app) == []
        assert ledger(app)["billed_total"] == 0


def test_a_confirmation_plan_on_v1_shows_the_balance_asked_now(tmp_path: Path) -> None:
    cells = [number(i) for i in range(150)]
    with engine_app(tmp_path, api_dialect="v1", confirm_above=10) as app:
        client = AddinClient(app)
        before = ledger(app)["balance_reads"]
        body = ok(post(client, CHECK, payload(("A1:A150", cells))))
        assert body["needs_confirmation"] is True
        assert body["plan"]["balance"] == ledger(app)["balance"]
        assert ledger(app)["balance_reads"] == before + 1


def test_a_v1_balance_that_cannot_pay_stops_the_ribbon_check(tmp_path: Path) -> None:
    cells = [number(i) for i in range(150)]
    emulator = {"MOCK_API_KEYS": {"demo": 1}}
    with engine_app(tmp_path, api_dialect="v1", confirm_above=10, emulator=emulator) as app:
        client = AddinClient(app)
        body = ok(post(client, CHECK, payload(("A1:A150", cells))))
        assert body["message"].startswith("stopped before billing: the balance of 1 is below")
        assert (body["job_id"], body["plan_id"], body["needs_confirmation"]) == (None, None, False)
        assert set(column_of(body["actions"], "B").values()) == {"not sent: balance"}
        assert emulator_tasks(app) == []
        assert ledger(app)["billed_total"] == 0


def test_a_small_ribbon_check_does_not_ask_the_balance(tmp_path: Path) -> None:
    cells = [number(i) for i in range(120)]
    with engine_app(tmp_path, api_dialect="v1") as app:
        client = AddinClient(app)
        body = ok(post(client, CHECK, payload(("A1:A120", cells))))
        assert body["job_id"]
        assert "balance" not in body["plan"]
        assert ledger(app)["balance_reads"] == 0


def test_a_failed_task_is_not_bought_again_by_a_recalculation(tmp_path: Path) -> None:
    """v1 ``failed`` was billed: recalculating the cells answers the error, uploads nothing."""
    numbers = [number(i) for i in range(120)]
    emulator = {"MOCK_TASK_FAILURE_RATE": 1.0}
    with engine_app(tmp_path, api_dialect="v1", confirm_above=10_000, emulator=emulator) as app:
        client = AddinClient(app)
        ok(post(client, LOOKUPS, items(numbers)))

        def settled() -> dict[str, Any] | None:
            results = poll(client, numbers)
            return None if any(r["status"] == "pending" for r in results.values()) else results

        first = wait_for(settled)
        assert {r["status"] for r in first.values()} == {"error"}
        assert len(emulator_tasks(app)) == 1
        billed = ledger(app)["billed_total"]

        # Excel recalculates (a workbook opened again): the same cells ask again.
        again = ok(post(client, LOOKUPS, items(numbers)))["results"]
        assert {r["status"] for r in again} == {"error"}
        assert all("not sent again by itself" in r["reason"] for r in again)
        assert all("could not be completed" in r["reason"] for r in again)
        assert len(emulator_tasks(app)) == 1
        assert ledger(app)["billed_total"] == billed

        # The user's word (=FBCHECK(cell, , TRUE)) buys them again.
        body = {"items": [{"value": n, "region": None, "refresh": True} for n in numbers]}
        assert {r["status"] for r in ok(post(client, LOOKUPS, body))["results"]} == {"pending"}
        wait_for(lambda: len(emulator_tasks(app)) == 2 or None)
