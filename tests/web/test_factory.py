"""create_app: defaults, the caller's config, blueprints and the JSON error shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Blueprint, Flask

from addin.config import Settings
from addin.web import BLUEPRINTS, create_app
from addin.web.flask_config import DEFAULT_PORT, PORT_KEY, SETTINGS_KEY, base_url_of
from tests.web.conftest import AddinClient, json_body, make_settings


def test_defaults(settings: Settings) -> None:
    app = create_app({SETTINGS_KEY: settings})
    assert not app.testing
    assert app.config[PORT_KEY] == DEFAULT_PORT
    assert base_url_of(app) == "https://localhost:8443"
    assert app.config[SETTINGS_KEY] is settings


def test_caller_config_overrides_defaults(settings: Settings) -> None:
    app = create_app({"TESTING": True, SETTINGS_KEY: settings, PORT_KEY: 9443})
    assert app.testing
    assert base_url_of(app) == "https://localhost:9443"


def test_settings_built_when_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env file
    app = create_app({"TESTING": True})
    assert isinstance(app.config[SETTINGS_KEY], Settings)


def test_settings_of_wrong_type_refused() -> None:
    with pytest.raises(TypeError, match=r"addin\.config\.Settings"):
        create_app({SETTINGS_KEY: {"api_key": "x"}})


@pytest.mark.parametrize("port", [0, 70000, "8443", True])
def test_bad_port_refused(settings: Settings, port: object) -> None:
    with pytest.raises(ValueError, match="TCP port"):
        create_app({SETTINGS_KEY: settings, PORT_KEY: port})


def test_every_blueprint_registered(app: Flask) -> None:
    assert [bp.name for bp in BLUEPRINTS] == [
        "health",
        "manifest",
        "selection",
        "lookups",
        "jobs",
        "file_jobs",
        "settings",
        "pages",
    ]
    assert set(app.blueprints) == {bp.name for bp in BLUEPRINTS}


def test_no_flask_static_route(app: Flask) -> None:
    assert "static" not in {rule.endpoint for rule in app.url_map.iter_rules()}


def test_health_reports_demo_and_version(client: AddinClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json == {"demo": True, "version": "0.1.0"}


def test_health_not_demo_with_key(tmp_path) -> None:
    app = create_app({SETTINGS_KEY: make_settings(tmp_path, api_key="k-123")})
    assert json_body(AddinClient(app).get("/api/health"))["demo"] is False


def test_unknown_route_is_json_404(client: AddinClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert json_body(response)["error"] == "not_found"
    assert json_body(response)["message"]


def test_wrong_method_is_json_405_with_allow(client: AddinClient) -> None:
    response = client.request("POST", "/api/health")
    assert response.status_code == 405
    assert json_body(response)["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_added_blueprint_is_held_to_api_rules_and_errors_are_json(settings: Settings) -> None:
    """A blueprint added later gets the security rules and a detail-free 500."""
    extra = Blueprint("extra", __name__, url_prefix="/api")

    @extra.get("/boom")
    def boom() -> str:
        raise RuntimeError("internal detail that must not leak")

    app = create_app({SETTINGS_KEY: settings})
    app.register_blueprint(extra)
    client = AddinClient(app)
    assert client.get("/api/boom", client_header=False).status_code == 403
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.json == {
        "error": "internal_error",
        "message": "The backend hit an unexpected error.",
        "demo": True,
    }
    assert b"internal detail" not in response.data
