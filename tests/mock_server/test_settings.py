"""Configuration: defaults, profiles, validation of every key, run-time changes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from mock_server.cli import flag_name
from mock_server.settings import (
    CONFIG_KEYS,
    DEFAULT_CONFIG,
    FROM_PROFILE,
    HOOK_KEYS,
    PROFILES,
    RUNTIME_KEYS,
    SETTINGS,
    ConfigError,
    EmulatorSettings,
    Profile,
    Shares,
    declarations,
    settings_document,
    settings_from_config,
    updated_settings,
)


def test_defaults():
    settings = settings_from_config()
    assert settings.profile == "demo"
    assert (settings.queue_delay, settings.rate, settings.export_delay) == (1.0, 500.0, 1.0)
    assert settings.api_keys == {"demo": 1_000_000}
    assert settings.result_format == "xlsx"
    assert settings.result_ttl == 900.0
    assert settings.max_file_bytes == 25 * 1024 * 1024
    assert settings.max_numbers == 100_000
    assert settings.max_active_tasks is None


def test_every_default_is_a_config_key():
    assert set(DEFAULT_CONFIG) <= set(CONFIG_KEYS)


@pytest.mark.parametrize("name", list(PROFILES))
def test_profiles_set_the_timing(name: str):
    settings = settings_from_config({"MOCK_PROFILE": name})
    profile = PROFILES[name]
    assert (settings.queue_delay, settings.rate, settings.export_delay) == (
        profile.queue_delay,
        profile.rate,
        profile.export_delay,
    )


def test_explicit_timing_wins_over_the_profile():
    settings = settings_from_config({"MOCK_PROFILE": "realistic", "MOCK_RATE": 100.0})
    assert (settings.queue_delay, settings.rate) == (20.0, 100.0)


def test_flask_keys_pass_and_unknown_mock_keys_fail():
    settings_from_config({"TESTING": True})
    with pytest.raises(ConfigError, match="MOCK_TYPO"):
        settings_from_config({"MOCK_TYPO": 1})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("MOCK_PROFILE", "fast", "must be one of demo, realistic, instant"),
        ("MOCK_TIME_SCALE", 0, "must be between 1e-09 and 10000"),
        ("MOCK_TIME_SCALE", "2", "must be a number"),
        ("MOCK_QUEUE_DELAY", -1, "must be between 0 and 604800"),
        ("MOCK_RATE", 0, "must be between 1e-06 and 1000000000"),
        ("MOCK_RATE", float("inf"), "must be finite"),
        ("MOCK_SEED", 1.5, "must be an integer"),
        ("MOCK_SEED", True, "must be an integer"),
        ("MOCK_SHARES", "1/2", "YES/NO/BAN"),
        ("MOCK_SHARES", "a/b/c", "three numbers"),
        ("MOCK_SHARES", "0/0/0", "positive sum"),
        ("MOCK_SHARES", {"yes": 1}, "exactly the keys"),
        ("MOCK_SHARES", 3, "a mapping or"),
        ("MOCK_FAILURE_RATE", 1.5, "between 0 and 1"),
        ("MOCK_FIXTURES", {"0791": "yes"}, "not an E.164"),
        ("MOCK_FIXTURES", {"+1": "maybe"}, "must be one of yes, no, ban, fail"),
        ("MOCK_FIXTURES", [1], "JSON object"),
        ("MOCK_API_KEYS", {}, "non-empty mapping"),
        ("MOCK_API_KEYS", {"": 1}, "not a usable API key"),
        ("MOCK_API_KEYS", {"k": -1}, "must be between 0 and"),
        ("MOCK_RESULT_FORMAT", "csv", "must be one of xlsx, zip"),
        ("MOCK_RESULT_TTL", 0, "must be > 0"),
        ("MOCK_MAX_FILE_BYTES", 0, "must be between 1 and"),
        ("MOCK_MAX_NUMBERS", 2.0, "must be an integer"),
        ("MOCK_MAX_ACTIVE_TASKS", 0, "must be between 1 and"),
        ("MOCK_ERROR_RATE", -0.1, "between 0 and 1"),
        ("MOCK_RETRY_AFTER", -1, "must be between 0 and 604800"),
        ("MOCK_LATENCY_MS", -5, "must be between 0 and 600000"),
        ("MOCK_LATENCY_JITTER_MS", "x", "must be a number"),
        ("MOCK_DROP_RATE", 2, "between 0 and 1"),
        ("MOCK_DOWNLOAD_FAIL_ONCE", "yes", "true or false"),
        ("MOCK_DOWNLOAD_EXPIRE_ONCE", 1, "true or false"),
        ("MOCK_STUCK", None, "true or false"),
        ("MOCK_CREATE_FAULT", "slow", "must be one of none, html_500, json_500, gateway_504"),
        ("MOCK_CREATE_FAULT_COUNT", 0, "must be -1 (every create) or between 1 and"),
        ("MOCK_CREATE_FAULT_COUNT", 1.0, "must be an integer"),
        ("MOCK_HOLD_SECONDS", 0, "must be > 0"),
        ("MOCK_CREATE_LATENCY_MS", -1, "must be between 0 and 600000"),
    ],
)
def test_bad_values_name_the_key(key: str, value: object, message: str):
    with pytest.raises(ConfigError, match=key) as caught:
        settings_from_config({key: value})
    assert message in str(caught.value)


def test_shares_are_normalised_from_a_string():
    assert settings_from_config({"MOCK_SHARES": "2/1/1"}).shares == Shares(0.5, 0.25, 0.25)


def test_fixtures_load_from_a_json_file(tmp_path: Path):
    path = tmp_path / "fixtures.json"
    path.write_text(json.dumps({"+41798284651": "ban"}), encoding="utf-8")
    assert settings_from_config({"MOCK_FIXTURES": str(path)}).fixtures == {"+41798284651": "ban"}


def test_a_missing_fixtures_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        settings_from_config({"MOCK_FIXTURES": tmp_path / "absent.json"})


def test_a_fixtures_file_that_is_not_json_is_a_config_error(tmp_path: Path):
    path = tmp_path / "fixtures.json"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a JSON file"):
        settings_from_config({"MOCK_FIXTURES": path})


def test_runtime_changes_are_validated_and_limited():
    settings = settings_from_config()
    changed = updated_settings(settings, {"error_rate": 0.5, "rate": None})
    assert (changed.error_rate, changed.rate) == (0.5, None)
    with pytest.raises(ConfigError, match="cannot change api_keys"):
        updated_settings(settings, {"api_keys": {"x": 1}})
    with pytest.raises(ConfigError, match="JSON object"):
        updated_settings(settings, [("error_rate", 1)])


def test_every_runtime_key_is_a_setting():
    assert set(RUNTIME_KEYS) <= set(SETTINGS)
    assert tuple(name for name, declared in SETTINGS.items() if declared.runtime) == RUNTIME_KEYS


def test_every_setting_is_declared_once_and_everything_else_is_derived():
    assert list(SETTINGS) == [f.name for f in fields(EmulatorSettings)]
    assert {f"MOCK_{name.upper()}": name for name in SETTINGS} == CONFIG_KEYS
    assert all(declared.help for declared in SETTINGS.values())
    document = settings_document(settings_from_config())
    assert list(document) == [*SETTINGS, "runtime_keys"]


def test_the_timing_defaults_are_the_profiles_fields():
    from_profile = {name for name, s in SETTINGS.items() if s.default is FROM_PROFILE}
    assert from_profile == {f.name for f in fields(Profile)}


def test_every_default_parses():
    settings = settings_from_config()
    for name, declared in SETTINGS.items():
        if declared.default is not FROM_PROFILE:
            value = declared.kind.parse(name, declared.default)
            assert value == getattr(settings, name)


def test_a_field_without_its_setting_is_refused_at_import():
    @dataclass(frozen=True)
    class Undeclared:
        plain: int

    with pytest.raises(TypeError, match=r"Undeclared\.plain"):
        declarations(Undeclared)


def test_the_document_is_json_ready():
    document = settings_document(settings_from_config({"MOCK_FIXTURES": {"+1": "yes"}}))
    json.dumps(document, allow_nan=False)
    assert document["fixtures"] == 1


def readme_settings_table() -> dict[str, tuple[str, bool]]:
    """Return the README's emulator table: ``MOCK_*`` key -> (flag cell, marked run time)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Flags and configuration keys", 1)[1].split("####", 1)[0]
    rows: dict[str, tuple[str, bool]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        found = re.search(r"`(MOCK_[A-Z0-9_]+)`", cells[1]) if len(cells) == 5 else None
        if found is not None:
            rows[found[1]] = (cells[0], cells[3] == "yes")
    return rows


def test_the_readme_table_lists_every_setting_with_its_flag_and_run_time_mark():
    table = readme_settings_table()
    assert set(table) == set(CONFIG_KEYS) | set(HOOK_KEYS)
    for key, name in CONFIG_KEYS.items():
        flag_cell, runtime = table[key]
        assert f"`{flag_name(name, SETTINGS[name])}" in flag_cell, key
        assert runtime == SETTINGS[name].runtime, key
