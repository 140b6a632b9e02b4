"""Fixtures for the emulator tests: frozen-clock emulators with a client of the vendor routes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

import pytest
import requests

from tests.conftest import Emulator
from tests.conftest import Emulators as SharedEmulators

#: A clock that barely moves by itself: tests move it with /_mock/clock/advance.
FROZEN = {
    "MOCK_TIME_SCALE": 1e-6,
    "MOCK_QUEUE_DELAY": 10.0,
    "MOCK_RATE": 10.0,
    "MOCK_EXPORT_DELAY": 5.0,
}

TASK_FIELDS = [
    "created_at",
    "updated_at",
    "task_id",
    "user_id",
    "status",
    "total",
    "success",
    "failure",
]


def numbers(count: int, prefix: str = "+4179") -> list[str]:
    """Return ``count`` distinct E.164 numbers."""
    return [f"{prefix}{1_000_000 + i:07d}" for i in range(count)]


def parse_time(stamp: str) -> int:
    """Return an RFC 3339 nanosecond timestamp as epoch nanoseconds."""
    whole, fraction = stamp.rstrip("Z").split(".")
    seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int(fraction)


class Vendor(Emulator):
    """A frozen-clock emulator with a client of its vendor routes besides the admin ones."""

    defaults: ClassVar[Mapping[str, Any]] = FROZEN
    threads: ClassVar[int] = 8

    def create(
        self,
        content: list[str] | bytes | str,
        *,
        key: str | None = "",
        user_id: str | None = None,
        field: str = "file",
    ) -> requests.Response:
        """POST a file of numbers (a list is joined with newlines)."""
        if isinstance(content, list):
            content = "\n".join(content) + "\n"
        if isinstance(content, str):
            content = content.encode("utf-8")
        data = {} if user_id is None else {"user_id": user_id}
        return self.session.post(
            f"{self.url}/fb/api/simple/tasks",
            files={field: ("input.txt", content, "text/plain")},
            data=data,
            headers=self._headers(key),
            timeout=30,
        )

    def create_ok(self, content: list[str] | bytes | str, **kwargs: Any) -> dict[str, Any]:
        """Create a task, assert 200 and return its JSON."""
        response = self.create(content, **kwargs)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def status(
        self, task_id: str, *, key: str | None = "", user_id: str | None = None
    ) -> requests.Response:
        """GET a task's status."""
        params = {} if user_id is None else {"user_id": user_id}
        return self.session.get(
            f"{self.url}/fb/api/simple/tasks/{task_id}",
            params=params,
            headers=self._headers(key),
            timeout=30,
        )

    def status_ok(self, task_id: str, **kwargs: Any) -> dict[str, Any]:
        """Poll a task, assert 200 and return its JSON."""
        response = self.status(task_id, **kwargs)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def _headers(self, key: str | None) -> dict[str, str]:
        """Return the key header: "" means the default key, None means no header."""
        if key is None:
            return {}
        return {"X-API-Key": key or self.key}

    def exported(self, content: list[str], **kwargs: Any) -> dict[str, Any]:
        """Create a task and advance the clock until it is exported; return the last poll."""
        task = self.create_ok(content, **kwargs)
        self.advance(10_000)
        body = self.status_ok(task["task_id"])
        assert body["status"] == "exported", body
        return body


class Emulators(SharedEmulators[Vendor]):
    """Starts frozen-clock emulators (``Vendor``) on free ports; stops them all at teardown."""

    def __init__(self) -> None:
        """Start with none running."""
        super().__init__(Vendor)


@pytest.fixture
def emulators() -> Iterator[Emulators]:
    """Start frozen-clock emulators on demand; every one is stopped at teardown."""
    running = Emulators()
    yield running
    running.stop_all()


@pytest.fixture(scope="module")
def shared_vendor() -> Iterator[Vendor]:
    """One emulator with the frozen clock and the default key, shared by a test module."""
    running = Emulators()
    yield running.start()
    running.stop_all()


@pytest.fixture
def vendor(shared_vendor: Vendor) -> Vendor:
    """The module's emulator, reset to its start state (tasks, ledger, settings, clock)."""
    shared_vendor.reset()
    return shared_vendor
