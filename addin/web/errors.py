"""One JSON shape for every error the backend answers, and the handlers that use it.

Body: ``{"error": "<machine-readable code>", "message": "<sentence for a person>"}``.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException


def error_response(status: int, code: str, message: str) -> Response:
    """Return a JSON error response with the given status."""
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


def _http_error(exc: HTTPException) -> Response:
    """Render Flask/werkzeug HTTP errors (404, 405, 413...) as JSON."""
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


def register_error_handlers(app: Flask) -> None:
    """Make every error answer of ``app`` use the JSON shape above."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
