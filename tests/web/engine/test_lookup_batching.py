"""=FBCHECK batching over real HTTP: the backend's coalescer follows the sheet's pace.

The backend runs under cheroot on a loopback port; its look-up coalescer reads a
hand-moved clock (``LOOKUP_CLOCK_KEY``), so a 30-second trickle of cells is sent
in a moment and nothing here depends on how fast the machine is. Batches above
``confirm_above`` are held for the task pane (``addin.web.held_lookups``): the
batching alone is measured with the threshold above the sheet's size, and a
held sheet is asked about once, whatever its batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from addin.http_server import BackgroundServer
from addin.web import close_app, create_app
from addin.web.coalescer import DEFAULT_QUIET
from addin.web.engine_host import host_of
from addin.web.flask_config import EMULATOR_CONFIG_KEY, LOOKUP_CLOCK_KEY, PORT_KEY, SETTINGS_KEY
from addin.web.security import CLIENT_HEADER
from tests.web.engine_app import FIRST, fast_settings, ledger, number, wait_for


class HandClock:
    """The coalescer's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        """Start at zero."""
        self.now = 0.0

    def __call__(self) -> float:
        """Return the time."""
        return self.now


class LiveBackend:
    """The add-in backend on a loopback port, talked to over HTTP as the page does."""

    def __init__(self, app: Flask, server: BackgroundServer) -> None:
        """Keep the app, the server and a session with the client header."""
        self.app = app
        self.server = server
        self.session = requests.Session()
        self.session.headers[CLIENT_HEADER] = "tests"

    def post(self, path: str, body: Any) -> dict[str, Any]:
        """POST JSON; return the JSON answer of a 200."""
        response = self.session.post(self.server.url + path, json=body, timeout=30)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def get(self, path: str) -> dict[str, Any]:
        """GET; return the JSON answer of a 200."""
        response = self.session.get(self.server.url + path, timeout=30)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def lookups(self, values: list[Any]) -> list[dict[str, Any]]:
        """Send one batch of cell values; return the per-item results."""
        results: list[dict[str, Any]] = self.post(
            "/api/lookups", {"items": [{"value": v} for v in values]}
        )["results"]
        return results

    def answered(self, numbers: list[str]) -> dict[str, Any]:
        """Poll like the page does until no number is pending; return the results."""

        def done() -> dict[str, Any] | None:
            results: dict[str, Any] = self.post("/api/lookups/poll", {"numbers": numbers})[
                "results"
            ]
            return None if any(r["status"] == "pending" for r in results.values()) else results

        return wait_for(done, timeout=60.0)  # type: ignore[no-any-return]


@contextmanager
def live_backend(tmp_path: Path, clock: HandClock, **settings: Any) -> Iterator[LiveBackend]:
    """Yield the backend (production batching timings, the instant demo emulator)."""
    app = create_app(
        {
            SETTINGS_KEY: fast_settings(tmp_path, **settings),
            EMULATOR_CONFIG_KEY: {"MOCK_PROFILE": "instant"},
            LOOKUP_CLOCK_KEY: clock,
        }
    )
    server = BackgroundServer(app)
    app.config[PORT_KEY] = server.port
    server.start()
    backend = LiveBackend(app, server)
    try:
        yield backend
    finally:
        backend.session.close()
        server.stop()
        close_app(app)


def send_over_30_seconds(backend: LiveBackend, clock: HandClock, cells: list[float]) -> None:
    """Send ``cells`` as the page does while Excel keeps calling: a batch every 0.5 s."""
    per_request = -(-len(cells) // 60)
    for index in range(60):
        clock.now = index * 0.5
        chunk = cells[index * per_request : (index + 1) * per_request]
        assert {r["status"] for r in backend.lookups(chunk)} == {"pending"}
    assert index * per_request < len(cells) <= (index + 1) * per_request


def test_ten_thousand_cells_over_30_seconds_go_into_at_most_two_tasks(tmp_path: Path) -> None:
    clock = HandClock()
    # Above the sheet's size: nothing is held, the coalescer alone decides the tasks.
    with live_backend(tmp_path, clock, confirm_above=20_000) as backend:
        send_over_30_seconds(backend, clock, [float(FIRST + i) for i in range(10_000)])
        clock.now += 60.0
        results = backend.answered([number(i) for i in range(10_000)])
        assert {r["status"] for r in results.values()} == {"done"}
        account = ledger(backend.app)
        assert 1 <= account["tasks_created"] <= 2
        assert account["numbers_uploaded"] == 10_000
        assert host_of(backend.app).coalescer.jobs_submitted == account["tasks_created"]


def test_a_held_sheet_is_asked_about_once_and_goes_in_one_task(tmp_path: Path) -> None:
    clock = HandClock()
    with live_backend(tmp_path, clock) as backend:  # confirm_above: the default 1,000
        send_over_30_seconds(backend, clock, [float(FIRST + i) for i in range(10_000)])
        clock.now += 60.0

        def whole_sheet_held() -> dict[str, Any] | None:
            batch: dict[str, Any] | None = backend.get("/api/lookups/held")["held"]
            return batch if batch is not None and batch["numbers"] == 10_000 else None

        held: dict[str, Any] = wait_for(whole_sheet_held)
        # At most two batches were cut, so the estimate changed at most once.
        assert held["version"] <= 2
        assert held["plan"]["to_upload"] == 10_000
        assert ledger(backend.app)["tasks_created"] == 0
        confirmed = backend.post(
            f"/api/lookups/held/{held['batch_id']}/confirm", {"version": held["version"]}
        )
        results = backend.answered([number(i) for i in range(10_000)])
        assert {r["status"] for r in results.values()} == {"done"}
        assert {r["job_id"] for r in results.values()} == {confirmed["job_id"]}
        account = ledger(backend.app)
        assert account["tasks_created"] == 1
        assert account["numbers_uploaded"] == 10_000
        assert host_of(backend.app).coalescer.jobs_submitted == 0


def test_a_cell_typed_alone_is_sent_after_a_second(tmp_path: Path) -> None:
    clock = HandClock()
    with live_backend(tmp_path, clock) as backend:
        (first,) = backend.lookups(["+41 79 828 46 51"])
        assert (first["status"], first["progress"]) == ("pending", "queued")
        clock.now = DEFAULT_QUIET
        result = backend.answered(["+41798284651"])["+41798284651"]
        assert result["status"] == "done"
        assert ledger(backend.app)["tasks_created"] == 1
        # Another cell typed later is not held for company either.
        clock.now = 20.0
        backend.lookups(["+41 79 828 46 52"])
        clock.now = 20.0 + DEFAULT_QUIET
        assert backend.answered(["+41798284652"])["+41798284652"]["status"] == "done"
        assert ledger(backend.app)["tasks_created"] == 2
