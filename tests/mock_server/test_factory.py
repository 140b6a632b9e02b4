"""The app factory: defaults, the caller's mapping, and refusal of bad configuration."""

from __future__ import annotations

import pytest

import mock_server
from mock_server import ConfigError, create_app
from mock_server.models import Emulator


def test_the_package_exports_a_sorted_all():
    assert mock_server.__all__ == sorted(mock_server.__all__)
    assert set(mock_server.__all__) == {"ConfigError", "create_app"}


def test_defaults():
    app = create_app()
    emulator = app.extensions["mock_server"]
    assert isinstance(emulator, Emulator)
    assert app.config["MOCK_PROFILE"] == "demo"
    assert app.config["MAX_CONTENT_LENGTH"] == 25 * 1024 * 1024 + 64 * 1024
    assert not app.testing


def test_the_callers_mapping_wins():
    app = create_app({"TESTING": True, "MOCK_PROFILE": "instant", "MOCK_MAX_FILE_BYTES": 1000})
    assert app.testing
    assert app.extensions["mock_server"].settings.profile == "instant"
    assert app.config["MAX_CONTENT_LENGTH"] == 1000 + 64 * 1024


def test_each_app_has_its_own_state():
    first, second = create_app(), create_app()
    assert first.extensions["mock_server"] is not second.extensions["mock_server"]


def test_bad_configuration_is_refused():
    with pytest.raises(ConfigError, match="MOCK_ERROR_RATE"):
        create_app({"MOCK_ERROR_RATE": 3})


def test_routes_answer_json_through_the_test_client():
    client = create_app({"TESTING": True}).test_client()
    response = client.get("/_mock/ledger")
    assert response.json == {
        "keys": {
            "demo": {
                "billed_total": 0,
                "tasks_created": 0,
                "status_polls": 0,
                "downloads": 0,
                "numbers_uploaded": 0,
                "balance": 1_000_000,
                "balance_reads": 0,
                "entries": [],
            }
        }
    }
