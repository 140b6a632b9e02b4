"""Write planning never overwrites the user's data in the answer column (issue 10, item 2).

The client sends the answer column's current cells (``target``); the backend writes
only into cells that are empty or hold a text of ours, asks before anything is
planned or billed when the column holds anything else, and writes elsewhere or over
it only on the user's word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from addin.web.answer_columns import OUR_TEXTS, SPILL, is_free
from tests.web.conftest import AddinClient
from tests.web.engine_app import (
    applied,
    column_of,
    engine_app,
    ledger,
    number,
    ok,
    payload,
    post,
    refused,
    wait_job,
)

CHECK = "/xlwings/check-selection"

#: What a user keeps beside a phone column: every kind must stop the check.
USER_DATA: list[Any] = [
    "Alice",
    "call back on Monday",
    12.0,
    0,
    True,
    "=SUM(A1:A3)",
    "=FBCHECK(A2)",
    SPILL,
    "Yes",
    " pending",
    "#N/A",
]


def written_cells(body: dict[str, Any]) -> dict[tuple[int, int], Any]:
    """Return every (row, column) the answer's setValues actions write, 1-based."""
    return applied(body["actions"])


def test_the_rule_knows_every_text_the_add_in_writes() -> None:
    assert {
        "yes",
        "no",
        "ban",
        "invalid",
        "error",
        "pending",
        "unconfirmed",
        "cancelled",
        "facebook",
        "facebook (DEMO)",
    } == OUR_TEXTS
    assert all(is_free(text) for text in OUR_TEXTS)
    assert is_free("")
    assert is_free(None)
    assert not any(is_free(cell) for cell in USER_DATA)


@pytest.mark.parametrize("cell", USER_DATA, ids=repr)
def test_user_data_in_the_answer_column_stops_the_check_before_billing(
    tmp_path: Path, cell: Any
) -> None:
    with engine_app(tmp_path) as app:
        client = AddinClient(app)
        cells = ["phone", number(1), number(2), number(3)]
        target = ["", "pending", cell, ""]
        body = ok(post(client, CHECK, payload(("A1:A4", cells, target))))
        assert body["needs_choice"] is True
        assert body["job_id"] is None
        assert body["plan_id"] is None
        # No setValues at all, so none over the user's cell.
        assert body["actions"] == []
        conflict = body["conflict"]
        assert conflict["cells"] == 1
        assert conflict["areas"][0]["address"] == "A1:A4"
        assert conflict["areas"][0]["target_column"] == "B"
        assert conflict["areas"][0]["examples"][0].startswith("B3: ")
        assert conflict["free_texts"] == sorted(OUR_TEXTS)
        assert "nothing was billed" in body["message"]
        assert ok(client.get("/api/jobs"))["jobs"] == []
        assert ledger(app).get("tasks_created", 0) == 0


def test_the_conflict_names_the_cells_in_words(client: AddinClient) -> None:
    cells = [number(1), number(2), number(3), number(4)]
    target = ["Alice", 12.0, "=SUM(A1)", SPILL]
    body = ok(post(client, CHECK, payload(("C5:C8", cells, target))))
    assert body["conflict"]["areas"][0]["examples"] == [
        "D5: 'Alice'",
        "D6: the number 12",
        "D7: the formula =SUM(A1)",
    ]
    assert body["message"].startswith(
        "the answer column D holds other data in 4 cells (D5: 'Alice'"
    )


def test_empty_cells_and_earlier_answers_are_written_again(client: AddinClient) -> None:
    cells = ["phone", number(1), number(2), "", "junk"]
    target = ["facebook", "yes", "", "pending", "invalid"]
    body = ok(post(client, CHECK, payload(("A1:A5", cells, target))))
    assert body["needs_choice"] is False
    assert body["conflict"] is None
    assert body["job_id"]
    assert column_of(body["actions"], "B") == {
        1: "facebook (DEMO)",
        2: "pending",
        3: "pending",
        4: "",
        5: "invalid",
    }


