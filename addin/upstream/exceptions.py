"""Errors raised by the vendor client, one tree, each naming method, URL and status.

::

    UpstreamError                  base: method, url, status (int | None), detail
    ├── TransportError             no usable answer: refused, reset, dropped (retryable)
    │   ├── UpstreamTimeout        connect or read timeout (also a TimeoutError)
    │   └── TruncatedDownloadError a result download ended before Content-Length
    ├── HTTPStatusError            the server answered with an unexpected status
    │   ├── BadRequestError        400, carries the vendor's message
    │   │   └── PayloadTooLargeError   413 (v1): the uploaded file is too large
    │   ├── AuthError              401 (or 403 on an API route): missing or unknown key
    │   ├── BalanceError           402: the key's balance is spent
    │   ├── NotFoundError          404: unknown task (or an unknown result link)
    │   ├── LinkExpiredError       403 or 410 on a result download: ask for a fresh link
    │   ├── RateLimitError         429, with retry_after (retryable)
    │   └── ServerError            5xx, with retry_after (retryable)
    ├── ProtocolError              a 200 we cannot use: bad JSON, HTML, missing fields
    ├── ResultFileError            the result file is truncated, corrupt, too big, unsafe
    └── AmbiguousCreateError       the upload may have created a task: never retried here

The API key travels in a header and never appears in a message: URLs are
printed as requested, and the client never puts the key into a URL.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousCreateError",
    "AuthError",
    "BadRequestError",
    "BalanceError",
    "HTTPStatusError",
    "LinkExpiredError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProtocolError",
    "RateLimitError",
    "ResultFileError",
    "ServerError",
    "TransportError",
    "TruncatedDownloadError",
    "UpstreamError",
    "UpstreamTimeout",
]


class UpstreamError(Exception):
    """Base of every error the vendor client raises."""

    def __init__(
        self, detail: str, *, method: str = "", url: str = "", status: int | None = None
    ) -> None:
        """Keep the request's method and URL, the answer's status and a readable detail."""
        self.method = method
        self.url = url
        self.status = status
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        """Build ``METHOD URL -> status: detail`` from whatever parts are known."""
        parts = [p for p in (self.method, self.url) if p]
        where = " ".join(parts)
        if self.status is not None:
            where = f"{where} -> {self.status}" if where else str(self.status)
        return f"{where}: {self.detail}" if where else self.detail

    @property
    def retryable(self) -> bool:
        """Return True when repeating the same request later may succeed."""
        return False


class TransportError(UpstreamError):
    """No usable answer arrived: connection refused, reset or dropped."""

    @property
    def retryable(self) -> bool:
        """Return True: the network may recover (the client retries only where safe)."""
        return True


class UpstreamTimeout(TransportError, TimeoutError):
    """The connection or the answer took longer than the configured timeout."""


class TruncatedDownloadError(TransportError):
    """A result download stopped before the announced Content-Length."""


class HTTPStatusError(UpstreamError):
    """The server answered with a status the client does not treat as success."""

    def __init__(
        self,
        detail: str,
        *,
        method: str = "",
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Also keep the server's Retry-After, in seconds, when it sent one."""
        self.retry_after = retry_after
        super().__init__(detail, method=method, url=url, status=status)


class BadRequestError(HTTPStatusError):
    """400: the vendor refused the parameters or the file; ``detail`` is its message."""


class PayloadTooLargeError(BadRequestError):
    """413: the vendor refused the upload as too large; nothing was created."""


class AuthError(HTTPStatusError):
    """401 (or 403 on an API route): the API key is missing, unknown or not allowed."""


class BalanceError(HTTPStatusError):
    """402: the key's balance cannot pay for the request."""


class NotFoundError(HTTPStatusError):
    """404: the task (or the result file) does not exist for this key."""


class LinkExpiredError(HTTPStatusError):
    """403 or 410 on a result download: the pre-signed link expired; re-read the task."""


class RateLimitError(HTTPStatusError):
    """429: too many requests; wait ``retry_after`` seconds when given."""

    @property
    def retryable(self) -> bool:
        """Return True: the vendor asks us to come back later."""
        return True


class ServerError(HTTPStatusError):
    """5xx: the vendor failed; it documents 500 as "retry later", nothing was created."""

    @property
    def retryable(self) -> bool:
        """Return True: the vendor documents server errors as temporary."""
        return True


class ProtocolError(UpstreamError):
    """A successful status whose body we cannot use (bad JSON, HTML, missing fields)."""


class ResultFileError(UpstreamError):
    """The result file is truncated, corrupt, too big, unsafe or lacks its columns."""


class AmbiguousCreateError(UpstreamError):
    """The upload was sent but no answer came back, so the task may exist and be billed.

    The client never retries this: a blind retry could create (and bill) a second
    task. The job runner records the ambiguity and decides how to recover.
    """
