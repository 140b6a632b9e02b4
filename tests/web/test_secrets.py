"""The vendor API key never reaches a response or a log line, on any route."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import BuildError

from addin.web import close_app, create_app
from addin.web.flask_config import PORT_KEY, SETTINGS_KEY
from tests.web.conftest import PORT, SECRET_KEY, AddinClient, make_settings


@pytest.fixture
def keyed_app(tmp_path: Path) -> Iterator[Flask]:
    """The backend configured with a real-looking API key (its engine stopped afterwards)."""
    settings = make_settings(tmp_path, api_key=SECRET_KEY)
    app = create_app({SETTINGS_KEY: settings, PORT_KEY: PORT})
    yield app
    close_app(app)


def every_request(app: Flask) -> list[tuple[str, str]]:
    """Return (method, path) for every route and method, placeholders filled in."""
    adapter = app.url_map.bind("localhost")
    sent = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            # A string fits most converters; numeric ones need a number.
            for sample in ("x", 1):
                try:
                    path = adapter.build(
                        rule.endpoint, dict.fromkeys(rule.arguments, sample), method=method
                    )
                except BuildError:
                    continue
                sent.append((method, path))
                break
            else:
                raise AssertionError(f"cannot build a URL for {rule.rule}")
    return sent


def test_key_in_no_response_or_log(keyed_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = AddinClient(keyed_app)
    sent = every_request(keyed_app)
    assert ("GET", "/api/health") in sent
    assert ("GET", "/manifest.xml") in sent
    variants: list[dict[str, Any]] = [
        {},
        {"client_header": False},
        {"headers": {"Origin": "https://evil.example"}},
        {"headers": {"Host": "evil.example"}},
        {"remote_addr": "192.168.1.9"},
    ]
    checked = 0
    for method, path in sent:
        for variant in variants:
            response = client.request(method, path, json={"api_key": "?"}, **variant)
            assert SECRET_KEY not in response.get_data(as_text=True), (method, path, variant)
            assert SECRET_KEY not in str(response.headers), (method, path, variant)
            checked += 1
    assert checked >= len(variants) * 4
    assert SECRET_KEY not in caplog.text
    assert keyed_app.config[SETTINGS_KEY].api_key.get_secret_value() == SECRET_KEY


def test_key_absent_from_settings_repr(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_key=SECRET_KEY)
    assert SECRET_KEY not in repr(settings)
    assert SECRET_KEY not in str(settings)
