"""Tests of the vendor client over real HTTP on 127.0.0.1 (pytest-httpserver and a raw server)."""

from __future__ import annotations

import email.utils
import io
import json
import logging
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from addin.upstream import exceptions as ex
from addin.upstream.client import RetryPolicy, VendorClient
from addin.upstream.results import ResultRow
from tests.upstream.conftest import (
    CREATE_EXAMPLE,
    RawServer,
    Upload,
    close_without_answer,
    read_upload,
    respond,
    send_raw,
)

KEY = "sk-test-123456"
TASKS = "/fb/api/simple/tasks"
TASK_ID = "cs9viu7i61pkfs4oavvg"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=10.0, jitter=0.0)


def task_json(status: str = "processing", **extra: object) -> dict[str, object]:
    """Return a vendor task answer."""
    return {
        "created_at": "2024-10-19T18:24:56.450567423Z",
        "updated_at": "2024-10-19T18:33:22.000000001Z",
        "task_id": TASK_ID,
        "user_id": "test",
        "status": status,
        "total": 20000,
        "success": 6724,
        "failure": 0,
        **extra,
    }


class Recorder:
    """A sleep function that records the delays instead of sleeping."""

    def __init__(self) -> None:
        """Start with no delays."""
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        """Record one delay."""
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Recorder:
    """Return a recording sleep function."""
    return Recorder()


@pytest.fixture
def client(httpserver: HTTPServer, sleeps: Recorder):
    """Return a client of the pytest-httpserver vendor with fast, recorded retries."""
    with VendorClient(
        base_url=httpserver.url_for("/"), api_key=KEY, retry=FAST_RETRY, sleep=sleeps
    ) as vendor:
        yield vendor


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    """Build a small xlsx."""
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


RESULT_XLSX = xlsx_bytes([["Number", "facebook"], ["+41798284651", "yes"], ["+41798284652", "ban"]])
RESULT_ROWS = {"+41798284651": ResultRow("yes"), "+41798284652": ResultRow("ban")}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- create ----------------------------------------------------------------


def test_create_sends_the_multipart_upload_and_parses_the_vendor_example(httpserver, client):
    seen: list[Upload] = []

    def handler(request: Request) -> Response:
        """Keep the upload for inspection and answer with the vendor's example."""
        seen.append(read_upload(request))
        return Response(CREATE_EXAMPLE, content_type="application/json")

    httpserver.expect_request(TASKS, method="POST").respond_with_handler(handler)
    task = client.create_task(["+41798284651", "+41798284652", "+12025550123"], user_id="test")

    assert task.task_id == TASK_ID
    assert task.status == "pending"
    assert task.user_id == "test"
    assert (task.total, task.success, task.failure) == (0, 0, 0)
    assert client.billed_requests == 1
    (upload,) = seen
    assert upload.headers["X-Api-Key"] == KEY
    assert upload.headers["User-Agent"].startswith("fbcheck/")
    assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert upload.filename == "input.txt"
    assert upload.mimetype == "text/plain"
    assert upload.content == b"+41798284651\n+41798284652\n+12025550123"
    assert upload.form == {"user_id": "test"}
    assert upload.query == b""


def test_create_without_user_id_sends_only_the_file(httpserver, client):
    seen: list[Upload] = []

    def handler(request: Request) -> Response:
        """Keep the upload and answer like the vendor."""
        seen.append(read_upload(request))
        return Response(CREATE_EXAMPLE, content_type="application/json")

    httpserver.expect_request(TASKS, method="POST").respond_with_handler(handler)
    client.create_task(["+41798284651"])
    assert seen[0].form == {}
    assert seen[0].content == b"+41798284651"


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ([], "at least one number"),
        (["+41798284651", "0791234567"], r"numbers\[1\] is not E\.164: '0791234567'"),
        (["+41798284651\n+1"], r"numbers\[0\] is not E\.164"),
        (["+0123"], "not E.164"),
    ],
)
def test_create_refuses_bad_numbers_before_any_request(httpserver, client, numbers, message):
    with pytest.raises(ValueError, match=message):
        client.create_task(numbers)
    assert httpserver.log == []


