"""The ribbon's selection check: payloads as Excel sends them, plans, confirmation, write-back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from addin.web.xlwings_glue import MAX_ROWS_PER_ACTION
from tests.web.conftest import AddinClient
from tests.web.engine_app import (
    FIRST,
    column_of,
    each_keeper,
    engine_app,
    number,
    ok,
    payload,
    post,
    refused,
    wait_job,
)


@pytest.fixture(autouse=True, params=["memory", "store"])
def keeper(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: uploads, plans and held batches in memory, then in the store."""
    return each_keeper(request, monkeypatch)


CHECK = "/xlwings/check-selection"


def test_check_writes_header_invalid_and_pending(client: AddinClient) -> None:
    cells = ["phone", float(FIRST + 1), number(2), "", "not a number", float(FIRST + 1)]
    body = ok(post(client, CHECK, payload(("A1:A6", cells))))
    assert body["demo"] is True
    assert body["job_id"]
    assert body["plan_id"] is None
    assert body["needs_confirmation"] is False
    plan = body["plan"]
    assert (plan["rows"], plan["invalid"], plan["distinct"], plan["to_upload"]) == (4, 1, 2, 2)
    assert plan["tasks"] == 1
    assert "2 numbers to check in 1 task" in body["message"]
    assert column_of(body["actions"], "B") == {
        1: "facebook (DEMO)",
        2: "pending",
        3: "pending",
        4: "",
        5: "invalid",
        6: "pending",
    }
    assert body["actions"][0]["start_row"] == 0
    assert body["actions"][0]["start_column"] == 1
    assert body["format_ranges"] == [
        {"sheet_position": 0, "start_row": 0, "start_column": 1, "row_count": 6, "column_count": 1}
    ]
    assert (body["sheet"], body["areas"], body["label"]) == ("Sheet1", ["A1:A6"], "Sheet1!A1:A6")


def test_no_header_when_the_first_cell_is_a_number(client: AddinClient) -> None:
    body = ok(post(client, CHECK, payload(("C3:C4", [float(FIRST), "+41 79 800 00 01"]))))
    assert column_of(body["actions"], "D") == {3: "pending", 4: "pending"}
    assert body["actions"][0]["start_row"] == 2
    assert body["actions"][0]["start_column"] == 3


def test_second_check_answers_from_the_cache_at_once(client: AddinClient) -> None:
    cells = ["Number", *[float(FIRST + i) for i in range(5)]]
    first = ok(post(client, CHECK, payload(("A1:A6", cells))))
    done = wait_job(client, first["job_id"])
    assert done["state"] == "done"
    assert done["answered"] == 5
    again = ok(post(client, CHECK, payload(("A1:A6", cells))))
    assert again["plan"]["cache_hits"] == 5
    assert again["plan"]["to_upload"] == 0
    written = column_of(again["actions"], "B")
    assert written[1] == "facebook (DEMO)"
    assert {written[row] for row in range(2, 7)} <= {"yes", "no", "ban"}
    assert "5 answered from the cache" in again["message"]


def test_several_areas_are_answered_beside_each(client: AddinClient) -> None:
    body = ok(
        post(
            client,
            CHECK,
            payload(("A2:A3", [number(1), number(2)]), ("D5:D6", ["msisdn", number(3)])),
        )
    )
    assert body["plan"]["distinct"] == 3
    assert body["job_id"]
    assert column_of(body["actions"], "B") == {2: "pending", 3: "pending"}
    assert column_of(body["actions"], "E") == {5: "facebook (DEMO)", 6: "pending"}
    assert body["label"] == "Sheet1!A2:A3,D5:D6"


def test_a_whole_column_address_is_refused(client: AddinClient) -> None:
    # The client cuts A:A to the used rows; the backend needs rows to count them.
    sent = payload(("A1:A3", ["phone", number(1), number(2)]))
    sent["areas"][0]["address"] = "A:A"
    assert "with rows" in refused(post(client, CHECK, sent), 400, "bad_address")["message"]


def test_sheet_prefix_and_dollars_are_read(client: AddinClient) -> None:
    sent = payload(("A1:A2", [number(1), number(2)]))
    sent["areas"][0]["address"] = "Sheet1!$A$1:$A$2"
    body = ok(post(client, CHECK, sent))
    assert body["areas"] == ["A1:A2"]
    assert column_of(body["actions"], "B") == {1: "pending", 2: "pending"}


