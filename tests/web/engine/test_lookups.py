"""=FBCHECK look-ups: cache at once, invalid with a reason, coalesced jobs, polling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from addin.web.engine_host import host_of
from tests.web.conftest import AddinClient
from tests.web.engine_app import (
    FIRST,
    engine_app,
    ledger,
    number,
    ok,
    post,
    refused,
    wait_for,
)

LOOKUPS = "/api/lookups"
POLL = "/api/lookups/poll"


def items(*values: Any, region: str | None = None) -> dict[str, Any]:
    """Return a look-up body for ``values``."""
    return {"items": [{"value": value, "region": region} for value in values]}


def poll_until_answered(client: AddinClient, numbers: list[str]) -> dict[str, Any]:
    """Poll like the page does until no number is pending; return the last results."""

    def answered() -> dict[str, Any] | None:
        results: dict[str, Any] = ok(post(client, POLL, {"numbers": numbers}))["results"]
        return None if any(r["status"] == "pending" for r in results.values()) else results

    return wait_for(answered)  # type: ignore[no-any-return]


def test_pending_then_answered_then_cached(client: AddinClient) -> None:
    first = ok(post(client, LOOKUPS, items(float(FIRST + 1), number(2))))
    assert [r["status"] for r in first["results"]] == ["pending", "pending"]
    assert [r["e164"] for r in first["results"]] == [number(1), number(2)]
    assert first["results"][0]["progress"] == "queued"
    results = poll_until_answered(client, [number(1), number(2)])
    assert {r["status"] for r in results.values()} == {"done"}
    assert {r["answer"] for r in results.values()} <= {"yes", "no", "ban"}
    assert results[number(1)]["job_id"]
    # Recalculation: answered from the cache at once, nothing billed again.
    billed = ledger(client_app(client))["billed_total"]
    again = ok(post(client, LOOKUPS, items(number(1), "+41 79 800 00 02")))
    assert [r["status"] for r in again["results"]] == ["done", "done"]
    assert again["results"][0]["answer"] == results[number(1)]["answer"]
    assert ledger(client_app(client))["billed_total"] == billed


def client_app(client: AddinClient) -> Flask:
    """Return the app behind a test client."""
    app: Flask = client.client.application
    return app


def test_invalid_items_carry_the_reason(client: AddinClient) -> None:
    body = ok(post(client, LOOKUPS, items("12", "", "call me", None, True, 4.2)))
    results = body["results"]
    assert [r["status"] for r in results] == ["invalid"] * 6
    assert all(r["e164"] is None and r["reason"] for r in results)
    assert results[1]["reason"] == "empty cell"
    assert results[2]["reason"] == "contains letters"


def test_region_per_item(client: AddinClient) -> None:
    body = ok(
        post(
            client,
            LOOKUPS,
            {
                "items": [
                    {"value": "079 828 46 51", "region": "CH"},
                    {"value": "079 828 46 51", "region": "XX"},
                    {"value": "079 828 46 51"},
                ]
            },
        )
    )
    ch, unknown, default = body["results"]
    assert ch["status"] == "pending"
    assert ch["e164"] == "+41798284651"
    assert unknown["status"] == "invalid"
    assert "unknown region" in unknown["reason"]
    assert default["status"] == "invalid"  # the default region is US


def test_ten_thousand_cells_make_one_upstream_task(tmp_path: Path) -> None:
    # A longer quiet window, as in production: 100 batches in about a second. The
    # threshold above the 5,000 numbers: this is about coalescing, not confirming.
    with engine_app(tmp_path, quiet=1.0, max_wait=5.0, confirm_above=5000) as app:
        client = AddinClient(app)
        cells = [float(FIRST + i % 5000) for i in range(10_000)]
        for start in range(0, 10_000, 100):
            body = ok(post(client, LOOKUPS, items(*cells[start : start + 100])))
            assert {r["status"] for r in body["results"]} == {"pending"}
        numbers = [number(i) for i in range(5000)]
        results = poll_until_answered(client, numbers)
        assert len(results) == 5000
        assert {r["status"] for r in results.values()} == {"done"}
        account = ledger(app)
        assert account["tasks_created"] == 1
        assert account["numbers_uploaded"] == 5000
        assert host_of(app).coalescer.jobs_submitted == 1
        # Recalculating every cell bills nothing more.
        billed = account["billed_total"]
        for start in range(0, 10_000, 1000):
            body = ok(post(client, LOOKUPS, items(*cells[start : start + 1000])))
            assert {r["status"] for r in body["results"]} == {"done"}
        assert ledger(app)["billed_total"] == billed
        assert ledger(app)["tasks_created"] == 1


def test_numbers_in_flight_are_not_queued_again(client: AddinClient, app: Flask) -> None:
    ok(post(client, LOOKUPS, items(number(1))))
    ok(post(client, LOOKUPS, items(number(1), number(1))))
    poll_until_answered(client, [number(1)])
    assert host_of(app).coalescer.jobs_submitted == 1
    assert ledger(app)["numbers_uploaded"] == 1


def test_vendor_failure_is_an_error_with_reason(tmp_path: Path) -> None:
    with engine_app(tmp_path, emulator={"MOCK_FIXTURES": {number(7): "fail"}}) as app:
        client = AddinClient(app)
        ok(post(client, LOOKUPS, items(number(7))))
        result = poll_until_answered(client, [number(7)])[number(7)]
        assert result["status"] == "error"
        assert "result file" in result["reason"]
        # A recalculation asks again: errors are never cached.
        again = ok(post(client, LOOKUPS, items(number(7))))["results"][0]
        assert again["status"] == "pending"


def test_poll_queues_numbers_it_does_not_know(client: AddinClient, app: Flask) -> None:
    # A restarted backend forgets its queue; the page keeps polling.
    first = ok(post(client, POLL, {"numbers": [number(3)]}))["results"][number(3)]
    assert first["status"] == "pending"
    assert poll_until_answered(client, [number(3)])[number(3)]["status"] == "done"
    assert host_of(app).coalescer.jobs_submitted == 1


def test_poll_reports_progress_text(tmp_path: Path) -> None:
    with engine_app(tmp_path, emulator={"MOCK_STUCK": True}) as app:
        client = AddinClient(app)
        ok(post(client, LOOKUPS, items(number(1), number(2))))

        def checking() -> str | None:
            result = ok(post(client, POLL, {"numbers": [number(1)]}))["results"][number(1)]
            progress: str = result["progress"]
            return progress if progress.startswith("checking") else None

        assert wait_for(checking).startswith("checking…")


def test_poll_of_text_that_is_not_e164(client: AddinClient) -> None:
    results = ok(post(client, POLL, {"numbers": ["0798284651"]}))["results"]
    assert results["0798284651"]["status"] == "invalid"


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (LOOKUPS, [1], 400, "bad_request"),
        (LOOKUPS, {}, 400, "bad_request"),
        (LOOKUPS, {"items": "A1"}, 400, "bad_request"),
        (LOOKUPS, {"items": [1]}, 400, "bad_request"),
        (LOOKUPS, {"items": [{"region": "CH"}]}, 400, "bad_request"),
        (LOOKUPS, {"items": [{"value": 1}] * 10_001}, 413, "too_many_items"),
        (LOOKUPS, {"items": [{"value": 1, "refresh": "yes"}]}, 400, "bad_request"),
        (LOOKUPS, {"items": [{"value": 1, "refresh": 1}]}, 400, "bad_request"),
        (LOOKUPS, {"items": [{"value": 1, "refresh": None}]}, 400, "bad_request"),
        (POLL, {"numbers": "+41798284651"}, 400, "bad_request"),
        (POLL, {"numbers": [41798284651]}, 400, "bad_request"),
        (POLL, {"numbers": ["+41798284651"] * 10_001}, 413, "too_many_items"),
    ],
)
def test_bad_bodies(client: AddinClient, path: str, body: Any, status: int, code: str) -> None:
    refused(post(client, path, body), status, code)


@pytest.mark.parametrize("region", [["CH"], {"CH": 1}, 41, True])
def test_region_of_the_wrong_type_is_a_400(client: AddinClient, region: Any) -> None:
    # The caller's mistake, not a bad cell: the whole request is refused, not a 500.
    items = [{"value": "+41798284651"}, {"value": "+41798284652", "region": region}]
    body = refused(post(client, LOOKUPS, {"items": items}), 400, "bad_request")
    assert body["message"] == "items[1].region must be a region code such as 'CH', or null"


def test_bad_json(client: AddinClient) -> None:
    response = client.request(
        "POST", LOOKUPS, data=b"[", headers={"Content-Type": "application/json"}
    )
    refused(response, 400, "bad_json")
