"""The dialect settings: FBCHECK_API_DIALECT, the default URL and the task size bounds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from addin.config import Settings, load_settings


def settings(**values: Any) -> Settings:
    """Return settings from ``values`` only (no environment, no .env)."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_are_the_legacy_api(monkeypatch):
    monkeypatch.delenv("FBCHECK_API_DIALECT", raising=False)
    monkeypatch.delenv("FBCHECK_API_URL", raising=False)
    current = settings()
    assert (current.dialect, current.vendor_url) == ("legacy", "https://api.ekycpro.com")
    assert current.min_task_numbers == 1


def test_v1_follows_with_its_url_and_minimum():
    current = settings(api_dialect="v1")
    assert (current.dialect, current.vendor_url) == ("v1", "https://api.checknumber.ai")
    assert current.min_task_numbers == 100


def test_auto_reads_the_url():
    assert settings(api_url="https://api.checknumber.ai").dialect == "v1"
    assert settings(api_url="http://127.0.0.1:9/v1").dialect == "v1"
    assert settings(api_url="http://127.0.0.1:9").dialect == "legacy"


def test_the_environment_names_the_dialect_and_minimum(monkeypatch):
    monkeypatch.setenv("FBCHECK_API_DIALECT", "v1")
    monkeypatch.setenv("FBCHECK_MIN_NUMBERS_PER_TASK", "250")
    current = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (current.dialect, current.min_task_numbers) == ("v1", 250)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_dialect": "v2"}, "api_dialect"),
        ({"min_numbers_per_task": 0}, "min_numbers_per_task"),
        ({"min_numbers_per_task": 100, "max_numbers_per_task": 198}, "twice"),
        ({"api_dialect": "v1", "max_numbers_per_task": 150}, "twice"),
    ],
)
def test_bad_values_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        settings(**values)


def test_the_tightest_bounds_are_accepted():
    assert settings(min_numbers_per_task=100, max_numbers_per_task=199).min_task_numbers == 100


def test_the_store_is_the_sqlite_file_unless_a_database_url_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv("FBCHECK_DATABASE_URL", raising=False)
    assert settings(data_dir=tmp_path).store_location == tmp_path / "fbcheck.sqlite3"
    monkeypatch.setenv("FBCHECK_DATABASE_URL", "  ")
    assert settings(data_dir=tmp_path).store_location == tmp_path / "fbcheck.sqlite3"
    url = "postgresql://fb:s3cret@db.example:5432/fbcheck"
    monkeypatch.setenv("FBCHECK_DATABASE_URL", url)
    current = settings(data_dir=tmp_path)
    assert current.store_location == url
    assert "s3cret" not in repr(current)


def test_the_key_can_come_from_a_secrets_file(tmp_path, monkeypatch):
    key_file = tmp_path / "vendor-key"
    key_file.write_text("sk-from-a-file-1234\n", encoding="utf-8")
    monkeypatch.delenv("FBCHECK_API_KEY", raising=False)
    monkeypatch.setenv("FBCHECK_API_KEY_FILE", str(key_file))
    loaded = settings()
    assert loaded.api_key is not None
    assert loaded.api_key.get_secret_value() == "sk-from-a-file-1234"
    assert not loaded.demo
    # Settings rebuilt with changes (the task pane's) keep it.
    changed = load_settings(loaded, {"region": "CH"}).api_key
    assert changed is not None
    assert changed.get_secret_value() == "sk-from-a-file-1234"
    # The variable itself wins over the file.
    monkeypatch.setenv("FBCHECK_API_KEY", "sk-from-the-env-5678")
    env_key = settings().api_key
    assert env_key is not None
    assert env_key.get_secret_value() == "sk-from-the-env-5678"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("", "does not hold an API key"),
        ("two words\n", "does not hold an API key"),
        ("sk-\x00-control", "does not hold an API key"),
        (b"\xff\xfe-not-utf-8", "cannot read"),
    ],
)
def test_a_key_file_that_cannot_serve_is_refused_without_its_content(
    tmp_path, monkeypatch, content, message
):
    key_file = tmp_path / "vendor-key"
    if isinstance(content, bytes):
        key_file.write_bytes(content)
    elif content is not None:
        key_file.write_text(content, encoding="utf-8")
    monkeypatch.delenv("FBCHECK_API_KEY", raising=False)
    monkeypatch.setenv("FBCHECK_API_KEY_FILE", str(key_file))
    with pytest.raises(ValidationError, match=message) as caught:
        settings()
    if isinstance(content, str) and content.strip():
        assert content.strip() not in str(caught.value)


def test_the_workers_stall_bound_defaults_to_25_s_and_reads_its_variable(monkeypatch):
    from addin.engine.workers import STALLED_AFTER, TAKEOVER_BOUND, heartbeat_seconds

    monkeypatch.delenv("FBCHECK_WORKER_STALLED_AFTER", raising=False)
    assert settings().worker_stalled_after == STALLED_AFTER == 25.0
    assert (heartbeat_seconds(STALLED_AFTER), TAKEOVER_BOUND) == (5.0, 30.0)
    monkeypatch.setenv("FBCHECK_WORKER_STALLED_AFTER", "5")
    assert settings().worker_stalled_after == 5.0
    assert heartbeat_seconds(5.0) == 1.0
    assert heartbeat_seconds(600.0) == 5.0  # a longer bound never beats more slowly
    for bad in ("1", "0", "-5", "4000"):
        monkeypatch.setenv("FBCHECK_WORKER_STALLED_AFTER", bad)
        with pytest.raises(ValidationError, match="worker_stalled_after"):
            settings()
