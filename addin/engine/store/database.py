"""The SQLite file: connections (one per thread), transactions, the schema and its upgrades.

The schema lives in ``schema.sql`` beside this module (package data). A file
written by an older version is upgraded in place when it is opened: columns
are added, so an older fbcheck can still read what it knows. One exception:
version 3 put the product (``facebook``) into the result cache's key, which
SQLite can only do by rebuilding the table; every cached answer is kept with
product ``facebook`` (the only check before it). An older fbcheck can still
read that cache but not add answers to it: upgrade every fbcheck that shares a
data folder together.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from addin.engine.private_files import create_private_file, make_private_dir
from addin.engine.store import problems

log = logging.getLogger(__name__)
T = TypeVar("T")

#: PRAGMA user_version of the schema in schema.sql.
SCHEMA_VERSION = 3
#: The product of every answer cached before the product was part of the key.
FIRST_PRODUCT = "facebook"
#: Seconds a writer waits for another process's transaction before giving up (default).
BUSY_TIMEOUT = 60.0
#: Seconds waited in silence before saying that the store is locked (our own writes are
#: shorter, another program's may not be).
LOCK_NOTICE_AFTER = 2.0

#: Columns added since the first release, by table, with their declarations.
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "jobs": (("fingerprint", "TEXT"),),
    "tasks": (("lease_owner", "TEXT"), ("lease_expires", "REAL"), ("key_fp", "TEXT")),
}


class StoreError(RuntimeError):
    """The store cannot be opened or written: damaged, locked, read-only or the disk is full.

    Its message is one paragraph for a person: the file, what is wrong, what to do.
    """


def schema_sql() -> str:
    """Return the text of ``schema.sql``."""
    return resources.files("addin.engine.store").joinpath("schema.sql").read_text("utf-8")


class Database:
    """Thread-safe access to one SQLite file; one connection per thread."""

    def __init__(
        self, path: Path, *, clock: Any = time.time, lock_timeout: float = BUSY_TIMEOUT
    ) -> None:
        """Open (and create or upgrade) the database at ``path``, or raise ``StoreError``.

        A store that another program holds locked is waited for up to ``lock_timeout``
        seconds, saying so (a warning) once the wait passes ``LOCK_NOTICE_AFTER``.
        """
        self.path = path
        self.clock = clock
        self.lock_timeout = lock_timeout
        self._quiet_wait = min(LOCK_NOTICE_AFTER, lock_timeout)
        self._local = threading.local()
        self._notice_lock = threading.Lock()
        self._noticed_at = -float("inf")
        #: Threads of this process inside a write transaction on this store.
        self._writers = 0
        problem = problems.preflight(path)
        if problem is not None:
            raise StoreError(problem)
        try:
            make_private_dir(path.parent)
            _make_private(path)
            conn = self._connection()
            self._patiently(conn, lambda: self._install_schema(conn))
        except (sqlite3.DatabaseError, OSError) as exc:
            self.close()
            raise self.failure(exc) from exc

    def failure(self, exc: BaseException) -> StoreError:
        """Return the ``StoreError`` saying what ``exc`` means for this store."""
        if isinstance(exc, StoreError):
            return exc
        return StoreError(problems.describe(self.path, exc, lock_timeout=self.lock_timeout))

    @contextmanager
    def impatient(self, on: bool = True) -> Iterator[None]:
        """In the block (this thread, when ``on``), a locked store fails after the quiet wait."""
        before = getattr(self._local, "impatient", False)
        self._local.impatient = on or before
        try:
            yield
        finally:
            self._local.impatient = before

    def _patiently(self, conn: sqlite3.Connection, step: Callable[[], T]) -> T:
        """Run ``step``; if the store is locked, say so and wait up to the lock timeout."""
        try:
            return step()
        except sqlite3.OperationalError as exc:
            impatient = getattr(self._local, "impatient", False)
            if not problems.is_locked(exc) or impatient or self.lock_timeout <= self._quiet_wait:
                raise
        with self._notice_lock:
            # One line per wait, whichever of this store's threads waits first; none
            # while one of our own threads writes (a long job insert is not a stranger).
            now = time.monotonic()
            if not self._writers and now - self._noticed_at > self.lock_timeout:
                self._noticed_at = now
                log.warning("%s", problems.lock_notice(self.path, self.lock_timeout))
        left = self.lock_timeout - self._quiet_wait
        conn.execute(f"PRAGMA busy_timeout = {int(left * 1000)}")
        try:
            return step()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._quiet_wait * 1000)}")

    def _connection(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._quiet_wait, isolation_level=None)
            try:
                conn.row_factory = sqlite3.Row
                self._patiently(conn, lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()  # never keep a connection that is not set up
                raise
            self._local.conn = conn
        return conn

    @staticmethod
    def _install_schema(conn: sqlite3.Connection) -> None:
        """Create missing tables and add columns an older version did not have."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have installed the schema while we waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                return
            old = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            for table, columns in _ADDED_COLUMNS.items():
                if table not in old:
                    continue
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns:
                    if name not in have:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            if "results" in old:
                _add_product_to_cache_key(conn)
            for statement in _statements(schema_sql()):
                conn.execute(statement)
            if "tasks" in old:
                _upgrade_first_release(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one IMMEDIATE transaction (committed on success).

        Any SQLite or OS error, from opening the transaction to its commit, becomes a
        ``StoreError`` saying what is wrong with the store.
        """
        try:
            conn = self._connection()
            self._patiently(conn, lambda: conn.execute("BEGIN IMMEDIATE"))
        except (sqlite3.DatabaseError, OSError) as exc:
            raise self.failure(exc) from exc
        with self._notice_lock:
            self._writers += 1
        try:
            try:
                yield conn
            except BaseException as exc:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise self.failure(exc) from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                # A full disk makes SQLite roll back by itself: a second ROLLBACK would
                # fail and hide the StoreError that stops the runner.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise self.failure(exc) from exc
        finally:
            with self._notice_lock:
                self._writers -= 1

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query and return all rows (``StoreError`` if the store fails)."""
        try:
            conn = self._connection()
            return self._patiently(conn, lambda: conn.execute(sql, params).fetchall())
        except (sqlite3.DatabaseError, OSError) as exc:
            raise self.failure(exc) from exc

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _statements(script: str) -> Iterator[str]:
    """Yield the statements of an SQL script without its comments."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    for statement in "\n".join(lines).split(";"):
        if statement.strip():
            yield statement


def _add_product_to_cache_key(conn: sqlite3.Connection) -> None:
    """Rebuild a results table keyed by (realm, e164) as (realm, product, e164).

    Every existing answer is kept, with product ``facebook``; runs inside the
    upgrade's transaction, so a failure leaves the old table as it was.
    """
    if "product" in {r[1] for r in conn.execute("PRAGMA table_info(results)")}:
        return
    conn.execute(
        "CREATE TABLE results_with_product (realm TEXT NOT NULL,"
        f" product TEXT NOT NULL DEFAULT '{FIRST_PRODUCT}', e164 TEXT NOT NULL,"
        " answer TEXT NOT NULL, checked_at REAL NOT NULL, task_id TEXT,"
        " PRIMARY KEY (realm, product, e164)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO results_with_product (realm, product, e164, answer, checked_at, task_id)"
        " SELECT realm, ?, e164, answer, checked_at, task_id FROM results",
        (FIRST_PRODUCT,),
    )
    conn.execute("DROP TABLE results")
    conn.execute("ALTER TABLE results_with_product RENAME TO results")


def _upgrade_first_release(conn: sqlite3.Connection) -> None:
    """Carry a first-release store over: claims, billing records, creating -> uncertain."""
    conn.execute(
        "INSERT OR IGNORE INTO claims (realm, e164, ref) SELECT t.realm, tn.e164, t.ref"
        " FROM tasks t JOIN task_numbers tn ON tn.ref = t.ref"
        " WHERE t.state IN ('queued', 'creating', 'running')"
    )
    columns = {r[1] for r in conn.execute("PRAGMA table_info(tasks)")}
    if "billed" in columns:
        conn.execute(
            "INSERT INTO requests (at, realm, ref, kind, billing, detail, count)"
            " SELECT updated_at, realm, ref, 'counted', 'billed',"
            " 'billed requests counted before the upgrade', billed FROM tasks WHERE billed > 0"
        )
    # A first-release process died inside that upload: its outcome is unknown.
    conn.execute(
        "UPDATE tasks SET state = 'uncertain', error = 'the upload was interrupted before"
        " this version; the vendor may have created the task' WHERE state = 'creating'"
    )


def _make_private(path: Path) -> None:
    """Create the store file readable by its owner only: it holds phone numbers.

    SQLite gives the ``-wal`` and ``-shm`` files it creates the store's own mode.
    """
    if os.name != "posix":
        return  # the per-user data folder's permissions protect it on Windows
    if not path.exists():
        create_private_file(path)
    elif path.is_file():
        os.chmod(path, 0o600)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Yield consecutive slices of at most ``size`` items (SQLite caps bound parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
