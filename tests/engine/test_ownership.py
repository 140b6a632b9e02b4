"""Owner locks: a live owner is never `gone`; a killed one is, at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from addin.engine.ownership import OwnerLock

HOLD_SCRIPT = """
import sys, time
from pathlib import Path
from addin.engine.ownership import OwnerLock

lock = OwnerLock(Path(sys.argv[1]))
print(lock.owner, flush=True)
time.sleep(60)
"""


def test_owner_ids_are_fresh_and_locked(tmp_path: Path) -> None:
    a = OwnerLock(tmp_path)
    b = OwnerLock(tmp_path)
    assert a.owner != b.owner
    assert a.path.exists()
    assert b.gone({a.owner}) == set()  # held by a live handle, even in this process
    a.release()
    b.release()


def test_gone_ignores_itself_unknown_and_unsafe_ids(tmp_path: Path) -> None:
    lock = OwnerLock(tmp_path)
    (tmp_path / "owners" / "..").mkdir(exist_ok=True)
    assert lock.gone({lock.owner, "f" * 32, "../x", "", "A" * 32, "a" * 65}) == set()
    lock.release()


def test_a_lock_file_nobody_holds_is_gone_and_removed(tmp_path: Path) -> None:
    lock = OwnerLock(tmp_path)
    dead = tmp_path / "owners" / f"{'d' * 32}.lock"
    dead.write_bytes(b"")
    assert lock.gone({"d" * 32}) == {"d" * 32}
    assert not dead.exists()
    lock.release()


def test_release_is_idempotent_and_removes_the_file(tmp_path: Path) -> None:
    lock = OwnerLock(tmp_path)
    lock.release()
    lock.release()
    assert not lock.path.exists()
    # A released owner left no lock file: another machine's rule applies, trust its lease.
    other = OwnerLock(tmp_path)
    assert other.gone({lock.owner}) == set()
    other.release()


def test_a_killed_owner_is_gone_at_once(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        owner = child.stdout.readline().strip()
        me = OwnerLock(tmp_path)
        assert me.gone({owner}) == set()
        assert me.gone({owner}) == set()  # asking does not take the lock away
        child.kill()  # SIGKILL on posix: no clean-up code runs
        child.wait(10)
        assert me.gone({owner}) == {owner}
        assert not (tmp_path / "owners" / f"{owner}.lock").exists()
        me.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
