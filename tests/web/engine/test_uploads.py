"""Selections sent in chunks: one upload session, chunks idempotent by index, used once.

Excel on the web refuses requests over 5 MB, so the pane sends large selections in
pieces (issue 10, item 3). Nothing is planned or billed before every chunk arrived.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from addin.web.engine_host import host_of
from addin.web.stored_unfinished import StoredUploads
from addin.web.team import users_store
from addin.web.uploads import MAX_OPEN_UPLOADS
from tests.web.conftest import AddinClient
from tests.web.engine_app import (
    column_of,
    each_keeper,
    engine_app,
    ledger,
    number,
    ok,
    post,
    refused,
    wait_job,
)


@pytest.fixture(autouse=True, params=["memory", "store"])
def keeper(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: uploads, plans and held batches in memory, then in the store."""
    return each_keeper(request, monkeypatch)


UPLOADS = "/xlwings/uploads"
CHECK = "/xlwings/check-selection"


def header(chunks: int, *areas: str, sheet: str = "Sheet1") -> dict[str, Any]:
    """Return the body opening an upload of ``areas`` in ``chunks`` chunks."""
    return {
        "sheet": sheet,
        "region": None,
        "areas": [{"address": a} for a in areas],
        "chunks": chunks,
    }


def chunk(
    area: int, offset: int, values: list[Any], target: list[Any] | None = None
) -> dict[str, Any]:
    """Return one chunk body: rows from ``offset`` of area ``area``."""
    return {
        "area": area,
        "offset": offset,
        "values": values,
        "target": target or [""] * len(values),
    }


def put(client: AddinClient, upload_id: str, index: int, body: Any) -> Any:
    """PUT chunk ``index`` of an upload."""
    return client.request("PUT", f"{UPLOADS}/{upload_id}/chunks/{index}", json=body)


def open_upload(client: AddinClient, body: dict[str, Any]) -> str:
    """Open an upload and return its id."""
    answer = ok(post(client, UPLOADS, body))
    assert answer["chunks"] == body["chunks"]
    upload_id: str = answer["upload_id"]
    return upload_id


def test_chunks_in_any_order_are_reassembled_and_checked(client: AddinClient) -> None:
    upload_id = open_upload(client, header(3, "Z1:Z5", "AC2:AC3"))
    ok(put(client, upload_id, 2, chunk(1, 0, [number(5), number(6)])))
    ok(put(client, upload_id, 1, chunk(0, 3, [number(3), number(4)])))
    answer = ok(put(client, upload_id, 0, chunk(0, 0, ["phone", number(1), number(2)])))
    assert (answer["received"], answer["chunks"]) == (3, 3)
    body = ok(post(client, CHECK, {"upload_id": upload_id}))
    assert body["job_id"]
    assert body["plan"]["distinct"] == 6
    assert column_of(body["actions"], "AA") == {
        1: "facebook (DEMO)",
        2: "pending",
        3: "pending",
        4: "pending",
        5: "pending",
    }
    assert column_of(body["actions"], "AD") == {2: "pending", 3: "pending"}
    assert wait_job(client, body["job_id"])["answered"] == 6
    # Used once.
    refused(post(client, CHECK, {"upload_id": upload_id}), 404, "upload_not_found")


def test_a_chunk_sent_twice_is_taken_once(client: AddinClient) -> None:
    upload_id = open_upload(client, header(2, "A1:A2"))
    first = chunk(0, 0, [number(1)])
    assert ok(put(client, upload_id, 0, first))["received"] == 1
    assert ok(put(client, upload_id, 0, first))["received"] == 1
    # The same index with other content is a client mistake, said clearly.
    message = refused(put(client, upload_id, 0, chunk(0, 0, [number(9)])), 409, "chunk_conflict")
    assert "chunk 0" in message["message"]
    ok(put(client, upload_id, 1, chunk(0, 1, [number(2)])))
    body = ok(post(client, CHECK, {"upload_id": upload_id}))
    assert body["plan"]["distinct"] == 2


