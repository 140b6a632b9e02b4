"""Create faults: what gateways do to a create before or after the vendor billed it.

Each fault is shown once over real HTTP on loopback; the counting rules and the
create latency's place in the request are shown through the Flask test client.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from mock_server import create_app
from tests.mock_server.conftest import FROZEN, Emulators, Vendor, numbers

#: How long the test client waits for a held answer; the hold is longer.
SHORT_TIMEOUT = 0.25

#: A bound on waiting for a gated request to reach its pause; never reached when it works.
GATE_SECONDS = 30.0


def billed_creates(vendor: Vendor) -> int:
    """Return the creates the vendor billed."""
    return int(vendor.ledger()["tasks_created"])


def config_of(vendor: Vendor) -> dict[str, Any]:
    """Return ``GET /_mock/config``."""
    return dict(vendor.session.get(f"{vendor.url}/_mock/config", timeout=30).json())


def listed_faults(vendor: Vendor) -> list[str]:
    """Return how each listed task's create was answered."""
    return [task["create_fault"] for task in vendor.tasks()]


class Gate:
    """A ``MOCK_SLEEP`` that records each wait and blocks until the test opens it."""

    def __init__(self) -> None:
        """Start closed, with no wait seen."""
        self.waits: list[float] = []
        self.reached = threading.Event()
        self.opened = threading.Event()

    def __call__(self, seconds: float) -> None:
        """Record the wait, tell the test, and block until opened (or the bound passes)."""
        self.waits.append(seconds)
        self.reached.set()
        self.opened.wait(GATE_SECONDS)


def in_background(call: Callable[[], requests.Response]) -> tuple[threading.Thread, list[Any]]:
    """Run ``call`` on a thread; the list receives its response or exception."""
    outcome: list[Any] = []

    def run() -> None:
        """Keep whatever the call ends with."""
        try:
            outcome.append(call())
        except requests.RequestException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# -- after the task is created -------------------------------------------------


def test_gateway_504_answers_an_html_page_after_the_task_is_created_and_billed(vendor: Vendor):
    assert vendor.configure(create_fault="gateway_504", create_fault_count=1).status_code == 200
    response = vendor.create(numbers(3))
    assert response.status_code == 504
    assert response.headers["Content-Type"].startswith("text/html")
    assert "504 Gateway Time-out" in response.text
    assert listed_faults(vendor) == ["gateway_504"]
    ledger = vendor.ledger()
    assert (ledger["tasks_created"], ledger["billed_total"]) == (1, 1)
    assert ledger["numbers_uploaded"] == 3
    # The task is real: the client can poll it once it learns the id.
    task_id = vendor.tasks()[0]["task_id"]
    assert vendor.status_ok(task_id)["task_id"] == task_id


def test_drop_closes_the_connection_after_the_task_is_created_and_billed(vendor: Vendor):
    vendor.configure(create_fault="drop", create_fault_count=1)
    with pytest.raises(requests.ConnectionError):
        vendor.create(numbers(2))
    assert listed_faults(vendor) == ["drop"]
    assert billed_creates(vendor) == 1


