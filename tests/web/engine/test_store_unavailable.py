"""A store that fails after the backend started: the API answers 503 with the paragraph."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.web.conftest import AddinClient
from tests.web.engine_app import engine_app, ok, post, refused


def test_a_store_turned_into_a_folder_answers_503_naming_it(tmp_path: Path) -> None:
    with engine_app(tmp_path) as app:
        store = tmp_path / "data" / "fbcheck.sqlite3"
        store.parent.mkdir(parents=True, exist_ok=True)
        store.mkdir()  # the engine starts lazily: its first request finds a folder there
        client = AddinClient(app)
        body = refused(client.get("/api/jobs"), 503, "store_unavailable")
        assert str(store) in body["message"]
        assert "is a folder, not a file" in body["message"]
        assert "Traceback" not in body["message"]
        shutil.rmtree(store)


def test_a_store_locked_later_answers_503_then_recovers(tmp_path: Path) -> None:
    with engine_app(tmp_path, store_lock_timeout=1.0) as app:
        client = AddinClient(app)
        assert ok(client.get("/api/jobs"))["jobs"] == []  # the store opened fine
        holder = sqlite3.connect(tmp_path / "data" / "fbcheck.sqlite3", isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            body = refused(post(client, "/api/cache/clear"), 503, "store_unavailable")
            assert "is locked by another program: waited 1 s" in body["message"]
            assert "FBCHECK_STORE_LOCK_TIMEOUT" in body["message"]
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert ok(post(client, "/api/cache/clear"))["cleared"] == 0
