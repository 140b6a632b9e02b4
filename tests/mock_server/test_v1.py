"""The emulator's v1 routes: the same tasks, ledger and faults as the legacy routes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests

from tests.mock_server.conftest import Vendor, numbers

V1_FIELDS = [
    "task_id",
    "user_id",
    "status",
    "total",
    "success",
    "failure",
    "created_at",
    "updated_at",
]


def create_v1(
    vendor: Vendor,
    content: list[str] | bytes,
    *,
    task_type: str | None = "facebook",
    key: str | None = "",
) -> requests.Response:
    """POST /v1/tasks with a multipart file and task_type, as the vendor's examples do."""
    if isinstance(content, list):
        content = ("\n".join(content) + "\n").encode()
    data = {} if task_type is None else {"task_type": task_type}
    headers = {} if key is None else {"X-API-Key": key or vendor.key}
    return vendor.session.post(
        f"{vendor.url}/v1/tasks",
        files={"file": ("numbers.txt", content, "text/plain")},
        data=data,
        headers=headers,
        timeout=30,
    )


def gettask(vendor: Vendor, task_id: str, *, multipart: bool = True) -> requests.Response:
    """POST /v1/gettasks with task_id as a multipart (``-F``) or urlencoded (``-d``) field."""
    headers = {"X-API-Key": vendor.key}
    if multipart:
        return vendor.session.post(
            f"{vendor.url}/v1/gettasks",
            files={"task_id": (None, task_id)},
            headers=headers,
            timeout=30,
        )
    return vendor.session.post(
        f"{vendor.url}/v1/gettasks", data={"task_id": task_id}, headers=headers, timeout=30
    )


def test_create_answers_202_by_default_with_the_v1_task_object(vendor):
    response = create_v1(vendor, numbers(100))
    assert response.status_code == 202, response.text
    body = response.json()
    assert list(body) == V1_FIELDS
    assert (body["status"], body["total"]) == ("pending", 0)
    assert vendor.ledger()["tasks_created"] == 1
    assert vendor.tasks()[0]["dialect"] == "v1"


def test_create_may_answer_200(vendor):
    assert vendor.configure(v1_create_status=200).status_code == 200
    assert create_v1(vendor, numbers(100)).status_code == 200
    assert vendor.configure(v1_create_status=201).status_code == 400


