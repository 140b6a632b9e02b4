"""The file-job routes behind ``fbcheck check --server``: every refusal, paging, continuing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from addin.engine.checker import input_fingerprint
from addin.web.file_numbers import MAX_CHUNK_NUMBERS
from tests.web.conftest import AddinClient
from tests.web.engine_app import each_keeper, engine_app, number, ok, post, refused, wait_job


@pytest.fixture(autouse=True, params=["memory", "store"])
def keeper(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: uploads, plans and held batches in memory, then in the store."""
    return each_keeper(request, monkeypatch)


def put(client: AddinClient, path: str, body: Any) -> Any:
    """PUT JSON and return the response."""
    return client.request("PUT", path, json=body)


def open_upload(client: AddinClient, numbers: list[str], chunks: int = 1) -> str:
    """Open a file upload for ``numbers`` and return its id."""
    body = ok(
        post(
            client,
            "/api/file-jobs",
            {"fingerprint": input_fingerprint("cli", numbers), "chunks": chunks},
        )
    )
    assert body["continued"] is False
    upload_id: str = body["upload_id"]
    return upload_id


def start_job(client: AddinClient, numbers: list[str]) -> dict[str, Any]:
    """Send, plan and start a file job of ``numbers``; return the start's answer."""
    upload_id = open_upload(client, numbers)
    ok(put(client, f"/api/file-jobs/uploads/{upload_id}/chunks/0", {"numbers": numbers}))
    planned = ok(
        post(
            client,
            f"/api/file-jobs/uploads/{upload_id}/plan",
            {"rows": len(numbers) + 1, "invalid": 1, "label": "in.csv"},
        )
    )
    assert planned["plan"]["to_upload"] == len(set(numbers))
    assert planned["plan"]["rows"] == len(numbers) + 1
    return ok(post(client, f"/api/file-jobs/plans/{planned['plan_id']}/start", {}))


def test_a_file_job_runs_and_pages_its_answers(client: AddinClient) -> None:
    numbers = [number(i) for i in range(25)]
    started = start_job(client, numbers)
    assert started["continued"] is False
    job = wait_job(client, started["job_id"])
    assert (job["kind"], job["label"], job["answered"]) == ("cli", "in.csv", 25)
    path = f"/api/file-jobs/{started['job_id']}/answers"
    pages = []
    after = None
    while True:
        query = f"?limit=10{'' if after is None else '&after=' + after.replace('+', '%2B')}"
        page = ok(client.get(path + query))
        pages.append(page["answers"])
        after = page["next"]
        if after is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    rows = [row for p in pages for row in p]
    assert [row[0] for row in rows] == sorted(numbers)
    assert {row[1] for row in rows} <= {"yes", "no", "ban"}
    assert {row[3] for row in rows} == {"demo"}


def test_an_unfinished_job_of_the_same_input_is_answered_not_started_again(
    tmp_path: Path,
) -> None:
    # The vendor keeps every task queued for an hour: the job stays unfinished.
    with engine_app(tmp_path, emulator={"MOCK_QUEUE_DELAY": 3600}) as app:
        client = AddinClient(app)
        numbers = [number(i) for i in range(5)]
        fingerprint = input_fingerprint("cli", numbers)
        plans = []
        for _ in range(2):  # two runs of the same input plan before either starts
            upload_id = open_upload(client, numbers)
            ok(put(client, f"/api/file-jobs/uploads/{upload_id}/chunks/0", {"numbers": numbers}))
            plans.append(
                ok(
                    post(
                        client,
                        f"/api/file-jobs/uploads/{upload_id}/plan",
                        {"rows": 5, "invalid": 0},
                    )
                )
            )
        started = ok(post(client, f"/api/file-jobs/plans/{plans[0]['plan_id']}/start", {}))
        assert started["continued"] is False
        again = ok(post(client, f"/api/file-jobs/plans/{plans[1]['plan_id']}/start", {}))
        assert (again["job_id"], again["continued"]) == (started["job_id"], True)
        reopened = ok(post(client, "/api/file-jobs", {"fingerprint": fingerprint, "chunks": 1}))
        assert (reopened["job_id"], reopened["continued"]) == (started["job_id"], True)
        assert reopened["upload_id"] is None
        history = ok(client.get("/api/jobs"))["jobs"]
        assert [job["job_id"] for job in history] == [started["job_id"]]
        # --refresh never continues: it asks again.
        fresh = ok(
            post(
                client,
                "/api/file-jobs",
                {"fingerprint": fingerprint, "chunks": 1, "refresh": True},
            )
        )
        assert fresh["continued"] is False
        assert fresh["upload_id"]