def test_excel_number_cells_and_formulas_values_and_merged_blanks(client: AddinClient) -> None:
    # A formula arrives as its value; a merged block as the top-left value and "" below.
    cells = [41798284651.0, "=A1", "", 41798284652, True, 4.17e10]
    body = ok(post(client, CHECK, payload(("A1:A6", cells), region="CH")))
    assert column_of(body["actions"], "B") == {
        1: "pending",
        2: "invalid",
        3: "",
        4: "pending",
        5: "invalid",
        6: "invalid",
    }


def test_national_numbers_use_the_payload_region(client: AddinClient) -> None:
    body = ok(post(client, CHECK, payload(("A1:A1", ["079 828 46 51"]), region="CH")))
    assert column_of(body["actions"], "B") == {1: "pending"}
    body = ok(post(client, CHECK, payload(("A1:A1", ["079 828 46 51"]), region="US")))
    assert column_of(body["actions"], "B") == {1: "invalid"}
    assert body["job_id"] is None
    assert body["message"].startswith("nothing to check")


def test_100000_rows_in_blocks(tmp_path: Path) -> None:
    with engine_app(tmp_path) as app:
        client = AddinClient(app)
        cells: list[Any] = ["phone", *[float(FIRST + i) for i in range(100_000)]]
        body = ok(post(client, CHECK, payload(("A1:A100001", cells))))
        # Above the confirmation threshold: nothing is billed yet.
        assert body["needs_confirmation"] is True
        assert body["job_id"] is None
        assert body["plan"]["to_upload"] == 100_000
        assert body["plan"]["tasks"] == 5
        actions = body["actions"]
        assert all(a["row_count"] <= MAX_ROWS_PER_ACTION for a in actions)
        assert sum(a["row_count"] for a in actions) == 100_001
        written = column_of(actions, "B")
        assert written[1] == "facebook (DEMO)"
        assert set(list(written.values())[1:]) == {"unconfirmed"}
        ok(post(client, f"/api/plans/{body['plan_id']}/discard"))


def test_several_columns_refused(client: AddinClient) -> None:
    sent = payload(("A1:A2", [number(1), number(2)]))
    sent["areas"][0]["address"] = "A1:B2"
    body = refused(post(client, CHECK, sent), 400, "selection_too_wide")
    assert "one column" in body["message"]


def test_more_than_a_million_rows_refused(client: AddinClient) -> None:
    # Counted from the addresses, before any cell arrives (here: an upload's header).
    sent = {
        "sheet": "Sheet1",
        "areas": [{"address": "A1:A600000"}, {"address": "C1:C400001"}],
        "chunks": 1,
    }
    body = refused(post(client, "/xlwings/uploads", sent), 413, "selection_too_large")
    assert "1,000,001 rows" in body["message"]


def test_answers_may_not_overwrite_another_area(client: AddinClient) -> None:
    sent = payload(("A1:A2", [number(1), number(2)]), ("B1:B2", [number(3), number(4)]))
    refused(post(client, CHECK, sent), 400, "answers_overwrite_selection")


def test_unknown_region_refused(client: AddinClient) -> None:
    refused(post(client, CHECK, payload(("A1:A1", [number(1)]), region="XX")), 400, "bad_region")


