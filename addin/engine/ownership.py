"""Who may work on a task: a lease with a heartbeat, and a lock that dies with its process.

Each runner has a random owner id. It leases the tasks it works on in the store
(``lease_owner``, ``lease_expires``) and renews the leases by a heartbeat; a
lease that is not renewed expires and any runner takes the task over then.

On one machine a dead owner is noticed at once, without waiting for the expiry
and without trusting process ids (a container's CLI is PID 1 every time): each
owner holds an exclusive OS lock on ``owners/<id>.lock`` in the data folder for
its lifetime. The operating system drops the lock when the process dies, however
it dies; a lock file nobody holds belongs to a dead owner.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import IO

from addin.engine.private_files import make_private_dir

#: Seconds a lease lasts without a heartbeat.
LEASE_SECONDS = 60.0
#: Seconds between heartbeats.
HEARTBEAT_SECONDS = 15.0
#: The lease owner of the tasks team mode's queue workers run (their queue's locks keep
#: the workers apart; see ``addin.engine.workers``).
QUEUE_OWNER = "fbcheck-queue"


class OwnerLock:
    """This process's owner id, held as an OS lock for as long as it lives."""

    def __init__(self, data_dir: Path) -> None:
        """Create a fresh owner id and take its lock."""
        self.folder = data_dir / "owners"
        self.owner = uuid.uuid4().hex
        make_private_dir(self.folder)
        self.path = self.folder / f"{self.owner}.lock"
        # Readable by the owner only, whatever the umask (it sits in the private data folder).
        fd = os.open(self.path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        self._handle: IO[bytes] | None = os.fdopen(fd, "wb")
        if not _try_lock(self._handle):
            raise RuntimeError(f"cannot lock {self.path}")

    def gone(self, owners: set[str]) -> set[str]:
        """Return the owners among ``owners`` whose lock file exists and nobody holds."""
        dead: set[str] = set()
        for owner in owners:
            if owner == self.owner or not _safe_id(owner):
                continue
            path = self.folder / f"{owner}.lock"
            try:
                handle = open(path, "rb+")  # noqa: SIM115
            except OSError:
                continue  # no lock file here: another machine's owner, trust its lease
            with handle:
                if _try_lock(handle):
                    dead.add(owner)
                    _unlock(handle)
        for owner in dead:
            (self.folder / f"{owner}.lock").unlink(missing_ok=True)
        return dead

    def release(self, *, keep_file: bool = False) -> None:
        """Drop the lock and its file (idempotent).

        ``keep_file`` when leases of this owner may remain in the store (they could not
        be released): the unlocked file then tells the next run at once that they are dead.
        """
        if self._handle is None:
            return
        _unlock(self._handle)
        self._handle.close()
        self._handle = None
        if not keep_file:
            self.path.unlink(missing_ok=True)


def _safe_id(owner: str) -> bool:
    """Return True for an owner id that is a plain hex name (never a path)."""
    return 0 < len(owner) <= 64 and all(c in "0123456789abcdef" for c in owner)


def _try_lock(handle: IO[bytes]) -> bool:
    """Take an exclusive lock on ``handle`` without waiting; return True if taken."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(handle: IO[bytes]) -> None:
    """Release a lock taken by ``_try_lock``."""
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass
