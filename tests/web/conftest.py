"""Fixtures for the add-in backend: settings in a temp folder, the app, a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from addin.config import Settings
from addin.http_server import BackgroundServer
from addin.web import create_app
from addin.web.certs import ServerCertificate, ensure_server_certificate
from addin.web.flask_config import PORT_KEY, SETTINGS_KEY
from addin.web.security import CLIENT_HEADER
from addin.web.serving import bind_backend

PORT = 8443
BASE_URL = f"https://localhost:{PORT}"
#: A fake vendor key that must never show up in any response or log line.
SECRET_KEY = "sk-live-DO-NOT-LEAK-4f9a1c"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Return settings rooted in ``tmp_path``, ignoring any .env file."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "api_key": None}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def json_body(response: TestResponse) -> dict[str, Any]:
    """Return the response's JSON object, failing the test when it is not one."""
    data = response.get_json()
    assert isinstance(data, dict), response.data
    return data


class AddinClient:
    """Requests to the app as the add-in's own page sends them (Host, header)."""

    def __init__(self, app: Flask, base_url: str = BASE_URL) -> None:
        """Wrap ``app``'s test client."""
        self.client = app.test_client()
        self.base_url = base_url

    def request(
        self,
        method: str,
        path: str,
        *,
        client_header: bool = True,
        headers: dict[str, str] | None = None,
        remote_addr: str = "127.0.0.1",
        **kwargs: Any,
    ) -> TestResponse:
        """Send one request; ``headers`` override the defaults (Host included)."""
        sent = {CLIENT_HEADER: "tests"} if client_header else {}
        sent.update(headers or {})
        response = self.client.open(
            path,
            method=method,
            base_url=self.base_url,
            headers=sent,
            environ_overrides={"REMOTE_ADDR": remote_addr},
            **kwargs,
        )
        # Read the body now and close the file behind a static response.
        response.get_data()
        response.close()
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """Send a GET."""
        return self.request("GET", path, **kwargs)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Demo-mode settings in a temp folder."""
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> Flask:
    """The backend app on the default port."""
    return create_app({"TESTING": True, SETTINGS_KEY: settings, PORT_KEY: PORT})


@pytest.fixture
def client(app: Flask) -> AddinClient:
    """A client that behaves like the task pane."""
    return AddinClient(app)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    """A freshly created local CA and localhost certificate (once per session)."""
    root = tmp_path_factory.mktemp("certs")
    return ensure_server_certificate(data_dir=root / "data", home=root / "home")


@pytest.fixture(scope="module")
def https_server(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[BackgroundServer]:
    """The real backend over TLS on a free loopback port, stopped afterwards."""
    settings = make_settings(tmp_path_factory.mktemp("https"))
    app = create_app({SETTINGS_KEY: settings})
    with bind_backend(app, certificate=certificate) as server:
        yield server