def test_create_retries_a_500_because_the_vendor_created_nothing(httpserver, client, sleeps):
    httpserver.expect_ordered_request(TASKS, method="POST").respond_with_json(
        {"error": {"code": 500, "message": "try later"}}, status=500
    )
    httpserver.expect_ordered_request(TASKS, method="POST").respond_with_data(
        CREATE_EXAMPLE, content_type="application/json"
    )
    assert client.create_task(["+41798284651"]).task_id == TASK_ID
    assert sleeps.delays == [0.5]
    assert len(httpserver.log) == 2
    assert client.billed_requests == 1


def test_create_read_timeout_is_ambiguous_and_uploads_once(httpserver, sleeps):
    uploads: list[bytes] = []
    release = threading.Event()

    def slow(request: Request) -> Response:
        """Take the upload, then answer too late."""
        uploads.append(read_upload(request).content)
        release.wait(5)
        return Response(CREATE_EXAMPLE, content_type="application/json")

    httpserver.expect_request(TASKS, method="POST").respond_with_handler(slow)
    client = VendorClient(
        base_url=httpserver.url_for("/"),
        api_key=KEY,
        upload_timeout=0.3,
        retry=FAST_RETRY,
        sleep=sleeps,
    )
    try:
        with pytest.raises(ex.AmbiguousCreateError, match="timed out waiting for the answer"):
            client.create_task(["+41798284651"])
    finally:
        release.set()
        client.close()
    assert uploads == [b"+41798284651"]
    assert sleeps.delays == []
    assert client.billed_requests == 0


def test_create_connection_dropped_after_upload_is_ambiguous(raw_server: RawServer, sleeps):
    raw_server.actions = [close_without_answer()]
    client = VendorClient(base_url=raw_server.url, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client, pytest.raises(ex.AmbiguousCreateError, match="connection lost") as caught:
        client.create_task(["+41798284651"])
    assert len(raw_server.requests) == 1
    assert raw_server.requests[0].method == "POST"
    assert b"+41798284651" in raw_server.requests[0].body
    assert caught.value.method == "POST"
    assert caught.value.url == f"{raw_server.url}{TASKS}"
    assert sleeps.delays == []


def test_create_to_a_closed_port_is_retried_then_a_transport_error(closed_port_url, sleeps):
    client = VendorClient(base_url=closed_port_url, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client, pytest.raises(ex.TransportError, match="connection failed") as caught:
        client.create_task(["+41798284651"])
    assert not isinstance(caught.value, ex.AmbiguousCreateError)
    assert caught.value.retryable
    assert sleeps.delays == [0.5, 1.0]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("{not json", "application/json", "malformed JSON"),
        ("<html><title>Login</title></html>", "text/html", "expected JSON, got text/html"),
        ('{"task_id": "x"}', "application/json", "field 'status' is missing"),
    ],
)
def test_create_with_an_unusable_200_is_ambiguous(httpserver, client, body, content_type, message):
    httpserver.expect_request(TASKS, method="POST").respond_with_data(
        body, content_type=content_type
    )
    with pytest.raises(ex.AmbiguousCreateError, match="a task may exist") as caught:
        client.create_task(["+41798284651"])
    assert isinstance(caught.value.__cause__, ex.ProtocolError)
    assert message in str(caught.value.__cause__)
    assert caught.value.status == 200
    assert len(httpserver.log) == 1
    assert client.billed_requests == 1


# -- status codes, shared by both routes ------------------------------------


