"""The v1 dialect of the vendor client against pytest-httpserver: every documented path."""

from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from addin.upstream import exceptions as ex
from addin.upstream.accounting import Billing, RequestOutcome
from addin.upstream.client import RetryPolicy, VendorClient
from addin.upstream.dialects import LegacyDialect, V1Dialect, resolve_dialect
from addin.upstream.results import ResultRow
from tests.upstream.conftest import Upload, read_upload

KEY = "sk-test-123456"
TASK_ID = "cs9viu7i61pkfs4oavvg"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=10.0, jitter=0.0)
NUMBERS = ["+41798284651", "+41798284652"]


def task_json(status: str = "pending", **extra: object) -> dict[str, object]:
    """Return a v1 task object."""
    return {
        "task_id": TASK_ID,
        "user_id": "u-1",
        "status": status,
        "total": 0,
        "success": 0,
        "failure": 0,
        "created_at": "2026-08-18T10:00:00.123456789Z",
        "updated_at": "2026-08-18T10:00:00.123456789Z",
        **extra,
    }


def answer(body: object, status: int = 200) -> Response:
    """Return a JSON answer."""
    return Response(json.dumps(body), status=status, content_type="application/json")


def error(status: int, message: str) -> Response:
    """Return a vendor-style JSON error."""
    return answer({"error": {"code": status, "message": message}}, status)


@pytest.fixture
def sleeps() -> list[float]:
    """Record retry waits instead of sleeping."""
    return []


@pytest.fixture
def client(httpserver: HTTPServer, sleeps: list[float]):
    """Return a v1 client of the pytest-httpserver vendor."""
    with VendorClient(
        base_url=httpserver.url_for("/"),
        api_key=KEY,
        dialect=V1Dialect(),
        retry=FAST_RETRY,
        sleep=sleeps.append,
    ) as vendor:
        yield vendor


@pytest.mark.parametrize("status", [200, 202])
def test_create_posts_file_and_task_type_and_accepts_200_or_202(httpserver, client, status):
    seen: list[Upload] = []

    def handler(request: Request) -> Response:
        """Keep the upload and answer with the pending task."""
        seen.append(read_upload(request))
        return answer(task_json(), status)

    httpserver.expect_request("/v1/tasks", method="POST").respond_with_handler(handler)
    outcomes: list[RequestOutcome] = []
    task = client.create_task(NUMBERS, user_id="fbcheck-1", observe=outcomes.append)

    assert task.task_id == TASK_ID
    assert task.status == "pending"
    upload = seen[0]
    assert upload.content == b"+41798284651\n+41798284652"
    assert upload.form == {"task_type": "facebook"}  # v1 documents no user_id field
    assert upload.headers["X-Api-Key"] == KEY
    assert outcomes == [RequestOutcome("create", Billing.BILLED, status, outcomes[0].detail)]
    assert client.billed_requests == 1
    httpserver.check_assertions()


def test_status_posts_task_id_as_multipart_form(httpserver, client):
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        """Keep the form and answer with a processing task."""
        seen.append(request.form.to_dict())
        assert request.mimetype == "multipart/form-data"
        return answer(task_json("processing", total=200, success=50))

    httpserver.expect_request("/v1/gettasks", method="POST").respond_with_handler(handler)
    task = client.get_task(TASK_ID)
    assert seen == [{"task_id": TASK_ID}]
    assert (task.status, task.total, task.success) == ("processing", 200, 50)


def test_a_base_url_ending_in_v1_is_not_doubled(httpserver, sleeps):
    httpserver.expect_request("/v1/gettasks", method="POST").respond_with_json(task_json())
    with VendorClient(
        base_url=httpserver.url_for("/v1"), api_key=KEY, dialect=V1Dialect(), sleep=sleeps.append
    ) as vendor:
        assert vendor.get_task(TASK_ID).task_id == TASK_ID
        assert vendor.tasks_url == httpserver.url_for("/v1/tasks")


