"""JSON answers of the engine-backed routes: the body parser, errors and the ``demo`` flag.

Every JSON object these routes answer, errors included, carries
``"demo": true|false`` so the task pane can always say DEMO.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, jsonify, request

from addin.web.app_config import settings_of


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
    return jsonify(demo=settings_of(current_app).demo, **fields)


def _api_error(exc: ApiError) -> Response:
    """Render an ``ApiError`` in the backend's error shape, plus the ``demo`` flag."""
    response = jsonify(error=exc.code, message=exc.message, demo=settings_of(current_app).demo)
    response.status_code = exc.status
    return response


def install(app: Flask) -> None:
    """Answer every ``ApiError`` as JSON."""
    app.register_error_handler(ApiError, _api_error)