def test_overwrite_writes_over_user_data_only_where_there_is_an_answer(
    tmp_path: Path,
) -> None:
    with engine_app(tmp_path) as app:
        client = AddinClient(app)
        cells = ["phone", number(1), "", number(2)]
        target = ["Notes", "Alice", "keep me", ""]
        sent = payload(("A1:A4", cells, target))
        sent["overwrite"] = True
        body = ok(post(client, CHECK, sent))
        assert body["job_id"]
        written = column_of(body["actions"], "B")
        # Header and answers go over the user's cells; beside the empty A3 nothing is said,
        # so the note there stays.
        assert written == {1: "facebook (DEMO)", 2: "pending", 4: "pending"}
        assert (3, 2) not in written_cells(body)
        wait_job(client, body["job_id"])


def test_the_first_free_column_the_user_chose_gets_the_answers(client: AddinClient) -> None:
    cells = ["phone", number(1), number(2)]
    sent = payload(("A1:A3", cells, ["", "", ""]))
    sent["areas"][0]["target_column"] = "D"
    body = ok(post(client, CHECK, sent))
    assert {column for (_, column) in written_cells(body)} == {4}
    assert column_of(body["actions"], "D") == {1: "facebook (DEMO)", 2: "pending", 3: "pending"}
    assert body["format_ranges"][0]["start_column"] == 3


def test_two_areas_may_not_share_an_answer_column(client: AddinClient) -> None:
    sent = payload(("A1:A2", [number(1), number(2)]), ("B1:B2", [number(3), number(4)]))
    sent["areas"][0]["target_column"] = "C"
    message = refused(post(client, CHECK, sent), 400, "answers_overwrite_selection")["message"]
    assert "share column C" in message


def test_a_plan_held_for_the_placeholders_starts_only_when_confirmed(tmp_path: Path) -> None:
    """``start: false``: the pane writes its placeholders first, then starts the plan."""
    with engine_app(tmp_path) as app:
        client = AddinClient(app)
        sent = payload(("A1:A2", [number(1), number(2)]))
        sent["start"] = False
        body = ok(post(client, CHECK, sent))
        assert body["job_id"] is None
        assert body["needs_confirmation"] is False
        assert body["plan_id"]
        # Below the threshold the placeholders say pending: the pane starts it at once.
        assert column_of(body["actions"], "B") == {1: "pending", 2: "pending"}
        assert ok(client.get("/api/jobs"))["jobs"] == []
        assert ledger(app).get("tasks_created", 0) == 0
        started = ok(post(client, f"/api/plans/{body['plan_id']}/confirm"))
        assert wait_job(client, started["job_id"])["answered"] == 2


def test_write_back_keeps_a_note_typed_over_pending(client: AddinClient) -> None:
    cells = [number(1), number(2), number(3)]
    job_id = ok(post(client, CHECK, payload(("A1:A3", cells))))["job_id"]
    wait_job(client, job_id)
    # While the job ran, the user typed over one placeholder and put a formula in another.
    target = ["pending", "called: no answer", "=A3"]
    body = ok(post(client, f"/xlwings/write-results/{job_id}", payload(("A1:A3", cells, target))))
    assert set(column_of(body["actions"], "B")) == {1}
    assert (2, 2) not in written_cells(body)
    assert (3, 2) not in written_cells(body)
    assert (body["written"], body["kept"]) == (1, 2)
    assert "2 not written: the answer cells hold other data now" in body["message"]


def test_write_back_into_the_chosen_column(client: AddinClient) -> None:
    cells = [number(1), number(2)]
    sent = payload(("A1:A2", cells, ["", ""]))
    sent["areas"][0]["target_column"] = "C"
    job_id = ok(post(client, CHECK, sent))["job_id"]
    wait_job(client, job_id)
    again = payload(("A1:A2", cells, ["pending", "pending"]))
    again["areas"][0]["target_column"] = "C"
    body = ok(post(client, f"/xlwings/write-results/{job_id}", again))
    assert set(column_of(body["actions"], "C")) == {1, 2}
    assert {column for (_, column) in written_cells(body)} == {3}
