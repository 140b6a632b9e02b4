"""The backend trusts only its own page: request checks and response headers.

Every request, in this order:

1. the peer must be a loopback address, else 403 ``not_loopback``;
2. the ``Host`` header must name this server exactly (``localhost``,
   ``127.0.0.1`` or ``[::1]`` with the configured port), else 400
   ``missing_host`` or 421 ``foreign_host`` (DNS rebinding defence);
3. ``OPTIONS`` is refused with 403 ``preflight_refused``: no preflight ever
   succeeds, so no foreign page can send a custom header or a JSON body;
4. an ``Origin`` header, when present, must be the backend's own https origin,
   else 403 ``foreign_origin``. One exception: a plain ``GET`` of a static
   file (not ``/api/`` or ``/xlwings/``) from an Office on the web origin,
   because Excel on the web fetches the custom-functions metadata
   (``/functions.json``) from its own page and needs CORS for it; that answer
   carries ``Access-Control-Allow-Origin`` for exactly that origin;
5. ``/api/`` and ``/xlwings/`` routes need the ``X-FBCheck-Client`` header,
   which a foreign page cannot add without the preflight refused above, else
   403 ``missing_client_header``; a ``Sec-Fetch-Site`` other than
   ``same-origin``/``none`` is refused there too (403 ``cross_site``).

Static pages, icons and ``/manifest.xml`` skip rule 5 because Office itself
loads them, but rules 1-4 still apply.

The team server (``fbcheck serve --team``) answers the network instead, with the
rules of :mod:`addin.web.team` (https, bearer tokens); the headers below apply alike.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from werkzeug.datastructures import Headers, MultiDict

from addin.web import team
from addin.web.flask_config import port_of
from addin.web.json_api import error_response

#: The header our own JavaScript adds to every API call.
CLIENT_HEADER = "X-FBCheck-Client"
#: Path prefixes of routes that only our own JavaScript may call.
API_PREFIXES = ("/api/", "/xlwings/")
#: Names under which the backend is reachable on this machine.
OWN_HOSTNAMES = ("localhost", "127.0.0.1", "[::1]")

#: Where office.js comes from. It may load MicrosoftAjax.js from the ASP.NET CDN
#: on some hosts (OfficeDev/office-js issues 686, 4131) and its telemetry script
#: from appsforoffice.microsoft.com/lib/1/hosted/telemetry/ (office-js issue 1925);
#: appsforoffice.microsoft.com, ajax.aspnetcdn.com and browser.pipe.aria.microsoft.com
#: are the domains found necessary in office-js issue 1005 ("Document required CSP
#: values"; Microsoft has no canonical list yet), all three Microsoft 365 endpoints
#: (https://learn.microsoft.com/microsoft-365/enterprise/urls-and-ip-address-ranges).
OFFICE_SCRIPT_SOURCES = ("https://appsforoffice.microsoft.com", "https://ajax.aspnetcdn.com")
#: Where office.js sends its telemetry: the Aria collector it POSTs to (office-js
#: issues 61 and 1005).
OFFICE_CONNECT_SOURCES = ("https://browser.pipe.aria.microsoft.com",)
#: The telemetry frame office.js opens (telemetryproxy.html, office-js issues 696
#: and 1627); nothing else may be framed by the pane.
OFFICE_FRAME_SOURCES = ("https://telemetryservice.firstpartyapps.oaspapps.com",)
#: Host names of Office on the web that read our static files cross-origin (the
#: CORS exception for /functions.json): the Excel web app (``*.officeapps.live.com``,
#: ``excel.cloud.microsoft``) and the pages that embed it (OneDrive, SharePoint,
#: office.com / microsoft365.com). Desktop Excel shows the task pane as a
#: top-level WebView and needs none of these.
OFFICE_WEB_HOSTS = ("onedrive.live.com",)
OFFICE_WEB_DOMAINS = (
    "officeapps.live.com",
    "office.com",
    "microsoft365.com",
    "cloud.microsoft",
    "sharepoint.com",
)
#: Who may show the pane in a frame (``frame-ancestors``), from Microsoft's
#: documented host list for apps hosted in Teams, Outlook and the Microsoft 365 app
#: ("Set Content Security Policy headers to allow Teams and any other host
#: applications", https://learn.microsoft.com/microsoftteams/platform/tabs/how-to/tab-requirements):
#: ``*.cloud.microsoft`` for all hosts (Microsoft's web apps are moving there,
#: ``excel.cloud.microsoft`` included), ``teams.microsoft.com`` and
#: ``*.teams.microsoft.com``, ``*.microsoft365.com`` and ``*.office.com``, and
#: ``outlook.office.com``, ``outlook.office365.com``, ``outlook-sdf.office.com``,
#: ``outlook-sdf.office365.com``. Excel on the web frames the pane from
#: ``*.officeapps.live.com`` inside OneDrive (``onedrive.live.com``) or SharePoint
#: (``*.sharepoint.com``): Microsoft's answers in office-js issue 3342 and
#: office-js-docs-pr issue 4911.
OFFICE_FRAME_ANCESTORS = (
    "https://*.cloud.microsoft",
    "https://teams.microsoft.com",
    "https://*.teams.microsoft.com",
    "https://*.microsoft365.com",
    "https://*.office.com",
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "https://outlook-sdf.office.com",
    "https://outlook-sdf.office365.com",
    "https://*.officeapps.live.com",
    "https://onedrive.live.com",
    "https://*.sharepoint.com",
)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' " + " ".join(OFFICE_SCRIPT_SOURCES),
        # office.js sets inline styles on the elements it creates (office-js
        # issue 1687); inline script stays forbidden.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self' " + " ".join(OFFICE_CONNECT_SOURCES),
        "frame-src 'self' " + " ".join(OFFICE_FRAME_SOURCES),
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self' " + " ".join(OFFICE_FRAME_ANCESTORS),
    )
)


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status, error code and a message."""

    status: int
    code: str
    message: str


