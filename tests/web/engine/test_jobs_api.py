"""Jobs for the task pane: history, progress, cancel, and writing a cancelled job back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.conftest import AddinClient
from tests.web.engine_app import (
    column_of,
    engine_app,
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
