"""Tests of the task model and its strict JSON parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from addin.upstream.exceptions import ProtocolError
from addin.upstream.models import TaskStatus, parse_task, parse_timestamp
from tests.upstream.conftest import CREATE_EXAMPLE

URL = "https://api.example/fb/api/simple/tasks/cs9viu7i61pkfs4oavvg"
EXPORTED = {
    "created_at": "2024-10-19T18:24:56.450567423Z",
    "updated_at": "2024-10-19T18:53:43.000000001Z",
    "task_id": "cs9viu7i61pkfs4oavvg",
    "user_id": "test",
    "status": "exported",
    "total": 20000,
    "success": 19990,
    "failure": 10,
    "result_url": "https://files.example/results.xlsx?sig=abc",
}


def parse(payload: object) -> TaskStatus:
    """Parse with a fixed method and URL."""
    return parse_task(payload, method="GET", url=URL)


def test_vendor_create_example_parses_exactly():
    task = parse(json.loads(CREATE_EXAMPLE))
    assert task == TaskStatus(
        task_id="cs9viu7i61pkfs4oavvg",
        user_id="test",
        status="pending",
        total=0,
        success=0,
        failure=0,
        created_at=datetime(2024, 10, 19, 18, 24, 56, 450567, tzinfo=UTC),
        updated_at=datetime(2024, 10, 19, 18, 24, 56, 450567, tzinfo=UTC),
        result_url=None,
    )
    assert not task.is_terminal
    assert not task.is_failed
    assert task.is_known_status


def test_exported_task_has_result_url_and_counts():
    task = parse(EXPORTED)
    assert task.is_exported
    assert task.is_terminal
    assert task.done == 20000
    assert task.result_url == "https://files.example/results.xlsx?sig=abc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-10-19T18:24:56.450567423Z", datetime(2024, 10, 19, 18, 24, 56, 450567, tzinfo=UTC)),
        ("2024-10-19T18:24:56.999999999Z", datetime(2024, 10, 19, 18, 24, 56, 999999, tzinfo=UTC)),
        ("2024-10-19T18:24:56Z", datetime(2024, 10, 19, 18, 24, 56, tzinfo=UTC)),
        ("2024-10-19t18:24:56.5z", datetime(2024, 10, 19, 18, 24, 56, 500000, tzinfo=UTC)),
        ("2024-10-19T20:24:56.1+02:00", datetime(2024, 10, 19, 18, 24, 56, 100000, tzinfo=UTC)),
        ("2024-10-19 13:24:56-05:00", datetime(2024, 10, 19, 18, 24, 56, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts_rfc3339_variants(text, expected):
    assert parse_timestamp(text) == expected
    assert parse_timestamp(text).tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["2024-10-19", "2024-10-19T18:24:56", "yesterday", "2024-13-01T00:00:00Z", "2024-10-19T18:24Z"],
)
def test_parse_timestamp_rejects_non_rfc3339(text):
    with pytest.raises(ValueError, match=r"timestamp|month"):
        parse_timestamp(text)


def test_failed_status_of_v1_is_known_and_terminal_with_its_message():
    task = parse(
        {**EXPORTED, "status": "FAILED", "result_url": None, "message": " invalid\n file "}
    )
    assert task.status == "failed"
    assert task.is_failed
    assert task.is_terminal
    assert task.is_known_status
    assert task.message == "invalid file"


def test_undocumented_failed_status_is_kept_and_terminal():
    task = parse({**EXPORTED, "status": "aborted", "result_url": None})
    assert task.status == "aborted"
    assert task.is_failed
    assert task.is_terminal
    assert not task.is_known_status
    assert task.message is None


def test_message_of_the_wrong_type_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="message"):
        parse({**EXPORTED, "message": 3})


def test_unknown_neutral_status_is_not_terminal():
    task = parse({**EXPORTED, "status": "queued"})
    assert not task.is_terminal
    assert not task.is_failed


def test_integral_float_counts_and_missing_user_id_are_tolerated():
    payload = {k: v for k, v in EXPORTED.items() if k != "user_id"}
    task = parse({**payload, "total": 20000.0})
    assert task.total == 20000
    assert task.user_id is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected a JSON object, got list"),
        ("pending", "expected a JSON object, got str"),
        ({k: v for k, v in EXPORTED.items() if k != "task_id"}, "'task_id' is missing"),
        ({**EXPORTED, "task_id": 42}, "'task_id' should be a string, got int"),
        ({**EXPORTED, "task_id": "../../admin"}, "'task_id' has unexpected characters"),
        ({**EXPORTED, "status": ""}, "'status' is empty"),
        ({**EXPORTED, "total": "20000"}, "'total' should be an integer"),
        ({**EXPORTED, "success": True}, "'success' should be an integer"),
        ({**EXPORTED, "failure": 1.5}, "'failure' should be an integer"),
        ({**EXPORTED, "failure": -1}, "'failure' is negative"),
        ({k: v for k, v in EXPORTED.items() if k != "success"}, "'success' is missing"),
        ({**EXPORTED, "created_at": "19/10/2024"}, "'created_at': not an RFC 3339"),
        ({**EXPORTED, "updated_at": None}, "'updated_at' is missing"),
        ({**EXPORTED, "result_url": "ftp://x/r.xlsx"}, "'result_url' is not an absolute"),
        ({**EXPORTED, "user_id": 7}, "'user_id' should be a string"),
    ],
)
def test_shape_problems_raise_protocol_error_naming_the_field(payload, message):
    with pytest.raises(ProtocolError, match=message) as caught:
        parse(payload)
    assert caught.value.method == "GET"
    assert caught.value.url == URL
    assert caught.value.status == 200
    assert str(caught.value).startswith(f"GET {URL} -> 200: ")
