"""The backend trusts only its own page: every rule, route by route."""

from __future__ import annotations

import pytest
import requests
from werkzeug.datastructures import Headers

from addin.http_server import BackgroundServer
from addin.web.certs import ServerCertificate
from addin.web.security import (
    CLIENT_HEADER,
    CONTENT_SECURITY_POLICY,
    check_request,
    is_loopback,
    own_hosts,
    own_origins,
)
from tests.web.conftest import PORT, AddinClient, json_body

API_ROUTES = ["/api/health"]
PAGE_ROUTES = [
    "/manifest.xml",
    "/taskpane.html",
    "/taskpane.js",
    "/taskpane.css",
    "/functions.json",
    "/icons/icon-16.png",
    "/icons/icon-32.png",
    "/icons/icon-64.png",
    "/icons/icon-80.png",
]
ALL_ROUTES = API_ROUTES + PAGE_ROUTES


@pytest.mark.parametrize("path", ALL_ROUTES)
def test_own_page_request_accepted(client: AddinClient, path: str) -> None:
    response = client.get(path, headers={"Origin": f"https://localhost:{PORT}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ALL_ROUTES)
@pytest.mark.parametrize("peer", ["192.168.1.20", "10.0.0.5", "::ffff:10.0.0.5", "2001:db8::1"])
def test_non_loopback_peer_refused(client: AddinClient, path: str, peer: str) -> None:
    response = client.get(path, remote_addr=peer)
    assert response.status_code == 403
    assert json_body(response)["error"] == "not_loopback"


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_loopback_peers_accepted(client: AddinClient, peer: str) -> None:
    assert client.get("/api/health", remote_addr=peer).status_code == 200


@pytest.mark.parametrize("path", ALL_ROUTES)
@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        f"evil.example:{PORT}",
        "localhost",
        "localhost:9999",
        f"localhost.:{PORT}",
        f"127.0.0.1.nip.io:{PORT}",
        f"attacker.localhost:{PORT}",
    ],
)
def test_foreign_host_refused(client: AddinClient, path: str, host: str) -> None:
    response = client.get(path, headers={"Host": host})
    assert response.status_code == 421
    assert json_body(response)["error"] == "foreign_host"
    assert f"https://localhost:{PORT}" in json_body(response)["message"]


@pytest.mark.parametrize("host", [f"localhost:{PORT}", f"127.0.0.1:{PORT}", f"[::1]:{PORT}"])
@pytest.mark.parametrize("path", ALL_ROUTES)
def test_own_hosts_accepted(client: AddinClient, path: str, host: str) -> None:
    assert client.get(path, headers={"Host": host}).status_code == 200


def test_host_compared_case_insensitively(client: AddinClient) -> None:
    assert client.get("/api/health", headers={"Host": f"LocalHost:{PORT}"}).status_code == 200


def test_missing_host_refused() -> None:
    refusal = check_request(
        method="GET", path="/taskpane.html", remote_addr="127.0.0.1", headers=Headers(), port=PORT
    )
    assert refusal is not None
    assert (refusal.status, refusal.code) == (400, "missing_host")


@pytest.mark.parametrize("path", ALL_ROUTES)
@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        f"http://localhost:{PORT}",
        "https://localhost:3000",
        f"https://localhost:{PORT}.evil.example",
        "https://officeapps.live.com.evil.example",
        "https://evil-officeapps.live.com",
    ],
)
def test_foreign_origin_refused(client: AddinClient, path: str, origin: str) -> None:
    response = client.get(path, headers={"Origin": origin})
    assert response.status_code == 403
    assert json_body(response)["error"] == "foreign_origin"


OFFICE_ORIGINS = [
    "https://excel.officeapps.live.com",
    "https://inc-excel.officeapps.live.com",
    "https://excel.cloud.microsoft",
    "https://contoso.sharepoint.com",
    "https://onedrive.live.com",
    "https://www.office.com",
]


