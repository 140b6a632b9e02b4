"""The backend's JSON: the request body parsers, the answers and the one error path.

Every view that reads a body does it in one call, :func:`parse_body` with the
route's pydantic model (query strings: :func:`parse_query`); the bounded JSON
reading itself is :mod:`addin.json_bodies`, shared with the emulator.

Every JSON object the backend answers carries ``"demo": true|false`` so the
task pane can always say DEMO. Every error, on every route, is built here as
``{"error": "<code>", "message": "<a sentence for a person>", "demo": ...}``
with its HTTP status: requests the views refuse (:class:`ApiError`), the
domain errors of the layers below (mapped in :data:`DOMAIN_ERRORS`), Flask's
own HTTP errors (404, 405, 413...) and, without details, anything unexpected
(500). Nothing else in ``addin.web`` builds an error body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import HTTPException

from addin.config import Settings, SettingsError
from addin.engine.errors import UnknownJobError
from addin.engine.store import StoreError
from addin.json_bodies import UNKNOWN_FIELD, BodyError, describe_errors, load_json
from addin.web.coalescer import QueueClosedError
from addin.web.engine_host import EngineClosedError
from addin.web.flask_config import SETTINGS_KEY
from addin.web.uploads import (
    ChunkConflictError,
    TooManyUploadsError,
    UnknownUploadError,
    UploadIncompleteError,
    UploadTooLargeError,
)
from addin.web.xlwings_glue import SelectionError, SelectionTooLargeError, XlwingsLicenseError

#: Known conditions of the layers below: exception class, HTTP status, error code.
#: A ``SelectionError`` says its own code (``bad_address``, ``selection_too_wide``...).
#: Flask picks the most specific class, so a subclass may precede or follow its base.
DOMAIN_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (SelectionError, 400, "bad_payload"),
    (SelectionTooLargeError, 413, "selection_too_large"),
    (XlwingsLicenseError, 503, "xlwings_license"),
    (UnknownJobError, 404, "job_not_found"),
    (SettingsError, 400, "bad_setting"),
    (EngineClosedError, 503, "shutting_down"),
    # The store failed after the backend started (locked, damaged, disk full): the
    # message names the file and says what to do.
    (StoreError, 503, "store_unavailable"),
    (QueueClosedError, 503, "shutting_down"),
    (UnknownUploadError, 404, "upload_not_found"),
    (UploadIncompleteError, 409, "upload_incomplete"),
    (ChunkConflictError, 409, "chunk_conflict"),
    (UploadTooLargeError, 413, "upload_too_large"),
    (TooManyUploadsError, 429, "too_many_uploads"),
)


class ApiError(Exception):
    """A request the backend refuses: HTTP status, error code and a sentence for the user."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep the status, the error code and the message."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


#: Largest JSON body of a route that says no other limit: settings, polls of 10,000
#: numbers, empty bodies. Selections and look-ups allow ``MAX_CONTENT_LENGTH``.
MAX_JSON_BYTES = 4 * 1024 * 1024
#: Deepest JSON body: the selection payload nests four levels, other bodies two or three.
MAX_JSON_DEPTH = 16
#: The only media type of a JSON body; a ``charset`` other than UTF-8 is refused.
JSON_MEDIA_TYPE = "application/json"

M = TypeVar("M", bound=BaseModel)


class NoBody(BaseModel):
    """The body of a route that takes none: nothing, or ``{}`` (our JavaScript's ``post``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def request_json(*, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Return the request's JSON body, or raise ``ApiError`` 400 ``bad_json`` saying why.

    Refused: another content type than ``application/json`` (UTF-8), more than
    ``max_bytes``, bytes that are not UTF-8, more than ``max_depth`` levels of
    nesting (measured before parsing), invalid JSON, ``NaN`` or an infinite number.
    """
    content_type = request.mimetype
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if content_type != JSON_MEDIA_TYPE or charset not in ("utf-8", "utf8"):
        shown = request.content_type or "no Content-Type"
        raise ApiError(
            400,
            "bad_json",
            f"send the body as {JSON_MEDIA_TYPE} (UTF-8), not {shown[:80]}",
        )
    data = request.get_data(cache=False)
    if len(data) > max_bytes:
        raise ApiError(
            413, "body_too_large", f"this route takes at most {max_bytes:,} bytes of JSON"
        )
    try:
        return load_json(data, max_depth=max_depth)
    except BodyError as exc:
        raise ApiError(400, "bad_json", str(exc)) from None


