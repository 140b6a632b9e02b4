"""What is wrong with a store file, said as one paragraph: the file, the problem, what to do.

``preflight`` looks at the file before SQLite opens it (a folder in its place, a file
this user may not open, bytes that are not an SQLite database, a file shorter than
its header says); ``describe`` turns an SQLite or OS error met later into the same
kind of paragraph. Every message names the file and says what to do: wait, move it
aside, restore it, or free space.

Neither reads the file's header while this process holds SQLite connections to it
(:func:`note_opened`). POSIX advisory locks belong to the process, and closing *any*
descriptor of the file drops all of them, those of SQLite's connections included
(https://www.sqlite.org/howtocorrupt.html, section 2.2, "POSIX advisory locks
canceled by a separate thread doing close()"). Another process (``fbcheck users add``
beside a running server) then believes it holds the last connection of a WAL store,
checkpoints and deletes the ``-wal`` file under our connections, and the store is
damaged (``tests/engine/store/test_store_locks.py`` proves it).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import struct
import threading
import weakref
from collections import Counter
from pathlib import Path

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: The setting that bounds the wait for a locked store.
LOCK_SETTING = "FBCHECK_STORE_LOCK_TIMEOUT"
_HEADER = 100
#: (device, inode) of the store files this process holds SQLite connections to, and how many.
_LIVE: Counter[tuple[int, int]] = Counter()
_LIVE_LOCK = threading.Lock()


class TrackedConnection(sqlite3.Connection):
    """An SQLite connection that :func:`note_opened` can watch (plain ones take no weakref)."""


def _identity(path: Path) -> tuple[int, int] | None:
    """Return the (device, inode) of ``path``, or None when it cannot be stat'ed."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def note_opened(path: Path, conn: TrackedConnection) -> None:
    """Count ``conn`` as a connection of this process to ``path`` until it is gone."""
    identity = _identity(path)
    if identity is None:
        return
    with _LIVE_LOCK:
        _LIVE[identity] += 1
    weakref.finalize(conn, _gone, identity)


def _gone(identity: tuple[int, int]) -> None:
    """Count one connection less (its object is being freed)."""
    with _LIVE_LOCK:
        _LIVE[identity] -= 1
        if _LIVE[identity] <= 0:
            del _LIVE[identity]


def opened_here(path: Path) -> bool:
    """Return True while this process holds SQLite connections to ``path``."""
    identity = _identity(path)
    with _LIVE_LOCK:
        return identity is not None and _LIVE[identity] > 0


def _aside(path: Path) -> str:
    """Return how to move a store aside, its WAL and SHM files with it."""
    return (
        f"move it aside (rename it, with any {path.name}-wal and {path.name}-shm beside it,"
        " for example to fbcheck.damaged.sqlite3) and run again to start an empty store"
        " (without the cached answers and the job history)"
    )


def preflight(path: Path) -> str | None:
    """Return why the file at ``path`` cannot be the store, before SQLite tries; None if fine."""
    if path.is_dir():
        return (
            f"The store {path} is a folder, not a file. Move that folder aside (or set"
            " FBCHECK_DATA_DIR to another data folder) and run again: a new store is created."
        )
    if not path.exists():
        return None
    if opened_here(path):
        # Our own connections checked it; opening it here would drop their locks.
        return None
    try:
        with path.open("rb") as handle:
            header = handle.read(_HEADER)
    except OSError as exc:
        return unreadable(path, exc)
    if not header:
        return None  # SQLite makes an empty file a new database
    if not header.startswith(SQLITE_MAGIC[: len(header)]) or len(header) < _HEADER:
        if header.startswith(SQLITE_MAGIC):
            return truncated(path, len(header), _HEADER)
        return (
            f"The store {path} is not an SQLite database: its first bytes are something"
            f" else (another file saved under its name, or damage). Restore it from a backup,"
            f" or {_aside(path)}."
        )
    expected = _announced_size(header)
    actual = path.stat().st_size
    if expected is not None and actual < expected and not _has_wal(path):
        return truncated(path, actual, expected)
    return None


