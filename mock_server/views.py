"""HTTP layer: the vendor's routes, the ``/_mock`` admin routes, and JSON error answers.

Views parse the request, call ``models.Emulator`` and shape the response; every
error becomes the JSON body of ``exceptions.MockApiError.to_body``.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field, field_validator
from werkzeug.exceptions import HTTPException

from mock_server import gateway_pages
from mock_server.clock import format_rfc3339_ns
from mock_server.exceptions import (
    BadRequest,
    FileTooLarge,
    InjectedServerError,
    InternalError,
    InvalidConfig,
    InvalidTaskType,
    InvalidUserId,
    MethodNotAllowed,
    MissingFile,
    MissingTaskId,
    MockApiError,
    NotFound,
    RequestTooLarge,
    TooFewNumbers,
)
from mock_server.models import (
    LEGACY,
    MAX_USER_ID_LENGTH,
    V1,
    Creation,
    Emulator,
    TaskSnapshot,
)
from mock_server.request_bodies import NoBody, parse_form, parse_json, parse_query
from mock_server.results import MEDIA_TYPES, render
from mock_server.settings import (
    FIXED_SETTING,
    RUNTIME_KEYS,
    CreateFault,
    RuntimeConfigChanges,
    settings_document,
)
from mock_server.upload import Upload, read_numbers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The key under ``app.extensions`` that holds the app's ``Emulator``.
EXTENSION = "mock_server"

#: WSGI environ flag set by a view that wants its connection closed without an answer.
DROP_CONNECTION = "mock_server.drop_connection"

logger = logging.getLogger(__name__)

vendor = Blueprint("vendor", __name__, url_prefix="/fb/api/simple")
#: The vendor's current API, served at the same time over the same tasks and ledger.
vendor_v1 = Blueprint("vendor_v1", __name__, url_prefix="/v1")
admin = Blueprint("mock", __name__, url_prefix="/_mock")

#: The checkers a v1 ``task_type`` may name; the emulator offers the Facebook number check.
V1_TASK_TYPES = ("facebook",)
#: The v1 contract's largest task, in rows.
V1_MAX_ROWS = 10_000_000


def emulator() -> Emulator:
    """Return the emulator of the current app."""
    model: Emulator = current_app.extensions[EXTENSION]
    return model


def task_json(snapshot: TaskSnapshot) -> dict[str, Any]:
    """Return a task in the vendor's field order; ``result_url`` only when exported."""
    body: dict[str, Any] = {
        "created_at": snapshot.created_at,
        "updated_at": snapshot.updated_at,
        **_task_counts(snapshot),
    }
    if snapshot.link is not None:
        body["result_url"] = result_url(snapshot)
    return body


def _task_counts(snapshot: TaskSnapshot) -> dict[str, Any]:
    """Return the fields both dialects share, in their order: ids, status and counts."""
    return {
        "task_id": snapshot.task_id,
        "user_id": snapshot.user_id,
        "status": str(snapshot.status),
        "total": snapshot.total,
        "success": snapshot.success,
        "failure": snapshot.failure,
    }


def result_url(snapshot: TaskSnapshot) -> str:
    """Return the absolute link of an exported task's result file."""
    assert snapshot.link is not None
    return url_for(
        "mock.download_result",
        token=snapshot.link.token,
        filename=snapshot.link.filename,
        _external=True,
    )


def task_json_v1(snapshot: TaskSnapshot) -> dict[str, Any]:
    """Return a task in the v1 contract's field order; ``message`` when the task failed."""
    body = _task_counts(snapshot)
    if snapshot.link is not None:
        body["result_url"] = result_url(snapshot)
    if snapshot.message is not None:
        body["message"] = snapshot.message
    body["created_at"] = snapshot.created_at
    body["updated_at"] = snapshot.updated_at
    return body


def wait_real_seconds(seconds: float) -> None:
    """Wait out an injected delay with ``MOCK_SLEEP`` (tests record or gate it) or time.sleep."""
    if seconds > 0:
        sleep: Callable[[float], object] = current_app.config.get("MOCK_SLEEP") or time.sleep
        sleep(seconds)


