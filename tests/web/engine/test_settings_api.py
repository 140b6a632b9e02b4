"""Run-time settings (the key stored by the backend, shown masked), account and cache routes."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from addin.config import SAVED_SECRETS_FILE, SAVED_SETTINGS_FILE
from tests.conftest import Emulator, Emulators
from tests.web.conftest import AddinClient
from tests.web.engine_app import engine_app, number, ok, payload, post, refused, wait_job

LIVE_KEY = "live-key-7c1e-5678"
CHECK = "/xlwings/check-selection"


@pytest.fixture
def emulator(emulators: Emulators[Emulator]) -> Emulator:
    """A vendor emulator over real HTTP that knows ``LIVE_KEY``."""
    return emulators.start(MOCK_API_KEYS={LIVE_KEY: 1000})


@pytest.fixture
def app(tmp_path: Path, emulator: Emulator) -> Iterator[Flask]:
    """A demo backend whose vendor URL (used once a key is set) is the emulator."""
    with engine_app(tmp_path, api_url=emulator.url) as app:
        yield app


def put(client: AddinClient, body: Any) -> Any:
    """PUT /api/settings."""
    return client.request("PUT", "/api/settings", json=body)


def test_defaults(client: AddinClient, emulator: Emulator) -> None:
    assert ok(client.get("/api/settings")) == {
        "demo": True,
        "api_key": None,
        "region": "US",
        "cache_ttl_days": 30.0,
        "confirm_above": 1000,
        "api_url": emulator.url,
    }


def test_key_round_trip_masked_and_stored_privately(
    tmp_path: Path, client: AddinClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = put(client, {"api_key": f"  {LIVE_KEY} "})
    assert LIVE_KEY not in response.get_data(as_text=True)
    body = ok(response)
    assert body["api_key"] == "••••5678"
    assert body["demo"] is False
    assert ok(client.get("/api/health"))["demo"] is False
    secrets = tmp_path / "data" / SAVED_SECRETS_FILE
    assert json.loads(secrets.read_text()) == {"api_key": LIVE_KEY}
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert not (tmp_path / "data" / SAVED_SETTINGS_FILE).exists()
    assert ok(client.get("/api/account"))["mode"] == "live"
    assert LIVE_KEY not in caplog.text
    # Removing the key goes back to the demo.
    body = ok(put(client, {"api_key": ""}))
    assert body["api_key"] is None
    assert body["demo"] is True
    assert not secrets.exists()
    assert ok(client.get("/api/account"))["mode"] == "demo"


def test_saved_settings_survive_a_restart(tmp_path: Path, emulator: Emulator) -> None:
    with engine_app(tmp_path, api_url=emulator.url) as app:
        ok(put(AddinClient(app), {"api_key": LIVE_KEY, "region": "ch", "confirm_above": 5}))
    with engine_app(tmp_path, api_url=emulator.url) as app:
        body = ok(AddinClient(app).get("/api/settings"))
    assert (body["api_key"], body["region"], body["confirm_above"]) == ("••••5678", "CH", 5)
    assert body["demo"] is False


def test_short_key_shows_no_characters(client: AddinClient) -> None:
    assert ok(put(client, {"api_key": "abcdefgh"}))["api_key"] == "••••"


def test_region_ttl_and_threshold(client: AddinClient) -> None:
    body = ok(put(client, {"region": " ch ", "cache_ttl_days": 7, "confirm_above": 0}))
    assert (body["region"], body["cache_ttl_days"], body["confirm_above"]) == ("CH", 7.0, 0)
    assert ok(client.get("/api/settings"))["region"] == "CH"
    # The new default region reads national numbers, and the new threshold asks first.
    check = ok(post(client, CHECK, payload(("A1:A1", ["079 828 46 51"]))))
    assert check["plan"]["to_upload"] == 1
    assert check["needs_confirmation"] is True


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"region": "XX"}, "unknown region"),
        ({"region": 41}, "region must be text"),
        ({"region": ["CH"]}, "region must be text"),
        ({"region": {"CH": 1}}, "region must be text"),
        ({"region": None}, "region must be text"),
        ({"cache_ttl_days": 3651}, "cache_ttl_days"),
        ({"cache_ttl_days": [7]}, "cache_ttl_days"),
        ({"cache_ttl_days": None}, "cache_ttl_days must not be null"),
        ({"confirm_above": "5"}, "confirm_above"),
        ({"confirm_above": {"n": 5}}, "confirm_above"),
        ({"confirm_above": True}, "confirm_above"),
        ({"api_key": ["k" * 12]}, "api_key must be text"),
        ({"cache_ttl_days": -1}, "cache_ttl_days"),
        ({"cache_ttl_days": "7"}, "cache_ttl_days"),
        ({"cache_ttl_days": True}, "cache_ttl_days"),
        ({"confirm_above": 1.5}, "confirm_above"),
        ({"confirm_above": -1}, "confirm_above"),
        ({"api_key": "short"}, "does not look like an API key"),
        ({"api_key": "has a space in it"}, "does not look like an API key"),
        ({"api_key": 12345678}, "api_key must be text"),
        ({"poll_min_interval": 1}, "cannot change poll_min_interval"),
        ({"region": "CH", "max_wait": 1}, "cannot change max_wait"),
    ],
)
def test_bad_settings_refused(client: AddinClient, body: dict[str, Any], words: str) -> None:
    message = refused(put(client, body), 400, "bad_setting")["message"]
    assert words in message
    if "api_key" in body:
        assert str(body["api_key"]) not in message
    assert ok(client.get("/api/settings"))["region"] == "US"


def test_settings_body_must_be_an_object(client: AddinClient) -> None:
    refused(put(client, ["region", "CH"]), 400, "bad_request")


def test_damaged_saved_settings_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / SAVED_SETTINGS_FILE).write_text('{"region": "XX"}')
    with engine_app(tmp_path) as app:
        assert ok(AddinClient(app).get("/api/settings"))["region"] == "US"
    (tmp_path / "data" / SAVED_SETTINGS_FILE).write_text("not json")
    with engine_app(tmp_path) as app:
        assert ok(AddinClient(app).get("/api/settings"))["region"] == "US"


def test_account_in_demo_reads_the_emulator_ledger(client: AddinClient) -> None:
    before = ok(client.get("/api/account"))
    assert before == {
        "demo": True,
        "mode": "demo",
        "api_url": None,
        "balance": 1_000_000,
        "billed": 0,
        "possibly_billed": 0,
        "last_error": None,
        "dialect": "legacy",
        "balance_live": False,
    }
    wait_job(client, ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"])
    after = ok(client.get("/api/account"))
    assert after["billed"] >= 2
    assert after["balance"] == 1_000_000 - after["billed"]


def test_account_live_counts_billed_requests(client: AddinClient, emulator: Emulator) -> None:
    ok(put(client, {"api_key": LIVE_KEY}))
    assert ok(client.get("/api/account")) == {
        "demo": False,
        "mode": "live",
        "api_url": emulator.url,
        "balance": None,
        "billed": 0,
        "possibly_billed": 0,
        "last_error": None,
        "dialect": "legacy",
        "balance_live": False,
    }
    job_id = ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"]
    assert wait_job(client, job_id)["answered"] == 1
    assert ok(client.get("/api/account"))["billed"] >= 2


def test_the_v1_balance_is_asked_only_when_a_person_looks(
    tmp_path: Path, emulator: Emulator
) -> None:
    with engine_app(tmp_path, api_url=emulator.url, api_dialect="v1") as app:
        client = AddinClient(app)
        ok(put(client, {"api_key": LIVE_KEY}))
        quiet = ok(client.get("/api/account"))
        assert (quiet["dialect"], quiet["balance"], quiet["balance_live"]) == ("v1", None, False)
        assert emulator.ledger(LIVE_KEY)["balance_reads"] == 0
        looked = ok(client.get("/api/account?balance=live"))
        assert looked["balance_live"] is True
        assert looked["balance"] == emulator.ledger(LIVE_KEY)["balance"]
        assert looked["possibly_billed"] == 1  # the balance route may be billed
        assert emulator.ledger(LIVE_KEY)["balance_reads"] == 1


def test_account_live_reports_a_refused_key(client: AddinClient) -> None:
    ok(put(client, {"api_key": "unknown-key-0000"}))
    job = wait_job(client, ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"])
    assert job["counts"] == {"error": 1}
    account = ok(client.get("/api/account"))
    assert account["last_error"]
    assert "unknown-key-0000" not in json.dumps(account)


def test_switching_to_live_ends_running_demo_checks(tmp_path: Path) -> None:
    with engine_app(tmp_path, emulator={"MOCK_STUCK": True}) as app:
        client = AddinClient(app)
        job_id = ok(post(client, CHECK, payload(("A1:A1", [number(1)]))))["job_id"]
        ok(put(client, {"api_key": LIVE_KEY}))
        job = ok(client.get(f"/api/jobs/{job_id}"))
        assert job["finished"] is True
        assert job["counts"] == {"error": 1}


def test_cache_clear(client: AddinClient) -> None:
    cells = [number(1), number(2)]
    wait_job(client, ok(post(client, CHECK, payload(("A1:A2", cells))))["job_id"])
    assert ok(post(client, CHECK, payload(("A1:A2", cells))))["plan"]["cache_hits"] == 2
    assert ok(post(client, "/api/cache/clear")) == {"demo": True, "cleared": 2}
    again = ok(post(client, CHECK, payload(("A1:A2", cells))))
    assert again["plan"]["cache_hits"] == 0
    assert ok(post(client, "/api/cache/clear"))["cleared"] == 0
