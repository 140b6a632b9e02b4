"""Each injected fault, over real HTTP against a live emulator."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from tests.mock_server.conftest import Emulators, Vendor, numbers


def test_error_rate_one_answers_500_with_retry_after_and_bills_nothing(emulators: Emulators):
    vendor = emulators.start(MOCK_ERROR_RATE=1.0, MOCK_RETRY_AFTER=7)
    response = vendor.create(numbers(2))
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert response.headers["Retry-After"] == "7"
    assert vendor.tasks() == []
    assert vendor.ledger()["billed_total"] == 0


def test_injected_500_on_status_is_not_billed(vendor: Vendor):
    task_id = vendor.create_ok(numbers(2))["task_id"]
    assert vendor.configure(error_rate=1.0).status_code == 200
    response = vendor.status(task_id)
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert vendor.ledger()["status_polls"] == 0


def test_error_rate_is_reproducible_under_a_seed(emulators: Emulators):
    def codes(vendor: Vendor) -> list[int]:
        task_id = vendor.create_ok(numbers(1))["task_id"]
        vendor.configure(error_rate=0.5)
        return [vendor.status(task_id).status_code for _ in range(30)]

    first = codes(emulators.start(MOCK_SEED=5))
    assert set(first) == {200, 500}
    assert codes(emulators.start(MOCK_SEED=5)) == first
    assert codes(emulators.start(MOCK_SEED=6)) != first


def test_latency_waits_the_fixed_and_random_delay(emulators: Emulators):
    waits: list[float] = []
    vendor = emulators.start(
        MOCK_LATENCY_MS=200.0, MOCK_LATENCY_JITTER_MS=100.0, MOCK_SLEEP=waits.append
    )
    task_id = vendor.create_ok(numbers(1))["task_id"]
    vendor.status_ok(task_id)
    assert len(waits) == 2
    assert all(0.2 <= wait < 0.3 for wait in waits)
    assert waits[0] != waits[1]


def test_latency_does_not_touch_admin_routes_or_downloads(emulators: Emulators):
    waits: list[float] = []
    vendor = emulators.start(MOCK_SLEEP=waits.append)
    url = vendor.exported(numbers(1))["result_url"]
    vendor.configure(latency_ms=50.0)
    vendor.ledger()
    vendor.session.get(url, timeout=30)
    assert waits == []


def test_a_dropped_connection_gives_the_client_a_connection_error(emulators: Emulators):
    vendor = emulators.start(MOCK_DROP_RATE=1.0)
    with pytest.raises(requests.ConnectionError):
        vendor.create(numbers(2))
    with pytest.raises(requests.ConnectionError):
        vendor.status("cs9viu7i61pkfs4oavvg")
    assert vendor.tasks() == []
    assert vendor.ledger()["billed_total"] == 0


def test_a_dropped_connection_sends_not_a_single_byte(emulators: Emulators):
    vendor = emulators.start(MOCK_DROP_RATE=1.0)
    address = urlsplit(vendor.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(
            b"GET /fb/api/simple/tasks/cs9viu7i61pkfs4oavvg HTTP/1.1\r\n"
            b"Host: x\r\nX-API-Key: demo\r\n\r\n"
        )
        assert conn.recv(1024) == b""


def test_download_fail_once_fails_the_first_download_only(emulators: Emulators):
    vendor = emulators.start(MOCK_DOWNLOAD_FAIL_ONCE=True)
    url = vendor.exported(numbers(3))["result_url"]
    first = vendor.session.get(url, timeout=30)
    assert first.status_code == 500
    assert first.json()["error"]["type"] == "server_error"
    assert vendor.session.get(url, timeout=30).status_code == 200
    assert vendor.ledger()["downloads"] == 1


def test_download_expire_once_expires_the_first_link(emulators: Emulators):
    vendor = emulators.start(MOCK_DOWNLOAD_EXPIRE_ONCE=True)
    task = vendor.exported(numbers(3))
    first = vendor.session.get(task["result_url"], timeout=30)
    assert first.status_code == 403
    assert first.json()["error"]["type"] == "result_expired"
    assert vendor.session.get(task["result_url"], timeout=30).status_code == 403
    fresh = vendor.status_ok(task["task_id"])["result_url"]
    assert fresh != task["result_url"]
    assert vendor.session.get(fresh, timeout=30).status_code == 200


def test_stuck_tasks_never_leave_processing(emulators: Emulators):
    vendor = emulators.start(MOCK_STUCK=True)
    task_id = vendor.create_ok(numbers(10))["task_id"]
    vendor.advance(1_000_000)
    body = vendor.status_ok(task_id)
    assert (body["status"], body["success"] + body["failure"]) == ("processing", 5)
    assert "result_url" not in body
    vendor.configure(stuck=False)
    vendor.advance(1_000_000)
    assert vendor.status_ok(task_id)["status"] == "processing"
    assert vendor.exported(numbers(2))["status"] == "exported"


def test_faults_set_at_run_time_show_in_the_config(vendor: Vendor):
    response = vendor.configure(drop_rate=0.25, retry_after=3, download_fail_once=True)
    assert response.status_code == 200
    config = vendor.session.get(f"{vendor.url}/_mock/config", timeout=30).json()
    assert (config["drop_rate"], config["retry_after"], config["download_fail_once"]) == (
        0.25,
        3,
        True,
    )
