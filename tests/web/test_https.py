"""The real backend over TLS (cheroot, generated CA): handshake and every security rule."""

from __future__ import annotations

import socket

import pytest
import requests

from addin.http_server import BackgroundServer
from addin.web.certs import ServerCertificate
from addin.web.manifest import render_manifest
from addin.web.security import CLIENT_HEADER

HEADERS = {CLIENT_HEADER: "tests"}


@pytest.fixture
def base(https_server: BackgroundServer) -> str:
    """The server's own https origin."""
    return f"https://localhost:{https_server.port}"


@pytest.fixture
def ca(certificate: ServerCertificate) -> str:
    """The CA file to verify the server with."""
    return str(certificate.ca_file)


def test_health_over_verified_tls(base: str, ca: str) -> None:
    response = requests.get(f"{base}/api/health", headers=HEADERS, verify=ca, timeout=5)
    assert response.status_code == 200
    assert response.json()["demo"] is True


def test_ip_names_verify_too(https_server: BackgroundServer, ca: str) -> None:
    url = f"https://127.0.0.1:{https_server.port}/api/health"
    assert requests.get(url, headers=HEADERS, verify=ca, timeout=5).status_code == 200


def test_untrusted_without_the_ca(base: str) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/api/health", headers=HEADERS, timeout=5)


def test_plain_http_gets_no_answer(https_server: BackgroundServer) -> None:
    with socket.create_connection(("127.0.0.1", https_server.port), timeout=5) as raw:
        raw.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            reply = raw.recv(1024)
        except ConnectionResetError:
            reply = b""
    assert b'"demo"' not in reply


def test_spoofed_host_refused(https_server: BackgroundServer, base: str, ca: str) -> None:
    response = requests.get(
        f"{base}/api/health",
        headers={**HEADERS, "Host": f"rebound.example:{https_server.port}"},
        verify=ca,
        timeout=5,
    )
    assert response.status_code == 421
    assert response.json()["error"] == "foreign_host"


def test_foreign_origin_refused(base: str, ca: str) -> None:
    response = requests.post(
        f"{base}/api/health",
        headers={**HEADERS, "Origin": "https://evil.example"},
        verify=ca,
        timeout=5,
    )
    assert response.status_code == 403
    assert response.json()["error"] == "foreign_origin"


def test_missing_client_header_refused(base: str, ca: str) -> None:
    response = requests.get(f"{base}/api/health", verify=ca, timeout=5)
    assert response.status_code == 403
    assert response.json() == {
        "error": "missing_client_header",
        "message": "API calls must come from the FBCheck add-in (header X-FBCheck-Client).",
        "demo": True,
    }


def test_preflight_refused(base: str, ca: str) -> None:
    response = requests.options(
        f"{base}/api/health",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": CLIENT_HEADER.lower(),
        },
        verify=ca,
        timeout=5,
    )
    assert response.status_code == 403
    assert not [h for h in response.headers if h.lower().startswith("access-control")]


def test_excel_on_the_web_reads_function_metadata(base: str, ca: str) -> None:
    origin = "https://excel.officeapps.live.com"
    response = requests.get(
        f"{base}/functions.json", headers={"Origin": origin}, verify=ca, timeout=5
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.json()["functions"][0]["id"] == "FBCHECK"


def test_pages_and_icons_without_header(base: str, ca: str) -> None:
    page = requests.get(f"{base}/taskpane.html", verify=ca, timeout=5)
    assert page.status_code == 200
    assert "office.js" in page.text
    icon = requests.get(f"{base}/icons/icon-80.png", verify=ca, timeout=5)
    assert icon.status_code == 200
    assert icon.content.startswith(b"\x89PNG")
    assert "no-store" not in icon.headers["Cache-Control"]


def test_manifest_names_the_real_port(https_server: BackgroundServer, base: str, ca: str) -> None:
    response = requests.get(f"{base}/manifest.xml", verify=ca, timeout=5)
    assert response.status_code == 200
    assert response.text == render_manifest(base)
    assert f"https://localhost:{https_server.port}/taskpane.html" in response.text