def is_api_path(path: str) -> bool:
    """Return True for routes that only the add-in's own JavaScript may call."""
    return path.startswith(API_PREFIXES)


def own_hosts(port: int) -> frozenset[str]:
    """Return every ``Host`` header value that names this server."""
    hosts = {f"{name}:{port}" for name in OWN_HOSTNAMES}
    if port == 443:
        # Browsers omit the default port from Host.
        hosts.update(OWN_HOSTNAMES)
    return frozenset(hosts)


def own_origins(port: int) -> frozenset[str]:
    """Return every ``Origin`` header value of the backend's own pages."""
    return frozenset(f"https://{host}" for host in own_hosts(port))


def is_office_web_origin(origin: str) -> bool:
    """Return True for an https origin of Office on the web (default port only)."""
    parts = urlsplit(origin.lower())
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or port is not None or parts.path or parts.username:
        return False
    return host in OFFICE_WEB_HOSTS or host.endswith(
        tuple(f".{domain}" for domain in OFFICE_WEB_DOMAINS)
    )


def is_office_static_fetch(method: str, path: str, origin: str | None) -> bool:
    """Return True for Office on the web reading a static file (the one CORS case)."""
    return (
        origin is not None
        and method == "GET"
        and not is_api_path(path)
        and is_office_web_origin(origin)
    )


