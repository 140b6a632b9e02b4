"""Private files (issue 9, item 6): a 0700 data folder of 0600 files, whatever the umask.

The real CLI runs as a subprocess with a umask of 0 (the worst case: every file it
creates without saying a mode would be world-writable); modes are read with
``os.stat`` while it runs (the store's ``-wal`` and ``-shm`` and the owner lock
exist only then) and after. A folder and files left wider by an older version or
by hand are narrowed at start, with one line on stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    """Return the permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def env_for(tmp_path: Path) -> dict[str, str]:
    """Return the environment of a demo CLI run in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        FBCHECK_REGION="CH",
        FBCHECK_POLL_MIN_INTERVAL="0.05",
        FBCHECK_POLL_MAX_INTERVAL="0.3",
        HOME=str(tmp_path / "home"),
    )
    return env


class ModeWatcher:
    """Records the modes of files in the data folder while a process runs."""

    def __init__(self, data: Path) -> None:
        """Start watching ``data`` (and its ``owners`` folder) every few milliseconds."""
        self.data = data
        self.seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        """Note each file's mode the first time it is seen."""
        while not self._stop.is_set():
            for folder in (self.data, self.data / "owners"):
                try:
                    entries = list(folder.iterdir())
                except OSError:
                    continue
                for entry in entries:
                    key = str(entry.relative_to(self.data))
                    if key in self.seen:
                        continue
                    with contextlib.suppress(OSError):  # gone meanwhile
                        self.seen[key] = mode(entry)
            time.sleep(0.005)

    def stop(self) -> dict[str, int]:
        """Stop watching and return what was seen."""
        self._stop.set()
        self._thread.join(5)
        return self.seen


def check(tmp_path: Path, *, umask: int = 0) -> subprocess.CompletedProcess[str]:
    """Run a demo ``fbcheck check`` of two numbers with ``umask``."""
    source = tmp_path / "in.csv"
    source.write_text("phone\n+41791110001\n+41791110002\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "addin.cli", "check", str(source), "-o", str(tmp_path / "o.csv")],
        env=env_for(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        umask=umask,
    )


def test_with_umask_0_the_folder_is_0700_and_every_file_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    watcher = ModeWatcher(data)
    result = check(tmp_path, umask=0)
    seen = watcher.stop()
    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700
    assert mode(data / "owners") == 0o700
    assert mode(data / "fbcheck.sqlite3") == 0o600
    assert mode(data / "fbcheck.journal") == 0o600
    # Seen while the run held them open: SQLite's WAL and SHM, this run's owner lock.
    assert seen.get("fbcheck.sqlite3-wal") == 0o600, seen
    assert seen.get("fbcheck.sqlite3-shm") == 0o600, seen
    locks = {name: bits for name, bits in seen.items() if name.startswith("owners/")}
    assert locks, seen
    assert set(locks.values()) == {0o600}, locks
    assert set(seen.values()) <= {0o600, 0o700}, seen
    assert "narrowed" not in result.stderr  # nothing was wider: nothing to say


def test_a_wider_folder_and_store_are_narrowed_with_one_line(tmp_path: Path) -> None:
    assert check(tmp_path, umask=0o022).returncode == 0
    data = tmp_path / "data"
    secrets = data / "secrets.json"
    secrets.write_text('{"api_key": "sk-test-12345678"}', encoding="utf-8")
    for path, bits in (
        (data, 0o755),
        (data / "owners", 0o777),
        (data / "fbcheck.sqlite3", 0o644),
        (data / "fbcheck.journal", 0o666),
        (secrets, 0o644),
    ):
        path.chmod(bits)
    result = check(tmp_path, umask=0o022)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "narrowed" in line]
    assert len(notes) == 1, result.stderr
    note = notes[0]
    assert str(data) in note
    for part in (
        "the folder 0755 -> 0700",
        "owners 0777 -> 0700",
        "fbcheck.sqlite3 0644 -> 0600",
        "fbcheck.journal 0666 -> 0600",
        "secrets.json 0644 -> 0600",
    ):
        assert part in note, note
    assert mode(data) == 0o700
    assert mode(data / "owners") == 0o700
    for name in ("fbcheck.sqlite3", "fbcheck.journal", "secrets.json"):
        assert mode(data / name) == 0o600, name
    again = check(tmp_path, umask=0o022)
    assert again.returncode == 0
    assert "narrowed" not in again.stderr


def test_jobs_narrows_too(tmp_path: Path) -> None:
    assert check(tmp_path).returncode == 0
    data = tmp_path / "data"
    data.chmod(0o755)
    (data / "fbcheck.sqlite3").chmod(0o644)
    result = subprocess.run(
        [sys.executable, "-m", "addin.cli", "jobs", "list"],
        env=env_for(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "the folder 0755 -> 0700, fbcheck.sqlite3 0644 -> 0600" in result.stderr
    assert mode(data / "fbcheck.sqlite3") == 0o600


def test_serve_with_umask_0_keeps_the_certificate_keys_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    server = subprocess.Popen(
        [sys.executable, "-m", "addin.cli", "serve", "--port", "0"],
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0,
    )
    try:
        assert server.stdout is not None
        started = [server.stdout.readline() for _ in range(1)]
        assert "FBCheck backend on" in started[0], started
        certs = data / "certs"
        assert mode(data) == 0o700
        assert mode(certs) == 0o700
        keys = sorted(certs.glob("*.key"))
        assert [key.name for key in keys] == ["ca.key", "localhost.key"]
        assert {mode(key) for key in keys} == {0o600}
        assert mode(data / "fbcheck.sqlite3") == 0o600
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    assert "the folder 0755 -> 0700" in err
