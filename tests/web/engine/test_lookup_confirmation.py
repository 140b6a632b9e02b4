"""=FBCHECK over real HTTPS: the confirmation threshold for look-ups, and stale answers.

A batch of look-ups that would upload more numbers than ``confirm_above`` is held,
its cells report "awaiting confirmation" and nothing is billed until the pane
confirms it; answers older than the cache lifetime come back marked stale instead
of being bought again, unless the cell asks for a refresh.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from addin.web.certs import ServerCertificate
from addin.web.engine_host import host_of
from addin.web.security import CLIENT_HEADER
from addin.web.serving import bind_backend
from addin.web.views.lookups import AWAITING_CONFIRMATION_TEXT
from tests.web.engine_app import each_keeper, engine_app, ledger, number, wait_for


@pytest.fixture(autouse=True, params=["memory", "store"])
def keeper(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: uploads, plans and held batches in memory, then in the store."""
    return each_keeper(request, monkeypatch)


AWAITING = AWAITING_CONFIRMATION_TEXT


@dataclass
class Live:
    """A running backend (demo emulator) and a session that talks to it as the page does."""

    app: Flask
    base: str
    session: requests.Session
    #: The test CA (per request: an environment CA bundle would override the session's).
    ca: str

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        """Send one request over HTTPS."""
        return self.session.request(method, self.base + path, json=body, timeout=30, verify=self.ca)

    def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Send a request and return the JSON of its 200 answer."""
        response = self.call(method, path, body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def lookups(self, *values: Any, refresh: bool | None = None) -> list[dict[str, Any]]:
        """POST /api/lookups for ``values`` (region CH); return the results."""
        items: list[dict[str, Any]] = [{"value": v, "region": "CH"} for v in values]
        if refresh is not None:
            for item in items:
                item["refresh"] = refresh
        results: list[dict[str, Any]] = self.ok("POST", "/api/lookups", {"items": items})["results"]
        return results

    def poll(self, *numbers: str) -> dict[str, dict[str, Any]]:
        """POST /api/lookups/poll once; return the results by number."""
        results: dict[str, dict[str, Any]] = self.ok(
            "POST", "/api/lookups/poll", {"numbers": list(numbers)}
        )["results"]
        return results

    def poll_until(self, numbers: list[str], done: Any) -> dict[str, dict[str, Any]]:
        """Poll like the page until ``done(result)`` holds for every number."""

        def reached() -> dict[str, dict[str, Any]] | None:
            results = self.poll(*numbers)
            return results if all(done(results[n]) for n in numbers) else None

        found: dict[str, dict[str, Any]] = wait_for(reached)
        return found

    def held(self) -> dict[str, Any] | None:
        """Return the held look-up batch (GET /api/lookups/held)."""
        batch: dict[str, Any] | None = self.ok("GET", "/api/lookups/held")["held"]
        return batch


@contextmanager
def live_backend(tmp_path: Path, certificate: ServerCertificate, **settings: Any) -> Iterator[Live]:
    """Run the backend over HTTPS on a free loopback port; stop it afterwards."""
    with (
        engine_app(tmp_path, region="CH", **settings) as app,
        bind_backend(app, certificate=certificate) as server,
        requests.Session() as session,
    ):
        session.headers[CLIENT_HEADER] = "tests"
        yield Live(app, f"https://localhost:{server.port}", session, str(certificate.ca_file))


def answered(result: dict[str, Any]) -> bool:
    """Return True for a final answer."""
    return bool(result["status"] == "done")


def awaiting(result: dict[str, Any]) -> bool:
    """Return True for a number held for the user's confirmation."""
    return bool(result["status"] == "pending" and result["progress"] == AWAITING)


# -- the confirmation threshold --------------------------------------------------------