def is_loopback(address: str | None) -> bool:
    """Return True when ``address`` is a loopback IP (IPv4-mapped IPv6 included)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def check_request(
    *,
    method: str,
    path: str,
    remote_addr: str | None,
    headers: Headers,
    port: int,
) -> Refusal | None:
    """Return why a request must be refused, or None when it may proceed."""
    if not is_loopback(remote_addr):
        return Refusal(403, "not_loopback", "The FBCheck backend only answers this computer.")
    host = headers.get("Host")
    if not host:
        return Refusal(400, "missing_host", "The request has no Host header.")
    if host.lower() not in own_hosts(port):
        return Refusal(
            421,
            "foreign_host",
            f"This server answers only as https://localhost:{port}, not as {host!r}.",
        )
    if method == "OPTIONS":
        return Refusal(403, "preflight_refused", "Cross-origin requests are not accepted.")
    origin = headers.get("Origin")
    if (
        origin is not None
        and origin.lower() not in own_origins(port)
        and not is_office_static_fetch(method, path, origin)
    ):
        return Refusal(403, "foreign_origin", f"Requests from {origin!r} are not accepted.")
    if is_api_path(path):
        if not headers.get(CLIENT_HEADER, "").strip():
            return Refusal(
                403,
                "missing_client_header",
                f"API calls must come from the FBCheck add-in (header {CLIENT_HEADER}).",
            )
        fetch_site = headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return Refusal(403, "cross_site", "Cross-site API calls are not accepted.")
    return None


def check_team_request(
    mode: team.TeamMode,
    *,
    method: str,
    path: str,
    scheme: str,
    remote_addr: str | None,
    headers: Headers,
    args: MultiDict[str, str],
) -> Refusal | None:
    """Return why a team-mode request must be refused (``addin.web.team``'s rules 1-4)."""
    if team.token_in_query(args):
        return Refusal(
            400,
            "token_in_url",
            "Never put a token in a URL (it ends up in logs): send it as"
            " Authorization: Bearer ...; a token that was sent so should be replaced"
            " (fbcheck users revoke, then add).",
        )
    came = team.arrival(mode, scheme=scheme, remote_addr=remote_addr, headers=headers)
    # A proxy saying "http" relays a client whose token crossed the network in clear;
    # a direct plain-HTTP peer is accepted from this computer only (a local trial).
    if came.scheme != "https" and (came.relayed or not is_loopback(remote_addr)):
        return Refusal(
            403,
            "https_required",
            "This team server answers only over https (its own TLS, or a proxy it trusts).",
        )
    if method == "OPTIONS":
        return Refusal(403, "preflight_refused", "Cross-origin requests are not accepted.")
    origin = headers.get("Origin")
    host = headers.get("Host", "")
    own = f"{came.scheme}://{host}".lower()
    if (
        origin is not None
        and origin.lower() != own
        and not is_office_static_fetch(method, path, origin)
    ):
        return Refusal(403, "foreign_origin", f"Requests from {origin!r} are not accepted.")
    if is_api_path(path):
        fetch_site = headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return Refusal(403, "cross_site", "Cross-site API calls are not accepted.")
        return sign_in_refusal(path=path, headers=headers)
    return None


def sign_in_refusal(*, path: str, headers: Headers) -> Refusal | None:
    """Return why an API request lacks a valid token (team rule 5), or None; keeps the user."""
    if path in team.OPEN_API_PATHS:
        return None
    token = team.bearer_token(headers)
    if token is None:
        return Refusal(
            401,
            team.TOKEN_REQUIRED,
            "Sign in: this team server needs your personal token"
            " (Authorization: Bearer ...; ask an admin for one).",
        )
    user = team.users_store(current_app).user_of_token(token)
    if user is None:
        return Refusal(
            401,
            team.TOKEN_REFUSED,
            "Sign in again: this token is wrong or was revoked (ask an admin for a new one).",
        )
    g.fbcheck_user = user
    return None


def _refuse_untrusted_requests() -> Response | None:
    """Flask ``before_request`` hook applying :func:`check_request` (team mode: its rules)."""
    mode = team.team_of(current_app)
    refusal: Refusal | None
    if mode is None:
        refusal = check_request(
            method=request.method,
            path=request.path,
            remote_addr=request.remote_addr,
            headers=request.headers,
            port=port_of(current_app),
        )
    else:
        refusal = check_team_request(
            mode,
            method=request.method,
            path=request.path,
            scheme=request.scheme,
            remote_addr=request.remote_addr,
            headers=request.headers,
            args=request.args,
        )
    if refusal is None:
        return None
    current_app.logger.warning(
        "refused %s %s from %s: %s", request.method, request.path, request.remote_addr, refusal.code
    )
    response = error_response(refusal.status, refusal.code, refusal.message)
    if refusal.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="fbcheck"'
    return response


def _add_security_headers(response: Response) -> Response:
    """Flask ``after_request`` hook: CSP, nosniff, CORS for Office, caching by route."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    origin = request.headers.get("Origin")
    if is_office_static_fetch(request.method, request.path, origin):
        # Exactly that origin, no credentials, GET only: Excel on the web
        # reads /functions.json this way.
        response.headers["Access-Control-Allow-Origin"] = str(origin)
    if not is_api_path(request.path):
        response.vary.add("Origin")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    if is_api_path(request.path) or response.status_code >= 400:
        # Answers and errors describe a moment; never keep them.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def install(app: Flask) -> None:
    """Apply the checks to every request and the headers to every response of ``app``."""
    app.before_request(_refuse_untrusted_requests)
    app.after_request(_add_security_headers)