def test_failed_task_carries_the_vendor_message(httpserver, client):
    httpserver.expect_request("/v1/gettasks", method="POST").respond_with_json(
        task_json("failed", message="file contains invalid rows")
    )
    task = client.get_task(TASK_ID)
    assert task.is_failed
    assert task.is_terminal
    assert task.message == "file contains invalid rows"


def test_completed_is_a_step_before_exported(httpserver, client):
    httpserver.expect_request("/v1/gettasks", method="POST").respond_with_json(
        task_json("completed", total=2, success=2)
    )
    task = client.get_task(TASK_ID)
    assert task.status == "completed"
    assert task.is_known_status
    assert not task.is_terminal
    assert not task.is_exported


def test_413_on_create_is_a_refusal_never_retried_and_free(httpserver, client, sleeps):
    httpserver.expect_request("/v1/tasks", method="POST").respond_with_response(
        error(413, "Uploaded file is too large")
    )
    outcomes: list[RequestOutcome] = []
    with pytest.raises(ex.PayloadTooLargeError) as caught:
        client.create_task(NUMBERS, observe=outcomes.append)
    assert isinstance(caught.value, ex.BadRequestError)
    assert caught.value.status == 413
    assert "too large" in caught.value.detail
    assert [o.billing for o in outcomes] == [Billing.FREE]
    assert sleeps == []
    assert len(httpserver.log) == 1


def test_400_on_create_names_the_row_limit(httpserver, client):
    httpserver.expect_request("/v1/tasks", method="POST").respond_with_response(
        error(400, "row count 2 is below the minimum of 100 for facebook")
    )
    with pytest.raises(ex.BadRequestError, match="minimum of 100"):
        client.create_task(NUMBERS)


def test_402_on_create_and_on_poll(httpserver, client, sleeps):
    httpserver.expect_request("/v1/tasks", method="POST").respond_with_response(
        error(402, "insufficient balance")
    )
    httpserver.expect_request("/v1/gettasks", method="POST").respond_with_response(
        error(402, "insufficient balance")
    )
    with pytest.raises(ex.BalanceError):
        client.create_task(NUMBERS)
    with pytest.raises(ex.BalanceError):
        client.get_task(TASK_ID)
    assert sleeps == []
    assert len(httpserver.log) == 2
    assert client.billed_requests == 0


def test_404_on_gettasks(httpserver, client):
    httpserver.expect_request("/v1/gettasks", method="POST").respond_with_response(
        error(404, "task not found")
    )
    with pytest.raises(ex.NotFoundError):
        client.get_task(TASK_ID)


def test_balance_is_read_and_counted_as_possibly_billed(httpserver, client):
    httpserver.expect_request("/v1/balance", method="GET").respond_with_json({"balance": 12.5})
    outcomes: list[RequestOutcome] = []
    assert client.get_balance(observe=outcomes.append) == 12.5
    assert [(o.kind, o.billing, o.status) for o in outcomes] == [("balance", Billing.POSSIBLY, 200)]
    assert client.billed_requests == 0  # not known to be billed
    assert httpserver.log[0][0].headers["X-API-Key"] == KEY


@pytest.mark.parametrize(
    "body", [{"balance": "12"}, {"balance": True}, {"credits": 3}, [1, 2], "12"]
)
def test_a_malformed_balance_is_a_protocol_error(httpserver, client, body):
    httpserver.expect_request("/v1/balance").respond_with_json(body)
    with pytest.raises(ex.ProtocolError):
        client.get_balance()


def test_balance_401(httpserver, client):
    httpserver.expect_request("/v1/balance").respond_with_response(error(401, "invalid key"))
    with pytest.raises(ex.AuthError):
        client.get_balance()


