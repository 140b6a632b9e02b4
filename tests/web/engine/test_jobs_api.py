"""Jobs for the task pane: history, progress, cancel, and writing a cancelled job back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import AddinClient
from tests.web.engine_app import (
    column_of,
    engine_app,
    ledger,
    number,
    ok,
    payload,
    post,
    refused,
    wait_for,
    wait_job,
)

CHECK = "/xlwings/check-selection"


def test_history_newest_first_with_targets(client: AddinClient) -> None:
    first = ok(post(client, CHECK, payload(("A1:A2", ["phone", number(1)]))))["job_id"]
    second = ok(post(client, CHECK, payload(("C4:C5", [number(2), number(3)]))))["job_id"]
    wait_job(client, first)
    done = wait_job(client, second)
    assert "pending" not in done["counts"]
    assert sum(done["counts"].values()) == 2
    jobs = ok(client.get("/api/jobs"))["jobs"]
    assert [j["job_id"] for j in jobs] == [second, first]
    assert jobs[0]["target"] == {"sheet": "Sheet1", "areas": ["C4:C5"]}
    assert jobs[0]["kind"] == "selection"
    assert jobs[0]["label"] == "Sheet1!C4:C5"
    assert ok(client.get("/api/jobs?limit=1"))["jobs"][0]["job_id"] == second


def test_one_job(client: AddinClient) -> None:
    job_id = ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"]
    job = wait_job(client, job_id)
    assert job["demo"] is True
    assert job["job_id"] == job_id
    assert job["state"] == "done"
    assert job["distinct"] == 1
    assert job["answered"] == 1
    assert job["plan"]["to_upload"] == 1
    assert job["billed"] >= 2  # one create and at least one poll


def test_lookups_jobs_have_no_target(client: AddinClient) -> None:
    ok(post(client, "/api/lookups", {"items": [{"value": number(5)}]}))
    jobs = wait_for(lambda: ok(client.get("/api/jobs"))["jobs"])
    assert jobs[0]["kind"] == "lookups"
    assert jobs[0]["target"] is None


@pytest.mark.parametrize("limit", ["0", "201", "x", "-1"])
def test_bad_limit(client: AddinClient, limit: str) -> None:
    refused(client.get(f"/api/jobs?limit={limit}"), 400, "bad_request")


def test_unknown_job(client: AddinClient) -> None:
    refused(client.get("/api/jobs/nope"), 404, "job_not_found")
    refused(post(client, "/api/jobs/nope/cancel"), 404, "job_not_found")


def test_cancel_a_running_job_and_write_it_back(tmp_path: Path) -> None:
    # Stuck tasks never finish, so the job runs until cancelled.
    with engine_app(tmp_path, emulator={"MOCK_STUCK": True}) as app:
        client = AddinClient(app)
        cells = [number(1), number(2)]
        job_id = ok(post(client, CHECK, payload(("A1:A2", cells))))["job_id"]
        # Created at the vendor (billed) and still open.
        wait_for(lambda: ok(client.get(f"/api/jobs/{job_id}"))["billed"] >= 1)
        assert ok(client.get(f"/api/jobs/{job_id}"))["tasks_open"] == 1
        report = ok(post(client, f"/api/jobs/{job_id}/cancel"))
        assert report["job_id"] == job_id
        assert report["tasks_stopped"] == 1
        assert report["billed"] >= 1
        assert report["state"] == "cancelled"
        job = ok(client.get(f"/api/jobs/{job_id}"))
        assert job["finished"] is True
        assert job["counts"] == {"error": 2}
        body = ok(post(client, f"/xlwings/write-results/{job_id}", payload(("A1:A2", cells))))
        assert column_of(body["actions"], "B") == {1: "cancelled", 2: "cancelled"}


def test_cancel_a_finished_job_changes_nothing(client: AddinClient) -> None:
    job_id = ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"]
    wait_job(client, job_id)
    report = ok(post(client, f"/api/jobs/{job_id}/cancel"))
    assert report["tasks_stopped"] == 0
    assert report["state"] == "done"


# -- the user's word on an upload whose outcome is unknown -------------------------------------

#: The first create reaches the vendor (billed) but a gateway answers 504: uncertain.
GATEWAY_504 = {"MOCK_CREATE_FAULT": "gateway_504", "MOCK_CREATE_FAULT_COUNT": 1}


def _settled(client: AddinClient, job_id: str) -> dict[str, Any]:
    """Poll until the job is settled (nothing moves without the user); return it."""
    return wait_for(lambda: (j := ok(client.get(f"/api/jobs/{job_id}")))["settled"] and j)  # type: ignore[no-any-return]


def _uncertain_job(client: AddinClient, cells: list[str]) -> str:
    """Start a check whose upload ends uncertain; assert what the pane is told; return its id."""
    job_id: str = ok(post(client, CHECK, payload(("A1:A3", cells))))["job_id"]
    job = _settled(client, job_id)
    assert job["state"] == "running"
    assert job["finished"] is False
    assert job["uncertain_tasks"] == 1
    assert job["uncertain_numbers"] == len(cells)
    assert job["possibly_billed"] == 1
    assert job["counts"] == {"pending": len(cells)}
    return job_id


def test_resend_uploads_the_uncertain_task_again_on_the_users_word(tmp_path: Path) -> None:
    with engine_app(tmp_path, emulator=GATEWAY_504) as app:
        client = AddinClient(app)
        cells = [number(1), number(2), number(3)]
        job_id = _uncertain_job(client, cells)
        # Nothing is sent again by itself.
        assert ledger(app)["tasks_created"] == 1
        body = ok(post(client, f"/api/jobs/{job_id}/resend"))
        assert body["job_id"] == job_id
        assert body["resent"] == 1
        assert body["job"]["uncertain_tasks"] == 0
        done = wait_job(client, job_id)
        assert done["state"] == "done"
        assert "pending" not in done["counts"]
        assert ledger(app)["tasks_created"] == 2
        # A second click finds nothing waiting and sends nothing.
        refused(post(client, f"/api/jobs/{job_id}/resend"), 409, "nothing_waits")
        assert ledger(app)["tasks_created"] == 2


def test_abandon_gives_the_numbers_up_and_sends_nothing(tmp_path: Path) -> None:
    with engine_app(tmp_path, emulator=GATEWAY_504) as app:
        client = AddinClient(app)
        cells = [number(1), number(2), number(3)]
        job_id = _uncertain_job(client, cells)
        body = ok(post(client, f"/api/jobs/{job_id}/abandon"))
        assert body["abandoned"] == 1
        done = wait_job(client, job_id)
        assert done["counts"] == {"error": 3}
        assert done["possibly_billed"] == 1
        assert ledger(app)["tasks_created"] == 1
        refused(post(client, f"/api/jobs/{job_id}/abandon"), 409, "nothing_waits")
        refused(post(client, f"/api/jobs/{job_id}/resend"), 409, "nothing_waits")
        written = ok(post(client, f"/xlwings/write-results/{job_id}", payload(("A1:A3", cells))))
        assert column_of(written["actions"], "B") == {1: "error", 2: "error", 3: "error"}


def test_a_finished_job_has_nothing_waiting(client: AddinClient) -> None:
    job_id = ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"]
    wait_job(client, job_id)
    refused(post(client, f"/api/jobs/{job_id}/resend"), 409, "nothing_waits")
    refused(post(client, f"/api/jobs/{job_id}/abandon"), 409, "nothing_waits")


def test_resend_and_abandon_of_an_unknown_job(client: AddinClient) -> None:
    refused(post(client, "/api/jobs/nope/resend"), 404, "job_not_found")
    refused(post(client, "/api/jobs/nope/abandon"), 404, "job_not_found")
