"""Helpers for tests of the engine-backed routes: an app with fast settings, payloads, actions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from addin.formats import column_index
from addin.web import close_app, create_app
from addin.web.engine_host import host_of
from addin.web.flask_config import (
    EMULATOR_CONFIG_KEY,
    LOOKUP_MAX_WAIT_KEY,
    LOOKUP_QUIET_KEY,
    NORMALIZE_WORKERS_KEY,
    PORT_KEY,
    SETTINGS_KEY,
    UNFINISHED_IN_STORE_KEY,
)
from tests.web.conftest import PORT, AddinClient, json_body, make_settings

#: Where apps made by :func:`engine_app` keep uploads, plans and held batches: False in
#: memory (the local backend), True in the store (as the team server); see
#: :func:`each_keeper`.
KEEP_IN_STORE = {"default": False}

#: Swiss mobile numbers: valid, and distinct for distinct ``i``.
FIRST = 41798000000


def number(i: int) -> str:
    """Return the i-th test number in E.164."""
    return f"+{FIRST + i}"


def fast_settings(tmp_path: Path, **overrides: Any) -> Any:
    """Return settings in ``tmp_path`` with tiny poll intervals."""
    values: dict[str, Any] = {"poll_min_interval": 0.05, "poll_max_interval": 0.3}
    values.update(overrides)
    return make_settings(tmp_path, **values)


@contextmanager
def engine_app(
    tmp_path: Path,
    *,
    emulator: dict[str, Any] | None = None,
    quiet: float = 0.2,
    max_wait: float = 2.0,
    normalize_workers: int = 0,
    **settings: Any,
) -> Iterator[Flask]:
    """Yield a backend app on the instant demo emulator (or live settings); close it after.

    ``normalize_workers`` starts that many warm normalising workers, as ``fbcheck serve``
    does (waited for before the app is yielded).
    """
    app = create_app(
        {
            "TESTING": True,
            PORT_KEY: PORT,
            SETTINGS_KEY: fast_settings(tmp_path, **settings),
            EMULATOR_CONFIG_KEY: {"MOCK_PROFILE": "instant", **(emulator or {})},
            LOOKUP_QUIET_KEY: quiet,
            LOOKUP_MAX_WAIT_KEY: max_wait,
            NORMALIZE_WORKERS_KEY: normalize_workers,
            UNFINISHED_IN_STORE_KEY: KEEP_IN_STORE["default"],
        }
    )
    try:
        assert host_of(app).normalizer.wait_until_warm(120), "the workers did not warm up"
        yield app
    finally:
        close_app(app)


def each_keeper(request: Any, monkeypatch: Any) -> str:
    """Run the test with the apps keeping unfinished business in memory, then in the store.

    Use as an autouse fixture parametrised ``["memory", "store"]`` (one suite, both
    implementations: ``addin.web.stored_unfinished``).
    """
    keeper = str(request.param)
    monkeypatch.setitem(KEEP_IN_STORE, "default", keeper == "store")
    return keeper


def post(client: AddinClient, path: str, body: Any = None, **kwargs: Any) -> Any:
    """POST JSON and return the response."""
    return client.request("POST", path, json=body, **kwargs)


def ok(response: Any) -> dict[str, Any]:
    """Return the JSON object of a 200 answer, failing with the body otherwise."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json_body(response)
    assert isinstance(body["demo"], bool)
    return body


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert a JSON error with ``status`` and ``code`` and a message; return the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = json_body(response)
    assert body["error"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["demo"], bool)
    return body


def payload(
    *areas: tuple[str, list[Any]] | tuple[str, list[Any], list[Any]],
    region: str | None = None,
    sheet: str = "Sheet1",
) -> dict[str, Any]:
    """Build the body our JavaScript sends for ``areas``: (address, cells[, answer column]).

    As the client does: each area's cells top to bottom ("" when empty) and the
    current cells of its answer column (empty unless given), nothing else.
    """
    return {
        "sheet": sheet,
        "region": region,
        "areas": [
            {
                "address": area[0],
                "values": list(area[1]),
                "target": list(area[2]) if len(area) > 2 else [""] * len(area[1]),
            }
            for area in areas
        ],
    }


def applied(actions: list[dict[str, Any]]) -> dict[tuple[int, int], Any]:
    """Return {(row, column): value} (1-based) that the actions write, as the client would."""
    cells: dict[tuple[int, int], Any] = {}
    for action in actions:
        assert action["func"] == "setValues", action
        assert action["row_count"] == len(action["values"])
        assert action["column_count"] == 1
        for offset, row in enumerate(action["values"]):
            cells[(action["start_row"] + offset + 1, action["start_column"] + 1)] = row[0]
    return cells


def column_of(actions: list[dict[str, Any]], letters: str) -> dict[int, Any]:
    """Return {row: value} written into column ``letters``."""
    column = column_index(letters) + 1
    return {row: value for (row, col), value in applied(actions).items() if col == column}


def wait_for(condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Return the first truthy result of ``condition()``, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(interval)


def wait_job(client: AddinClient, job_id: str) -> dict[str, Any]:
    """Poll ``GET /api/jobs/<id>`` until the job finished; return it."""
    return wait_for(lambda: (j := ok(client.get(f"/api/jobs/{job_id}")))["finished"] and j)  # type: ignore[no-any-return]


def ledger(app: Flask) -> dict[str, Any]:
    """Return the demo emulator's billing ledger for the demo key (over HTTP)."""
    with host_of(app).checker() as checker:
        base_url = checker.base_url
    data: dict[str, Any] = requests.get(f"{base_url}/_mock/ledger", timeout=5).json()
    return data["keys"]["demo"]  # type: ignore[no-any-return]
