"""Tests of the error tree: shape, messages and which errors are retryable."""

from __future__ import annotations

import pytest

from addin.upstream import exceptions as ex


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (ex.TransportError, ex.UpstreamError),
        (ex.UpstreamTimeout, ex.TransportError),
        (ex.UpstreamTimeout, TimeoutError),
        (ex.TruncatedDownloadError, ex.TransportError),
        (ex.HTTPStatusError, ex.UpstreamError),
        (ex.BadRequestError, ex.HTTPStatusError),
        (ex.AuthError, ex.HTTPStatusError),
        (ex.BalanceError, ex.HTTPStatusError),
        (ex.NotFoundError, ex.HTTPStatusError),
        (ex.LinkExpiredError, ex.HTTPStatusError),
        (ex.RateLimitError, ex.HTTPStatusError),
        (ex.ServerError, ex.HTTPStatusError),
        (ex.ProtocolError, ex.UpstreamError),
        (ex.ResultFileError, ex.UpstreamError),
        (ex.AmbiguousCreateError, ex.UpstreamError),
    ],
)
def test_tree_matches_the_module_docstring(child, parent):
    assert issubclass(child, parent)
    assert child.__name__ in (ex.__doc__ or "")


def test_ambiguous_create_is_not_a_transport_error():
    # A handler for retryable transport errors must never catch it by accident.
    assert not issubclass(ex.AmbiguousCreateError, ex.TransportError)
    assert not ex.AmbiguousCreateError("x").retryable


def test_message_names_method_url_and_status():
    error = ex.BadRequestError(
        "line 3 is not E.164", method="POST", url="https://v/fb/api/simple/tasks", status=400
    )
    assert str(error) == "POST https://v/fb/api/simple/tasks -> 400: line 3 is not E.164"
    assert (error.method, error.url, error.status, error.detail) == (
        "POST",
        "https://v/fb/api/simple/tasks",
        400,
        "line 3 is not E.164",
    )
    assert error.retry_after is None


def test_message_without_status_or_request():
    assert (
        str(ex.TransportError("refused", method="GET", url="http://x")) == "GET http://x: refused"
    )
    assert str(ex.ResultFileError("empty")) == "empty"
    assert str(ex.ResultFileError("empty", url="http://x/r")) == "http://x/r: empty"


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (ex.TransportError("x"), True),
        (ex.UpstreamTimeout("x"), True),
        (ex.TruncatedDownloadError("x"), True),
        (ex.RateLimitError("x", status=429, retry_after=3.0), True),
        (ex.ServerError("x", status=503), True),
        (ex.BadRequestError("x", status=400), False),
        (ex.AuthError("x", status=401), False),
        (ex.BalanceError("x", status=402), False),
        (ex.NotFoundError("x", status=404), False),
        (ex.LinkExpiredError("x", status=410), False),
        (ex.ProtocolError("x"), False),
        (ex.ResultFileError("x"), False),
    ],
)
def test_retryable(error, retryable):
    assert error.retryable is retryable


def test_retry_after_is_kept():
    assert ex.RateLimitError("slow down", status=429, retry_after=2.5).retry_after == 2.5
