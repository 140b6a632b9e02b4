"""The web host of the engine: one Checker lent to requests, kept or rebuilt on settings changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.config import SettingsError
from addin.engine.checker import JobProgress
from addin.engine.connection import key_fingerprint
from addin.web.engine_host import EngineClosedError, EngineHost
from tests.web.conftest import SECRET_KEY, make_settings
from tests.web.engine_app import wait_for

INSTANT = {"MOCK_PROFILE": "instant"}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[EngineHost]:
    """A host over demo settings on the instant emulator, closed after the test."""
    host = EngineHost(make_settings(tmp_path), emulator_config=INSTANT, lookup_quiet=0.05)
    yield host
    host.close()


def test_one_checker_is_lent_to_every_request(host: EngineHost) -> None:
    with host.checker() as first, host.checker() as second:
        assert first is second
        assert first.demo


def test_a_change_without_a_new_key_keeps_the_checker(host: EngineHost) -> None:
    with host.checker() as before:
        pass
    new = host.change_settings({"cache_ttl_days": 1, "confirm_above": 3})
    assert host.settings is new
    with host.checker() as after:
        assert after is before
        assert after.max_age == 86400.0  # it plans with the new TTL
    assert host.generation.startswith("0:demo@")


def test_a_new_key_rebuilds_and_voids_plans(tmp_path: Path, host: EngineHost) -> None:
    with host.checker() as demo_checker:
        plan = demo_checker.plan(["+41798284651"])
    demo = host.generation
    host.plans.add(plan, numbers=["+41798284651"], label="Sheet1!A1", generation=demo)
    host.change_settings({"api_key": SECRET_KEY})
    assert (host.demo, len(host.plans)) == (False, 0)
    assert host.generation.startswith(f"1:{key_fingerprint(SECRET_KEY)}@")
    with host.checker() as live:
        assert live is not demo_checker
        assert not live.demo
    host.change_settings({"api_key": ""})
    # Demo again, but a plan made before the changes stays void.
    assert host.demo
    assert host.generation.startswith("2:demo@")
    assert host.generation != demo


def test_a_refused_change_changes_nothing(host: EngineHost) -> None:
    before = host.settings
    with pytest.raises(SettingsError):
        host.change_settings({"region": "XX", "confirm_above": 1})
    assert host.settings is before


def test_lookups_are_submitted_as_one_job(host: EngineHost) -> None:
    host.coalescer.add(["+41798284651", "+41798284652"])
    with host.checker() as checker:
        (job,) = [j for j in _wait_history(host) if j.kind == "lookups"]
        assert checker.wait(job.job_id, timeout=20).finished
    assert job.label == "=FBCHECK: 2 numbers"


def test_a_closed_host_lends_nothing(host: EngineHost) -> None:
    host.close()
    host.close()  # idempotent
    with pytest.raises(EngineClosedError), host.checker():
        pass


def _wait_history(host: EngineHost) -> list[JobProgress]:
    """Return the job history once the coalescer has submitted something."""

    def history() -> list[JobProgress]:
        """Return the recent jobs."""
        with host.checker() as checker:
            return checker.history(10)

    return wait_for(history)  # type: ignore[no-any-return]