def test_a_missing_chunk_is_a_clear_error_and_nothing_is_billed(tmp_path: Path) -> None:
    with engine_app(tmp_path) as app:
        client = AddinClient(app)
        upload_id = open_upload(client, header(3, "A1:A3"))
        ok(put(client, upload_id, 0, chunk(0, 0, [number(1)])))
        ok(put(client, upload_id, 2, chunk(0, 2, [number(3)])))
        body = refused(post(client, CHECK, {"upload_id": upload_id}), 409, "upload_incomplete")
        assert "1 of the upload's 3 chunks have not arrived (chunk 1)" in body["message"]
        assert ok(client.get("/api/jobs"))["jobs"] == []
        assert ledger(app).get("tasks_created", 0) == 0
        # The session stays open: the missing chunk can still come.
        ok(put(client, upload_id, 1, chunk(0, 1, [number(2)])))
        assert ok(post(client, CHECK, {"upload_id": upload_id}))["job_id"]


def test_rows_that_no_chunk_holds_are_refused(client: AddinClient) -> None:
    upload_id = open_upload(client, header(2, "A1:A4"))
    ok(put(client, upload_id, 0, chunk(0, 0, [number(1)])))
    ok(put(client, upload_id, 1, chunk(0, 2, [number(3), number(4)])))
    body = refused(post(client, CHECK, {"upload_id": upload_id}), 400, "bad_upload")
    assert "rows 2 to 2 came in no chunk" in body["message"]


def test_rows_sent_twice_are_refused(client: AddinClient) -> None:
    upload_id = open_upload(client, header(2, "A1:A3"))
    ok(put(client, upload_id, 0, chunk(0, 0, [number(1), number(2)])))
    ok(put(client, upload_id, 1, chunk(0, 1, [number(2), number(3)])))
    body = refused(post(client, CHECK, {"upload_id": upload_id}), 400, "bad_upload")
    assert "came twice" in body["message"]


def test_user_data_in_an_uploaded_answer_column_asks_first(client: AddinClient) -> None:
    upload_id = open_upload(client, header(1, "A1:A2"))
    ok(put(client, upload_id, 0, chunk(0, 0, [number(1), number(2)], ["", "Alice"])))
    body = ok(post(client, CHECK, {"upload_id": upload_id}))
    assert body["needs_choice"] is True
    assert body["actions"] == []
    assert ok(client.get("/api/jobs"))["jobs"] == []


def test_write_results_from_an_upload(client: AddinClient) -> None:
    job_id = ok(
        post(
            client,
            CHECK,
            {
                "sheet": "Sheet1",
                "areas": [
                    {"address": "A1:A2", "values": [number(1), number(2)], "target": ["", ""]}
                ],
            },
        )
    )["job_id"]
    wait_job(client, job_id)
    upload_id = open_upload(client, header(2, "A1:A2"))
    ok(put(client, upload_id, 0, chunk(0, 0, [number(1)], ["pending"])))
    ok(put(client, upload_id, 1, chunk(0, 1, [number(2)], ["pending"])))
    body = ok(post(client, f"/xlwings/write-results/{job_id}", {"upload_id": upload_id}))
    assert body["written"] == 2
    assert set(column_of(body["actions"], "B").values()) <= {"yes", "no", "ban"}


def test_a_cancelled_upload_is_dropped(client: AddinClient) -> None:
    upload_id = open_upload(client, header(1, "A1:A1"))
    assert ok(client.request("DELETE", f"{UPLOADS}/{upload_id}"))["dropped"] is True
    refused(client.request("DELETE", f"{UPLOADS}/{upload_id}"), 404, "upload_not_found")
    refused(put(client, upload_id, 0, chunk(0, 0, [number(1)])), 404, "upload_not_found")


