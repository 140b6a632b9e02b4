"""A store that cannot be used (issue 9, item 5): one paragraph, exit 8, never a traceback.

Each damaged store (garbage, truncated, a folder, unreadable, locked by another
program) is made from a real store that a demo ``fbcheck check`` wrote, then the
real CLI runs as a subprocess: ``fbcheck check``, ``fbcheck jobs ...`` and
``fbcheck serve`` (which refuses to start). The paragraph must name the file, say
what is wrong and what to do.
"""

from __future__ import annotations

import os
import shutil
import site
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

STORE = "fbcheck.sqlite3"
#: What every paragraph says, by case: what is wrong, and what to do.
SAYS = {
    "garbage": ("is not an SQLite database", "move it aside"),
    "truncated": ("is truncated", "Restore it from a backup"),
    "folder": ("is a folder, not a file", "Move that folder aside"),
    "unreadable": ("cannot be opened by this user", "chmod 600"),
    "locked": ("is locked by another program", "Wait until that program is done"),
}


def base_env(data_dir: Path, home: Path) -> dict[str, str]:
    """Return the environment of a demo CLI run on ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATA_DIR=str(data_dir),
        FBCHECK_REGION="CH",
        FBCHECK_POLL_MIN_INTERVAL="0.05",
        FBCHECK_POLL_MAX_INTERVAL="0.3",
        FBCHECK_STORE_LOCK_TIMEOUT="3",
        HOME=str(home),
    )
    return env


def run(
    argv: list[str], env: dict[str, str], cwd: Path, *, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``fbcheck ARGV`` to its end (``prefix``: another interpreter or user)."""
    command = [*prefix] if prefix else [sys.executable]
    return subprocess.run(
        [*command, "-m", "addin.cli", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Return a data folder with a real store holding one finished job, and its id."""
    root = tmp_path_factory.mktemp("seed")
    (root / "in.csv").write_text("phone\n+41791110001\n+41791110002\n", encoding="utf-8")
    data = root / "data"
    result = run(["check", "in.csv", "-o", "out.csv"], base_env(data, root), root)
    assert result.returncode == 0, result.stderr
    assert not (data / f"{STORE}-wal").exists()  # checkpointed on close: one file
    db = sqlite3.connect(data / STORE)
    (job_id,) = db.execute("SELECT job_id FROM jobs").fetchone()
    db.close()
    assert not (data / f"{STORE}-wal").exists()
    return data, str(job_id)


def garbage(store: Path) -> None:
    """Replace the store with random bytes."""
    store.write_bytes(os.urandom(40_000))


def truncated(store: Path) -> None:
    """Cut the store to a third of its size (a copy cut short)."""
    size = store.stat().st_size
    with store.open("r+b") as handle:
        handle.truncate(size // 3)


def folder(store: Path) -> None:
    """Put a folder where the store belongs."""
    store.unlink()
    store.mkdir()
    (store / "something").write_text("x", encoding="utf-8")


BREAK: dict[str, Callable[[Path], None]] = {
    "garbage": garbage,
    "truncated": truncated,
    "folder": folder,
}

COMMANDS = {
    "check": ["check", "in.csv", "-o", "out.csv"],
    "jobs list": ["jobs", "list"],
    "jobs show": ["jobs", "show", "JOB"],
    "serve": ["serve", "--port", "0"],
}


def assert_one_paragraph(result: subprocess.CompletedProcess[str], store: Path, case: str) -> None:
    """Assert exit 8, no traceback, and one line naming the store, the problem and the cure."""
    assert result.returncode == 8, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if str(store) in line]
    paragraphs = [line for line in lines if "error:" in line or "not started:" in line]
    assert len(paragraphs) == 1, result.stderr
    wrong, cure = SAYS[case]
    assert wrong in paragraphs[0], paragraphs[0]
    assert cure in paragraphs[0], paragraphs[0]


def prepared(seeded: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """Copy the seeded data folder and an input file into ``tmp_path``; return the folder."""
    data = tmp_path / "data"
    shutil.copytree(seeded[0], data)
    (tmp_path / "in.csv").write_text("phone\n+41791110003\n", encoding="utf-8")
    return data, seeded[1]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(BREAK))
def test_a_broken_store_is_one_paragraph_and_exit_8(
    seeded: tuple[Path, str], tmp_path: Path, case: str, command: str
) -> None:
    data, job_id = prepared(seeded, tmp_path)
    store = data / STORE
    BREAK[case](store)
    argv = [job_id if word == "JOB" else word for word in COMMANDS[command]]
    result = run(argv, base_env(data, tmp_path), tmp_path)
    assert_one_paragraph(result, store, case)
    assert not (tmp_path / "out.csv").exists()
    if command == "serve":
        assert "FBCheck backend on" not in result.stdout  # it never started


class Locked:
    """A copied store held in an exclusive transaction, as another program would hold it."""

    def __init__(self, data: Path, job_id: str) -> None:
        """Take the lock."""
        self.data = data
        self.job_id = job_id
        self.holder = sqlite3.connect(data / STORE, isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        """End the transaction (idempotent)."""
        if self.holder.in_transaction:
            self.holder.execute("ROLLBACK")


@pytest.fixture
def locked(seeded: tuple[Path, str], tmp_path: Path) -> Iterator[Locked]:
    """The store of ``tmp_path/data``, locked until the test ends or releases it."""
    lock = Locked(*prepared(seeded, tmp_path))
    try:
        yield lock
    finally:
        lock.release()
        lock.holder.close()


@pytest.mark.parametrize("argv", [["check", "in.csv", "-o", "out.csv"], ["jobs", "abandon", "JOB"]])
def test_a_store_locked_by_another_program_is_waited_for_then_exit_8(
    locked: Locked, tmp_path: Path, argv: list[str]
) -> None:
    data, job_id = locked.data, locked.job_id
    store = data / STORE
    argv = [job_id if word == "JOB" else word for word in argv]
    result = run(argv, base_env(data, tmp_path), tmp_path)
    waiting = f"waiting for the store {store}, locked by another program… up to 3 s"
    assert result.stderr.count(waiting) == 1, result.stderr
    assert "waited 3 s (FBCHECK_STORE_LOCK_TIMEOUT)" in result.stderr
    assert_one_paragraph(result, store, "locked")
    assert result.stderr.index(waiting) < result.stderr.index("error:")


def test_reading_a_locked_store_still_works(locked: Locked, tmp_path: Path) -> None:
    # The store is in WAL mode: another program's write lock does not stop readers.
    data, job_id = locked.data, locked.job_id
    result = run(["jobs", "show", job_id], base_env(data, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert job_id in result.stdout
    assert "Traceback" not in result.stderr


def test_a_lock_released_within_the_bound_is_waited_for(locked: Locked, tmp_path: Path) -> None:
    env = base_env(locked.data, tmp_path)
    env["FBCHECK_STORE_LOCK_TIMEOUT"] = "120"
    proc = subprocess.Popen(
        [sys.executable, "-m", "addin.cli", "check", "in.csv", "-o", "out.csv"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the lock is held until the CLI says that it waits
        seen.append(line)
        if "locked by another program… up to 120 s" in line:
            break
    locked.release()
    _, err = proc.communicate(timeout=90)
    assert any("waiting for the store" in line for line in seen), "".join(seen)
    assert proc.returncode == 0, "".join(seen) + err
    assert "Traceback" not in "".join(seen) + err
    assert (tmp_path / "out.csv").exists()


# -- unreadable (chmod 000) ---------------------------------------------------------


def plain_user_prefix() -> tuple[str, ...] | None:
    """Return how to run the CLI as an unprivileged user, or None when it cannot be done.

    root reads a chmod-000 file anyway, so as root the CLI runs as ``nobody`` with the
    system's Python of the same minor version on our packages (PYTHONPATH).
    """
    if os.geteuid() != 0:
        return ()
    python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    setpriv = shutil.which("setpriv")
    if not python.exists() or setpriv is None:
        return None
    return (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", str(python))


def test_an_unreadable_store_is_one_paragraph_and_exit_8(seeded: tuple[Path, str]) -> None:
    prefix = plain_user_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv and a system Python to drop to nobody")
    # pytest's tmp_path sits in a folder only root may enter: use one of our own.
    root = Path(tempfile.mkdtemp(prefix="fbcheck-unreadable-"))
    try:
        data = root / "data"
        shutil.copytree(seeded[0], data)
        (root / "in.csv").write_text("phone\n+41791110003\n", encoding="utf-8")
        store = data / STORE
        env = base_env(data, root)
        if prefix:
            for path in (root, *root.rglob("*")):
                os.chown(path, 65534, 65534)
            env["PYTHONPATH"] = os.pathsep.join(
                [str(Path(__file__).resolve().parents[1]), *site.getsitepackages()]
            )
            probe = run(["jobs", "list"], env, root, prefix=prefix)
            if probe.returncode != 0:
                pytest.skip(f"cannot run the CLI as nobody here: {probe.stderr[-300:]}")
        store.chmod(0)
        for name in ("check", "jobs list", "serve"):
            argv = [seeded[1] if word == "JOB" else word for word in COMMANDS[name]]
            result = run(argv, env, root, prefix=prefix)
            assert_one_paragraph(result, store, "unreadable")
            assert "Permission denied" in result.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