def vendor_error(status: int, message: str) -> dict[str, object]:
    """Return an error body shaped like the emulator's."""
    return {"error": {"code": status, "type": "x", "message": message}}


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, ex.BadRequestError),
        (401, ex.AuthError),
        (402, ex.BalanceError),
        (403, ex.AuthError),
        (404, ex.NotFoundError),
        (405, ex.HTTPStatusError),
        (413, ex.PayloadTooLargeError),
    ],
)
@pytest.mark.parametrize("route", ["create", "get"])
def test_client_errors_are_typed_and_never_retried(
    httpserver, client, sleeps, status, error_class, route
):
    httpserver.expect_request(
        TASKS if route == "create" else f"{TASKS}/{TASK_ID}"
    ).respond_with_json(vendor_error(status, "line 3: '0791234' is not E.164"), status=status)
    call = (
        (lambda: client.create_task(["+41798284651"]))
        if route == "create"
        else (lambda: client.get_task(TASK_ID))
    )
    with pytest.raises(error_class) as caught:
        call()
    error = caught.value
    assert type(error) is error_class
    assert error.status == status
    assert error.detail == "line 3: '0791234' is not E.164"
    method = "POST" if route == "create" else "GET"
    assert error.method == method
    assert str(error).startswith(f"{method} {httpserver.url_for(TASKS)}")
    assert f"-> {status}: line 3" in str(error)
    assert KEY not in str(error)
    assert not error.retryable
    assert len(httpserver.log) == 1
    assert sleeps.delays == []
    assert client.billed_requests == 0


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        ("Bad number on line 2", "text/plain", "Bad number on line 2"),
        ('{"message": "file is empty"}', "application/json", "file is empty"),
        ('{"error": "file is empty"}', "application/json", "file is empty"),
        ('"file is empty"', "application/json", "file is empty"),
        ('{"code": 400}', "application/json", '{"code": 400}'),
        ("", "text/plain", "BAD REQUEST"),
    ],
)
def test_bad_request_detail_takes_the_vendor_message_in_any_shape(
    httpserver, client, body, content_type, detail
):
    httpserver.expect_request(TASKS).respond_with_data(body, status=400, content_type=content_type)
    with pytest.raises(ex.BadRequestError) as caught:
        client.create_task(["+41798284651"])
    assert caught.value.detail == detail


def test_redirect_on_an_api_route_is_not_followed(httpserver, client, raw_server):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_data(
        "", status=302, headers={"Location": f"{raw_server.url}/steal?x=1"}
    )
    with pytest.raises(ex.HTTPStatusError, match="unexpected redirect") as caught:
        client.get_task(TASK_ID)
    assert caught.value.status == 302
    assert raw_server.requests == []


# -- retries ---------------------------------------------------------------


def test_server_errors_are_retried_honouring_retry_after(httpserver, client, sleeps):
    path = f"{TASKS}/{TASK_ID}"
    httpserver.expect_ordered_request(path).respond_with_data("oops", status=500)
    httpserver.expect_ordered_request(path).respond_with_data(
        "busy", status=503, headers={"Retry-After": "2"}
    )
    httpserver.expect_ordered_request(path).respond_with_json(task_json())
    task = client.get_task(TASK_ID)
    assert task.success == 6724
    assert sleeps.delays == [0.5, 2.0]
    assert client.billed_requests == 1


def test_rate_limit_with_an_http_date_retry_after(httpserver, client, sleeps):
    path = f"{TASKS}/{TASK_ID}"
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=8), usegmt=True)
    httpserver.expect_ordered_request(path).respond_with_json(
        vendor_error(429, "slow down"), status=429, headers={"Retry-After": later}
    )
    httpserver.expect_ordered_request(path).respond_with_json(task_json())
    client.get_task(TASK_ID)
    (delay,) = sleeps.delays
    assert 5.0 < delay <= 8.0


def test_retries_exhausted_raise_the_last_server_error(httpserver, client, sleeps):
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_data(
        page, status=502, content_type="text/html"
    )
    with pytest.raises(ex.ServerError) as caught:
        client.get_task(TASK_ID)
    assert caught.value.status == 502
    assert caught.value.detail == "an HTML page titled '502 Bad Gateway'"
    assert len(httpserver.log) == FAST_RETRY.max_attempts
    assert sleeps.delays == [0.5, 1.0]
    assert client.billed_requests == 0


