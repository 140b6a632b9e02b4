"""Each emulator route reads its body, form or query into a typed model; a 400 names the field.

Errors keep the vendor's shape (``{"error": {"code", "type", "message"}}``).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.mock_server.conftest import Vendor, numbers
from tests.mock_server.test_views import error_of

JSON = {"Content-Type": "application/json"}


def put_config(vendor: Vendor, body: bytes, headers: dict[str, str] | None = None) -> Any:
    """PUT raw bytes to /_mock/config."""
    return vendor.session.put(
        f"{vendor.url}/_mock/config", data=body, headers=headers or JSON, timeout=30
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shares": {"yes": "1", "no": 1, "ban": 0}}, "shares.yes must be a number, got '1'"),
        ({"latency_ms": "5"}, "latency_ms must be a number, got '5'"),
        ({"latency_ms": [5]}, "latency_ms must be a number, got [5]"),
        ({"latency_ms": 1e308}, "latency_ms must be between 0 and 600000, got 1e+308"),
        ({"create_fault_count": -5}, "create_fault_count must be -1 (every create) or between"),
        ({"stuck": "yes"}, "stuck must be true or false, got 'yes'"),
        ({"colour": "red"}, "cannot change colour at run time; changeable: queue_delay, rate"),
        ({"seed": 3}, "cannot change seed at run time"),
    ],
)
def test_a_wrong_setting_is_invalid_config_naming_it(
    vendor: Vendor, changes: dict[str, Any], message: str
) -> None:
    assert error_of(vendor.configure(**changes), 400, "invalid_config").startswith(message)


@pytest.mark.parametrize(
    ("body", "headers", "words"),
    [
        (b"[" * 60_000, JSON, "at most 16 levels of arrays and objects"),
        (b'{"shares": ' + b"[" * 17 + b"]" * 17 + b"}", JSON, "at most 16 levels"),
        (b'{"error_rate": NaN}', JSON, "NaN is not a JSON number"),
        (b'{"error_rate": 1e999}', JSON, "the number 1e999 is too large for a double"),
        (b'{"error_rate": "\xe9"}', JSON, "not UTF-8 text"),
        (b'{"error_rate": 0}', {"Content-Type": "text/html"}, "application/json, not text/html"),
    ],
)
def test_bytes_that_are_no_utf8_json_are_bad_request(
    vendor: Vendor, body: bytes, headers: dict[str, str], words: str
) -> None:
    assert words in error_of(put_config(vendor, body, headers), 400, "bad_request")


def test_a_config_body_without_a_content_type_is_still_read(vendor: Vendor) -> None:
    # curl --data and requests' data= send none or the form type: the admin routes read JSON.
    response = put_config(vendor, b'{"error_rate": 0}', {})
    assert response.status_code == 200, response.text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert put_config(vendor, b'{"error_rate": 0}', form).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"seconds": "5"}', "seconds: input should be a valid number"),
        (b'{"seconds": -1}', "seconds: input should be greater than or equal to 0"),
        (b'{"seconds": true}', "seconds: input should be a valid number"),
        (b'{"seconds": 1, "minutes": 2}', "minutes is not accepted here; accepted: seconds"),
        (b"{}", "seconds is missing"),
        (b"[1]", "the body must be a JSON object"),
    ],
)
def test_a_wrong_clock_advance_is_a_400_naming_the_field(
    vendor: Vendor, body: bytes, message: str
) -> None:
    response = vendor.session.post(
        f"{vendor.url}/_mock/clock/advance", data=body, headers=JSON, timeout=30
    )
    assert error_of(response, 400, "bad_request").startswith(message)


def test_reset_takes_no_body_fields(vendor: Vendor) -> None:
    url = f"{vendor.url}/_mock/reset"
    assert vendor.session.post(url, timeout=30).status_code == 200
    assert vendor.session.post(url, json={}, timeout=30).status_code == 200
    message = error_of(vendor.session.post(url, json={"all": 1}, timeout=30), 400, "bad_request")
    assert message.startswith("all is not accepted here")


@pytest.mark.parametrize(
    ("query", "status"),
    [("numbers=1", 200), ("numbers=false", 200), ("numbers=maybe", 400), ("colour=red", 400)],
)
def test_the_task_list_query_is_typed(vendor: Vendor, query: str, status: int) -> None:
    response = vendor.session.get(f"{vendor.url}/_mock/tasks?{query}", timeout=30)
    assert response.status_code == status, response.text
    if status == 400:
        name = query.split("=")[0]
        assert error_of(response, 400, "bad_request").startswith(name)


def test_a_repeated_user_id_is_refused_before_anything_is_billed(vendor: Vendor) -> None:
    before = vendor.ledger()["billed_total"]
    response = vendor.session.post(
        f"{vendor.url}/fb/api/simple/tasks",
        files={"file": ("input.txt", "\n".join(numbers(2)).encode(), "text/plain")},
        data=[("user_id", "a"), ("user_id", "b")],
        headers={"X-API-Key": "demo"},
        timeout=30,
    )
    assert error_of(response, 400, "bad_request") == "user_id is given 2 times; give it once"
    assert vendor.ledger()["billed_total"] == before


@pytest.mark.parametrize(
    ("user_id", "message"),
    [("a\x00b", "user_id holds control characters"), ("u" * 257, "user_id is longer than 256")],
)
def test_a_bad_user_id_keeps_the_vendor_error_type(
    vendor: Vendor, user_id: str, message: str
) -> None:
    response = vendor.create(numbers(1), user_id=user_id)
    assert error_of(response, 400, "invalid_user_id").startswith(message)


def test_extra_form_fields_of_a_create_are_ignored_as_by_the_vendor(vendor: Vendor) -> None:
    response: requests.Response = vendor.session.post(
        f"{vendor.url}/fb/api/simple/tasks",
        files={"file": ("input.txt", numbers(1)[0].encode(), "text/plain")},
        data={"user_id": "me", "note": "anything"},
        headers={"X-API-Key": "demo"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == "me"