def test_drop_after_creating_sends_not_a_single_byte(vendor: Vendor):
    vendor.configure(create_fault="drop")
    body = b"+41791000000\n"
    request = (
        b"POST /fb/api/simple/tasks HTTP/1.1\r\nHost: x\r\nX-API-Key: demo\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n"
    )
    part = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="input.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + body + b"\r\n--b--\r\n"
    )
    address = urlsplit(vendor.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(request + b"Content-Length: %d\r\n\r\n" % len(part) + part)
        assert conn.recv(1024) == b""
    assert billed_creates(vendor) == 1


def test_hold_lets_a_client_with_a_shorter_timeout_time_out_though_the_task_exists(
    emulators: Emulators,
):
    vendor = emulators.start(MOCK_CREATE_FAULT="hold", MOCK_HOLD_SECONDS=1.0)
    with pytest.raises(requests.ReadTimeout):
        vendor.session.post(
            f"{vendor.url}/fb/api/simple/tasks",
            files={"file": ("input.txt", b"+41791000000\n", "text/plain")},
            headers={"X-API-Key": "demo"},
            timeout=(5, SHORT_TIMEOUT),
        )
    assert listed_faults(vendor) == ["hold"]
    assert billed_creates(vendor) == 1


def test_a_held_answer_is_the_task_once_the_hold_is_over(emulators: Emulators):
    gate = Gate()
    vendor = emulators.start(MOCK_CREATE_FAULT="hold", MOCK_HOLD_SECONDS=42.0, MOCK_SLEEP=gate)
    thread, outcome = in_background(lambda: vendor.create(numbers(1)))
    assert gate.reached.wait(GATE_SECONDS)
    # While the answer is held the task is already created and billed.
    assert billed_creates(vendor) == 1
    gate.opened.set()
    thread.join(GATE_SECONDS)
    (response,) = outcome
    assert response.status_code == 200
    assert response.json()["task_id"] == vendor.tasks()[0]["task_id"]
    assert gate.waits == [42.0]


def test_html_200_answers_a_page_instead_of_the_task_json(vendor: Vendor):
    vendor.configure(create_fault="html_200", create_fault_count=1)
    response = vendor.create(numbers(2))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<html>")
    assert listed_faults(vendor) == ["html_200"]
    assert billed_creates(vendor) == 1


# -- before anything is created ------------------------------------------------


def test_html_500_answers_an_html_page_and_creates_nothing(vendor: Vendor):
    vendor.configure(create_fault="html_500", create_fault_count=1)
    response = vendor.create(numbers(2))
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert "500 Internal Server Error" in response.text
    assert vendor.tasks() == []
    assert vendor.ledger()["billed_total"] == 0


def test_json_500_is_the_vendors_own_error_and_creates_nothing(emulators: Emulators):
    vendor = emulators.start(MOCK_CREATE_FAULT="json_500", MOCK_RETRY_AFTER=4)
    response = vendor.create(numbers(2))
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert response.headers["Retry-After"] == "4"
    assert vendor.tasks() == []
    assert vendor.ledger()["billed_total"] == 0


def test_create_faults_leave_polls_alone(vendor: Vendor):
    task_id = vendor.create_ok(numbers(1))["task_id"]
    vendor.configure(create_fault="html_500")
    assert vendor.status(task_id).status_code == 200


# -- counting --------------------------------------------------------------------


def test_the_count_faults_the_next_n_creates_then_switches_the_fault_off(vendor: Vendor):
    vendor.configure(create_fault="gateway_504", create_fault_count=2)
    codes = [vendor.create(numbers(1)).status_code for _ in range(3)]
    assert codes == [504, 504, 200]
    assert listed_faults(vendor) == ["gateway_504", "gateway_504", "none"]
    assert billed_creates(vendor) == 3
    config = config_of(vendor)
    assert (config["create_fault"], config["create_fault_count"]) == ("none", -1)


def test_the_count_shows_the_creates_left(vendor: Vendor):
    vendor.configure(create_fault="html_200", create_fault_count=3)
    vendor.create(numbers(1))
    assert config_of(vendor)["create_fault_count"] == 2


def test_minus_one_faults_every_create(emulators: Emulators):
    vendor = emulators.start(MOCK_CREATE_FAULT="html_500")
    assert [vendor.create(numbers(1)).status_code for _ in range(4)] == [500] * 4
    assert config_of(vendor)["create_fault_count"] == -1


def test_a_refused_upload_does_not_use_up_a_fault_that_follows_creation(vendor: Vendor):
    vendor.configure(create_fault="gateway_504", create_fault_count=1)
    assert vendor.create(b"not a number\n").status_code == 400
    assert vendor.create(numbers(1), key="wrong").status_code == 401
    assert vendor.create(numbers(1)).status_code == 504


def test_a_fault_before_creation_counts_every_create_request(vendor: Vendor):
    vendor.configure(create_fault="json_500", create_fault_count=1)
    assert vendor.create(numbers(1), key="wrong").status_code == 500
    assert vendor.create(numbers(1)).status_code == 200


def test_reset_restores_the_configured_create_fault(emulators: Emulators):
    vendor = emulators.start(MOCK_CREATE_FAULT="gateway_504", MOCK_CREATE_FAULT_COUNT=1)
    assert vendor.create(numbers(1)).status_code == 504
    assert vendor.create(numbers(1)).status_code == 200
    vendor.session.post(f"{vendor.url}/_mock/reset", timeout=30)
    assert vendor.create(numbers(1)).status_code == 504


def test_concurrent_creates_share_a_count_of_one_exactly_once(vendor: Vendor):
    vendor.configure(create_fault="gateway_504", create_fault_count=1)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(vendor.create(numbers(1)).status_code))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] * 5 + [504]
    assert billed_creates(vendor) == 6


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"create_fault": "timeout"}, "create_fault"),
        ({"create_fault_count": 0}, "create_fault_count"),
        ({"create_fault_count": -2}, "create_fault_count"),
        ({"hold_seconds": 0}, "hold_seconds"),
        ({"create_latency_ms": -1}, "create_latency_ms"),
    ],
)
def test_bad_create_fault_settings_are_400(vendor: Vendor, changes: dict[str, Any], named: str):
    response = vendor.configure(**changes)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_config"
    assert named in response.json()["error"]["message"]


