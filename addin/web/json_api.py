"""The backend's JSON: the request body parsers, the answers and the one error path.

Every JSON object the backend answers carries ``"demo": true|false`` so the
task pane can always say DEMO. Every error, on every route, is built here as
``{"error": "<code>", "message": "<a sentence for a person>", "demo": ...}``
with its HTTP status: requests the views refuse (:class:`ApiError`), the
domain errors of the layers below (mapped in :data:`DOMAIN_ERRORS`), Flask's
own HTTP errors (404, 405, 413...) and, without details, anything unexpected
(500). Nothing else in ``addin.web`` builds an error body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from addin.config import Settings, SettingsError
from addin.engine.errors import UnknownJobError
from addin.web.coalescer import QueueClosedError
from addin.web.engine_host import EngineClosedError
from addin.web.flask_config import SETTINGS_KEY
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
    (QueueClosedError, 503, "shutting_down"),
)


class ApiError(Exception):
    """A request the backend refuses: HTTP status, error code and a sentence for the user."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep the status, the error code and the message."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def request_json() -> Any:
    """Return the request's JSON body, or raise ``ApiError`` 400 ``bad_json``."""
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None


def request_object() -> dict[str, Any]:
    """Return the request's JSON object body, or raise ``ApiError`` 400."""
    data = request_json()
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return data


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