def test_retry_after_beyond_max_delay_is_raised_for_the_caller(httpserver, client, sleeps):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(
        vendor_error(429, "quota"), status=429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(ex.RateLimitError) as caught:
        client.get_task(TASK_ID)
    assert caught.value.retry_after == 3600.0
    assert caught.value.retryable
    assert sleeps.delays == []
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("header", ["soon", "", "-5"])
def test_unusable_retry_after_falls_back_to_backoff(httpserver, client, sleeps, header):
    path = f"{TASKS}/{TASK_ID}"
    httpserver.expect_ordered_request(path).respond_with_data(
        "", status=503, headers={"Retry-After": header}
    )
    httpserver.expect_ordered_request(path).respond_with_json(task_json())
    client.get_task(TASK_ID)
    assert sleeps.delays == [0.5]


def test_get_read_timeout_is_retried(httpserver, sleeps):
    release = threading.Event()
    calls: list[int] = []

    def first_slow(request: Request) -> Response:
        """Answer the first request too late and the next at once."""
        calls.append(1)
        if len(calls) == 1:
            release.wait(5)
        return Response(json.dumps(task_json()), content_type="application/json")

    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_handler(first_slow)
    client = VendorClient(
        base_url=httpserver.url_for("/"), api_key=KEY, timeout=0.3, retry=FAST_RETRY, sleep=sleeps
    )
    try:
        assert client.get_task(TASK_ID).status == "processing"
    finally:
        release.set()
        client.close()
    assert len(calls) == 2
    assert sleeps.delays == [0.5]
    assert client.billed_requests == 1


def test_get_read_timeouts_exhausted_raise_upstream_timeout(raw_server, sleeps):
    def never_answer(conn) -> None:
        """Keep the connection open past the client's timeout."""
        time.sleep(0.4)

    raw_server.actions = [never_answer] * 3
    client = VendorClient(
        base_url=raw_server.url, api_key=KEY, timeout=0.1, retry=FAST_RETRY, sleep=sleeps
    )
    with client, pytest.raises(ex.UpstreamTimeout) as caught:
        client.get_task(TASK_ID)
    assert isinstance(caught.value, TimeoutError)
    assert len(raw_server.requests) == 3


def test_get_dropped_connection_is_retried(raw_server, sleeps):
    raw_server.actions = [close_without_answer(), respond(200, json.dumps(task_json()).encode())]
    client = VendorClient(base_url=raw_server.url, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client:
        assert client.get_task(TASK_ID).task_id == TASK_ID
    assert [r.method for r in raw_server.requests] == ["GET", "GET"]
    assert sleeps.delays == [0.5]


def test_get_to_a_closed_port_raises_transport_error(closed_port_url, sleeps):
    client = VendorClient(base_url=closed_port_url, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client, pytest.raises(ex.TransportError, match=r"GET http://127\.0\.0\.1:\d+/fb/api"):
        client.get_task(TASK_ID)
    assert sleeps.delays == [0.5, 1.0]


# -- get ---------------------------------------------------------------------


def test_get_passes_user_id_as_query_and_the_key_as_header(httpserver, client):
    httpserver.expect_request(
        f"{TASKS}/{TASK_ID}",
        method="GET",
        query_string={"user_id": "job 7"},
        headers={"X-API-Key": KEY},
    ).respond_with_json(task_json("exported", result_url="https://files.example/r.xlsx"))
    task = client.get_task(TASK_ID, user_id="job 7")
    assert task.is_exported
    assert task.result_url == "https://files.example/r.xlsx"
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("{oops", "application/json", "malformed JSON"),
        (
            "<!DOCTYPE html><html><title>Maintenance</title></html>",
            "text/html; charset=utf-8",
            "expected JSON, got text/html; charset=utf-8 (an HTML page titled 'Maintenance')",
        ),
        (json.dumps(task_json()), "text/plain", "expected JSON, got text/plain"),
        (json.dumps({"task_id": TASK_ID, "status": "processing"}), "application/json", "'total'"),
        (json.dumps([task_json()]), "application/json", "expected a JSON object, got list"),
        (b"\xff\xfe{}", "application/json", "malformed JSON"),
    ],
)
def test_get_with_an_unusable_200_is_a_protocol_error_but_billed(
    httpserver, client, sleeps, body, content_type, message
):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_response(
        Response(body, status=200, headers={"Content-Type": content_type} if content_type else {})
    )
    with pytest.raises(ex.ProtocolError) as caught:
        client.get_task(TASK_ID)
    assert message in str(caught.value)
    assert caught.value.status == 200
    assert sleeps.delays == []
    assert client.billed_requests == 1


def test_get_without_content_type_is_a_protocol_error(raw_server, sleeps):
    body = json.dumps(task_json()).encode()
    raw_server.actions = [send_raw(200, body, {"Content-Type": None})]
    client = VendorClient(base_url=raw_server.url, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client, pytest.raises(ex.ProtocolError, match="expected JSON, got no Content-Type"):
        client.get_task(TASK_ID)
    assert client.billed_requests == 1


def test_get_answer_for_another_task_is_a_protocol_error(httpserver, client):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(
        task_json(task_id="aaaaaaaaaaaaaaaaaaaa")
    )
    with pytest.raises(ex.ProtocolError, match="describes 'aaaaaaaaaaaaaaaaaaaa'"):
        client.get_task(TASK_ID)


@pytest.mark.parametrize("task_id", ["", "../admin", "a/b", "x" * 200, "id with space"])
def test_get_refuses_an_unsafe_task_id(httpserver, client, task_id):
    with pytest.raises(ValueError, match="not a task id"):
        client.get_task(task_id)
    assert httpserver.log == []


def test_other_product_uses_its_own_route(httpserver, sleeps):
    httpserver.expect_request("/wa/api/simple/tasks/" + TASK_ID).respond_with_json(task_json())
    with VendorClient(base_url=httpserver.url_for("/"), api_key=KEY, product="wa") as client:
        assert client.get_task(TASK_ID).task_id == TASK_ID


# -- billing ---------------------------------------------------------------


def test_billed_requests_counts_only_successful_api_answers_across_threads(httpserver, client):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(task_json())
    httpserver.expect_request(f"{TASKS}/bbbbbbbbbbbbbbbbbbbb").respond_with_json(
        vendor_error(404, "no such task"), status=404
    )
    httpserver.expect_request("/files/r.xlsx").respond_with_data(
        RESULT_XLSX, content_type=XLSX_TYPE
    )

    def poll_five_times() -> None:
        """Poll the task five times."""
        for _ in range(5):
            client.get_task(TASK_ID)

    threads = [threading.Thread(target=poll_five_times) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pytest.raises(ex.NotFoundError):
        client.get_task("bbbbbbbbbbbbbbbbbbbb")
    client.download_result(httpserver.url_for("/files/r.xlsx"))
    assert client.billed_requests == 30


# -- downloads ---------------------------------------------------------------


def test_download_xlsx_without_the_api_key(httpserver, client):
    httpserver.expect_request("/files/r.xlsx", query_string="sig=s3cr3t").respond_with_data(
        RESULT_XLSX, content_type=XLSX_TYPE
    )
    assert client.download_result(httpserver.url_for("/files/r.xlsx?sig=s3cr3t")) == RESULT_ROWS
    (request, _response) = httpserver.log[0]
    assert "X-API-Key" not in request.headers
    assert request.headers["User-Agent"].startswith("fbcheck/")


def test_download_never_sends_a_key_set_on_the_callers_session(httpserver, sleeps):
    session = requests.Session()
    session.headers["X-API-Key"] = KEY
    httpserver.expect_request("/files/r.xlsx").respond_with_data(
        RESULT_XLSX, content_type=XLSX_TYPE
    )
    with VendorClient(base_url=httpserver.url_for("/"), api_key=KEY, session=session) as client:
        client.download_result(httpserver.url_for("/files/r.xlsx"))
    assert "X-API-Key" not in httpserver.log[0][0].headers
    session.close()


def test_download_zip_holding_a_csv_after_a_redirect(httpserver, client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("result.csv", "Number,facebook\n+41798284651,yes\n+41798284652,ban\n")
    httpserver.expect_request("/short").respond_with_data(
        "", status=302, headers={"Location": "/files/r.zip"}
    )
    httpserver.expect_request("/files/r.zip").respond_with_data(
        buffer.getvalue(), content_type="application/zip"
    )
    assert client.download_result(httpserver.url_for("/short")) == RESULT_ROWS


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(403, ex.LinkExpiredError), (410, ex.LinkExpiredError), (404, ex.NotFoundError)],
)
def test_download_refused_or_gone_is_typed_and_not_retried(
    httpserver, client, sleeps, status, error_class
):
    httpserver.expect_request("/files/r.xlsx").respond_with_data(
        "<Error><Code>AccessDenied</Code></Error>", status=status, content_type="application/xml"
    )
    with pytest.raises(error_class) as caught:
        client.download_result(httpserver.url_for("/files/r.xlsx?X-Amz-Signature=s3cr3t"))
    assert caught.value.status == status
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.url == httpserver.url_for("/files/r.xlsx") + "?…"
    assert sleeps.delays == []
    assert len(httpserver.log) == 1


def test_download_server_error_is_retried(httpserver, client, sleeps):
    httpserver.expect_ordered_request("/files/r.xlsx").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/files/r.xlsx").respond_with_data(
        RESULT_XLSX, content_type=XLSX_TYPE
    )
    assert client.download_result(httpserver.url_for("/files/r.xlsx")) == RESULT_ROWS
    assert sleeps.delays == [0.5]


def test_truncated_download_is_retried_then_raised(raw_server, sleeps):
    raw_server.actions = [
        send_raw(200, RESULT_XLSX[:500], {"Content-Type": XLSX_TYPE}, length=len(RESULT_XLSX))
    ] * 3
    client = VendorClient(base_url=raw_server.url, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client, pytest.raises(ex.TruncatedDownloadError, match=r"cut short .*500 bytes read"):
        client.download_result(f"{raw_server.url}/files/r.xlsx")
    assert len(raw_server.requests) == 3
    assert sleeps.delays == [0.5, 1.0]
    assert all("x-api-key" not in r.headers for r in raw_server.requests)


def test_truncated_download_recovers_on_retry(raw_server, sleeps):
    raw_server.actions = [
        send_raw(200, RESULT_XLSX[:500], {"Content-Type": XLSX_TYPE}, length=len(RESULT_XLSX)),
        send_raw(200, RESULT_XLSX, {"Content-Type": XLSX_TYPE}),
    ]
    client = VendorClient(base_url=raw_server.url, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client:
        assert client.download_result(f"{raw_server.url}/files/r.xlsx") == RESULT_ROWS


def test_oversize_download_announced_by_content_length(httpserver, sleeps):
    httpserver.expect_request("/files/r.xlsx").respond_with_data(
        RESULT_XLSX, content_type=XLSX_TYPE
    )
    client = VendorClient(
        base_url=httpserver.url_for("/"), api_key=KEY, max_result_bytes=1000, sleep=sleeps
    )
    with (
        client,
        pytest.raises(ex.ResultFileError, match=r"announces [0-9,]+ bytes, above the 1,000"),
    ):
        client.download_result(httpserver.url_for("/files/r.xlsx"))
    assert sleeps.delays == []


def test_oversize_download_streamed_without_content_length(httpserver, sleeps):
    def chunks():
        """Stream 64 KiB blocks forever-ish, without a Content-Length."""
        for _ in range(100):
            yield b"x" * 65536

    httpserver.expect_request("/files/big").respond_with_response(
        Response(chunks(), content_type="text/csv")
    )
    client = VendorClient(
        base_url=httpserver.url_for("/"), api_key=KEY, max_result_bytes=200_000, sleep=sleeps
    )
    with client, pytest.raises(ex.ResultFileError, match="exceeds the 200,000-byte limit"):
        client.download_result(httpserver.url_for("/files/big"))


def test_download_of_an_html_page_with_200_is_a_result_file_error(httpserver, client):
    httpserver.expect_request("/files/r.xlsx").respond_with_data(
        "<html><title>Sign in</title></html>", content_type="text/html"
    )
    with pytest.raises(ex.ResultFileError, match=r"served as text/html"):
        client.download_result(httpserver.url_for("/files/r.xlsx"))


def test_download_refuses_a_non_http_url(client):
    with pytest.raises(ex.ProtocolError, match="not http"):
        client.download_result("file:///etc/passwd")


# -- fetch_results -------------------------------------------------------------


def test_fetch_results_asks_for_a_fresh_link_when_the_first_expired(httpserver, client):
    httpserver.expect_request("/files/old.xlsx").respond_with_data("expired", status=410)
    httpserver.expect_request("/files/new.xlsx").respond_with_data(
        RESULT_XLSX, content_type=XLSX_TYPE
    )
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(
        task_json("exported", result_url=httpserver.url_for("/files/new.xlsx"))
    )
    stale = client.get_task(TASK_ID)
    stale = type(stale)(**{**stale.__dict__, "result_url": httpserver.url_for("/files/old.xlsx")})
    fresh, rows = client.fetch_results(stale)
    assert rows == RESULT_ROWS
    assert fresh.result_url == httpserver.url_for("/files/new.xlsx")
    assert client.billed_requests == 2


def test_fetch_results_by_task_id_reads_the_task_first(httpserver, client):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(
        task_json("exported", result_url=httpserver.url_for("/files/r.xlsx"))
    )
    httpserver.expect_request("/files/r.xlsx").respond_with_data(
        RESULT_XLSX, content_type=XLSX_TYPE
    )
    task, rows = client.fetch_results(TASK_ID)
    assert task.is_exported
    assert rows == RESULT_ROWS
    assert client.billed_requests == 1


def test_fetch_results_raises_when_the_fresh_link_fails_too(httpserver, client):
    httpserver.expect_request("/files/r.xlsx").respond_with_data("gone", status=410)
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(
        task_json("exported", result_url=httpserver.url_for("/files/r.xlsx"))
    )
    with pytest.raises(ex.LinkExpiredError):
        client.fetch_results(TASK_ID)
    assert client.billed_requests == 2


def test_fetch_results_of_an_unfinished_task_is_refused(httpserver, client):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(task_json("completed"))
    with pytest.raises(ValueError, match="is 'completed', not exported yet"):
        client.fetch_results(TASK_ID)


def test_fetch_results_of_an_export_without_link_is_a_protocol_error(httpserver, client):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(task_json("exported"))
    with pytest.raises(ex.ProtocolError, match="has no result_url"):
        client.fetch_results(TASK_ID)


# -- secrets, lifecycle, configuration -----------------------------------------


def test_the_key_never_reaches_logs_or_messages(httpserver, client, caplog):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_data("down", status=500)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ex.ServerError) as caught:
        client.get_task(TASK_ID)
    assert caplog.records
    assert KEY not in caplog.text
    assert KEY not in str(caught.value)
    assert KEY not in repr(client)


def test_close_is_idempotent_and_refuses_later_calls(httpserver):
    client = VendorClient(base_url=httpserver.url_for("/"), api_key=KEY)
    client.close()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get_task(TASK_ID)


def test_a_callers_session_stays_open(httpserver):
    httpserver.expect_request(f"{TASKS}/{TASK_ID}").respond_with_json(task_json())
    session = requests.Session()
    with VendorClient(base_url=httpserver.url_for("/"), api_key=KEY, session=session):
        pass
    assert session.get(httpserver.url_for(f"{TASKS}/{TASK_ID}"), timeout=5).status_code == 200
    session.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "api.example.com"}, "absolute http"),
        ({"base_url": "ftp://api.example.com"}, "absolute http"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": "abc\r\nX-Evil: 1"}, "api_key"),
        ({"product": "FB/x"}, "product"),
        ({"timeout": 0}, "positive"),
        ({"max_result_bytes": 0}, "positive"),
    ],
)
def test_constructor_refuses_bad_settings(kwargs, message):
    settings = {"base_url": "https://api.example.com", "api_key": KEY, **kwargs}
    with pytest.raises(ValueError, match=message):
        VendorClient(**settings)


