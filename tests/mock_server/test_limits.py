"""Absurd but well-typed settings and admin bodies are refused with a clear 400, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from addin.cli import build_parser
from mock_server import ConfigError, create_app
from mock_server.admin_json import MAX_BODY_BYTES, MAX_DEPTH, nesting_depth
from mock_server.cli import run
from mock_server.clock import LATEST_NS, NANOS_PER_SECOND
from mock_server.models import TaskIdGenerator
from tests.mock_server.conftest import Vendor, numbers, parse_time

#: (config key, value, words of the message): each value overflowed, hung or skewed before.
ABSURD_CONFIG = [
    ("MOCK_QUEUE_DELAY", 1e300, "between 0 and 604800"),
    ("MOCK_EXPORT_DELAY", 1e300, "between 0 and 604800"),
    ("MOCK_RESULT_TTL", 1e300, "<= 604800"),
    ("MOCK_RATE", 1e-300, "between 1e-06 and"),
    ("MOCK_LATENCY_MS", 1e13, "between 0 and 600000"),
    ("MOCK_LATENCY_MS", 3e7, "between 0 and 600000"),
    ("MOCK_LATENCY_JITTER_MS", 3e7, "between 0 and 600000"),
    ("MOCK_CREATE_LATENCY_MS", 3e7, "between 0 and 600000"),
    ("MOCK_HOLD_SECONDS", 601, "<= 600"),
    ("MOCK_TIME_SCALE", 1e300, "between 1e-09 and 10000"),
    ("MOCK_TIME_SCALE", 1e-300, "between 1e-09 and 10000"),
    ("MOCK_SHARES", "1e308/1e308/0", "finite sum"),
    ("MOCK_SHARES", {"yes": 1e308, "no": 1e308, "ban": 0}, "finite sum"),
    ("MOCK_SHARES", "inf/1/1", "non-negative"),
    ("MOCK_SEED", 10**5000, "an integer of 16610 bits"),
    ("MOCK_RETRY_AFTER", 10**30, "between 0 and 604800"),
    ("MOCK_API_KEYS", {"demo": 10**5000}, "an integer of 16610 bits"),
    ("MOCK_MAX_NUMBERS", 10**12, "between 1 and 10000000"),
    ("MOCK_CREATE_FAULT_COUNT", 10**9, "between 1 and 1000000"),
    ("MOCK_FAILURE_RATE", 10**400, "must be finite"),
]


@pytest.mark.parametrize(
    ("key", "value", "words"),
    # Explicit ids: pytest cannot print an int of 5,000 digits either.
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(ABSURD_CONFIG)],
)
def test_absurd_config_is_a_config_error(key: str, value: Any, words: str):
    with pytest.raises(ConfigError, match=key) as caught:
        create_app({key: value})
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("queue_delay", 1e300),
        ("rate", 1e-300),
        ("latency_ms", 3e7),
        ("hold_seconds", 601),
        ("shares", "1e308/1e308/0"),
        ("create_fault_count", 10**9),
    ],
)
def test_absurd_runtime_settings_are_400(vendor: Vendor, name: str, value: Any):
    response = vendor.configure(**{name: value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], name in error["message"]) == ("invalid_config", True)
    assert vendor.create(numbers(1)).status_code == 200


def test_a_time_scale_of_1e300_exits_2(capsys: pytest.CaptureFixture[str]):
    assert run(build_parser().parse_args(["mock", "--time-scale", "1e300"])) == 2
    assert "MOCK_TIME_SCALE must be between" in capsys.readouterr().err


# -- the clock ---------------------------------------------------------------------


def clock_now_ns(vendor: Vendor) -> int:
    """Return the emulator clock in epoch nanoseconds."""
    return parse_time(vendor.session.get(f"{vendor.url}/_mock/clock", timeout=30).json()["now"])


def advance(vendor: Vendor, seconds: float) -> requests.Response:
    """POST a clock advance."""
    return vendor.session.post(
        f"{vendor.url}/_mock/clock/advance", json={"seconds": seconds}, timeout=30
    )


@pytest.mark.parametrize("seconds", [1e12, 1e300])
def test_a_clock_advance_past_2106_is_400_and_creates_still_work(vendor: Vendor, seconds: float):
    response = advance(vendor, seconds)
    assert response.status_code == 400
    assert "2106-02-07T06:28:15" in response.json()["error"]["message"]
    assert vendor.create(numbers(1)).status_code == 200


def test_the_clock_may_go_up_to_its_limit_and_no_further(vendor: Vendor):
    room = (LATEST_NS - clock_now_ns(vendor)) // NANOS_PER_SECOND
    assert advance(vendor, room - 60).status_code == 200
    task_id = vendor.create_ok(numbers(1))["task_id"]
    vendor.advance(30)
    assert vendor.status_ok(task_id)["status"] == "exported"
    assert advance(vendor, 120).status_code == 400


def test_task_ids_wrap_their_seconds_at_32_bits_instead_of_failing():
    generator = TaskIdGenerator()
    assert generator.next_id(2**32 + 5)[:7] == generator.next_id(5)[:7]


# -- admin bodies ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/_mock/config", "/_mock/clock/advance"])
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, f"at most {MAX_BODY_BYTES} bytes"),
        ("[" * 20_000 + "]" * 20_000, f"at most {MAX_DEPTH} levels"),
        ('{"seconds": ' + "[" * 17 + "]" * 17 + "}", f"at most {MAX_DEPTH} levels"),
        ('{"seed": 1' + "0" * 5000 + "}", "not valid JSON here: a number of more than"),
        (" " * (MAX_BODY_BYTES + 1), f"at most {MAX_BODY_BYTES} bytes"),
    ],
)
def test_oversized_deep_or_unparsable_admin_bodies_are_400(
    vendor: Vendor, path: str, body: str, words: str
):
    method = "PUT" if path == "/_mock/config" else "POST"
    response = vendor.session.request(
        method,
        f"{vendor.url}{path}",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]


def test_a_body_nested_to_the_limit_is_parsed_and_judged_as_settings(vendor: Vendor):
    body = '{"shares": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    response = vendor.session.put(f"{vendor.url}/_mock/config", data=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_config"


def test_nested_shares_are_read():
    app = create_app({"TESTING": True})
    response = app.test_client().put(
        "/_mock/config", json={"shares": {"yes": 1, "no": 1, "ban": 0}}
    )
    assert response.status_code == 200
    assert response.get_json()["shares"] == {"yes": 0.5, "no": 0.5, "ban": 0.0}


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'"[[[["', 0),
        (b'{"a": "\\"[[[", "b": [1]}', 2),
        (b"", 0),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text: bytes, depth: int):
    assert nesting_depth(text) == depth
