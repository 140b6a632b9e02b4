"""The command line's client of a team server (``fbcheck check --server URL``).

Exceptions::

    ServerError                 the run stops; ``code`` is its exit code
    ├── TokenRejected           401: no usable token (exit 10, "sign in again")
    ├── ServerUnreachable       no answer (network, TLS, a proxy's page) within the
    │                           retry time (exit 11)
    └── ServerRefused           a JSON error answer: ``status``, ``error`` and the
                                server's own message (the caller picks the exit code)

Every request carries the personal token as ``Authorization: Bearer`` (never in a
URL) and the add-in's client header; nothing of this computer's store or vendor key
is read or sent. Requests that bill nothing and mean the same when sent twice
(reading, an upload chunk under its index, a plan) are sent again after a network
failure or a 502/503/504, with a growing pause (1 s, 2 s, 4 s ... at most 30 s), for
up to ``retry_for`` seconds, saying so each time; the requests that start or change
a job are sent once.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase

from addin.closing import ClosedOnExit
from addin.formats import package_version
from addin.web.security import CLIENT_HEADER

#: Exit code: the server refused the token, or there is none (sign in again).
EXIT_SIGN_IN = 10
#: Exit code: the server could not be reached (or answered no JSON) within the retry time.
EXIT_SERVER = 11
#: Answers worth waiting out: a proxy or load balancer without a healthy instance.
RETRIED_STATUSES = frozenset({502, 503, 504})
#: The longest pause between two attempts.
MAX_BACKOFF = 30.0

SIGN_IN_HINT = (
    "set FBCHECK_TOKEN to your personal token (an admin of the server creates it with"
    " `fbcheck users add NAME`), or run the command on a terminal to be asked for it"
)


class ServerError(Exception):
    """A team server request failed; ``code`` is the exit code of the run."""

    code = EXIT_SERVER

    def __init__(self, message: str) -> None:
        """Keep the message for the user."""
        super().__init__(message)
        self.message = message


class TokenRejected(ServerError):
    """The server answered 401: the token is wrong, revoked or missing."""

    code = EXIT_SIGN_IN


class ServerUnreachable(ServerError):
    """No usable answer (network, TLS, not JSON) within the retry time."""


class ServerRefused(ServerError):
    """The server refused the request with a JSON error: its status, code and message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        """Keep the HTTP status and the server's error code."""
        super().__init__(message)
        self.status = status
        self.error = error


def server_url(url: str) -> str:
    """Return a team server's base URL without a trailing slash, or raise ValueError.

    https only: the token must not cross a network unencrypted. Plain http is accepted
    for a server on this computer (``localhost``, ``127.0.0.1``, ``::1``) only, say one
    behind a TLS-terminating proxy reached through an SSH tunnel.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"--server takes a URL such as https://fbcheck.example.com, not {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"--server must not carry a query, fragment or credentials: {url!r}")
    try:
        parts.port  # noqa: B018 - accessing it validates the port
    except ValueError:
        raise ValueError(f"--server has an invalid port: {url!r}") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"refusing {url!r}: over http the token would cross the network unencrypted;"
            " use https:// (http only for a server on this computer: localhost, 127.0.0.1,"
            " ::1)"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _is_loopback(host: str) -> bool:
    """Return True for ``localhost`` or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Bearer(AuthBase):
    """``Authorization: Bearer <token>`` on every request (and no ``.netrc`` in its place)."""

    def __init__(self, token: str) -> None:
        """Keep the token."""
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the header."""
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class TeamServer(ClosedOnExit):
    """JSON requests to one team server with one personal token."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: float,
        long_timeout: float,
        retry_for: float,
        notice: Callable[[str], None],
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Talk to ``base_url`` (checked by :func:`server_url`); ``notice`` hears of retries.

        ``timeout`` bounds a reading request, ``long_timeout`` one that carries or plans
        a file's numbers.
        """
        self.base_url = server_url(base_url)
        self.timeout = timeout
        self.long_timeout = long_timeout
        self.retry_for = retry_for
        self._notice = notice
        self._sleep = sleep
        self._clock = clock
        self.session = session or requests.Session()
        self.session.auth = _Bearer(token)
        self.session.headers[CLIENT_HEADER] = f"fbcheck-cli/{package_version()}"
        #: The server's ``demo`` flag in its last answer (True: it has no vendor key).
        self.demo = False

    def close(self) -> None:
        """Close the pooled connections (idempotent)."""
        self.session.close()

    # -- the routes ---------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET a route (sent again after a network failure)."""
        return self.request("GET", path, params=params, again=True)

    def job(self, job_id: str) -> dict[str, Any]:
        """Return ``GET /api/jobs/<id>``."""
        return self.get(f"/api/jobs/{quote(job_id, safe='')}")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        again: bool = False,
        long: bool = False,
    ) -> dict[str, Any]:
        """Send one JSON request and return the answer's object; ``again``: retry it."""
        url = self.base_url + path
        timeout = self.long_timeout if long else self.timeout
        started = self._clock()
        pause = 1.0
        while True:
            problem = None
            try:
                response = self.session.request(
                    method, url, json=body, params=params, timeout=timeout
                )
            except requests.exceptions.SSLError as exc:
                raise ServerUnreachable(
                    f"{method} {url}: the server's certificate is not trusted here ({exc});"
                    " if your organisation has its own certificate authority, point"
                    " REQUESTS_CA_BUNDLE at its certificate"
                ) from None
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRIED_STATUSES:
                    return self._answer(method, url, response)
                problem = f"HTTP {response.status_code}"
            waited = self._clock() - started
            if not again or waited + pause > self.retry_for:
                raise ServerUnreachable(
                    f"{method} {url}: no answer from the server ({problem})"
                    + (f" for {waited:.0f} s" if again else "")
                )
            self._notice(
                f"the server does not answer ({problem}); trying again in {pause:.0f} s"
                " (Ctrl-C stops; a job on the server goes on)"
            )
            self._sleep(pause)
            pause = min(pause * 2, MAX_BACKOFF)

    def _answer(self, method: str, url: str, response: requests.Response) -> dict[str, Any]:
        """Return the JSON object of an answer, or raise the error it carries."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 401:
            said = data.get("message") if isinstance(data, dict) else None
            raise TokenRejected(
                f"sign in again: the server refused the token (wrong or revoked)"
                f"{': ' + str(said) if said else ''}; {SIGN_IN_HINT}"
            )
        if not isinstance(data, dict):
            kind = response.headers.get("Content-Type", "no content type")
            raise ServerUnreachable(
                f"{method} {url}: HTTP {response.status_code} without a JSON answer ({kind});"
                " is this the address of an FBCheck server?"
            )
        if isinstance(data.get("demo"), bool):
            self.demo = data["demo"]
        if response.status_code >= 400:
            raise ServerRefused(
                response.status_code,
                str(data.get("error", "error")),
                str(data.get("message") or f"HTTP {response.status_code}"),
            )
        return data