def test_tasks_url_ignores_a_trailing_slash():
    with VendorClient(base_url="https://api.example.com/", api_key=KEY) as client:
        assert client.tasks_url == "https://api.example.com/fb/api/simple/tasks"


def test_retry_policy_backoff_doubles_caps_and_jitters():
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5)
    assert [policy.backoff(n, draw=lambda: 0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.backoff(2, draw=lambda: 1.0) == 1.0
    assert 0.5 <= policy.backoff(1) <= 1.0


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay": -1}, {"jitter": 1.5}, {"max_delay": -0.1}]
)
def test_retry_policy_refuses_nonsense(kwargs):
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)


# -- against the bundled emulator ----------------------------------------------

PINNED = {"+41798284651": "yes", "+41798284652": "no", "+41798284653": "ban"}


@pytest.fixture(params=["xlsx", "zip"])
def emulator(request, emulators):
    """Run the emulator (instant profile, pinned answers) in the given result format; its URL."""
    return emulators.start(
        MOCK_API_KEYS={KEY: 100, "poor": 0},
        MOCK_FIXTURES=PINNED,
        MOCK_RESULT_FORMAT=request.param,
        MOCK_DOWNLOAD_EXPIRE_ONCE=True,
    ).url


def test_whole_task_against_the_emulator(emulator, sleeps):
    with VendorClient(base_url=emulator, api_key=KEY, retry=FAST_RETRY, sleep=sleeps) as client:
        created = client.create_task(list(PINNED), user_id="job-1")
        assert created.user_id == "job-1"
        task = client.get_task(created.task_id, user_id="job-1")
        assert task.is_exported
        # The first download link expires once; fetch_results asks for a fresh one.
        latest, rows = client.fetch_results(task)
        ledger = requests.get(f"{emulator}/_mock/ledger", timeout=5).json()["keys"][KEY]
    assert rows == {number: ResultRow(answer) for number, answer in PINNED.items()}
    assert latest.result_url != task.result_url
    assert client.billed_requests == 3
    assert ledger["billed_total"] == 3
    assert ledger["tasks_created"] == 1


@pytest.mark.parametrize(
    ("key", "error_class"), [("wrong", ex.AuthError), ("poor", ex.BalanceError)]
)
def test_emulator_refusals_map_to_typed_errors(emulator, sleeps, key, error_class):
    client = VendorClient(base_url=emulator, api_key=key, retry=FAST_RETRY, sleep=sleeps)
    with client, pytest.raises(error_class):
        client.create_task(["+41798284651"])
    assert client.billed_requests == 0
    assert sleeps.delays == []


def test_emulator_unknown_task_is_not_found(emulator, sleeps):
    client = VendorClient(base_url=emulator, api_key=KEY, retry=FAST_RETRY, sleep=sleeps)
    with client, pytest.raises(ex.NotFoundError):
        client.get_task("aaaaaaaaaaaaaaaaaaaa")
    assert client.billed_requests == 0