def test_too_many_open_uploads_are_refused(client: AddinClient) -> None:
    for _ in range(MAX_OPEN_UPLOADS):
        open_upload(client, header(1, "A1:A1"))
    body = refused(post(client, UPLOADS, header(1, "A1:A1")), 429, "too_many_uploads")
    assert "uploads are open already" in body["message"]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"area": 1, "offset": 0, "values": [1], "target": [""]}, "bad_payload", "area must be"),
        ({"area": True, "offset": 0, "values": [1], "target": [""]}, "bad_payload", "area:"),
        ({"area": 0, "offset": -1, "values": [1], "target": [""]}, "bad_payload", "offset:"),
        ({"area": 0, "offset": "0", "values": [1], "target": [""]}, "bad_payload", "offset:"),
        (
            {"area": 0, "offset": 0, "values": 1, "target": [""]},
            "bad_payload",
            "values must be a list",
        ),
        (
            {"area": 0, "offset": 0, "values": [1], "target": []},
            "bad_payload",
            "answer cell per row",
        ),
        (
            {"area": 0, "offset": 1, "values": [1, 2], "target": ["", ""]},
            "bad_payload",
            "rows 2 to 3",
        ),
        (
            {"area": 0, "offset": 0, "values": [[1]], "target": [""]},
            "bad_payload",
            "row 1 holds a list",
        ),
        (
            {"area": 0, "offset": 0, "values": [1], "target": [""], "x": 1},
            "bad_payload",
            "x is not",
        ),
        ([1], "bad_payload", "JSON object"),
    ],
)
def test_malformed_chunks_are_refused(
    client: AddinClient, body: Any, code: str, words: str
) -> None:
    upload_id = open_upload(client, header(1, "A1:A2"))
    assert words in refused(put(client, upload_id, 0, body), 400, code)["message"]


def test_a_chunk_index_outside_the_upload_is_refused(client: AddinClient) -> None:
    upload_id = open_upload(client, header(2, "A1:A2"))
    body = refused(put(client, upload_id, 2, chunk(0, 0, [number(1)])), 400, "bad_upload")
    assert "outside this upload's 2 chunks" in body["message"]
    for index in ("-1", "x", "１"):
        response = client.request(
            "PUT", f"{UPLOADS}/{upload_id}/chunks/{index}", json=chunk(0, 0, [number(1)])
        )
        assert "the chunk index must be 0 to 1" in refused(response, 400, "bad_upload")["message"]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (header(0, "A1:A2"), "bad_payload", "chunks: input should be greater than or equal to 1"),
        (header(10_001, "A1:A2"), "bad_payload", "chunks: input should be less than or equal to"),
        ({**header(1, "A1:A2"), "chunks": "1"}, "bad_payload", "chunks: input should be a valid"),
        ({**header(1, "A1:A2"), "chunks": True}, "bad_payload", "chunks: input should be a valid"),
        (header(1, "A:A"), "bad_address", "with rows"),
        ({"areas": [{"address": "A1:A2"}], "chunks": 1}, "bad_payload", "sheet is missing"),
        (
            {**header(1, "A1:A2"), "areas": [{"address": "A1:A2", "values": []}]},
            "bad_payload",
            "values is not",
        ),
    ],
)
def test_malformed_upload_headers_are_refused(
    client: AddinClient, body: Any, code: str, words: str
) -> None:
    assert words in refused(post(client, UPLOADS, body), 400, code)["message"]


def test_the_session_is_kept_where_the_keeper_says(app: Flask, keeper: str) -> None:
    upload_id = open_upload(AddinClient(app), header(2, "A1:A2"))
    in_store = users_store(app).open_uploads(owner="", kind="selection", oldest=0.0)
    assert in_store == (1 if keeper == "store" else 0)
    assert isinstance(host_of(app).uploads, StoredUploads) is (keeper == "store")
    assert len(host_of(app).uploads) == 1
    assert host_of(app).uploads.drop(upload_id)
