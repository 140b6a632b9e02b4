"""Fixtures for the engine-backed routes: a demo backend on the instant emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.web.conftest import AddinClient
from tests.web.engine_app import engine_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """A demo backend on the instant emulator, closed after the test."""
    with engine_app(tmp_path) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> AddinClient:
    """A client that sends requests the way the task pane and =FBCHECK do."""
    return AddinClient(app)
