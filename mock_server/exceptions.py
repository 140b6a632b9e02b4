"""Errors the emulator answers with: one class per API error, serialised in one place.

Every error response has the body::

    {"error": {"code": 400, "type": "invalid_number",
               "message": "line 3: '0791234' is not E.164 (...)"}}

``code`` repeats the HTTP status, ``type`` is a stable machine-readable name
(the ``error_type`` of the class below) and ``message`` is for people.

    MockApiError
    ├── BadRequest (400 bad_request)
    │   ├── MissingFile (400 missing_file)
    │   ├── EmptyFile (400 empty_file)
    │   ├── InvalidNumber (400 invalid_number)
    │   ├── InvalidEncoding (400 invalid_encoding)
    │   ├── FileTooLarge (400 file_too_large)
    │   ├── TooManyNumbers (400 too_many_numbers)
    │   ├── TooFewNumbers (400 too_few_numbers, v1)
    │   ├── InvalidTaskType (400 invalid_task_type, v1)
    │   ├── MissingTaskId (400 missing_task_id, v1)
    │   ├── InvalidUserId (400 invalid_user_id)
    │   └── InvalidConfig (400 invalid_config, admin routes only)
    ├── MissingApiKey (401 missing_api_key)
    ├── InvalidApiKey (401 invalid_api_key)
    ├── InsufficientBalance (402 insufficient_balance)
    ├── ResultExpired (403 result_expired)
    ├── NotFound (404 not_found)
    │   ├── TaskNotFound (404 task_not_found)
    │   └── ResultNotFound (404 result_not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── RequestTooLarge (413 request_too_large)
    ├── TooManyActiveTasks (429 too_many_active_tasks, with Retry-After)
    ├── InjectedServerError (500 server_error, a configured fault)
    └── InternalError (500 internal_error, a bug in the emulator)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class MockApiError(Exception):
    """Base of every error the emulator answers with; carries status, type and headers."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        """Keep the human-readable message and any extra response headers."""
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        """Return the JSON body: the single place where errors are serialised."""
        return {"error": {"code": self.status, "type": self.error_type, "message": self.message}}


class BadRequest(MockApiError):
    """400: the request cannot be understood (wrong content type, malformed body)."""

    status = 400
    error_type = "bad_request"


class MissingFile(BadRequest):
    """400: no multipart ``file`` field in the upload."""

    error_type = "missing_file"


class EmptyFile(BadRequest):
    """400: the uploaded file holds no phone number."""

    error_type = "empty_file"


class InvalidNumber(BadRequest):
    """400: a line is not an E.164 number; the message names the line."""

    error_type = "invalid_number"


class InvalidEncoding(BadRequest):
    """400: a line is not UTF-8 text; the message names the line."""

    error_type = "invalid_encoding"


class FileTooLarge(BadRequest):
    """400: the file part is over the configured byte limit."""

    error_type = "file_too_large"


class TooManyNumbers(BadRequest):
    """400: the file holds more numbers than one task may."""

    error_type = "too_many_numbers"


class TooFewNumbers(BadRequest):
    """400 (v1): the file holds fewer numbers than one task must."""

    error_type = "too_few_numbers"


class InvalidTaskType(BadRequest):
    """400 (v1): ``task_type`` is missing or not a checker this emulator offers."""

    error_type = "invalid_task_type"


class MissingTaskId(BadRequest):
    """400 (v1): ``/v1/gettasks`` without a ``task_id`` field."""

    error_type = "missing_task_id"


class InvalidUserId(BadRequest):
    """400: ``user_id`` is too long or holds control characters."""

    error_type = "invalid_user_id"


class InvalidConfig(BadRequest):
    """400: an admin request carries bad JSON or a bad configuration value."""

    error_type = "invalid_config"


class MissingApiKey(MockApiError):
    """401: no ``X-API-Key`` header."""

    status = 401
    error_type = "missing_api_key"


class InvalidApiKey(MockApiError):
    """401: the ``X-API-Key`` is not a configured key."""

    status = 401
    error_type = "invalid_api_key"


class InsufficientBalance(MockApiError):
    """402: the key's balance is spent."""

    status = 402
    error_type = "insufficient_balance"


class ResultExpired(MockApiError):
    """403: the result link has expired; ask the task again for a fresh one."""

    status = 403
    error_type = "result_expired"


class NotFound(MockApiError):
    """404: no such route."""

    status = 404
    error_type = "not_found"


class TaskNotFound(NotFound):
    """404: no such task for this key (another key's task looks the same)."""

    error_type = "task_not_found"


class ResultNotFound(NotFound):
    """404: no result file behind this link."""

    error_type = "result_not_found"


class MethodNotAllowed(MockApiError):
    """405: the route exists but not for this method."""

    status = 405
    error_type = "method_not_allowed"


class RequestTooLarge(MockApiError):
    """413: the request body is over the configured limit."""

    status = 413
    error_type = "request_too_large"


class TooManyActiveTasks(MockApiError):
    """429: the key already has the configured number of unfinished tasks."""

    status = 429
    error_type = "too_many_active_tasks"


class InjectedServerError(MockApiError):
    """500: a fault injected on purpose; safe to retry."""

    status = 500
    error_type = "server_error"


class InternalError(MockApiError):
    """500: an unexpected error inside the emulator (a bug)."""

    status = 500
    error_type = "internal_error"