@pytest.mark.parametrize(
    ("numbers", "said"),
    [
        (["41790000001"], "numbers[0]"),
        (["+41 79 000 00 01"], "numbers[0]"),
        (["+0790000001"], "numbers[0]"),
        ([41790000001], "numbers[0]"),
        (["+41790000001", "+1000000000"], "numbers[1] is not the E.164 form of a valid"),
        (["+4179000000" + "1" * 10], "numbers[0]"),
    ],
)
def test_a_chunk_with_a_number_that_is_not_valid_e164_is_refused(
    client: AddinClient, numbers: list[Any], said: str
) -> None:
    upload_id = open_upload(client, ["+41790000001"])
    body = refused(
        put(client, f"/api/file-jobs/uploads/{upload_id}/chunks/0", {"numbers": numbers}),
        400,
        "bad_upload",
    )
    assert said in body["message"]


def test_malformed_file_job_requests_are_refused(client: AddinClient) -> None:
    good = input_fingerprint("cli", ["+41790000001"])
    refused(post(client, "/api/file-jobs", {"fingerprint": "XYZ", "chunks": 1}), 400, "bad_request")
    refused(post(client, "/api/file-jobs", {"fingerprint": good, "chunks": 0}), 400, "bad_request")
    refused(post(client, "/api/file-jobs", {"fingerprint": good}), 400, "bad_request")
    refused(
        post(client, "/api/file-jobs", {"fingerprint": good, "chunks": 1, "user": "x"}),
        400,
        "bad_request",
    )
    upload_id = open_upload(client, ["+41790000001"], chunks=2)
    chunk = f"/api/file-jobs/uploads/{upload_id}/chunks"
    refused(put(client, f"{chunk}/2", {"numbers": ["+41790000001"]}), 400, "bad_upload")
    refused(put(client, f"{chunk}/-1", {"numbers": ["+41790000001"]}), 400, "bad_upload")
    too_many = {"numbers": ["+41790000001"] * (MAX_CHUNK_NUMBERS + 1)}
    refused(put(client, f"{chunk}/0", too_many), 400, "bad_upload")
    refused(
        put(client, "/api/file-jobs/uploads/nope/chunks/0", {"numbers": []}),
        404,
        "upload_not_found",
    )
    ok(put(client, f"{chunk}/0", {"numbers": ["+41790000001"]}))
    refused(put(client, f"{chunk}/0", {"numbers": ["+41790000002"]}), 409, "chunk_conflict")
    plan = f"/api/file-jobs/uploads/{upload_id}/plan"
    refused(post(client, plan, {"rows": 1, "invalid": 0}), 409, "upload_incomplete")
    refused(post(client, plan, {"rows": -1, "invalid": 0}), 400, "bad_request")
    refused(post(client, "/api/file-jobs/plans/nope/start", {}), 404, "plan_not_found")
    refused(client.get("/api/file-jobs/nope/answers"), 404, "job_not_found")


def test_numbers_that_do_not_match_the_fingerprint_are_not_planned(client: AddinClient) -> None:
    upload_id = open_upload(client, ["+41790000001"])
    ok(put(client, f"/api/file-jobs/uploads/{upload_id}/chunks/0", {"numbers": ["+41790000002"]}))
    body = refused(
        post(client, f"/api/file-jobs/uploads/{upload_id}/plan", {"rows": 1, "invalid": 0}),
        400,
        "bad_upload",
    )
    assert "do not match the fingerprint" in body["message"]


def test_answers_query_is_checked(client: AddinClient) -> None:
    started = start_job(client, [number(1)])
    path = f"/api/file-jobs/{started['job_id']}/answers"
    refused(client.get(path + "?limit=0"), 400, "bad_request")
    refused(client.get(path + "?limit=200001"), 400, "bad_request")
    refused(client.get(path + "?after=abc"), 400, "bad_request")
    refused(client.get(path + "?limit=1&limit=2"), 400, "bad_request")