def drop_connection() -> Response:
    """Ask ``ConnectionDropper`` to close the connection; the response is never sent."""
    request.environ[DROP_CONNECTION] = True
    return Response(status=204)


def html_page(status: int, page: str) -> Response:
    """Return a gateway's HTML page with ``status``."""
    return Response(page, status=status, mimetype=gateway_pages.MEDIA_TYPE)


def injected_server_error(retry_after: int | None, message: str) -> InjectedServerError:
    """Return the vendor's JSON 500, with ``Retry-After`` when configured."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return InjectedServerError(message, headers=headers)


# -- what the routes read -------------------------------------------------------


def _user_id(value: str) -> str:
    """Refuse a ``user_id`` that is too long or holds control characters (as the vendor's)."""
    if len(value) > MAX_USER_ID_LENGTH:
        raise ValueError(f"user_id is longer than {MAX_USER_ID_LENGTH} characters")
    if not value.isprintable():
        raise ValueError("user_id holds control characters")
    return value


class CreateForm(BaseModel):
    """The text fields of ``POST /fb/api/simple/tasks`` (the numbers come as the ``file``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: str = ""

    _checked = field_validator("user_id")(_user_id)


class StatusQuery(BaseModel):
    """The query of ``GET /fb/api/simple/tasks/<task_id>``: an optional ``user_id``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: Compared with the task's own; any text (a wrong one is "no such task", as the vendor's).
    user_id: str | None = None


class V1CreateForm(BaseModel):
    """The text fields of ``POST /v1/tasks``: the ``task_type`` (the numbers come as ``file``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_type: str | None = None


class V1StatusForm(BaseModel):
    """``POST /v1/gettasks``: the ``task_id`` form field (multipart or urlencoded)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str = ""


class ClockAdvance(BaseModel):
    """``POST /_mock/clock/advance``: ``{"seconds": N}`` with a finite N >= 0."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seconds: float = Field(ge=0, allow_inf_nan=False)


class TaskListQuery(BaseModel):
    """``GET /_mock/tasks?numbers=1``: whether to list each task's numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    numbers: bool = False


# -- vendor routes ---------------------------------------------------------------


@vendor.before_request
@vendor_v1.before_request
def inject_api_faults() -> Response | None:
    """Delay, drop or fail a vendor API request as the fault settings say."""
    draw = emulator().draw_api_faults()
    wait_real_seconds(draw.delay_seconds)
    if draw.drop_connection:
        return drop_connection()
    if draw.server_error:
        raise injected_server_error(
            draw.retry_after, "injected fault: the server failed, retry later"
        )
    return None


def answer_creation(creation: Creation, hold_seconds: float, *, dialect: str = LEGACY) -> Response:
    """Answer a created (and billed) task as its create fault says."""
    fault = creation.fault
    if fault is CreateFault.GATEWAY_504:
        return html_page(504, gateway_pages.GATEWAY_TIMEOUT)
    if fault is CreateFault.DROP:
        return drop_connection()
    if fault is CreateFault.HTML_200:
        return html_page(200, gateway_pages.CHECK_PAGE)
    if fault is CreateFault.HOLD:
        wait_real_seconds(hold_seconds)
    if dialect == V1:
        response = jsonify(task_json_v1(creation.snapshot))
        response.status_code = emulator().settings.v1_create_status
        return response
    return jsonify(task_json(creation.snapshot))


def refuse_by_create_fault() -> Response | None:
    """Answer a create that a refusing create fault (nothing created) takes, if one is due."""
    model = emulator()
    refusal = model.take_refusing_create_fault()
    if refusal is CreateFault.HTML_500:
        return html_page(500, gateway_pages.INTERNAL_SERVER_ERROR)
    if refusal is CreateFault.JSON_500:
        raise injected_server_error(
            model.settings.retry_after, "injected fault: the task was not created, retry later"
        )
    return None