def test_a_v1_task_walks_to_exported_with_number_activated_columns(vendor):
    task_id = create_v1(vendor, numbers(120)).json()["task_id"]
    vendor.advance(10_000)
    for multipart in (True, False):
        body = gettask(vendor, task_id, multipart=multipart).json()
        assert body["status"] == "exported"
        assert body["total"] == 120
    download = vendor.session.get(body["result_url"], timeout=30)
    book = openpyxl.load_workbook(io.BytesIO(download.content), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    book.close()
    assert rows[0] == ("number", "activated")
    assert len(rows) == 121
    ledger = vendor.ledger()
    assert (ledger["tasks_created"], ledger["status_polls"], ledger["billed_total"]) == (1, 2, 3)


def test_zip_results_hold_a_csv_with_the_v1_header(vendor):
    vendor.configure(result_format="zip")
    task_id = create_v1(vendor, numbers(100)).json()["task_id"]
    vendor.advance(10_000)
    url = gettask(vendor, task_id).json()["result_url"]
    assert url.endswith("/results.zip")
    with zipfile.ZipFile(io.BytesIO(vendor.session.get(url, timeout=30).content)) as archive:
        text = archive.read("results.csv").decode()
    assert text.startswith("number,activated\r\n")


def test_the_legacy_routes_see_the_same_task_and_ledger(vendor):
    task_id = create_v1(vendor, numbers(100)).json()["task_id"]
    vendor.advance(10_000)
    legacy = vendor.status_ok(task_id)
    assert legacy["status"] == "exported"
    assert vendor.ledger()["billed_total"] == 2


@pytest.mark.parametrize(
    ("count", "status", "kind", "words"),
    [
        (99, 400, "too_few_numbers", "holds 99 rows; a facebook task holds 100 to 100,000"),
        (100_001, 400, "too_many_numbers", "more than 100000 numbers"),
    ],
)
def test_row_limits_are_400_naming_the_limit(vendor, count, status, kind, words):
    response = create_v1(vendor, numbers(count))
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == kind
    assert words in error["message"]
    assert vendor.ledger()["billed_total"] == 0
    assert vendor.tasks() == []


def test_a_file_over_the_byte_limit_is_413_on_v1(emulators):
    small = emulators.start(MOCK_MAX_FILE_BYTES=1000, MAX_CONTENT_LENGTH=1_000_000)
    response = create_v1(small, numbers(200))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    legacy = small.create(numbers(200))
    assert legacy.status_code == 400  # the legacy routes keep their documented 400
    assert small.ledger()["billed_total"] == 0


@pytest.mark.parametrize(
    ("task_type", "words"), [(None, "no 'task_type'"), ("facebook_email", "not offered")]
)
def test_task_type_is_required_and_checked(vendor, task_type, words):
    response = create_v1(vendor, numbers(100), task_type=task_type)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_task_type"
    assert words in response.json()["error"]["message"]


def test_gettasks_needs_a_task_id_and_knows_only_this_keys_tasks(vendor):
    missing = vendor.session.post(
        f"{vendor.url}/v1/gettasks", data={}, headers={"X-API-Key": vendor.key}, timeout=30
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "missing_task_id"
    unknown = gettask(vendor, "cs9viu7i61pkfs4oavvg")
    assert unknown.status_code == 404
    assert vendor.ledger()["billed_total"] == 0


def test_a_share_of_tasks_fails_with_a_message(vendor):
    vendor.configure(task_failure_rate=1.0)
    task_id = create_v1(vendor, numbers(100)).json()["task_id"]
    vendor.advance(5)
    assert gettask(vendor, task_id).json()["status"] == "pending"
    vendor.advance(10_000)
    body = gettask(vendor, task_id).json()
    assert body["status"] == "failed"
    assert "could not be completed" in body["message"]
    assert (body["total"], body["success"], body["failure"]) == (100, 0, 100)
    assert "result_url" not in body
    vendor.advance(10_000)
    assert gettask(vendor, task_id).json()["status"] == "failed"  # it stays failed
    assert vendor.ledger()["billed_total"] == 4  # the create and every poll are billed


def test_balance_is_free_and_counted(vendor):
    response = vendor.session.get(
        f"{vendor.url}/v1/balance", headers={"X-API-Key": vendor.key}, timeout=30
    )
    assert response.json() == {"balance": 1_000_000}
    create_v1(vendor, numbers(100))
    again = vendor.session.get(
        f"{vendor.url}/v1/balance", headers={"X-API-Key": vendor.key}, timeout=30
    )
    assert again.json() == {"balance": 999_999}
    ledger = vendor.ledger()
    assert (ledger["billed_total"], ledger["balance_reads"]) == (1, 2)


def test_balance_needs_a_valid_key(vendor):
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = vendor.session.get(f"{vendor.url}/v1/balance", headers=headers, timeout=30)
        assert response.status_code == 401


def test_402_on_create_and_poll_when_the_balance_is_spent(emulators):
    poor = emulators.start(MOCK_API_KEYS={"k": 2})
    task_id = create_v1(poor, numbers(100)).json()["task_id"]
    assert gettask(poor, task_id).status_code == 200
    assert gettask(poor, task_id).status_code == 402
    assert create_v1(poor, numbers(100)).status_code == 402
    balance = poor.session.get(f"{poor.url}/v1/balance", headers={"X-API-Key": "k"}, timeout=30)
    assert balance.json() == {"balance": 0}


def test_create_faults_apply_to_v1_too(vendor):
    vendor.configure(create_fault="gateway_504", create_fault_count=1)
    response = create_v1(vendor, numbers(100))
    assert response.status_code == 504
    assert vendor.ledger()["tasks_created"] == 1  # created and billed, as a gateway's 504 hides
    vendor.configure(error_rate=1.0)
    assert gettask(vendor, vendor.tasks()[0]["task_id"]).status_code == 500


CURL = shutil.which("curl")


def curl(*args: str) -> dict[str, Any]:
    """Run curl and return the JSON it printed."""
    assert CURL is not None
    done = subprocess.run(
        [CURL, "-sS", *args], capture_output=True, check=True, timeout=60, text=True
    )
    return dict(json.loads(done.stdout))


@pytest.mark.skipif(CURL is None, reason="curl is not installed; the requests tests cover v1")
def test_the_vendors_own_curl_examples_work_unchanged_apart_from_host_and_key(vendor, tmp_path):
    numbers_file = Path(tmp_path, "numbers.txt")
    numbers_file.write_text("\n".join(numbers(150)) + "\n", encoding="utf-8")
    key = f"X-API-Key: {vendor.key}"
    task = curl(
        "-X",
        "POST",
        f"{vendor.url}/v1/tasks",
        "-H",
        key,
        "-F",
        f"file=@{numbers_file}",
        "-F",
        "task_type=facebook",
    )
    assert task["status"] == "pending"
    vendor.advance(10_000)
    status = curl(
        "-X", "POST", f"{vendor.url}/v1/gettasks", "-H", key, "-F", f"task_id={task['task_id']}"
    )
    assert (status["status"], status["total"]) == ("exported", 150)
    # The vendor's shell example polls with -d (urlencoded) instead of -F.
    again = curl(
        "-X", "POST", f"{vendor.url}/v1/gettasks", "-H", key, "-d", f"task_id={task['task_id']}"
    )
    assert again["status"] == "exported"
    assert curl(f"{vendor.url}/v1/balance", "-H", key) == {"balance": 1_000_000 - 3}
