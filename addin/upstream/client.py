"""The vendor client: create a task, read it, download and parse its result file.

Retry policy (exponential backoff with jitter, ``Retry-After`` honoured):

- ``get_task`` and result downloads are safe to repeat, so they retry 5xx, 429,
  connection failures, read timeouts and cut-off answers.
- ``create_task`` retries only when the vendor surely created nothing: the
  connection never opened, or the vendor answered 5xx or 429. (The vendor
  documents 500 as "server error, retry later", i.e. not created and not
  billed; we assume the same of 502/503/504, which a proxy answers in front of
  it, and of 429.) When the upload was sent and no readable answer came back
  (read timeout, connection dropped, a 200 we cannot parse), the task may exist
  and be billed, and the vendor has no idempotency key: the client raises
  ``AmbiguousCreateError`` at once and never repeats the upload. The job
  runner records that and decides (see the README).
- Other 4xx are never retried. A ``Retry-After`` longer than the policy's
  ``max_delay`` is not slept on: the error is raised with ``retry_after`` set,
  so the caller can reschedule instead of blocking a thread.

The API key travels only in the ``X-API-Key`` header of the vendor's API routes:
never in a URL, a log line or an error message, and never to the (foreign,
pre-signed) result link. API routes do not follow redirects, so the key cannot
be forwarded to another host; result downloads do.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions

from addin.closing import ClosedOnExit
from addin.formats import E164 as _E164
from addin.formats import TASK_ID as _TASK_ID
from addin.formats import package_version
from addin.upstream.accounting import (
    Billing,
    CreateOutcome,
    Observer,
    RequestOutcome,
    billing_of_answer,
    create_outcome_of_answer,
)
from addin.upstream.dialects import ApiRequest, Dialect, LegacyDialect
from addin.upstream.exceptions import (
    AmbiguousCreateError,
    AuthError,
    BadRequestError,
    BalanceError,
    HTTPStatusError,
    LinkExpiredError,
    NotFoundError,
    PayloadTooLargeError,
    ProtocolError,
    RateLimitError,
    ResultFileError,
    ServerError,
    TransportError,
    TruncatedDownloadError,
    UpstreamError,
    UpstreamTimeout,
)
from addin.upstream.models import TaskStatus, parse_task
from addin.upstream.results import ResultRow, parse_result_file

__all__ = ["DEFAULT_USER_AGENT", "RetryPolicy", "VendorClient"]

log = logging.getLogger(__name__)


DEFAULT_USER_AGENT: Final = f"fbcheck/{package_version()}"

_DOWNLOAD_CHUNK: Final = 64 * 1024
# Error bodies are read this far at most; the vendor's messages are one line.
_ERROR_BODY_LIMIT: Final = 64 * 1024
_MESSAGE_KEYS: Final = ("message", "error", "detail", "msg", "description", "error_description")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed request.

    ``max_attempts`` counts the first try. Before retry ``n`` (1-based) the client
    waits ``min(max_delay, base_delay * 2**(n-1))`` shortened by a random share of
    at most ``jitter`` (0 to 1), or the server's ``Retry-After`` if that is longer.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        """Refuse settings that would never try or wait a negative time."""
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def backoff(self, retry: int, draw: Callable[[], float] = random.random) -> float:
        """Return the delay before retry number ``retry`` (1 = the first retry)."""
        delay = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return delay * (1.0 - self.jitter * draw())


class VendorClient(ClosedOnExit):
    """A thread-safe client of the vendor's bulk number check API for one product.

    ``dialect`` says how requests are spelled (``addin.upstream.dialects``): the
    legacy "simple" API of ``product`` by default, or v1.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        product: str = "fb",
        dialect: Dialect | None = None,
        timeout: float = 30.0,
        upload_timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        max_result_bytes: int = 200 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        """Configure the endpoint, key, timeouts (s), retries and the result size cap."""
        scheme = urlsplit(base_url).scheme
        if scheme not in ("http", "https") or not urlsplit(base_url).netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if not api_key or any(ch in api_key for ch in "\r\n"):
            raise ValueError("api_key must be a non-empty single-line string")
        self.dialect = dialect if dialect is not None else LegacyDialect(path_product=product)
        if timeout <= 0 or upload_timeout <= 0 or max_result_bytes <= 0:
            raise ValueError("timeouts and max_result_bytes must be positive")
        self.base_url = base_url.rstrip("/")
        self.product = product
        self.timeout = timeout
        self.upload_timeout = upload_timeout
        self.retry = retry or RetryPolicy()
        self.max_result_bytes = max_result_bytes
        self.user_agent = user_agent
        self._api_key = api_key
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._lock = threading.Lock()
        self._billed = 0
        self._closed = False

    # -- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session if this client created it; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._owns_session:
            self._session.close()

    def __repr__(self) -> str:
        """Show the endpoint, never the key."""
        return (
            f"VendorClient(base_url={self.base_url!r}, product={self.product!r},"
            f" dialect={self.dialect.name!r})"
        )

    @property
    def billed_requests(self) -> int:
        """Return how many successful (billed) create and status answers this client got."""
        with self._lock:
            return self._billed

    @property
    def tasks_url(self) -> str:
        """Return the URL of the product's task collection."""
        return self.dialect.tasks_url(self.base_url)

    # -- the vendor's routes ----------------------------------------------

    def create_task(
        self,
        numbers: Sequence[str],
        *,
        user_id: str | None = None,
        observe: Observer | None = None,
    ) -> TaskStatus:
        """Upload E.164 numbers as a new task (billed); see the module docstring on retries.

        Raises ``AmbiguousCreateError`` when the outcome is uncertain (see
        ``addin.upstream.accounting``); any other error means nothing was created.
        ``observe`` receives every attempt's billing.
        """
        if not numbers:
            raise ValueError("create_task needs at least one number")
        for index, number in enumerate(numbers):
            if not isinstance(number, str) or not _E164.fullmatch(number):
                raise ValueError(f"numbers[{index}] is not E.164: {number!r}")
        if user_id is not None and not isinstance(user_id, str):
            raise TypeError("user_id must be a string")
        # One number per line, "\n" separated, no trailing blank line: the vendor
        # fails a whole upload on one bad line, and an empty last line might count.
        body = "\n".join(numbers).encode("ascii")
        request = self.dialect.create(self.base_url, body, user_id)
        url = request.url
        response = self._call_api(
            request,
            idempotent=False,
            timeout=(self.timeout, self.upload_timeout),
            observe=_observer("create", observe),
        )
        try:
            return self._task_from(response, request.method, url)
        except ProtocolError as exc:
            # A 2xx means the vendor most likely created (and billed) a task whose
            # id we cannot read; repeating the upload could pay twice.
            raise AmbiguousCreateError(
                f"the upload was accepted but the answer is unusable ({exc.detail}); "
                "a task may exist",
                method=request.method,
                url=url,
                status=response.status_code,
            ) from exc

    def get_task(
        self, task_id: str, *, user_id: str | None = None, observe: Observer | None = None
    ) -> TaskStatus:
        """Read a task's status (billed); retried on any temporary failure."""
        if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
            raise ValueError(f"not a task id: {task_id!r}")
        request = self.dialect.status(self.base_url, task_id, user_id)
        url = request.url
        response = self._call_api(
            request,
            idempotent=True,
            timeout=(self.timeout, self.timeout),
            observe=_observer("poll", observe),
        )
        task = self._task_from(response, request.method, url)
        if task.task_id != task_id:
            raise ProtocolError(
                f"asked for task {task_id!r} but the answer describes {task.task_id!r}",
                method=request.method,
                url=url,
                status=response.status_code,
            )
        return task

    @property
    def has_balance(self) -> bool:
        """Return True when the API offers a balance route (v1)."""
        return self.dialect.has_balance

    def get_balance(self, *, observe: Observer | None = None) -> float:
        """Read the account's balance (v1 ``GET /v1/balance``); retried like a status read.

        The vendor does not document whether this route is billed, so a 2xx is
        reported to ``observe`` as *possibly* billed (never as free) and not
        counted in ``billed_requests``. Call it only when a person looks.
        Raises ``ValueError`` on a dialect without a balance route.
        """
        request = self.dialect.balance(self.base_url)
        if request is None:
            raise ValueError(f"the {self.dialect.name} API has no balance route")
        response = self._call_api(
            request,
            idempotent=True,
            timeout=(self.timeout, self.timeout),
            observe=_observer("balance", observe, billed_as=Billing.POSSIBLY),
            billed_route=False,
        )
        payload = self._json_object(response, request.method, request.url)
        value = payload.get("balance")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ProtocolError(
                f"field 'balance' should be a number, got {value!r}"[:200],
                method=request.method,
                url=request.url,
                status=response.status_code,
            )
        return float(value)

    def download_result(self, url: str) -> dict[str, ResultRow]:
        """Download a result file (free, no API key sent) and parse it, keyed by E.164.

        Raises ``LinkExpiredError`` (403/410), ``NotFoundError`` (404), ``ServerError``,
        ``TransportError``/``TruncatedDownloadError`` after retries, or ``ResultFileError``;
        on any of them, read the task again for a fresh ``result_url``.
        """
        data, content_type = self._download(url)
        return parse_result_file(data, url=_redact(url), content_type=content_type)

    def fetch_results(
        self, task: TaskStatus | str, *, user_id: str | None = None
    ) -> tuple[TaskStatus, dict[str, ResultRow]]:
        """Download an exported task's results, re-reading the task once if the link fails.

        Given a task id rather than a ``TaskStatus``, the task is read first. Each
        re-read is a billed poll; a second failed download raises its error.
        """
        if isinstance(task, str):
            task = self.get_task(task, user_id=user_id)
        if not task.is_exported:
            raise ValueError(f"task {task.task_id} is {task.status!r}, not exported yet")
        try:
            return task, self.download_result(self._result_url_of(task))
        except (HTTPStatusError, TransportError, ResultFileError) as exc:
            log.warning("result download failed, asking for a fresh link: %s", exc)
        fresh = self.get_task(task.task_id, user_id=user_id)
        return fresh, self.download_result(self._result_url_of(fresh))

    # -- plumbing ----------------------------------------------------------

    def _result_url_of(self, task: TaskStatus) -> str:
        """Return the task's result link, or raise ProtocolError when an export lacks one."""
        if task.result_url is None:
            raise ProtocolError(
                f"task {task.task_id} is {task.status!r} but has no result_url",
                method="GET",
                url=f"{self.tasks_url}/{task.task_id}",
            )
        return task.result_url

    def _call_api(
        self,
        request: ApiRequest,
        *,
        idempotent: bool,
        observe: Callable[[Billing, int | None, str], None],
        timeout: tuple[float, float],
        billed_route: bool = True,
    ) -> requests.Response:
        """Send an API request with the key and retries; return a 2xx answer (billed)."""
        self._check_open()
        method, url = request.method, request.url
        kwargs = {"timeout": timeout, **request.send_kwargs()}
        headers = {
            "X-API-Key": self._api_key,
            "User-Agent": self.user_agent,
            "Accept": "application/json",
        }
        response = self._with_retries(
            method,
            url,
            idempotent=idempotent,
            send=lambda: self._session.request(
                method, url, headers=headers, allow_redirects=False, **kwargs
            ),
            raise_for_status=lambda r: self._raise_for_api_status(
                method, url, r, idempotent=idempotent
            ),
            observe=observe,
            billed_route=billed_route,
        )
        return response

    def _with_retries(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        send: Callable[[], requests.Response],
        raise_for_status: Callable[[requests.Response], None],
        read_body: Callable[[requests.Response], None] | None = None,
        observe: Callable[[Billing, int | None, str], None] | None = None,
        billed_route: bool = True,
    ) -> requests.Response:
        """Run ``send`` under the retry policy; see the module docstring for what repeats."""
        shown = _redact(url)
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                try:
                    response = send()
                except requests.RequestException as exc:
                    if observe is not None:
                        arrived = _request_may_have_arrived(exc)
                        billing = Billing.POSSIBLY if arrived else Billing.FREE
                        observe(billing, None, _root_cause(exc))
                    raise
                if observe is not None:
                    billing = billing_of_answer(response)
                    if billing == Billing.BILLED and billed_route:
                        with self._lock:
                            self._billed += 1
                    observe(billing, response.status_code, response.reason or "")
                log.debug(
                    "%s %s -> %d in %.2fs",
                    method,
                    shown,
                    response.status_code,
                    time.monotonic() - started,
                )
                raise_for_status(response)
                if read_body is not None:
                    read_body(response)
                return response
            except requests.RequestException as exc:
                error = _transport_error(method, shown, exc, idempotent=idempotent)
                cause: BaseException = exc
            except (ServerError, RateLimitError, TruncatedDownloadError, TransportError) as exc:
                error = exc
                cause = exc
            wait = self._retry_wait(attempt, error)
            if wait is None:
                if error is cause:
                    raise error
                raise error from cause
            log.info("retrying in %.1fs after: %s", wait, error)
            self._sleep(wait)

    def _retry_wait(self, attempt: int, error: UpstreamError) -> float | None:
        """Return the wait before the next attempt, or None when the error must be raised."""
        if not error.retryable or isinstance(error, AmbiguousCreateError):
            return None
        if attempt >= self.retry.max_attempts:
            return None
        backoff = self.retry.backoff(attempt)
        retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
        if retry_after is None:
            return backoff
        if retry_after > self.retry.max_delay:
            # Sleeping that long would block a worker; the caller reschedules.
            return None
        return max(backoff, retry_after)

    def _raise_for_api_status(
        self, method: str, url: str, response: requests.Response, *, idempotent: bool = True
    ) -> None:
        """Raise the typed error for a non-2xx API answer (redirects included).

        For a create, an answer that is not the vendor's own JSON error (a gateway's
        502/503/504, an HTML page) may follow a task the vendor did create: it
        raises ``AmbiguousCreateError``, which is never retried.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = _describe_error_body(response)
        if not idempotent and create_outcome_of_answer(response) == CreateOutcome.UNCERTAIN:
            raise AmbiguousCreateError(
                f"the answer is not the vendor's own error ({detail}); a gateway may have"
                " answered after the vendor created the task",
                method=method,
                url=url,
                status=status,
            )
        if 300 <= status < 400:
            target = _redact(response.headers.get("Location", "")) or "nowhere"
            detail = f"unexpected redirect to {target} (not followed: the key stays here)"
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        error_class = _API_STATUS_ERRORS.get(status)
        if error_class is None:
            error_class = ServerError if status >= 500 else HTTPStatusError
        raise error_class(detail, method=method, url=url, status=status, retry_after=retry_after)

    def _task_from(self, response: requests.Response, method: str, url: str) -> TaskStatus:
        """Parse a 2xx API answer into a TaskStatus, checking type and JSON shape."""
        return parse_task(self._json_payload(response, method, url), method=method, url=url)

    def _json_object(self, response: requests.Response, method: str, url: str) -> dict[str, Any]:
        """Return a 2xx answer's JSON object, or raise ProtocolError."""
        payload = self._json_payload(response, method, url)
        if not isinstance(payload, dict):
            raise ProtocolError(
                f"expected a JSON object, got {type(payload).__name__}",
                method=method,
                url=url,
                status=response.status_code,
            )
        return payload

    def _json_payload(self, response: requests.Response, method: str, url: str) -> object:
        """Return a 2xx answer's parsed JSON, checking its content type."""
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type.lower():
            raise ProtocolError(
                f"expected JSON, got {content_type or 'no Content-Type'}"
                f" ({_describe_error_body(response)})",
                method=method,
                url=url,
                status=response.status_code,
            )
        try:
            payload = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(
                f"malformed JSON ({exc})", method=method, url=url, status=response.status_code
            ) from None
        return payload

    def _download(self, url: str) -> tuple[bytes, str | None]:
        """Stream a result file under the size cap, with retries; return bytes and type."""
        self._check_open()
        shown = _redact(url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise ProtocolError(f"result_url is not http(s): {shown!r}", method="GET", url=shown)
        body = bytearray()
        # Setting the key header to None removes it even if a caller's session has it.
        headers: Mapping[str, str | None] = {
            "X-API-Key": None,
            "User-Agent": self.user_agent,
            "Accept": "*/*",
        }

        def read_body(response: requests.Response) -> None:
            """Read the body into ``body``, enforcing the cap and Content-Length."""
            body.clear()
            try:
                _read_capped(response, body, self.max_result_bytes, shown)
            finally:
                response.close()

        response = self._with_retries(
            "GET",
            url,
            idempotent=True,
            send=lambda: self._session.get(
                url, headers=headers, stream=True, timeout=(self.timeout, self.timeout)
            ),
            raise_for_status=lambda r: _raise_for_download_status(shown, r),
            read_body=read_body,
        )
        return bytes(body), response.headers.get("Content-Type")

    def _check_open(self) -> None:
        """Refuse to work after close()."""
        if self._closed:
            raise RuntimeError("the VendorClient is closed")


_API_STATUS_ERRORS: Final[dict[int, type[HTTPStatusError]]] = {
    400: BadRequestError,
    401: AuthError,
    402: BalanceError,
    403: AuthError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def _raise_for_download_status(url: str, response: requests.Response) -> None:
    """Raise the typed error for a failed result download; close the stream first."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = _describe_error_body(response, streamed=True)
    response.close()
    retry_after = _parse_retry_after(response.headers.get("Retry-After"))
    error_class: type[HTTPStatusError]
    if status in (403, 410):
        error_class = LinkExpiredError
        detail = f"the result link was refused or expired ({detail})"
    elif status == 404:
        error_class = NotFoundError
    elif status == 429:
        error_class = RateLimitError
    elif status >= 500:
        error_class = ServerError
    else:
        error_class = HTTPStatusError
    raise error_class(detail, method="GET", url=url, status=status, retry_after=retry_after)


def _read_capped(response: requests.Response, body: bytearray, limit: int, url: str) -> None:
    """Read a streamed body into ``body``; refuse more than ``limit`` bytes or a short body."""
    status = response.status_code
    announced = _content_length(response)
    if announced is not None and announced > limit:
        raise ResultFileError(
            f"the result file announces {announced:,} bytes, above the {limit:,}-byte limit",
            method="GET",
            url=url,
            status=status,
        )
    try:
        for chunk in response.iter_content(_DOWNLOAD_CHUNK):
            body.extend(chunk)
            if len(body) > limit:
                raise ResultFileError(
                    f"the result file exceeds the {limit:,}-byte limit",
                    method="GET",
                    url=url,
                    status=status,
                )
    except requests.exceptions.ChunkedEncodingError as exc:
        raise TruncatedDownloadError(
            f"the download was cut short after {len(body):,} bytes ({_root_cause(exc)})",
            method="GET",
            url=url,
            status=status,
        ) from exc
    encoded = "Content-Encoding" in response.headers
    if announced is not None and not encoded and len(body) < announced:
        raise TruncatedDownloadError(
            f"got {len(body):,} of {announced:,} announced bytes",
            method="GET",
            url=url,
            status=status,
        )


def _content_length(response: requests.Response) -> int | None:
    """Return the announced body length, or None when absent or malformed."""
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _transport_error(
    method: str, url: str, exc: requests.RequestException, *, idempotent: bool
) -> UpstreamError:
    """Translate a requests failure into the error tree (see the module docstring)."""
    reason = _root_cause(exc)
    sent = _request_may_have_arrived(exc)
    if sent and not idempotent:
        what = "timed out waiting for the answer" if _is_timeout(exc) else "connection lost"
        return AmbiguousCreateError(
            f"{what} after the upload was sent ({reason}); a task may exist",
            method=method,
            url=url,
        )
    if _is_timeout(exc):
        return UpstreamTimeout(f"timed out ({reason})", method=method, url=url)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransportError(f"the answer was cut short ({reason})", method=method, url=url)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return TransportError(f"connection failed ({reason})", method=method, url=url)
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return TransportError(f"undecodable answer ({reason})", method=method, url=url)
    # Invalid URL or header, too many redirects: repeating cannot help.
    return UpstreamError(f"request failed ({reason})", method=method, url=url)


def _request_may_have_arrived(exc: requests.RequestException) -> bool:
    """Return False only when the request surely never reached the server.

    That is a connection that never opened (refused, DNS, connect timeout) or a
    TLS handshake that failed; anything later may have delivered the request.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        # NewConnectionError (refused, DNS) is a ConnectTimeoutError in urllib3.
        return not any(
            isinstance(cause, urllib3.exceptions.ConnectTimeoutError) for cause in _causes(exc)
        )
    return True


def _is_timeout(exc: BaseException) -> bool:
    """Return True when a timeout is anywhere in the exception's chain."""
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    # urllib3 files a refused connection (NewConnectionError) under its TimeoutError.
    return any(
        isinstance(cause, timeouts) and not isinstance(cause, urllib3.exceptions.NewConnectionError)
        for cause in _causes(exc)
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield the exception and everything it wraps (args, reason, cause, context)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _root_cause(exc: BaseException) -> str:
    """Return a short description of the innermost cause of a transport failure."""
    innermost = exc
    for cause in _causes(exc):
        innermost = cause
    text = str(innermost) or type(innermost).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _describe_error_body(response: requests.Response, *, streamed: bool = False) -> str:
    """Return the vendor's message from an error body: a JSON field, a page title or text."""
    try:
        if streamed:
            raw = response.raw.read(_ERROR_BODY_LIMIT, decode_content=True) or b""
        else:
            raw = response.content[:_ERROR_BODY_LIMIT]
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        raw = b""
    text = raw.decode(response.encoding or "utf-8", errors="replace").strip()
    if not text:
        return response.reason or "empty body"
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    message = _message_from_json(payload)
    if message:
        return message
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return f"an HTML page titled {' '.join(title.group(1).split())[:120]!r}"
    if text.startswith("<"):
        return "an HTML page"
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


def _message_from_json(payload: object) -> str | None:
    """Find the human message in a JSON error body such as {"error": "..."}."""
    if isinstance(payload, str) and payload.strip():
        return payload.strip()
    if not isinstance(payload, dict):
        return None
    for key in _MESSAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        nested = _message_from_json(value) if isinstance(value, dict) else None
        if nested:
            return nested
    return json.dumps(payload)[:300]


def _parse_retry_after(value: str | None) -> float | None:
    """Return Retry-After in seconds from delta-seconds or an HTTP date, else None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is not a delay
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _redact(url: str) -> str:
    """Drop the query and fragment of a URL for messages: pre-signed links carry secrets."""
    parts = urlsplit(url)
    if not parts.query and not parts.fragment:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "…", ""))


def _observer(
    kind: str, observe: Observer | None, *, billed_as: Billing = Billing.BILLED
) -> Callable[[Billing, int | None, str], None]:
    """Return a callback that reports each attempt of a ``kind`` request to ``observe``.

    ``billed_as`` replaces ``billed`` for a route whose billing is not documented.
    """

    def report(billing: Billing, status: int | None, detail: str) -> None:
        """Pass one attempt's outcome on."""
        if billing == Billing.BILLED:
            billing = billed_as
        if observe is not None:
            observe(RequestOutcome(kind, billing, status, detail))

    return report