@vendor.post("/tasks")
def create_task() -> Response:
    """Create a task from the uploaded ``file`` of numbers."""
    refused = refuse_by_create_fault()
    if refused is not None:
        return refused
    model = emulator()
    key = request.headers.get("X-API-Key")
    model.admit_upload(key)
    user_id = parse_form(CreateForm, error=InvalidUserId).user_id
    upload = read_upload()
    model.note_upload_received(key)
    settings = model.settings
    # The vendor works on the upload before the task exists: a client that gives up
    # (or is killed) in this window cannot know whether the task will be created.
    wait_real_seconds(settings.create_latency_ms / 1000)
    creation = model.create_task(key, user_id, upload)
    return answer_creation(creation, settings.hold_seconds)


def read_upload() -> Upload:
    """Return the numbers of the multipart ``file`` field, or raise the vendor's 400."""
    model = emulator()
    upload_file = request.files.get("file")
    if upload_file is None:
        if request.mimetype != "multipart/form-data":
            shown = request.mimetype or "no content type"
            raise MissingFile(
                f"expected a multipart/form-data body with the numbers in a 'file' field,"
                f" got {shown}"
            )
        raise MissingFile("the multipart form has no 'file' field")
    settings = model.settings
    # The stream is werkzeug's spooled copy of the part: read line by line, once.
    return read_numbers(
        upload_file.stream, max_bytes=settings.max_file_bytes, max_numbers=settings.max_numbers
    )


@vendor.get("/tasks/<task_id>")
def task_status(task_id: str) -> Response:
    """Return a task's status (billed)."""
    query = parse_query(StatusQuery, error=InvalidUserId)
    snapshot = emulator().task_status(request.headers.get("X-API-Key"), task_id, query.user_id)
    return jsonify(task_json(snapshot))


# -- v1 routes (the same tasks, ledger and faults) ------------------------------------


@vendor_v1.post("/tasks")
def create_task_v1() -> Response:
    """Create a task from the multipart ``file`` and ``task_type`` (200 or 202, configurable)."""
    refused = refuse_by_create_fault()
    if refused is not None:
        return refused
    model = emulator()
    key = request.headers.get("X-API-Key")
    model.admit_upload(key)
    task_type = parse_form(V1CreateForm, error=InvalidTaskType).task_type
    if task_type is None:
        raise InvalidTaskType(
            f"the form has no 'task_type' field; expected one of {', '.join(V1_TASK_TYPES)}"
        )
    if task_type not in V1_TASK_TYPES:
        raise InvalidTaskType(
            f"task_type {task_type[:40]!r} is not offered; expected one of"
            f" {', '.join(V1_TASK_TYPES)}"
        )
    settings = model.settings
    try:
        upload = read_upload()
    except FileTooLarge as exc:
        # v1 documents 413 for a file too large (the legacy routes answer 400).
        raise RequestTooLarge(exc.message) from None
    rows = len(upload.numbers)
    low, high = settings.v1_min_numbers, min(settings.max_numbers, V1_MAX_ROWS)
    if rows < low:
        raise TooFewNumbers(
            f"the file holds {rows:,} rows; a {task_type} task holds {low:,} to {high:,} rows"
        )
    model.note_upload_received(key)
    wait_real_seconds(settings.create_latency_ms / 1000)
    creation = model.create_task(key, "", upload, dialect=V1)
    return answer_creation(creation, settings.hold_seconds, dialect=V1)


@vendor_v1.post("/gettasks")
def task_status_v1() -> Response:
    """Return a task's status (billed); ``task_id`` as a multipart or urlencoded form field."""
    task_id = parse_form(V1StatusForm, error=MissingTaskId).task_id.strip()
    if not task_id:
        raise MissingTaskId("the form has no 'task_id' field")
    snapshot = emulator().task_status(request.headers.get("X-API-Key"), task_id, None)
    return jsonify(task_json_v1(snapshot))


@vendor_v1.get("/balance")
def balance_v1() -> Response:
    """Return the key's balance (free here: the vendor does not document its billing)."""
    return jsonify({"balance": emulator().balance(request.headers.get("X-API-Key"))})


# -- admin routes ----------------------------------------------------------------


