"""Run-time settings: the task pane's changes, checked by one typed model, saved, applied on top."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from addin.config import (
    MAX_CACHE_TTL_DAYS,
    RUNTIME_SETTINGS,
    SAVED_SECRETS_FILE,
    SAVED_SETTINGS_FILE,
    RuntimeChanges,
    Settings,
    SettingsError,
)
from addin.web.runtime_settings import RuntimeSettings
from tests.web.conftest import SECRET_KEY, make_settings


@pytest.fixture
def runtime(tmp_path: Path) -> RuntimeSettings:
    """Run-time settings over demo base settings in a temp folder."""
    return RuntimeSettings(make_settings(tmp_path))


def test_without_saved_changes_the_base_is_in_force(tmp_path: Path) -> None:
    base = make_settings(tmp_path)
    assert RuntimeSettings(base).current is base


def test_changes_apply_and_survive_a_restart(tmp_path: Path, runtime: RuntimeSettings) -> None:
    new = runtime.change({"region": " ch ", "cache_ttl_days": 7, "confirm_above": 0})
    assert (new.region, new.cache_ttl_days, new.confirm_above) == ("CH", 7.0, 0)
    assert runtime.current is new
    again = RuntimeSettings(make_settings(tmp_path)).current
    assert (again.region, again.cache_ttl_days, again.confirm_above) == ("CH", 7.0, 0)
    saved = json.loads((tmp_path / "data" / SAVED_SETTINGS_FILE).read_text())
    assert saved == {"region": "CH", "cache_ttl_days": 7.0, "confirm_above": 0}


def test_changes_merge_with_earlier_ones(runtime: RuntimeSettings) -> None:
    runtime.change({"region": "DE"})
    new = runtime.change({"confirm_above": 5})
    assert (new.region, new.confirm_above) == ("DE", 5)


def test_key_set_and_removed(tmp_path: Path, runtime: RuntimeSettings) -> None:
    assert not runtime.change({"api_key": f" {SECRET_KEY} "}).demo
    assert json.loads((tmp_path / "data" / SAVED_SECRETS_FILE).read_text()) == {
        "api_key": SECRET_KEY
    }
    assert runtime.change({"api_key": ""}).demo
    assert not (tmp_path / "data" / SAVED_SECRETS_FILE).exists()
    runtime.change({"api_key": SECRET_KEY})
    assert runtime.change({"api_key": None}).demo


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cache_ttl_days": MAX_CACHE_TTL_DAYS + 1}, "less than or equal to 3650"),
        ({"cache_ttl_days": -0.5}, "greater than or equal to 0"),
        ({"confirm_above": -1}, "greater than or equal to 0"),
        ({"confirm_above": 2.0}, "valid integer"),
        ({"region": "XX"}, "unknown region 'XX'"),
        ({"region": ["CH"]}, "region must be text such as 'CH' or 'US'"),
        ({"api_key": "short"}, "does not look like an API key"),
        (
            {"data_dir": "/tmp"},
            "cannot change data_dir here; settable: " + ", ".join(RUNTIME_SETTINGS),
        ),
    ],
)
def test_refused_changes_change_nothing(
    tmp_path: Path, runtime: RuntimeSettings, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        runtime.change(changes)
    assert message in str(caught.value)
    assert runtime.current == make_settings(tmp_path)
    assert not (tmp_path / "data" / SAVED_SETTINGS_FILE).exists()


def test_a_refused_key_is_never_echoed(runtime: RuntimeSettings) -> None:
    with pytest.raises(SettingsError) as caught:
        runtime.change({"api_key": "sk live with spaces 1234"})
    assert "sk live" not in str(caught.value)


def test_the_bounds_are_those_of_the_environment_settings(tmp_path: Path) -> None:
    # One model: the same bound refuses a run-time change and an FBCHECK_ setting.
    with pytest.raises(ValidationError):
        make_settings(tmp_path, cache_ttl_days=MAX_CACHE_TTL_DAYS + 1)
    assert make_settings(tmp_path, cache_ttl_days=MAX_CACHE_TTL_DAYS).cache_ttl_days == 3650
    assert RuntimeChanges.parse({"cache_ttl_days": MAX_CACHE_TTL_DAYS}).updates() == {
        "cache_ttl_days": 3650.0
    }
    assert set(RUNTIME_SETTINGS) <= set(Settings.model_fields)


def test_damaged_saved_values_are_skipped_the_others_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / SAVED_SETTINGS_FILE).write_text('{"region": "XX", "confirm_above": 5, "other": 1}')
    (data / SAVED_SECRETS_FILE).write_text(json.dumps({"api_key": "bad key"}))
    caplog.set_level(logging.WARNING)
    current = RuntimeSettings(make_settings(tmp_path)).current
    assert (current.region, current.confirm_above, current.demo) == ("US", 5, True)
    assert "region" in caplog.text
    assert "bad key" not in caplog.text
