"""The vendor and admin routes over real HTTP: lifecycle, every error, ledger, results."""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from tests.mock_server.conftest import TASK_FIELDS, Emulators, Vendor, numbers, parse_time

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
SECOND = 1_000_000_000


def error_of(response: requests.Response, status: int, error_type: str) -> str:
    """Assert a JSON error body of the documented shape and return its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    assert body["error"]["type"] == error_type
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


def read_xlsx(content: bytes) -> list[tuple[str, str]]:
    """Return every row of the first sheet of an xlsx, header included."""
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    rows = [tuple(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    workbook.close()
    return rows


# -- lifecycle -------------------------------------------------------------------


def test_lifecycle_walks_every_state_with_the_right_fields(vendor: Vendor):
    created = vendor.create_ok(numbers(20), user_id="test")
    assert list(created) == TASK_FIELDS
    assert created["status"] == "pending"
    assert (created["total"], created["success"], created["failure"]) == (0, 0, 0)
    assert created["user_id"] == "test"
    assert created["created_at"] == created["updated_at"]
    task_id = created["task_id"]
    start = parse_time(created["created_at"])

    vendor.advance(5)
    pending = vendor.status_ok(task_id)
    assert list(pending) == TASK_FIELDS
    assert (pending["status"], pending["total"], pending["success"]) == ("pending", 0, 0)
    assert pending["updated_at"] == created["updated_at"]

    vendor.advance(5.55)  # 10 s queue, then 0.55 s at 10 numbers/s: 5 numbers done
    processing = vendor.status_ok(task_id)
    assert list(processing) == TASK_FIELDS
    assert processing["status"] == "processing"
    assert processing["total"] == 20
    assert processing["success"] + processing["failure"] == 5
    assert parse_time(processing["updated_at"]) - start == 10 * SECOND + SECOND // 2

    vendor.advance(2)  # 12.55 s: all 20 done at 12 s, export at 17 s
    completed = vendor.status_ok(task_id)
    assert list(completed) == TASK_FIELDS
    assert completed["status"] == "completed"
    assert completed["success"] + completed["failure"] == 20
    assert parse_time(completed["updated_at"]) - start == 12 * SECOND

    vendor.advance(5)
    exported = vendor.status_ok(task_id)
    assert list(exported) == [*TASK_FIELDS, "result_url"]
    assert exported["status"] == "exported"
    assert parse_time(exported["updated_at"]) - start == 17 * SECOND
    assert exported["result_url"].startswith(f"{vendor.url}/_mock/results/")
    assert exported["result_url"].endswith("/results.xlsx")
    for body in (created, pending, processing, completed, exported):
        assert body["created_at"] == created["created_at"]
        assert TIMESTAMP.fullmatch(body["created_at"])
        assert TIMESTAMP.fullmatch(body["updated_at"])
        for name in ("total", "success", "failure"):
            assert type(body[name]) is int


def test_counters_grow_with_time_while_processing(vendor: Vendor):
    task_id = vendor.create_ok(numbers(20))["task_id"]
    seen = []
    vendor.advance(10.05)
    for _ in range(4):
        vendor.advance(0.3)
        body = vendor.status_ok(task_id)
        seen.append(body["success"] + body["failure"])
    assert seen == [3, 6, 9, 12]


def test_task_ids_have_the_xid_shape_and_sort_in_creation_order(vendor: Vendor):
    ids = []
    for _ in range(3):
        ids.append(vendor.create_ok(["+41798284651"])["task_id"])
        ids.append(vendor.create_ok(["+41798284651"])["task_id"])
        vendor.advance(1.5)
    assert all(re.fullmatch(r"[0-9a-v]{20}", task_id) for task_id in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    first = vendor.tasks()[0]
    raw = base64.b32hexdecode(first["task_id"].upper() + "====")
    assert int.from_bytes(raw[:4], "big") == parse_time(first["created_at"]) // SECOND


def test_instant_profile_is_exported_at_the_first_poll(emulators: Emulators):
    vendor = emulators.start(
        MOCK_PROFILE="instant", MOCK_QUEUE_DELAY=0.0, MOCK_RATE=None, MOCK_EXPORT_DELAY=0.0
    )
    created = vendor.create_ok(numbers(50))
    assert created["status"] == "pending"
    polled = vendor.status_ok(created["task_id"])
    assert (polled["status"], polled["total"]) == ("exported", 50)
    assert "result_url" in polled


def test_status_accepts_the_matching_user_id_query(vendor: Vendor):
    task_id = vendor.create_ok(numbers(2), user_id="job-7")["task_id"]
    assert vendor.status_ok(task_id, user_id="job-7")["user_id"] == "job-7"


def test_status_with_another_user_id_is_not_found(vendor: Vendor):
    task_id = vendor.create_ok(numbers(2), user_id="job-7")["task_id"]
    error_of(vendor.status(task_id, user_id="job-8"), 404, "task_not_found")


def test_user_id_defaults_to_an_empty_string(vendor: Vendor):
    assert vendor.create_ok(numbers(1))["user_id"] == ""


# -- accepted file shapes --------------------------------------------------------


def test_crlf_bom_spaces_and_blank_lines_are_accepted(vendor: Vendor):
    content = b"\xef\xbb\xbf+41798284651\r\n\r\n  +14155550100\t\r\n\n\n"
    task = vendor.exported(content)  # type: ignore[arg-type]
    assert task["total"] == 2


def test_a_missing_final_newline_is_accepted(vendor: Vendor):
    assert vendor.exported("+41798284651\n+14155550100")["total"] == 2  # type: ignore[arg-type]


def test_duplicates_are_accepted_and_counted_once(vendor: Vendor):
    task = vendor.exported(["+41798284651", "+14155550100", "+41798284651"])
    assert task["total"] == 2
    rows = read_xlsx(vendor.session.get(task["result_url"], timeout=30).content)
    assert [row[0] for row in rows] == ["Number", "+41798284651", "+14155550100"]
    assert vendor.ledger()["numbers_uploaded"] == 3
    listed = vendor.tasks(with_numbers=True)[0]
    assert (listed["total"], listed["numbers"]) == (2, 3)
    assert listed["uploaded_numbers"] == ["+41798284651", "+14155550100", "+41798284651"]


def test_a_large_upload_is_streamed_and_accepted(emulators: Emulators):
    vendor = emulators.start(MOCK_MAX_NUMBERS=100_000)
    created = vendor.create_ok(numbers(100_000))
    assert vendor.tasks()[0]["numbers"] == 100_000
    assert created["status"] == "pending"


# -- results ---------------------------------------------------------------------


def test_xlsx_result_has_the_header_and_one_row_per_number(vendor: Vendor):
    sent = numbers(30)
    task = vendor.exported(sent)
    response = vendor.session.get(task["result_url"], timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = read_xlsx(response.content)
    assert rows[0] == ("Number", "facebook")
    assert [row[0] for row in rows[1:]] == sent
    assert {row[1] for row in rows[1:]} <= {"yes", "no", "ban"}


def test_zip_result_holds_a_csv(emulators: Emulators):
    vendor = emulators.start(MOCK_RESULT_FORMAT="zip")
    sent = numbers(30)
    task = vendor.exported(sent)
    assert task["result_url"].endswith("/results.zip")
    response = vendor.session.get(task["result_url"], timeout=30)
    assert response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["results.csv"]
        text = archive.read("results.csv").decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Number", "facebook"]
    assert [row[0] for row in rows[1:]] == sent


def test_fixtures_pin_answers_and_failed_numbers_are_absent(emulators: Emulators):
    fixtures = {
        "+41798284651": "yes",
        "+14155550100": "no",
        "+447700900123": "ban",
        "+33612345678": "fail",
    }
    vendor = emulators.start(MOCK_FIXTURES=fixtures)
    task = vendor.exported(list(fixtures))
    assert (task["total"], task["success"], task["failure"]) == (4, 3, 1)
    rows = read_xlsx(vendor.session.get(task["result_url"], timeout=30).content)
    assert dict(rows[1:]) == {"+41798284651": "yes", "+14155550100": "no", "+447700900123": "ban"}


def test_outcomes_are_deterministic_per_seed(emulators: Emulators):
    sent = numbers(200)

    def answers(vendor: Vendor) -> list[tuple[str, str]]:
        task = vendor.exported(sent)
        return read_xlsx(vendor.session.get(task["result_url"], timeout=30).content)

    first = answers(emulators.start(MOCK_SEED=1))
    assert answers(emulators.start(MOCK_SEED=1)) == first
    assert answers(emulators.start(MOCK_SEED=2)) != first


def test_shares_decide_the_answers(emulators: Emulators):
    vendor = emulators.start(MOCK_SHARES="0/0/1")
    task = vendor.exported(numbers(40))
    rows = read_xlsx(vendor.session.get(task["result_url"], timeout=30).content)
    assert {row[1] for row in rows[1:]} == {"ban"}


def test_failure_rate_counts_failures_and_leaves_them_out(emulators: Emulators):
    vendor = emulators.start(MOCK_FAILURE_RATE=1.0)
    task = vendor.exported(numbers(10))
    assert (task["success"], task["failure"]) == (0, 10)
    rows = read_xlsx(vendor.session.get(task["result_url"], timeout=30).content)
    assert rows == [("Number", "facebook")]


def test_result_link_expires_and_a_new_poll_gives_a_fresh_one(emulators: Emulators):
    vendor = emulators.start(MOCK_RESULT_TTL=60.0)
    task = vendor.exported(numbers(3))
    assert vendor.status_ok(task["task_id"])["result_url"] == task["result_url"]
    vendor.advance(61)
    error_of(vendor.session.get(task["result_url"], timeout=30), 403, "result_expired")
    fresh = vendor.status_ok(task["task_id"])["result_url"]
    assert fresh != task["result_url"]
    assert vendor.session.get(fresh, timeout=30).status_code == 200


def test_an_unknown_result_token_is_not_found(vendor: Vendor):
    response = vendor.session.get(f"{vendor.url}/_mock/results/nope/results.xlsx", timeout=30)
    error_of(response, 404, "result_not_found")


def test_a_result_link_with_another_file_name_is_not_found(vendor: Vendor):
    url = vendor.exported(numbers(3))["result_url"]
    response = vendor.session.get(url.replace("results.xlsx", "results.zip"), timeout=30)
    error_of(response, 404, "result_not_found")


def test_downloads_need_no_key_and_are_free(vendor: Vendor):
    url = vendor.exported(numbers(3))["result_url"]
    before = vendor.ledger()
    assert requests.get(url, timeout=30).status_code == 200
    after = vendor.ledger()
    assert after["downloads"] == before["downloads"] + 1
    assert after["balance"] == before["balance"]


# -- errors: authentication and billing -----------------------------------------


def test_create_without_a_key_is_401(vendor: Vendor):
    assert "X-API-Key" in error_of(vendor.create(numbers(1), key=None), 401, "missing_api_key")


def test_create_with_an_unknown_key_is_401(vendor: Vendor):
    error_of(vendor.create(numbers(1), key="wrong"), 401, "invalid_api_key")


def test_status_without_a_key_is_401(vendor: Vendor):
    task_id = vendor.create_ok(numbers(1))["task_id"]
    error_of(vendor.status(task_id, key=None), 401, "missing_api_key")


def test_status_with_an_unknown_key_is_401(vendor: Vendor):
    task_id = vendor.create_ok(numbers(1))["task_id"]
    error_of(vendor.status(task_id, key="wrong"), 401, "invalid_api_key")


def test_create_with_a_spent_balance_is_402(emulators: Emulators):
    vendor = emulators.start(MOCK_API_KEYS={"demo": 0})
    error_of(vendor.create(numbers(1)), 402, "insufficient_balance")
    assert vendor.tasks() == []


def test_status_after_the_last_unit_is_spent_is_402(emulators: Emulators):
    vendor = emulators.start(MOCK_API_KEYS={"demo": 1})
    task_id = vendor.create_ok(numbers(1))["task_id"]
    error_of(vendor.status(task_id), 402, "insufficient_balance")
    assert vendor.ledger()["balance"] == 0


def test_unknown_task_is_404(vendor: Vendor):
    error_of(vendor.status("cs9viu7i61pkfs4oavvg"), 404, "task_not_found")


def test_another_keys_task_is_404(emulators: Emulators):
    vendor = emulators.start(MOCK_API_KEYS={"alice": 10, "bob": 10})
    task_id = vendor.create_ok(numbers(1), key="alice")["task_id"]
    error_of(vendor.status(task_id, key="bob"), 404, "task_not_found")
    assert vendor.ledger("bob")["billed_total"] == 0


def test_too_many_active_tasks_is_429_with_retry_after(emulators: Emulators):
    vendor = emulators.start(MOCK_MAX_ACTIVE_TASKS=2, MOCK_TIME_SCALE=1.0)
    vendor.create_ok(numbers(1))
    vendor.create_ok(numbers(1))
    response = vendor.create(numbers(1))
    error_of(response, 429, "too_many_active_tasks")
    assert 1 <= int(response.headers["Retry-After"]) <= 17
    vendor.advance(100)
    vendor.create_ok(numbers(1))


# -- errors: the uploaded file ---------------------------------------------------


def test_a_body_that_is_not_multipart_is_400(vendor: Vendor):
    response = vendor.session.post(
        f"{vendor.url}/fb/api/simple/tasks",
        data="+41798284651",
        headers={"X-API-Key": "demo", "Content-Type": "text/plain"},
        timeout=30,
    )
    assert "multipart/form-data" in error_of(response, 400, "missing_file")


def test_a_wrong_field_name_is_400(vendor: Vendor):
    error_of(vendor.create(numbers(1), field="upload"), 400, "missing_file")


def test_an_empty_file_is_400(vendor: Vendor):
    error_of(vendor.create(b""), 400, "empty_file")


def test_a_file_of_blank_lines_is_400(vendor: Vendor):
    error_of(vendor.create(b"\n\r\n  \n"), 400, "empty_file")


def test_a_line_that_is_not_e164_is_400_and_named(vendor: Vendor):
    message = error_of(
        vendor.create(["+41798284651", "+14155550100", "0791234"]), 400, "invalid_number"
    )
    assert message.startswith("line 3: '0791234' is not E.164")
    assert vendor.tasks() == []


def test_a_line_that_is_not_utf8_is_400(vendor: Vendor):
    message = error_of(vendor.create(b"+41798284651\n\xff\xfe\n"), 400, "invalid_encoding")
    assert message.startswith("line 2")


def test_a_binary_file_is_400(vendor: Vendor):
    response = vendor.create(bytes(range(256)) * 4)
    assert response.status_code == 400
    assert response.json()["error"]["type"] in {"invalid_number", "invalid_encoding"}


def test_a_huge_line_is_400(vendor: Vendor):
    message = error_of(vendor.create(b"+4" + b"1" * 5_000_000), 400, "invalid_number")
    assert message.startswith("line 1: longer than")


def test_a_file_over_the_byte_limit_is_400(emulators: Emulators):
    vendor = emulators.start(MOCK_MAX_FILE_BYTES=100)
    error_of(vendor.create(numbers(10)), 400, "file_too_large")


def test_a_body_far_over_the_limit_is_413(emulators: Emulators):
    vendor = emulators.start(MOCK_MAX_FILE_BYTES=100)
    error_of(vendor.create(numbers(8_000)), 413, "request_too_large")


def test_too_many_numbers_is_400(emulators: Emulators):
    vendor = emulators.start(MOCK_MAX_NUMBERS=3)
    error_of(vendor.create(numbers(4)), 400, "too_many_numbers")
    assert vendor.create(numbers(3)).status_code == 200


def test_a_too_long_user_id_is_400(vendor: Vendor):
    error_of(vendor.create(numbers(1), user_id="x" * 257), 400, "invalid_user_id")


def test_a_user_id_with_control_characters_is_400(vendor: Vendor):
    error_of(vendor.create(numbers(1), user_id="a\x00b"), 400, "invalid_user_id")


def test_rejected_uploads_are_not_billed(vendor: Vendor):
    vendor.create(b"")
    vendor.create(["nope"])
    ledger = vendor.ledger()
    assert (ledger["billed_total"], ledger["tasks_created"], ledger["entries"]) == (0, 0, [])


# -- errors: routing -------------------------------------------------------------


def test_a_wrong_method_on_a_vendor_route_is_405_json(vendor: Vendor):
    response = vendor.session.put(f"{vendor.url}/fb/api/simple/tasks", timeout=30)
    error_of(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_a_wrong_method_on_an_admin_route_is_405_json(vendor: Vendor):
    error_of(vendor.session.get(f"{vendor.url}/_mock/reset", timeout=30), 405, "method_not_allowed")


def test_an_unknown_route_is_404_json(vendor: Vendor):
    error_of(vendor.session.get(f"{vendor.url}/wa/api/simple/tasks", timeout=30), 404, "not_found")


# -- billing ledger --------------------------------------------------------------


def test_the_ledger_counts_match_the_requests_made(vendor: Vendor):
    first = vendor.create_ok(numbers(3))["task_id"]
    second = vendor.create_ok([*numbers(4), "+41798284651"])["task_id"]
    vendor.status_ok(first)
    vendor.advance(10_000)
    vendor.status_ok(second)
    url = vendor.status_ok(first)["result_url"]
    vendor.session.get(url, timeout=30)
    vendor.status("cs9viu7i61pkfs4oavvg")  # 404: free
    vendor.create(b"")  # 400: free
    ledger = vendor.ledger()
    assert ledger["billed_total"] == 5
    assert ledger["tasks_created"] == 2
    assert ledger["status_polls"] == 3
    assert ledger["downloads"] == 1
    assert ledger["numbers_uploaded"] == 8
    assert ledger["balance"] == 1_000_000 - 5
    assert [(e["route"], e["task_id"]) for e in ledger["entries"]] == [
        ("create", first),
        ("create", second),
        ("status", first),
        ("status", second),
        ("status", first),
    ]
    assert all(TIMESTAMP.fullmatch(e["time"]) for e in ledger["entries"])


def test_every_configured_key_has_its_own_ledger(emulators: Emulators):
    vendor = emulators.start(MOCK_API_KEYS={"alice": 5, "bob": 7})
    vendor.create_ok(numbers(1), key="alice")
    assert vendor.ledger("alice")["balance"] == 4
    assert vendor.ledger("bob")["balance"] == 7


def test_reset_clears_tasks_ledger_config_and_restores_balances(vendor: Vendor):
    vendor.create_ok(numbers(2))
    assert vendor.configure(error_rate=0.5).status_code == 200
    vendor.advance(1000)
    response = vendor.session.post(f"{vendor.url}/_mock/reset", timeout=30)
    assert response.json() == {"reset": True}
    assert vendor.tasks() == []
    ledger = vendor.ledger()
    assert (ledger["billed_total"], ledger["balance"], ledger["entries"]) == (0, 1_000_000, [])
    assert vendor.session.get(f"{vendor.url}/_mock/config", timeout=30).json()["error_rate"] == 0
    clock = vendor.session.get(f"{vendor.url}/_mock/clock", timeout=30).json()
    assert TIMESTAMP.fullmatch(clock["now"])


# -- admin routes ----------------------------------------------------------------


def test_clock_advance_reports_the_new_time(vendor: Vendor):
    before = parse_time(vendor.session.get(f"{vendor.url}/_mock/clock", timeout=30).json()["now"])
    response = vendor.session.post(
        f"{vendor.url}/_mock/clock/advance", json={"seconds": 3600}, timeout=30
    )
    assert response.json()["advanced"] == 3600
    assert parse_time(response.json()["now"]) - before >= 3600 * SECOND


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"seconds": -1}', b'{"seconds": "5"}', b'{"seconds": true}', b"[1]", b"{}"],
)
def test_clock_advance_with_a_bad_body_is_400(vendor: Vendor, body: bytes):
    response = vendor.session.post(f"{vendor.url}/_mock/clock/advance", data=body, timeout=30)
    error_of(response, 400, "bad_request")


def test_config_can_be_read(vendor: Vendor):
    config = vendor.session.get(f"{vendor.url}/_mock/config", timeout=30).json()
    assert config["profile"] == "demo"
    assert config["queue_delay"] == 10.0
    assert config["shares"] == {"yes": 0.40, "no": 0.55, "ban": 0.05}
    assert config["api_keys"] == {"demo": 1_000_000}
    assert "error_rate" in config["runtime_keys"]


def test_config_changes_apply_to_new_tasks(vendor: Vendor):
    response = vendor.configure(shares={"yes": 1, "no": 0, "ban": 0}, result_format="zip")
    assert response.status_code == 200
    assert response.json()["shares"] == {"yes": 1.0, "no": 0.0, "ban": 0.0}
    task = vendor.exported(numbers(5))
    assert task["result_url"].endswith("/results.zip")


def test_config_with_a_fixed_key_is_400(vendor: Vendor):
    assert "seed" in error_of(vendor.configure(seed=3), 400, "invalid_config")


def test_config_with_a_bad_value_is_400(vendor: Vendor):
    assert "error_rate" in error_of(vendor.configure(error_rate=2), 400, "invalid_config")


def test_config_with_a_body_that_is_not_an_object_is_400(vendor: Vendor):
    response = vendor.session.put(f"{vendor.url}/_mock/config", json=[1, 2], timeout=30)
    error_of(response, 400, "invalid_config")


def test_config_with_bad_json_is_400(vendor: Vendor):
    response = vendor.session.put(f"{vendor.url}/_mock/config", data=b"{", timeout=30)
    error_of(response, 400, "bad_request")


def test_task_list_shows_every_task(emulators: Emulators):
    vendor = emulators.start(MOCK_API_KEYS={"alice": 5, "bob": 5})
    vendor.create_ok(numbers(2), key="alice", user_id="a")
    vendor.create_ok(numbers(3), key="bob")
    listed = vendor.tasks()
    assert [(t["key"], t["user_id"], t["total"], t["numbers"]) for t in listed] == [
        ("alice", "a", 2, 2),
        ("bob", "", 3, 3),
    ]
    assert set(listed[0]) == {
        "task_id",
        "key",
        "user_id",
        "status",
        "total",
        "numbers",
        "created_at",
        "create_fault",
        "dialect",
    }
    assert {t["create_fault"] for t in listed} == {"none"}


# -- concurrency -----------------------------------------------------------------


def test_many_concurrent_clients_are_served_and_billed_exactly(emulators: Emulators):
    vendor = emulators.start()
    url = vendor.url

    def one_client(index: int) -> list[int]:
        with requests.Session() as session:
            session.headers["X-API-Key"] = "demo"
            created = session.post(
                f"{url}/fb/api/simple/tasks",
                files={"file": ("in.txt", f"+4179{index:07d}\n+4178{index:07d}\n")},
                timeout=30,
            )
            codes = [created.status_code]
            task_id = created.json()["task_id"]
            for _ in range(3):
                codes.append(
                    session.get(f"{url}/fb/api/simple/tasks/{task_id}", timeout=30).status_code
                )
            return codes

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one_client, range(64)))
    assert all(codes == [200, 200, 200, 200] for codes in results)
    ledger = vendor.ledger()
    assert (ledger["tasks_created"], ledger["status_polls"], ledger["billed_total"]) == (
        64,
        192,
        256,
    )
    assert ledger["numbers_uploaded"] == 128
    assert len({task["task_id"] for task in vendor.tasks()}) == 64


def test_429_comes_before_the_file_is_checked(emulators: Emulators):
    vendor = emulators.start(MOCK_MAX_ACTIVE_TASKS=1)
    vendor.create_ok(numbers(1))
    error_of(vendor.create(b"not a number"), 429, "too_many_active_tasks")


# -- no bad input makes a 500 ----------------------------------------------------

CONTENT_TYPES = [
    "multipart/form-data; boundary=b",
    "multipart/form-data",
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "",
]


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=600),
    content_type=st.sampled_from(CONTENT_TYPES),
    key=st.sampled_from([None, "demo", "wrong"]),
)
def test_no_raw_body_makes_the_create_route_fail_with_500(
    shared_vendor: Vendor, body: bytes, content_type: str, key: str | None
):
    if body.startswith(b"--b"):
        body = b"x" + body
    framed = b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
    for payload in (body, framed + body + b"\r\n--b--\r\n"):
        response = shared_vendor.session.post(
            f"{shared_vendor.url}/fb/api/simple/tasks",
            data=payload,
            headers={"Content-Type": content_type, **shared_vendor._headers(key)},
            timeout=30,
        )
        assert response.status_code in {200, 400, 401}, response.text
        assert response.headers["Content-Type"] == "application/json"


@settings(max_examples=40, deadline=None)
@given(content=st.binary(max_size=300), user_id=st.text(max_size=300))
def test_no_uploaded_file_or_user_id_makes_a_500(
    shared_vendor: Vendor, content: bytes, user_id: str
):
    response = shared_vendor.create(content, user_id=user_id)
    assert response.status_code in {200, 400}, response.text


@settings(max_examples=40, deadline=None)
@given(
    body=st.binary(max_size=200), path=st.sampled_from(["/_mock/config", "/_mock/clock/advance"])
)
def test_no_admin_body_makes_a_500(shared_vendor: Vendor, body: bytes, path: str):
    method = "PUT" if path == "/_mock/config" else "POST"
    response = shared_vendor.session.request(
        method, f"{shared_vendor.url}{path}", data=body, timeout=30
    )
    assert response.status_code in {200, 400}, response.text
    shared_vendor.session.post(f"{shared_vendor.url}/_mock/reset", timeout=30)


@settings(max_examples=40, deadline=None)
@given(task_id=st.text(min_size=1, max_size=100), user_id=st.text(max_size=50))
def test_no_task_id_or_query_makes_a_500(shared_vendor: Vendor, task_id: str, user_id: str):
    response = shared_vendor.session.get(
        f"{shared_vendor.url}/fb/api/simple/tasks/{quote(task_id, safe='')}",
        params={"user_id": user_id},
        headers={"X-API-Key": "demo"},
        timeout=30,
    )
    assert response.status_code in {404}, response.text