def _announced_size(header: bytes) -> int | None:
    """Return the file size the header announces, when its page count is valid."""
    page_size = struct.unpack_from(">H", header, 16)[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages = struct.unpack_from(">LL", header, 24)
    valid_for = struct.unpack_from(">L", header, 92)[0]
    # The count is valid only when the change counter matches "version-valid-for"
    # (https://www.sqlite.org/fileformat2.html#in_header_database_size).
    if pages == 0 or change_counter != valid_for or page_size < 512:
        return None
    return int(pages) * int(page_size)


def _has_wal(path: Path) -> bool:
    """Return True when a non-empty WAL file sits beside the store (it may hold pages)."""
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def truncated(path: Path, actual: int, expected: int) -> str:
    """Return the paragraph for a store shorter than its header says."""
    return (
        f"The store {path} is truncated: it holds {actual:,} bytes of the {expected:,} its"
        " header announces (a copy cut short, or a disk that filled up). Restore it from a"
        f" backup, or {_aside(path)}."
    )


def unreadable(path: Path, exc: OSError) -> str:
    """Return the paragraph for a store this user may not open."""
    reason = exc.strerror or str(exc)
    return (
        f"The store {path} cannot be opened by this user ({reason}). Give it back to your"
        f" user (for example `chmod 600 {path}`, or `chown` it if another account created"
        f" it), or {_aside(path)}; a backup can be restored the same way."
    )


def locked(path: Path, waited: float) -> str:
    """Return the paragraph for a store another program kept locked too long."""
    return (
        f"The store {path} is locked by another program: waited {waited:.0f} s"
        f" ({LOCK_SETTING}) for it. Wait until that program is done (another fbcheck run or"
        " backend on the same data folder, or a tool that opened the file, such as a"
        f" database browser) and run again, or raise {LOCK_SETTING}. Task ids the vendor"
        " already returned are kept in the create journal; the next run pays nothing for them."
    )


def lock_notice(path: Path, timeout: float) -> str:
    """Return the line said while waiting for a locked store."""
    return (
        f"waiting for the store {path}, locked by another program… up to {timeout:.0f} s"
        f" ({LOCK_SETTING})"
    )


def is_locked(exc: BaseException) -> bool:
    """Return True for SQLite's "another connection holds the lock" errors."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def describe(path: Path, exc: BaseException, *, lock_timeout: float) -> str:
    """Return one paragraph saying what is wrong with the store at ``path`` and what to do."""
    text = str(exc)
    lowered = text.lower()
    if is_locked(exc):
        return locked(path, lock_timeout)
    found = preflight(path)
    if found is not None:
        return found
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
        return unreadable(path, exc)
    if "full" in lowered or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return (
            f"The disk holding the store {path} is full ({text}). Free some space and run"
            " again: task ids the vendor already returned are kept in the create journal,"
            " and the next run pays nothing for them."
        )
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"The store {path} is read-only ({text}). Make the file and its folder"
            f" {path.parent} writable for your user and run again, or restore a backup"
            f" elsewhere, or {_aside(path)}."
        )
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered
    ):
        return (
            f"The store {path} is damaged or is not an fbcheck store ({text}). Restore it"
            f" from a backup, or {_aside(path)}."
        )
    if "unable to open" in lowered and not os.access(path.parent, os.W_OK | os.X_OK):
        return (
            f"The store {path} cannot be created or opened: its folder {path.parent} is not"
            " writable for this user. Make it writable, or set FBCHECK_DATA_DIR to another"
            " data folder."
        )
    return (
        f"The store {path} cannot be used ({text}). Check the file and its folder"
        f" {path.parent}; restore it from a backup, or {_aside(path)}."
    )


def data_dir_problem(data_dir: Path, exc: BaseException) -> str:
    """Return the paragraph for a data folder where the lock or journal cannot be made."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (
        f"The data folder {data_dir} cannot be used ({reason}). Make it a folder your user"
        " may write to, or set FBCHECK_DATA_DIR to another data folder, and run again."
    )