@pytest.mark.parametrize("path", PAGE_ROUTES)
@pytest.mark.parametrize("origin", OFFICE_ORIGINS)
def test_office_web_may_read_static_files(client: AddinClient, path: str, origin: str) -> None:
    """Excel on the web fetches /functions.json from its own page: CORS for that origin only."""
    response = client.get(path, client_header=False, headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("path", API_ROUTES)
@pytest.mark.parametrize("origin", OFFICE_ORIGINS)
def test_office_web_may_not_call_the_api(client: AddinClient, path: str, origin: str) -> None:
    response = client.get(path, headers={"Origin": origin})
    assert response.status_code == 403
    assert json_body(response)["error"] == "foreign_origin"
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "origin",
    [
        "http://excel.officeapps.live.com",
        "https://excel.officeapps.live.com:8443",
        "https://officeapps.live.com.evil.example",
        "https://evil.example/excel.officeapps.live.com",
        "https://excel.officeapps.live.com:bad",
    ],
)
def test_office_lookalikes_get_no_cors(client: AddinClient, origin: str) -> None:
    response = client.get("/functions.json", headers={"Origin": origin})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_office_web_may_only_get(client: AddinClient) -> None:
    origin = "https://excel.officeapps.live.com"
    response = client.request("POST", "/functions.json", headers={"Origin": origin})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_cors_header_for_own_page(client: AddinClient) -> None:
    response = client.get("/functions.json", headers={"Origin": f"https://localhost:{PORT}"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", [f"https://127.0.0.1:{PORT}", f"https://[::1]:{PORT}"])
def test_own_origins_accepted(client: AddinClient, origin: str) -> None:
    response = client.request("POST", "/api/health", headers={"Origin": origin})
    # Past the security checks: the route exists only for GET.
    assert response.status_code == 405


@pytest.mark.parametrize("path", ALL_ROUTES)
@pytest.mark.parametrize("origin", ["https://evil.example", "https://excel.officeapps.live.com"])
def test_preflight_refused_without_cors_headers(
    client: AddinClient, path: str, origin: str
) -> None:
    response = client.request(
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": CLIENT_HEADER,
        },
    )
    assert response.status_code == 403
    assert json_body(response)["error"] == "preflight_refused"
    assert not [name for name, _ in response.headers if name.startswith("Access-Control")]


def test_plain_options_refused_too(client: AddinClient) -> None:
    response = client.request("OPTIONS", "/api/health")
    assert response.status_code == 403
    assert "Allow" not in response.headers


@pytest.mark.parametrize("path", API_ROUTES)
def test_api_requires_client_header(client: AddinClient, path: str) -> None:
    response = client.get(path, client_header=False)
    assert response.status_code == 403
    assert json_body(response)["error"] == "missing_client_header"
    assert CLIENT_HEADER in json_body(response)["message"]


def test_api_blank_client_header_refused(client: AddinClient) -> None:
    response = client.get("/api/health", client_header=False, headers={CLIENT_HEADER: "  "})
    assert response.status_code == 403


def test_xlwings_prefix_is_api_too(client: AddinClient) -> None:
    assert client.get("/xlwings/anything", client_header=False).status_code == 403
    assert client.get("/xlwings/anything").status_code == 404


@pytest.mark.parametrize("path", PAGE_ROUTES)
def test_pages_need_no_client_header(client: AddinClient, path: str) -> None:
    assert client.get(path, client_header=False).status_code == 200


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_api_refuses_cross_site_fetch(client: AddinClient, site: str) -> None:
    response = client.get("/api/health", headers={"Sec-Fetch-Site": site})
    assert response.status_code == 403
    assert json_body(response)["error"] == "cross_site"


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_api_accepts_same_origin_fetch(client: AddinClient, site: str) -> None:
    assert client.get("/api/health", headers={"Sec-Fetch-Site": site}).status_code == 200


@pytest.mark.parametrize("path", ALL_ROUTES)
def test_security_headers_on_every_route(client: AddinClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "X-Frame-Options" not in response.headers  # would break Excel on the web


def test_security_headers_on_refusals(client: AddinClient) -> None:
    response = client.get("/api/health", client_header=False)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def csp_directives(policy: str = CONTENT_SECURITY_POLICY) -> dict[str, list[str]]:
    """Return the policy's directives, each with its list of sources."""
    directives: dict[str, list[str]] = {}
    for directive in policy.split("; "):
        name, *sources = directive.split()
        assert name not in directives, f"{name} given twice"
        directives[name] = sources
    return directives


def test_csp_allows_office_and_nothing_inline() -> None:
    directives = csp_directives()
    assert directives["default-src"] == ["'self'"]
    assert "https://appsforoffice.microsoft.com" in directives["script-src"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]


def test_csp_allows_what_office_js_itself_loads() -> None:
    """office.js: its CDN, MicrosoftAjax, its telemetry collector and telemetry frame."""
    directives = csp_directives()
    assert directives["script-src"] == [
        "'self'",
        "https://appsforoffice.microsoft.com",
        "https://ajax.aspnetcdn.com",
    ]
    assert directives["connect-src"] == ["'self'", "https://browser.pipe.aria.microsoft.com"]
    assert directives["frame-src"] == [
        "'self'",
        "https://telemetryservice.firstpartyapps.oaspapps.com",
    ]
    # Only Microsoft's own https origins, never a wildcard scheme or host.
    for name in ("script-src", "connect-src", "frame-src"):
        for source in directives[name][1:]:
            host = source.removeprefix("https://")
            assert source.startswith("https://"), source
            assert "*" not in host, source
            assert host.endswith(("microsoft.com", "aspnetcdn.com", "oaspapps.com")), source


def test_frame_ancestors_follow_microsofts_host_list() -> None:
    """Excel on the web, Teams, Outlook and the Microsoft 365 app may frame the pane."""
    ancestors = csp_directives()["frame-ancestors"]
    assert ancestors[0] == "'self'"
    # Microsoft's list for Teams, Outlook and the Microsoft 365 app (tab requirements).
    documented = {
        "https://*.cloud.microsoft",
        "https://teams.microsoft.com",
        "https://*.teams.microsoft.com",
        "https://*.microsoft365.com",
        "https://*.office.com",
        "https://outlook.office.com",
        "https://outlook.office365.com",
        "https://outlook-sdf.office.com",
        "https://outlook-sdf.office365.com",
    }
    # Excel on the web inside OneDrive and SharePoint.
    excel_web = {
        "https://*.officeapps.live.com",
        "https://onedrive.live.com",
        "https://*.sharepoint.com",
    }
    assert set(ancestors[1:]) == documented | excel_web
    assert len(ancestors) == len(set(ancestors))
    assert "*" not in ancestors
    assert all(source.startswith("https://") for source in ancestors[1:])


def test_csp_header_over_real_https(
    https_server: BackgroundServer, certificate: ServerCertificate
) -> None:
    """The header the real server sends on the pane: the same policy, parsed the same way."""
    url = f"https://localhost:{https_server.port}/taskpane.html"
    response = requests.get(url, verify=str(certificate.ca_file), timeout=10)
    assert response.status_code == 200
    assert csp_directives(response.headers["Content-Security-Policy"]) == csp_directives()
    assert "X-Frame-Options" not in response.headers


@pytest.mark.parametrize("path", API_ROUTES)
def test_api_answers_not_stored(client: AddinClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize("size", [16, 32, 64, 80])
def test_icons_cacheable(client: AddinClient, size: int) -> None:
    response = client.get(f"/icons/icon-{size}.png")
    cache_control = response.headers["Cache-Control"]
    assert "no-store" not in cache_control
    assert "max-age=86400" in cache_control
    # Excel on the web loads ribbon icons from its own origin.
    assert "Cross-Origin-Resource-Policy" not in response.headers


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:192.168.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
        ("192.168.0.1", False),
        ("fe80::1%eth0", False),
        ("not an address", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(address: str | None, expected: bool) -> None:
    assert is_loopback(address) is expected


def test_own_hosts_and_origins() -> None:
    assert own_hosts(8443) == {"localhost:8443", "127.0.0.1:8443", "[::1]:8443"}
    assert "https://[::1]:8443" in own_origins(8443)
    # Port 443 is omitted from Host by browsers.
    assert "localhost" in own_hosts(443)
    assert "localhost" not in own_hosts(8443)


def test_refusals_are_logged_without_headers(client: AddinClient, caplog) -> None:
    caplog.set_level("WARNING")
    client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "foreign_origin" in caplog.text
    assert "/api/health" in caplog.text
