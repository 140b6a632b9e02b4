"""The store's paragraphs for errors the CLI tests cannot provoke (a full disk, read-only)."""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from addin.engine.store import Store
from addin.engine.store.database import LOCK_NOTICE_AFTER
from addin.engine.store.problems import describe, preflight


def healthy(tmp_path: Path) -> Path:
    """Return the path of a real, closed store."""
    path = tmp_path / "fbcheck.sqlite3"
    Store(path).close()
    return path


def test_a_healthy_store_passes_the_preflight(tmp_path: Path) -> None:
    assert preflight(healthy(tmp_path)) is None
    assert preflight(tmp_path / "absent.sqlite3") is None
    (tmp_path / "empty.sqlite3").write_bytes(b"")
    assert preflight(tmp_path / "empty.sqlite3") is None  # SQLite makes it a new store


def test_a_full_disk_says_free_space_and_the_journal(tmp_path: Path) -> None:
    path = healthy(tmp_path)
    text = describe(path, sqlite3.OperationalError("database or disk is full"), lock_timeout=60)
    assert text.startswith(f"The disk holding the store {path} is full")
    assert "Free some space" in text
    assert "create journal" in text
    text = describe(path, OSError(errno.ENOSPC, "No space left on device"), lock_timeout=60)
    assert "is full" in text


def test_a_read_only_store_says_make_it_writable(tmp_path: Path) -> None:
    path = healthy(tmp_path)
    error = sqlite3.OperationalError("attempt to write a readonly database")
    text = describe(path, error, lock_timeout=60)
    assert f"The store {path} is read-only" in text
    assert "writable" in text


def test_a_malformed_page_says_restore_or_move_aside(tmp_path: Path) -> None:
    path = healthy(tmp_path)
    text = describe(path, sqlite3.DatabaseError("database disk image is malformed"), lock_timeout=1)
    assert f"The store {path} is damaged" in text
    assert "Restore it from a backup" in text
    assert "fbcheck.sqlite3-wal" in text


def test_a_short_header_is_truncated(tmp_path: Path) -> None:
    path = healthy(tmp_path)
    path.write_bytes(path.read_bytes()[:50])
    found = preflight(path)
    assert found is not None
    assert "is truncated: it holds 50 bytes of the 100" in found


def test_a_lock_says_how_long_it_waited_and_the_setting(tmp_path: Path) -> None:
    path = healthy(tmp_path)
    text = describe(path, sqlite3.OperationalError("database is locked"), lock_timeout=7)
    assert "locked by another program: waited 7 s (FBCHECK_STORE_LOCK_TIMEOUT)" in text


def test_our_own_long_write_is_waited_for_without_a_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "fbcheck.sqlite3", lock_timeout=30)
    inside = threading.Event()

    def long_write() -> None:
        """Hold a write transaction longer than the quiet wait, as a 1M-number job does."""
        with store.transaction():
            inside.set()
            time.sleep(LOCK_NOTICE_AFTER + 1.5)

    writer = threading.Thread(target=long_write)
    writer.start()
    assert inside.wait(10)
    with caplog.at_level(logging.WARNING), store.transaction() as db:
        db.execute("DELETE FROM results")
    writer.join()
    assert "waiting for the store" not in caplog.text
    store.close()


def test_another_connection_s_lock_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = healthy(tmp_path)
    store = Store(path, lock_timeout=30)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(LOCK_NOTICE_AFTER + 1.0, lambda: other.execute("ROLLBACK"))
    release.start()
    with caplog.at_level(logging.WARNING), store.transaction() as db:
        db.execute("DELETE FROM results")
    release.join()
    other.close()
    assert caplog.text.count(f"waiting for the store {path}, locked by another program") == 1
    store.close()