def test_bad_json_refused(client: AddinClient) -> None:
    response = client.request(
        "POST", CHECK, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    refused(response, 400, "bad_json")


def valid_payload() -> dict[str, Any]:
    """Return a small valid payload to break in the tests below."""
    return payload(("A1:A2", [number(1), number(2)]))


def _set(path: str, value: Any) -> Any:
    """Return a payload with the item at ``path`` (dots) replaced or, for None, removed."""
    sent = valid_payload()
    *parents, last = path.split(".")
    target = sent
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is None and isinstance(target, dict):
        target.pop(last, None)
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return sent


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ([1, 2], "bad_payload", "JSON object"),
        ("text", "bad_payload", "JSON object"),
        (None, "bad_payload", "JSON object"),
        (_set("sheet", None), "bad_payload", "send 'sheet' and 'areas'"),
        (_set("sheet", 3), "bad_payload", "sheet: input should be a valid string"),
        (_set("sheet", " "), "bad_payload", "sheet must name the worksheet"),
        (_set("region", 41), "bad_payload", "region"),
        (_set("areas", None), "bad_payload", "send 'sheet' and 'areas'"),
        (_set("areas", "A1:A2"), "bad_payload", "areas: input should be a valid list"),
        (_set("areas", ["A1:A2"]), "bad_payload", "areas[0]: input should be a valid dictionary"),
        (_set("areas", []), "bad_payload", "no area"),
        (_set("areas.0.address", None), "bad_payload", "areas[0].address is missing"),
        (_set("areas.0.address", "hello"), "bad_address", "'hello'"),
        (_set("areas.0.address", "A1:A"), "bad_address", "A1:A"),
        (_set("areas.0.address", "A0:A2"), "bad_address", "grid"),
        (_set("areas.0.address", "XFE1:XFE2"), "bad_address", "grid"),
        (_set("areas.0.target_column", "A"), "bad_address", "right of it"),
        (_set("areas.0.target_column", "12"), "bad_address", "column letters"),
        (_set("areas.0.target_column", 3), "bad_payload", "target_column: input should be a valid"),
        (_set("areas.0.values", None), "bad_payload", "areas[0].values is missing"),
        (_set("areas.0.target", None), "bad_payload", "areas[0].target is missing"),
        (_set("areas.0.values", "x"), "bad_payload", "areas[0].values must be a list of at most"),
        (_set("areas.0.target", [""]), "bad_payload", "1 answer cells"),
        (_set("areas.0.values", [number(1)]), "bad_payload", "1 values"),
        (
            _set("areas.0", {"address": "A1:A2", "values": [1, 2, 3], "target": ["", "", ""]}),
            "bad_payload",
            "rows 1 to 3",
        ),
        (
            _set("areas.0.values.0", {"v": 1}),
            "bad_payload",
            "areas[0].values: row 1 holds an object",
        ),
        (_set("areas.0.values.1", [1, 2]), "bad_payload", "areas[0].values: row 2 holds a list"),
        (_set("areas.0.target.1", [1]), "bad_payload", "areas[0].target: row 2 holds a list"),
        (_set("areas.0.target.1", {"spill": False}), "bad_payload", "row 2 holds an object"),
        (_set("overwrite", "yes"), "bad_payload", "overwrite: input should be a valid boolean"),
        (_set("start", 1), "bad_payload", "start: input should be a valid boolean"),
        (_set("colour", "red"), "bad_payload", "colour is not accepted here"),
        ({**valid_payload(), "upload_id": "u-1"}, "bad_payload", "not both"),
        ({"upload_id": 7}, "bad_payload", "upload_id: input should be a valid string"),
    ],
)
def test_wrong_payload_shape_is_a_clear_400(
    client: AddinClient, body: Any, code: str, words: str
) -> None:
    response = post(client, CHECK, body)
    assert words in refused(response, 400, code)["message"]


def test_client_header_required(client: AddinClient) -> None:
    response = post(client, CHECK, valid_payload(), client_header=False)
    assert response.status_code == 403


def test_confirm_flow(tmp_path: Path) -> None:
    with engine_app(tmp_path, confirm_above=2) as app:
        client = AddinClient(app)
        cells = ["phone", number(1), number(2), number(3)]
        body = ok(post(client, CHECK, payload(("A1:A4", cells))))
        assert body["needs_confirmation"] is True
        assert body["job_id"] is None
        assert "confirm to start" in body["message"]
        assert column_of(body["actions"], "B")[2] == "unconfirmed"
        plan_id = body["plan_id"]
        confirmed = ok(post(client, f"/api/plans/{plan_id}/confirm"))
        assert confirmed["plan"]["to_upload"] == 3
        job = wait_job(client, confirmed["job_id"])
        assert job["answered"] == 3
        assert job["kind"] == "selection"
        assert job["target"] == {"sheet": "Sheet1", "areas": ["A1:A4"]}
        # A plan is used once.
        refused(post(client, f"/api/plans/{plan_id}/confirm"), 404, "plan_not_found")


def test_confirm_plans_again_so_nothing_is_uploaded_twice(tmp_path: Path) -> None:
    with engine_app(tmp_path, confirm_above=1) as app:
        client = AddinClient(app)
        sent = payload(("A1:A2", [number(1), number(2)]))
        waiting = ok(post(client, CHECK, sent))["plan_id"]
        # Meanwhile a second plan is confirmed and answered.
        other = ok(post(client, CHECK, sent))["plan_id"]
        wait_job(client, ok(post(client, f"/api/plans/{other}/confirm"))["job_id"])
        confirmed = ok(post(client, f"/api/plans/{waiting}/confirm"))
        assert confirmed["plan"]["to_upload"] == 0
        assert confirmed["plan"]["cache_hits"] == 2