def test_a_batch_above_the_threshold_waits_for_the_pane(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with live_backend(tmp_path, certificate, confirm_above=2) as live:
        first = [number(i) for i in range(3)]
        assert {r["status"] for r in live.lookups(*first)} == {"pending"}
        live.poll_until(first, awaiting)
        held = live.held()
        assert held is not None
        assert held["numbers"] == 3
        assert held["version"] == 1
        assert held["plan"]["to_upload"] == 3
        assert held["plan"]["tasks"] == 1
        assert held["plan"]["billed_minimum"] == 2
        # A recalculation asks again: still held, not queued twice.
        assert {r["progress"] for r in live.lookups(*first)} == {AWAITING}
        assert ledger(live.app)["billed_total"] == 0

        # More look-ups while the batch is held join it (the user is asked once).
        live.lookups(number(3))
        live.poll_until([number(3)], awaiting)
        held = live.held()
        assert held is not None
        assert held["numbers"] == 4
        assert held["version"] == 2
        assert held["plan"]["to_upload"] == 4

        # Confirming the estimate seen before the batch grew bills nothing.
        stale_click = live.call(
            "POST", f"/api/lookups/held/{held['batch_id']}/confirm", {"version": 1}
        )
        assert stale_click.status_code == 409
        assert stale_click.json()["error"] == "batch_changed"
        assert "4" in stale_click.json()["message"]
        assert ledger(live.app)["billed_total"] == 0
        assert ledger(live.app)["tasks_created"] == 0

        confirmed = live.ok("POST", f"/api/lookups/held/{held['batch_id']}/confirm", {"version": 2})
        assert confirmed["job_id"]
        assert confirmed["plan"]["to_upload"] == 4
        everyone = [*first, number(3)]
        results = live.poll_until(everyone, answered)
        assert {r["answer"] for r in results.values()} <= {"yes", "no", "ban"}
        assert {r["job_id"] for r in results.values()} == {confirmed["job_id"]}
        account = ledger(live.app)
        assert account["tasks_created"] == 1
        assert account["numbers_uploaded"] == 4
        assert live.held() is None
        # A second click finds nothing to start.
        again = live.call("POST", f"/api/lookups/held/{held['batch_id']}/confirm", {"version": 2})
        assert again.status_code == 404
        assert again.json()["error"] == "batch_not_found"
        assert ledger(live.app)["tasks_created"] == 1


def test_a_cancelled_batch_bills_nothing_and_says_so(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with live_backend(tmp_path, certificate, confirm_above=1) as live:
        numbers = [number(i) for i in range(2)]
        live.lookups(*numbers)
        live.poll_until(numbers, awaiting)
        held = live.held()
        assert held is not None
        cancelled = live.ok("POST", f"/api/lookups/held/{held['batch_id']}/cancel")
        assert cancelled["cancelled"] == 2
        results = live.poll(*numbers)
        assert {r["status"] for r in results.values()} == {"error"}
        assert all("cancelled in the task pane" in r["reason"] for r in results.values())
        assert live.held() is None
        assert ledger(live.app)["billed_total"] == 0
        # Entering the formula again asks again: a new batch, held again.
        live.lookups(*numbers)
        live.poll_until(numbers, awaiting)
        again = live.held()
        assert again is not None
        assert again["batch_id"] != held["batch_id"]
        assert ledger(live.app)["billed_total"] == 0
        gone = live.call("POST", f"/api/lookups/held/{held['batch_id']}/cancel")
        assert gone.status_code == 404


def test_a_batch_cancelled_while_another_instance_queues_its_numbers_is_not_held_again(
    tmp_path: Path, certificate: ServerCertificate, keeper: str
) -> None:
    """Two backends on one store, as two team server instances (the store keeper only).

    B hears of the numbers from a cell's poll (unknown there: queued) while A holds
    their batch; the batch is cancelled through A before B's queue is cut. B's batch
    then finds the cancellation in the store and holds nothing for a second word.
    """
    if keeper != "store":
        pytest.skip("one backend in memory has no other instance to share a batch with")
    with (
        live_backend(tmp_path, certificate, confirm_above=1) as a,
        live_backend(tmp_path, certificate, confirm_above=1, quiet=1.5) as b,
    ):
        numbers = [number(i) for i in range(3)]
        a.lookups(*numbers)
        a.poll_until(numbers, awaiting)
        held = b.held()
        assert held is not None
        queued = b.poll(*numbers)  # a cell's poll reaches B: queued there
        assert {r["status"] for r in queued.values()} == {"pending"}
        a.ok("POST", f"/api/lookups/held/{held['batch_id']}/cancel")
        time.sleep(3.0)  # B's queue is cut 1.5 s after the poll
        assert (a.held(), b.held()) == (None, None)
        for live in (a, b):
            results = live.poll(*numbers)
            assert {r["status"] for r in results.values()} == {"error"}
            assert all("cancelled in the task pane" in r["reason"] for r in results.values())
        assert ledger(a.app)["billed_total"] == ledger(b.app)["billed_total"] == 0


def test_a_batch_within_the_threshold_is_checked_at_once(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with live_backend(tmp_path, certificate, confirm_above=2) as live:
        numbers = [number(i) for i in range(2)]
        live.lookups(*numbers)
        results = live.poll_until(numbers, lambda r: r["status"] != "pending")
        assert {r["status"] for r in results.values()} == {"done"}
        assert live.held() is None
        # Answered from the cache afterwards: they do not count against the threshold.
        live.lookups(*numbers, number(2), number(3))
        results = live.poll_until([number(2), number(3)], lambda r: r["status"] != "pending")
        assert {r["status"] for r in results.values()} == {"done"}
        assert ledger(live.app)["numbers_uploaded"] == 4


def test_a_changed_api_key_drops_the_held_batch(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with live_backend(tmp_path, certificate, confirm_above=0) as live:
        live.lookups(number(1))
        live.poll_until([number(1)], awaiting)
        held = live.held()
        assert held is not None
        host_of(live.app).change_settings({"api_key": "sk-test-another-key-0000"})
        assert live.held() is None
        gone = live.call("POST", f"/api/lookups/held/{held['batch_id']}/confirm", {"version": 1})
        assert gone.status_code == 404


@pytest.mark.parametrize("body", [None, {}, {"version": "1"}, {"version": True}, {"version": 1.0}])
def test_a_confirmation_must_name_the_version_shown(
    tmp_path: Path, certificate: ServerCertificate, body: Any
) -> None:
    with live_backend(tmp_path, certificate, confirm_above=0) as live:
        live.lookups(number(1))
        live.poll_until([number(1)], awaiting)
        held = live.held()
        assert held is not None
        response = live.call("POST", f"/api/lookups/held/{held['batch_id']}/confirm", body)
        assert response.status_code == 400
        assert response.json()["error"] in {"bad_request", "bad_json"}
        assert live.held() == held
        assert ledger(live.app)["billed_total"] == 0


# -- stale answers ---------------------------------------------------------------------


def test_stale_answers_are_shown_marked_not_bought_again(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with live_backend(tmp_path, certificate) as live:
        numbers = [number(1), number(2)]
        live.lookups(*numbers)
        first = live.poll_until(numbers, answered)
        assert ledger(live.app)["numbers_uploaded"] == 2

        # Past the cache lifetime (0 days: every answer is old).
        live.ok("PUT", "/api/settings", {"cache_ttl_days": 0})
        again = live.lookups(*numbers)
        assert [r["status"] for r in again] == ["done", "done"]
        assert [r["stale"] for r in again] == [True, True]
        assert [r["answer"] for r in again] == [first[n]["answer"] for n in numbers]
        assert all(r["checked_at"].endswith("+00:00") for r in again)

        # A new number meanwhile is checked alone: the stale ones were not queued.
        live.lookups(number(3))
        live.poll_until([number(3)], answered)
        account = ledger(live.app)
        assert account["numbers_uploaded"] == 3
        assert account["tasks_created"] == 2


def test_refresh_buys_a_stale_answer_again(tmp_path: Path, certificate: ServerCertificate) -> None:
    with live_backend(tmp_path, certificate) as live:
        live.lookups(number(1), number(2))
        live.poll_until([number(1), number(2)], answered)
        live.ok("PUT", "/api/settings", {"cache_ttl_days": 0})

        refreshed = live.lookups(number(1), refresh=True)
        assert refreshed[0]["status"] == "pending"
        result = live.poll_until([number(1)], answered)[number(1)]
        assert result["stale"] is False
        assert result["answer"] in {"yes", "no", "ban"}
        account = ledger(live.app)
        assert account["numbers_uploaded"] == 3
        # The other number, not refreshed, is still shown stale and not bought.
        other = live.lookups(number(2), refresh=False)[0]
        assert other["stale"] is True
        assert ledger(live.app)["numbers_uploaded"] == 3


def test_refresh_never_rebuys_a_fresh_answer(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with live_backend(tmp_path, certificate) as live:
        live.lookups(number(1))
        live.poll_until([number(1)], answered)
        again = live.lookups(number(1), refresh=True)[0]
        assert again["status"] == "done"
        assert again["stale"] is False
        assert ledger(live.app)["numbers_uploaded"] == 1


def test_a_stale_answer_counts_against_the_threshold_only_when_refreshed(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with live_backend(tmp_path, certificate, confirm_above=1) as live:
        numbers = [number(1)]
        live.lookups(*numbers)
        live.poll_until(numbers, answered)
        live.ok("PUT", "/api/settings", {"cache_ttl_days": 0, "confirm_above": 0})
        assert live.lookups(*numbers)[0]["stale"] is True
        assert live.held() is None
        live.lookups(*numbers, refresh=True)
        live.poll_until(numbers, awaiting)
        held = live.held()
        assert held is not None
        assert held["plan"]["to_upload"] == 1
        assert ledger(live.app)["numbers_uploaded"] == 1


def test_a_v1_balance_that_cannot_pay_stops_a_confirmed_batch(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    """Confirming asks v1's balance (a person looks); too little: nothing is sent."""
    emulator = {"MOCK_API_KEYS": {"demo": 1}}
    with live_backend(
        tmp_path, certificate, api_dialect="v1", confirm_above=10, emulator=emulator
    ) as live:
        numbers = [number(i) for i in range(150)]
        live.lookups(*numbers)
        live.poll_until(numbers, awaiting)
        held = live.held()
        assert held is not None
        reads = ledger(live.app)["balance_reads"]
        refused = live.call(
            "POST",
            f"/api/lookups/held/{held['batch_id']}/confirm",
            {"version": held["version"]},
        )
        assert refused.status_code == 402, refused.text
        assert refused.json()["error"] == "balance_too_low"
        assert ledger(live.app)["balance_reads"] == reads + 1
        results = live.poll_until(numbers, lambda r: r["status"] == "error")
        assert {r["reason"] for r in results.values()} == {refused.json()["message"]}
        assert ledger(live.app)["billed_total"] == 0
        assert ledger(live.app)["tasks_created"] == 0
        assert live.held() is None