@admin.get("/results/<token>/<filename>")
def download_result(token: str, filename: str) -> Response:
    """Serve a result file behind an unexpired link (free of charge)."""
    result = emulator().open_result(token, filename)
    body = render(result.result_format, result.rows, result.header)
    return Response(
        body,
        mimetype=MEDIA_TYPES[result.result_format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@admin.get("/clock")
def clock_now() -> Response:
    """Return the emulator clock."""
    model = emulator()
    return jsonify(
        {"now": format_rfc3339_ns(model.now_ns()), "time_scale": model.settings.time_scale}
    )


@admin.post("/clock/advance")
def clock_advance() -> Response:
    """Move the emulator clock forward by ``{"seconds": N}``."""
    seconds = parse_json(ClockAdvance).seconds
    model = emulator()
    now = model.advance_clock(seconds)
    return jsonify({"now": format_rfc3339_ns(now), "advanced": seconds})


@admin.get("/ledger")
def ledger() -> Response:
    """Return the billing ledger of every key."""
    return jsonify(emulator().ledger())


@admin.get("/received")
def received() -> Response:
    """Return, per key, the create requests whose file was read whole (before any wait)."""
    return jsonify(emulator().received())


@admin.get("/tasks")
def list_tasks() -> Response:
    """Return every task; ``?numbers=1`` adds the uploaded numbers."""
    include = parse_query(TaskListQuery).numbers
    return jsonify({"tasks": emulator().list_tasks(include_numbers=include)})


@admin.post("/reset")
def reset() -> Response:
    """Clear every task and the ledger; restore balances, settings and the clock."""
    parse_json(NoBody)
    emulator().reset()
    return jsonify({"reset": True})


@admin.get("/config")
def get_config() -> Response:
    """Return the settings in force."""
    return jsonify(settings_document(emulator().settings))


@admin.put("/config")
def put_config() -> Response:
    """Change run-time settings (faults, shares, timing of new tasks) from a JSON object."""
    changes = parse_json(
        RuntimeConfigChanges,
        error=InvalidConfig,
        unknown_field=FIXED_SETTING,
        accepted=RUNTIME_KEYS,
    )
    settings = emulator().update_settings(changes)
    return jsonify(settings_document(settings))


# -- errors ----------------------------------------------------------------------


def answer_error(error: MockApiError) -> Response:
    """Serialise an API error: the one place error bodies are made."""
    response = jsonify(error.to_body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def answer_http_exception(exc: HTTPException) -> Response:
    """Turn werkzeug's routing and parsing errors into the same JSON errors."""
    error: MockApiError
    if exc.code == 404:
        error = NotFound(f"no route {request.method} {request.path}")
    elif exc.code == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        error = MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    elif exc.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        error = RequestTooLarge(f"the request body is over the limit of {limit} bytes")
    elif exc.code is not None and exc.code < 500:
        error = BadRequest(exc.description or "bad request")
    else:
        error = InternalError(exc.description or "internal error")
    return answer_error(error)


def answer_unexpected(exc: Exception) -> Response:
    """Log a bug and answer it with a JSON 500 rather than an HTML page."""
    logger.exception("unexpected error in the emulator", exc_info=exc)
    return answer_error(InternalError(f"unexpected error: {type(exc).__name__}"))


def register(app: Flask) -> None:
    """Attach the blueprints and the JSON error handlers to ``app``."""
    app.register_blueprint(vendor)
    app.register_blueprint(vendor_v1)
    app.register_blueprint(admin)
    app.register_error_handler(MockApiError, answer_error)
    app.register_error_handler(HTTPException, answer_http_exception)
    app.register_error_handler(Exception, answer_unexpected)


class ConnectionDropper:
    """WSGI middleware that closes the connection, answering nothing, when a view asks.

    Raising a connection-aborted socket error is how a WSGI app tells cheroot to
    drop the connection: cheroot treats it as a client disconnect, sends nothing
    and closes the socket, so the client sees a connection error, not a response.
    """

    def __init__(self, app: WSGIApplication) -> None:
        """Wrap ``app``."""
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Run the app; raise instead of answering when it flagged a drop."""
        response = self._app(environ, start_response)
        if environ.get(DROP_CONNECTION):
            close: Callable[[], None] | None = getattr(response, "close", None)
            if close is not None:
                close()
            raise ConnectionAbortedError(errno.ECONNABORTED, "connection dropped on purpose")
        return response