def test_the_legacy_dialect_has_no_balance(httpserver):
    with VendorClient(base_url=httpserver.url_for("/"), api_key=KEY) as vendor:
        assert not vendor.has_balance
        with pytest.raises(ValueError, match="no balance route"):
            vendor.get_balance()
    assert httpserver.log == []


def xlsx_of(rows: list[list[object]]) -> bytes:
    """Build a small xlsx."""
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zip_of(text: str) -> bytes:
    """Build a zip holding one CSV."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("results.csv", text)
    return buffer.getvalue()


UNDETERMINED = {
    "+41798284651": ResultRow("yes"),
    "+41798284652": ResultRow("no"),
    "+41798284653": ResultRow("ban"),
    "+41798284654": ResultRow("error", "unexpected answer 'undetermined'"),
    "+41798284655": ResultRow("error", "empty answer in the result file"),
    "+41798284656": ResultRow("error", "unexpected answer 'unknown'"),
}


def test_activated_columns_in_a_zip_with_undetermined_values(httpserver, client):
    csv_text = (
        "number,activated\r\n+41798284651,yes\r\n+41798284652,no\r\n+41798284653,ban\r\n"
        "+41798284654,undetermined\r\n+41798284655,\r\n+41798284656,unknown\r\n"
    )
    httpserver.expect_request("/r/results.zip").respond_with_data(
        zip_of(csv_text), content_type="application/zip"
    )
    assert client.download_result(httpserver.url_for("/r/results.zip?sig=x")) == UNDETERMINED


def test_activated_columns_in_an_xlsx_with_booleans(httpserver, client):
    data = xlsx_of(
        [
            ["number", "activated"],
            ["+41798284651", True],
            ["+41798284652", False],
            ["+41798284653", "undetermined"],
        ]
    )
    httpserver.expect_request("/r/results.xlsx").respond_with_data(data)
    assert client.download_result(httpserver.url_for("/r/results.xlsx")) == {
        "+41798284651": ResultRow("yes"),
        "+41798284652": ResultRow("no"),
        "+41798284653": ResultRow("error", "unexpected answer 'undetermined'"),
    }


def test_fetch_results_of_an_exported_v1_task(httpserver, client):
    httpserver.expect_request("/v1/gettasks", method="POST").respond_with_json(
        task_json("exported", total=1, success=1, result_url=httpserver.url_for("/r/x.zip"))
    )
    httpserver.expect_request("/r/x.zip").respond_with_data(
        zip_of("number,activated\n+41798284651,yes\n")
    )
    task, rows = client.fetch_results(TASK_ID)
    assert task.is_exported
    assert rows == {"+41798284651": ResultRow("yes")}
    assert "X-API-Key" not in httpserver.log[1][0].headers  # the key stays off the link


@pytest.mark.parametrize(
    ("setting", "url", "expected"),
    [
        ("auto", None, "legacy"),
        ("auto", "https://api.ekycpro.com", "legacy"),
        ("auto", "https://api.checknumber.ai", "v1"),
        ("auto", "https://API.CheckNumber.ai:443/", "v1"),
        ("auto", "http://127.0.0.1:8080/v1", "v1"),
        ("auto", "http://127.0.0.1:8080/v1/", "v1"),
        ("auto", "http://127.0.0.1:8080/v10", "legacy"),
        ("auto", "https://proxy.example/api.checknumber.ai", "legacy"),
        ("legacy", "https://api.checknumber.ai", "legacy"),
        ("v1", "https://api.ekycpro.com", "v1"),
    ],
)
def test_the_auto_rule(setting, url, expected):
    assert resolve_dialect(setting, url) == expected


def test_an_unknown_dialect_is_refused():
    with pytest.raises(ValueError, match="legacy, v1 or auto"):
        resolve_dialect("v2", None)


@pytest.mark.parametrize(
    ("make", "message"),
    [(lambda: LegacyDialect(path_product="FB/x"), "product"), (lambda: V1Dialect("x y"), "type")],
)
def test_bad_product_codes_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