def test_discard_flow(tmp_path: Path) -> None:
    with engine_app(tmp_path, confirm_above=0) as app:
        client = AddinClient(app)
        plan_id = ok(post(client, CHECK, valid_payload()))["plan_id"]
        assert ok(post(client, f"/api/plans/{plan_id}/discard")) == {
            "demo": True,
            "plan_id": plan_id,
            "discarded": True,
        }
        refused(post(client, f"/api/plans/{plan_id}/discard"), 404, "plan_not_found")
        refused(post(client, f"/api/plans/{plan_id}/confirm"), 404, "plan_not_found")


def test_unknown_plan(client: AddinClient) -> None:
    refused(post(client, "/api/plans/nope/confirm"), 404, "plan_not_found")


def test_plan_void_after_the_api_key_changed(tmp_path: Path) -> None:
    with engine_app(tmp_path, confirm_above=0) as app:
        client = AddinClient(app)
        plan_id = ok(post(client, CHECK, valid_payload()))["plan_id"]
        ok(client.request("PUT", "/api/settings", json={"api_key": "live-key-0000-1234"}))
        ok(client.request("PUT", "/api/settings", json={"api_key": ""}))
        # Plans are forgotten when the key changes; a stale id is unknown.
        refused(post(client, f"/api/plans/{plan_id}/confirm"), 404, "plan_not_found")


# -- write-back ---------------------------------------------------------------


def test_write_back_follows_moved_and_edited_rows(client: AddinClient) -> None:
    cells = ["phone", number(1), number(2), number(3), "junk"]
    job_id = ok(post(client, CHECK, payload(("A1:A5", cells))))["job_id"]
    wait_job(client, job_id)
    answers = column_of(
        ok(post(client, CHECK, payload(("A1:A5", cells))))["actions"], "B"
    )  # cached now: the true answers per number
    truth = {number(1): answers[2], number(2): answers[3], number(3): answers[4]}
    # Rows sorted meanwhile, one edited to a number never checked, one cleared.
    fresh = ["phone", number(3), number(999), number(1), "", float(FIRST + 2)]
    body = ok(post(client, f"/xlwings/write-results/{job_id}", payload(("A1:A6", fresh))))
    written = column_of(body["actions"], "B")
    assert 1 not in written  # the header stays as it is
    assert written[2] == truth[number(3)]
    assert 3 not in written  # the new number has no answer: its cell is left alone
    assert written[4] == truth[number(1)]
    assert written[5] == ""
    assert written[6] == truth[number(2)]
    assert (body["written"], body["skipped"]) == (3, 1)
    assert body["state"] == "done"
    assert body["finished"] is True
    assert "1 row skipped" in body["message"]


def test_pending_cell_gets_an_answer_from_another_job(client: AddinClient) -> None:
    first = ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"]
    second = ok(post(client, CHECK, payload(("A1:A1", [number(2)]))))["job_id"]
    wait_job(client, first)
    wait_job(client, second)
    # The sheet now shows number 2 where job 1 checked number 1: answered from the cache.
    body = ok(post(client, f"/xlwings/write-results/{first}", payload(("A1:A1", [number(2)]))))
    assert body["written"] == 1
    assert body["skipped"] == 0
    assert column_of(body["actions"], "B")[1] in {"yes", "no", "ban"}


def test_write_back_of_vendor_failures(tmp_path: Path) -> None:
    with engine_app(tmp_path, emulator={"MOCK_FIXTURES": {number(1): "fail"}}) as app:
        client = AddinClient(app)
        job_id = ok(post(client, CHECK, payload(("A1:A2", [number(1), number(2)]))))["job_id"]
        job = wait_job(client, job_id)
        assert job["counts"]["error"] == 1
        body = ok(
            post(
                client,
                f"/xlwings/write-results/{job_id}",
                payload(("A1:A2", [number(1), number(2)])),
            )
        )
        written = column_of(body["actions"], "B")
        assert written[1] == "error"
        assert written[2] in {"yes", "no", "ban"}


def test_write_back_unknown_job_is_404(client: AddinClient) -> None:
    response = post(client, "/xlwings/write-results/nope", valid_payload())
    assert "nope" in refused(response, 404, "job_not_found")["message"]


def test_write_back_bad_payload_is_400(client: AddinClient) -> None:
    job_id = ok(post(client, CHECK, valid_payload()))["job_id"]
    refused(post(client, f"/xlwings/write-results/{job_id}", {"book": 1}), 400, "bad_payload")
