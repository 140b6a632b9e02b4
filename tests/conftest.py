"""Fixtures and settings shared by every test package: the vendor emulator over real HTTP.

``Emulator`` is one emulator app served on a free loopback port, with its admin
routes (ledger, tasks, config, clock, reset). A test package that wants other
defaults subclasses it (``defaults``) and, where it uses the ``emulators``
fixture, overrides that fixture with ``Emulators(TheSubclass)``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import pytest
import requests
from hypothesis import settings

from addin.http_server import BackgroundServer
from mock_server import create_app as create_emulator
from tests.postgres import Cluster

# Shared CI machines are slow and busy: a per-example deadline would make
# property tests fail for timing, not for behaviour.
settings.register_profile("fbcheck", deadline=None)
settings.load_profile("fbcheck")


class Emulator:
    """The vendor emulator on a free loopback port, with a client of its admin routes."""

    #: MOCK_* settings under the caller's; subclasses set their own.
    defaults: ClassVar[Mapping[str, Any]] = {"MOCK_PROFILE": "instant"}
    #: Worker threads of the server.
    threads: ClassVar[int] = 16

    def __init__(self, **config: Any) -> None:
        """Start the emulator with ``defaults`` updated by the MOCK_* ``config``."""
        merged = {**self.defaults, **config}
        self.server = BackgroundServer(create_emulator(merged), threads=self.threads).start()
        self.url = self.server.url
        #: The key the ledger and the vendor routes use by default: the first one configured.
        self.key: str = next(iter(merged.get("MOCK_API_KEYS", {"demo": 0})))
        self.session = requests.Session()

    def __enter__(self) -> Self:
        """Return the running emulator."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop it."""
        self.close()

    def close(self) -> None:
        """Close pooled connections, then stop the server."""
        self.session.close()
        self.server.stop()

    def ledger(self, key: str | None = None) -> dict[str, Any]:
        """Return the ledger entry of ``key`` (the default key when None)."""
        response = self.session.get(f"{self.url}/_mock/ledger", timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json()["keys"][key or self.key])

    def tasks(self, *, with_numbers: bool = False) -> list[dict[str, Any]]:
        """Return the admin task list (``with_numbers``: each task's uploaded numbers too)."""
        params = {"numbers": "1"} if with_numbers else {}
        response = self.session.get(f"{self.url}/_mock/tasks", params=params, timeout=30)
        assert response.status_code == 200, response.text
        return list(response.json()["tasks"])

    def configure(self, **changes: Any) -> requests.Response:
        """PUT run-time settings (faults, shares) and return the answer."""
        return self.session.put(f"{self.url}/_mock/config", json=changes, timeout=30)

    def advance(self, seconds: float) -> None:
        """Move the emulator clock forward."""
        response = self.session.post(
            f"{self.url}/_mock/clock/advance", json={"seconds": seconds}, timeout=30
        )
        assert response.status_code == 200, response.text

    def reset(self) -> None:
        """Return to the start state: no tasks, a fresh ledger, the start settings and clock."""
        response = self.session.post(f"{self.url}/_mock/reset", timeout=30)
        assert response.status_code == 200, response.text


E = TypeVar("E", bound=Emulator)


def _task_counts(data_dir: Path) -> tuple[int, int]:
    """Return (tasks with a vendor id, tasks mid-upload) of a local store, (0, 0) if none yet."""
    store = data_dir / "fbcheck.sqlite3"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            stored, creating = db.execute(
                "SELECT COUNT(task_id), COALESCE(SUM(state = 'creating'), 0) FROM tasks"
            ).fetchone()
    except sqlite3.OperationalError:  # not made yet, or busy for a moment
        return 0, 0
    return int(stored), int(creating)


def _wait_for_store(
    data_dir: Path, proc: subprocess.Popen[str], ready: Any, what: str, timeout: float
) -> None:
    """Wait until ``ready(stored, creating)`` holds for a local CLI run's store."""
    deadline = time.monotonic() + timeout
    while not ready(*_task_counts(data_dir)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"the client did not reach {what} in time"
        time.sleep(0.02)


def wait_for_stored_tasks(
    data_dir: Path, count: int, proc: subprocess.Popen[str], timeout: float = 60.0
) -> None:
    """Wait until a local CLI run has stored ``count`` vendor task ids, with no upload in flight.

    The vendor counts a create as it answers; the client stores the id a moment later. A
    kill between the two is a real uncertain upload (tested on its own), so a test that
    means to kill after the ids are safe waits here rather than for the vendor's count.
    """
    _wait_for_store(
        data_dir,
        proc,
        lambda stored, creating: stored >= count and not creating,
        f"{count} stored task id(s)",
        timeout,
    )


def wait_for_upload_in_flight(
    data_dir: Path, proc: subprocess.Popen[str], timeout: float = 60.0
) -> None:
    """Wait until a local CLI run is inside an upload (a task in ``creating``)."""
    _wait_for_store(data_dir, proc, lambda _, creating: creating > 0, "an upload", timeout)


class Emulators(Generic[E]):
    """Starts emulators of one kind on demand; stops them all at teardown."""

    def __init__(self, kind: type[E]) -> None:
        """Start with none running."""
        self.kind = kind
        self._running: list[E] = []

    def start(self, **config: Any) -> E:
        """Start an emulator with the kind's defaults plus ``config``."""
        emulator = self.kind(**config)
        self._running.append(emulator)
        return emulator

    def stop_all(self) -> None:
        """Stop every emulator started here."""
        for emulator in self._running:
            emulator.close()
        self._running.clear()


@pytest.fixture
def emulators() -> Iterator[Emulators[Emulator]]:
    """Start emulators on demand (instant profile by default); all stop at teardown."""
    running = Emulators(Emulator)
    yield running
    running.stop_all()


@pytest.fixture
def emulator(emulators: Emulators[Emulator]) -> Emulator:
    """An instant emulator with the demo key; packages override it with their own keys."""
    return emulators.start()


# -- PostgreSQL (team mode): a throwaway cluster on loopback, see tests/postgres.py --------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the session; the test skips (saying why) without binaries."""
    reason = Cluster.why_not()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests need a local cluster: {reason}")
    cluster = Cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The URL of a new, empty database (no fbcheck tables), dropped after the test."""
    name = pg_cluster.create_database()
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


@pytest.fixture(scope="session")
def pg_template(pg_cluster: Cluster) -> str:
    """The name of a database at the schema's head revision, copied by ``pg_store_url``."""
    from addin.engine.store.migrate import upgrade_postgres

    name = pg_cluster.create_database(prefix="template")
    upgrade_postgres(pg_cluster.url(name))
    return name


@pytest.fixture
def pg_store_url(pg_cluster: Cluster, pg_template: str) -> Iterator[str]:
    """The URL of a new database with the fbcheck schema (as `fbcheck db upgrade` leaves it)."""
    name = pg_cluster.create_database(template=pg_template)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)
