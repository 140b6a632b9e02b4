"""A process that holds the store never drops SQLite's locks behind its back.

POSIX advisory locks belong to the process: closing any descriptor of the store file
drops all of them, those of SQLite's connections included
(https://www.sqlite.org/howtocorrupt.html, section 2.2). The team server holds two
stores on one file (the users' and the engine's); had the second one's preflight
opened and closed the file, ``fbcheck users add`` from another process would have
found no other connection, checkpointed and deleted the ``-wal`` file under the
server's connections, and the store would have been damaged ("disk I/O error", then
"database disk image is malformed"). These tests do what the server does, with the
real CLI as the other process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from addin.engine.store import Store, problems


def users_add(data_dir: Path, name: str) -> None:
    """Run ``fbcheck users add NAME`` in another process on the store of ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env["FBCHECK_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "addin.cli", "users", "add", name],
        env=env,
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def intact(path: Path) -> list[str]:
    """Return SQLite's integrity check of the store file (['ok'] when intact)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]


@pytest.mark.parametrize("second", ["another store", "a failure described", "a preflight"])
def test_another_process_beside_a_held_store_leaves_it_intact(tmp_path: Path, second: str) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    held = Store(path)
    held.add_user("first")
    # What this process does next with the same file, as the team server does.
    if second == "another store":
        Store(path)  # kept open, as the users' store beside the engine's
    elif second == "a failure described":
        problems.describe(path, OSError(5, "Input/output error"), lock_timeout=1)
    else:
        assert problems.preflight(path) is None
    for round_ in range(3):
        users_add(tmp_path, f"other{round_}")
        assert Path(f"{path}-wal").exists(), "another process deleted the WAL we still use"
        for index in range(20):
            held.add_user(f"held{round_}-{index}")
    held.close()
    assert intact(path) == ["ok"]
    names = {user.name for user in Store(path).users()}
    assert {"first", "other0", "other2", "held2-19"} <= names


def test_the_preflight_reads_a_file_again_once_its_connections_are_gone(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    store = Store(path)
    assert problems.opened_here(path)
    store.close()
    assert not problems.opened_here(path)
    path.write_bytes(path.read_bytes()[:50])  # a copy cut short: said before SQLite tries
    found = problems.preflight(path)
    assert found is not None
    assert "shorter" in found or "cut short" in found
