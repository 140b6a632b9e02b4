"""Team mode (``fbcheck serve --team``): who may call the shared server, and who they are.

The local backend trusts only its own page on loopback (:mod:`addin.web.security`);
the team server answers many people over the network, so every request, in this
order:

1. a query string that carries a token (a ``token``/``access_token``-like parameter,
   or any value starting ``fbct_``) is refused, 400 ``token_in_url``: a token in a
   URL ends up in logs and browser history, so it is never accepted;
2. the request must have arrived over https: the server's own TLS, or a
   TLS-terminating proxy whose address was trusted explicitly (``--trust-proxy``;
   only from those addresses are ``X-Forwarded-Proto`` and ``X-Forwarded-For``
   honoured), else 403 ``https_required`` (a direct loopback peer excepted, for a
   local trial over plain HTTP; a proxy that says ``http`` is refused);
3. ``OPTIONS`` is refused (403 ``preflight_refused``): no CORS, as locally;
4. an ``Origin``, when sent, must be the server's own origin (the ``Host`` it was
   called by, with the scheme above), else 403 ``foreign_origin``; Office on the web
   reading a static file is the same one exception as locally;
5. ``/api/`` and ``/xlwings/`` need ``Authorization: Bearer <token>`` of an active
   user, else 401 ``token_required`` (none sent) or ``token_refused`` (wrong or
   revoked): the pane turns both into "sign in again". Only ``/api/health`` and the
   public static files (pages, scripts, styles, icons, ``/functions.json``,
   ``/manifest.xml``) are open. A cross-site browser fetch is refused there too
   (403 ``cross_site``).

Bearer tokens are not sent by a browser on its own (unlike cookies), so the
custom header and the Host check of the local backend are not needed here: a
foreign page cannot call the API as a signed-in user without the token.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, g
from werkzeug.datastructures import Headers, MultiDict

from addin.engine.checker import Checker, JobProgress
from addin.engine.errors import UnknownJobError
from addin.engine.store import Store, User
from addin.engine.store.users import TOKEN_PREFIX
from addin.web.flask_config import settings_of

#: The Flask config key of team mode: a :class:`TeamMode`, or None (local mode).
TEAM_KEY = "FBCHECK_TEAM"
#: ``app.extensions`` key of the store that answers who a token belongs to.
USERS_EXTENSION = "fbcheck.users"
#: The 401 codes: no token sent, a wrong or revoked one (the pane's "sign in again").
TOKEN_REQUIRED = "token_required"  # noqa: S105 (error codes, not secrets)
TOKEN_REFUSED = "token_refused"  # noqa: S105
SIGN_IN_CODES = (TOKEN_REQUIRED, TOKEN_REFUSED)
#: The routes open to anyone in team mode besides the static files.
OPEN_API_PATHS = frozenset({"/api/health"})
#: Query parameter names that would carry a token; refused whatever their value.
TOKEN_PARAMETERS = frozenset(
    {"token", "access_token", "bearer", "auth", "authorization", "api_key", "apikey"}
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TeamMode:
    """How the team server is reached: the proxies trusted to say the client's scheme."""

    trusted_proxies: frozenset[IPAddress] = frozenset()

    @classmethod
    def trusting(cls, addresses: Iterable[str]) -> TeamMode:
        """Return team mode trusting the proxies at ``addresses`` (raise ValueError if bad)."""
        return cls(frozenset(parse_address(a) for a in addresses))

    def trusts(self, peer: str | None) -> bool:
        """Return True when ``peer`` is one of the trusted proxies."""
        address = _address_or_none(peer)
        return address is not None and address in self.trusted_proxies


@dataclass(frozen=True)
class Arrival:
    """How one request reached the server: the scheme and client the trusted proxy saw."""

    scheme: str
    client: str | None
    relayed: bool


def parse_address(text: str) -> IPAddress:
    """Return the IP address ``text`` (IPv4-mapped IPv6 as IPv4); raise ValueError if not one."""
    address = ipaddress.ip_address(text.strip().strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address_or_none(text: str | None) -> IPAddress | None:
    """Return the IP address of a peer, or None when it is not one."""
    if not text:
        return None
    try:
        return parse_address(text.split("%", 1)[0])
    except ValueError:
        return None


def team_of(app: Flask) -> TeamMode | None:
    """Return the app's team mode, or None for the local backend."""
    team = app.config.get(TEAM_KEY)
    if team is not None and not isinstance(team, TeamMode):
        raise TypeError(f"config[{TEAM_KEY!r}] must be an addin.web.team.TeamMode or None")
    return team


def arrival(team: TeamMode, *, scheme: str, remote_addr: str | None, headers: Headers) -> Arrival:
    """Return how a request arrived; forwarded headers count only from a trusted proxy."""
    if not team.trusts(remote_addr):
        return Arrival(scheme, remote_addr, relayed=False)
    proto = _last_hop(headers.get("X-Forwarded-Proto")) or scheme
    client = _last_hop(headers.get("X-Forwarded-For")) or remote_addr
    return Arrival(proto.lower(), client, relayed=True)


def _last_hop(value: str | None) -> str | None:
    """Return the last comma-separated entry: the one our trusted proxy added."""
    if not value:
        return None
    last = value.split(",")[-1].strip()
    return last or None


def token_in_query(args: MultiDict[str, str]) -> bool:
    """Return True when the query string carries something that may be a token."""
    for name, value in args.items(multi=True):
        if name.lower() in TOKEN_PARAMETERS or TOKEN_PREFIX in value or TOKEN_PREFIX in name:
            return True
    return False


def bearer_token(headers: Headers) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, or None."""
    value = headers.get("Authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def users_store(app: Flask) -> Store:
    """Return the store that knows the users (opened once, on first use)."""
    with _opening:
        store = app.extensions.get(USERS_EXTENSION)
        if store is None:
            settings = settings_of(app)
            store = Store(settings.store_location, lock_timeout=settings.store_lock_timeout)
            app.extensions[USERS_EXTENSION] = store
    assert isinstance(store, Store)
    return store


#: One opening of the users' store at a time (the server's threads sign in together).
_opening = threading.Lock()


def current_user() -> User | None:
    """Return the signed-in user of this request (None in local mode)."""
    user = g.get("fbcheck_user")
    return user if isinstance(user, User) else None


def started_by() -> str | None:
    """Return the name jobs of this request are attributed to (None in local mode)."""
    user = current_user()
    return user.name if user is not None else None


def sees_every_job() -> bool:
    """Return True when this request may see every job: local mode, or an admin."""
    user = current_user()
    return user is None or user.admin


def may_see(job_started_by: str | None) -> bool:
    """Return True when this request may see and act on a job started by that user."""
    return sees_every_job() or job_started_by == started_by()


def own_job(checker: Checker, job_id: str) -> JobProgress:
    """Return a job this request may see and act on, or raise ``UnknownJobError``.

    Another user's job is answered as unknown (404), not as forbidden: its id says
    nothing about whether it exists.
    """
    progress = checker.progress_of(job_id)
    if not may_see(progress.started_by):
        raise UnknownJobError(job_id)
    return progress
