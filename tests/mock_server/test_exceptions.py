"""Error classes: one per API error, each with its own status and type, one body shape."""

from __future__ import annotations

import mock_server.exceptions as exceptions
from mock_server.exceptions import MockApiError, TooManyActiveTasks


def all_error_classes() -> list[type[MockApiError]]:
    """Return every error class the module defines, the base excepted."""
    return [
        value
        for value in vars(exceptions).values()
        if isinstance(value, type) and issubclass(value, MockApiError) and value is not MockApiError
    ]


def test_every_error_type_is_unique():
    types = [cls.error_type for cls in all_error_classes()]
    assert len(types) == len(set(types)) == 24


def test_every_error_is_drawn_in_the_module_docstring():
    doc = exceptions.__doc__ or ""
    for cls in all_error_classes():
        assert f"{cls.__name__} ({cls.status} {cls.error_type}" in doc


def test_the_body_carries_code_type_and_message():
    error = exceptions.InvalidNumber("line 3: '0791234' is not E.164")
    assert error.to_body() == {
        "error": {
            "code": 400,
            "type": "invalid_number",
            "message": "line 3: '0791234' is not E.164",
        }
    }


def test_headers_travel_with_the_error():
    error = TooManyActiveTasks("busy", headers={"Retry-After": "5"})
    assert (error.status, error.headers) == (429, {"Retry-After": "5"})
