"""The team server behind a TLS-terminating proxy: forwarded headers count from it alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from addin.engine.store import Store
from addin.http_server import BackgroundServer
from addin.web import close_app, create_app
from addin.web.flask_config import PORT_KEY, SETTINGS_KEY
from addin.web.team import TEAM_KEY, TeamMode
from tests.web.conftest import AddinClient, make_settings

PROXY = "10.0.0.5"


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """A team app that trusts the proxy at ``PROXY`` and loopback; and a user's token."""
    settings = make_settings(tmp_path)
    app = create_app(
        {
            SETTINGS_KEY: settings,
            PORT_KEY: 8080,
            TEAM_KEY: TeamMode.trusting([PROXY, "127.0.0.1"]),
        }
    )
    store = Store(settings.db_path)
    token = store.add_user("alice")
    store.close()
    yield app, token
    close_app(app)


def whoami(app: Flask, token: str, peer: str, **headers: str) -> int:
    """Return the status of ``GET /api/whoami`` over plain HTTP from ``peer``."""
    client = AddinClient(app, base_url="http://fbcheck.example.com")
    response = client.get(
        "/api/whoami",
        client_header=False,
        remote_addr=peer,
        headers={"Authorization": f"Bearer {token}", **headers},
    )
    return response.status_code


def test_the_trusted_proxy_says_https(proxied: tuple[Flask, str]) -> None:
    app, token = proxied
    assert whoami(app, token, PROXY, **{"X-Forwarded-Proto": "https"}) == 200
    assert whoami(app, token, PROXY, **{"X-Forwarded-Proto": "http, https"}) == 200


def test_the_trusted_proxy_relaying_plain_http_is_refused(proxied: tuple[Flask, str]) -> None:
    app, token = proxied
    assert whoami(app, token, PROXY, **{"X-Forwarded-Proto": "http"}) == 403
    assert whoami(app, token, PROXY) == 403  # nothing said: the scheme it used, http


def test_anyone_else_saying_https_is_not_believed(proxied: tuple[Flask, str]) -> None:
    app, token = proxied
    for peer in ("10.0.0.6", "192.168.1.20", "2001:db8::5"):
        assert whoami(app, token, peer, **{"X-Forwarded-Proto": "https"}) == 403, peer
        assert whoami(app, token, peer) == 403, peer


def test_the_refusal_says_why(proxied: tuple[Flask, str]) -> None:
    app, _ = proxied
    client = AddinClient(app, base_url="http://fbcheck.example.com")
    response = client.get("/api/health", client_header=False, remote_addr="10.0.0.6")
    assert response.status_code == 403
    body = response.get_json()
    assert body["error"] == "https_required"
    assert "https" in body["message"]


def test_a_loopback_proxy_over_real_http(proxied: tuple[Flask, str]) -> None:
    app, token = proxied
    with BackgroundServer(app) as server:
        app.config[PORT_KEY] = server.port
        url = f"http://127.0.0.1:{server.port}/api/whoami"
        auth = {"Authorization": f"Bearer {token}"}
        relayed = requests.get(url, headers={**auth, "X-Forwarded-Proto": "https"}, timeout=10)
        assert relayed.status_code == 200, relayed.text
        assert relayed.json()["user"] == "alice"
        clear = requests.get(url, headers={**auth, "X-Forwarded-Proto": "http"}, timeout=10)
        assert clear.status_code == 403
        assert clear.json()["error"] == "https_required"
        assert requests.get(url, timeout=10).json()["error"] == "https_required"


def test_addresses_are_parsed_or_refused() -> None:
    assert TeamMode.trusting(["10.0.0.5", "::ffff:10.0.0.7"]).trusts("10.0.0.7")
    assert not TeamMode.trusting(["10.0.0.5"]).trusts("10.0.0.55")
    assert not TeamMode().trusts(None)
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        TeamMode.trusting(["proxy.example.com"])