def parse_body(
    model: type[M],
    *,
    code: str = "bad_request",
    shape_code: str = "bad_request",
    unknown_field: str | None = None,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> M:
    """Return the request's JSON body checked into ``model``; the one way a view reads a body.

    Every route that reads a body calls this once, first, with its own pydantic
    model (``extra="forbid"``, strict types, bounds on numbers, texts and list
    lengths); the view then uses only the model's typed fields::

        class Lookups(BaseModel):
            model_config = ConfigDict(extra="forbid", strict=True)
            items: list[Item] = Field(max_length=MAX_ITEMS)

        @bp.post("/lookups")
        def lookups() -> Response:
            body = parse_body(Lookups)

    Errors are 400 in the backend's shape: ``bad_json`` for the encoding and
    syntax (see :func:`request_json`), ``shape_code`` when the body is not a
    JSON object, and ``code`` (both default ``bad_request``) naming each wrong field
    by its path (``items[3].region must be ...``), never repeating its value.
    ``unknown_field`` words an extra field (``{name}``, ``{accepted}``). A model
    without fields (:class:`NoBody`) also accepts an empty body.
    """
    if not request.get_data(cache=True):
        if not model.model_fields:
            return model.model_validate({})
        raise ApiError(400, shape_code, f"{_NOT_AN_OBJECT}, sent as {JSON_MEDIA_TYPE}")
    data = request_json(max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(data, dict):
        raise ApiError(400, shape_code, _NOT_AN_OBJECT)
    return validate_json(model, data, code=code, unknown_field=unknown_field)


def parse_query(model: type[M]) -> M:
    """Return the query string checked into ``model`` (each parameter once), or raise 400.

    Parameters arrive as text; the model converts them (``limit: int``, not
    strict). A repeated or unknown parameter is refused like a wrong field.
    """
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise ApiError(400, "bad_request", f"give {', '.join(repeated)} once, not repeated")
    return validate_json(model, request.args.to_dict(), code="bad_request")


def validate_json(
    model: type[M], data: Any, *, code: str = "bad_request", unknown_field: str | None = None
) -> M:
    """Return ``data`` checked into ``model``, or raise ``ApiError(400, code)`` naming fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message = describe_errors(
            exc, accepted=model.model_fields, unknown_field=unknown_field or UNKNOWN_FIELD
        )
        raise ApiError(400, code, message) from None


_NOT_AN_OBJECT = "the body must be a JSON object"


def reply(**fields: Any) -> Response:
    """Return a JSON object answer that says whether the backend runs in demo mode."""
    return jsonify(demo=_demo(), **fields)


def error_response(status: int, code: str, message: str) -> Response:
    """Return the JSON error answer: ``{"error", "message", "demo"}`` with ``status``."""
    response = jsonify(error=code, message=message, demo=_demo())
    response.status_code = status
    return response


def _demo() -> bool:
    """Return True while the app runs on the emulator (also when its config is broken)."""
    settings = current_app.config.get(SETTINGS_KEY)
    return settings.demo if isinstance(settings, Settings) else True


def _api_error(exc: ApiError) -> Response:
    """Answer a request a view refused."""
    return error_response(exc.status, exc.code, exc.message)


def _domain_handler(status: int, code: str) -> Callable[[Exception], Response]:
    """Return the handler answering one domain error class with ``status`` and ``code``."""

    def handle(exc: Exception) -> Response:
        """Answer the domain error with its status, code and message."""
        return error_response(
            status, exc.code if isinstance(exc, SelectionError) else code, str(exc)
        )

    return handle


def _http_error(exc: HTTPException) -> Response:
    """Answer Flask/werkzeug HTTP errors (404, 405, 413...) as JSON."""
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    response = error_response(status, code, exc.description or exc.name or "error")
    # Keep e.g. the Allow header of a 405.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected_error(exc: Exception) -> Response:
    """Log an unexpected exception and answer 500 without its details."""
    current_app.logger.exception("unhandled error: %s", type(exc).__name__)
    return error_response(500, "internal_error", "The backend hit an unexpected error.")


def install(app: Flask) -> None:
    """Make every error answer of ``app`` use the one JSON shape."""
    app.register_error_handler(ApiError, _api_error)
    for kind, status, code in DOMAIN_ERRORS:
        app.register_error_handler(kind, _domain_handler(status, code))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