# -- create latency --------------------------------------------------------------


def test_create_latency_holds_the_upload_before_the_task_exists(emulators: Emulators):
    gate = Gate()
    vendor = emulators.start(MOCK_CREATE_LATENCY_MS=14_000.0, MOCK_SLEEP=gate)
    thread, outcome = in_background(lambda: vendor.create(numbers(2)))
    assert gate.reached.wait(GATE_SECONDS)
    # Mid-upload: nothing created, nothing billed.
    assert vendor.tasks() == []
    assert billed_creates(vendor) == 0
    gate.opened.set()
    thread.join(GATE_SECONDS)
    (response,) = outcome
    assert response.status_code == 200
    assert billed_creates(vendor) == 1
    assert gate.waits == [14.0]


def test_create_latency_touches_creates_only():
    waits: list[float] = []
    app = create_app({**FROZEN, "MOCK_CREATE_LATENCY_MS": 500.0, "MOCK_SLEEP": waits.append})
    client = app.test_client()
    created = client.post(
        "/fb/api/simple/tasks",
        data={"file": (io.BytesIO(b"+41791000000\n"), "input.txt")},
        headers={"X-API-Key": "demo"},
    )
    assert created.status_code == 200
    task_id = created.get_json()["task_id"]
    polled = client.get(f"/fb/api/simple/tasks/{task_id}", headers={"X-API-Key": "demo"})
    assert polled.status_code == 200
    assert client.post("/fb/api/simple/tasks", headers={"X-API-Key": "demo"}).status_code == 400
    assert waits == [0.5]


def test_a_client_killed_mid_upload_still_gets_the_task_created(emulators: Emulators):
    gate = Gate()
    vendor = emulators.start(MOCK_CREATE_LATENCY_MS=14_000.0, MOCK_SLEEP=gate)
    address = urlsplit(vendor.url)
    part = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="input.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n+41791000000\r\n--b--\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(
            b"POST /fb/api/simple/tasks HTTP/1.1\r\nHost: x\r\nX-API-Key: demo\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\n\r\n" % len(part) + part
        )
        assert gate.reached.wait(GATE_SECONDS)
    # The client is gone; the vendor goes on with the upload it already has.
    gate.opened.set()
    deadline = time.monotonic() + GATE_SECONDS
    while not vendor.tasks() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert billed_creates(vendor) == 1


# -- balance ---------------------------------------------------------------------


def test_a_balance_runs_out_while_polling(emulators: Emulators):
    vendor = emulators.start(MOCK_API_KEYS={"demo": 3})
    task_id = vendor.create_ok(numbers(1))["task_id"]
    vendor.status_ok(task_id)
    vendor.status_ok(task_id)
    refused = vendor.status(task_id)
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "insufficient_balance"
    ledger = vendor.ledger()
    assert (ledger["billed_total"], ledger["status_polls"], ledger["balance"]) == (3, 2, 0)


def test_a_faulted_create_spends_balance_like_any_other(emulators: Emulators):
    vendor = emulators.start(MOCK_API_KEYS={"demo": 1}, MOCK_CREATE_FAULT="gateway_504")
    assert vendor.create(numbers(1)).status_code == 504
    task_id = vendor.tasks()[0]["task_id"]
    assert vendor.status(task_id).status_code == 402


def test_an_upload_is_counted_received_before_the_vendor_works_on_it():
    seen: list[int] = []
    app = create_app(
        {
            **FROZEN,
            "MOCK_CREATE_LATENCY_MS": 500.0,
            "MOCK_SLEEP": lambda _: seen.append(received()),
        }
    )
    client = app.test_client()

    def received() -> int:
        body = client.get("/_mock/received").get_json()
        return int(body["keys"]["demo"]["uploads_received"])

    assert received() == 0
    created = client.post(
        "/fb/api/simple/tasks",
        data={"file": (io.BytesIO(b"+41791000000\n"), "input.txt")},
        headers={"X-API-Key": "demo"},
    )
    assert created.status_code == 200
    # Counted during the vendor's working wait, before the task existed.
    assert seen == [1]
    # A request without a file is not counted: the vendor never held one.
    assert client.post("/fb/api/simple/tasks", headers={"X-API-Key": "demo"}).status_code == 400
    assert received() == 1
    assert "uploads_received" not in client.get("/_mock/ledger").get_json()["keys"]["demo"]
