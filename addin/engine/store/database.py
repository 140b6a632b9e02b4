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

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

#: PRAGMA user_version of the schema in schema.sql.
SCHEMA_VERSION = 3
#: The product of every answer cached before the product was part of the key.
FIRST_PRODUCT = "facebook"
#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT = 60.0

#: Columns added since the first release, by table, with their declarations.
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "jobs": (("fingerprint", "TEXT"),),
    "tasks": (("lease_owner", "TEXT"), ("lease_expires", "REAL"), ("key_fp", "TEXT")),
}


class StoreError(RuntimeError):
    """The store cannot be opened or written: damaged, locked, read-only or the disk is full."""


def schema_sql() -> str:
    """Return the text of ``schema.sql``."""
    return resources.files("addin.engine.store").joinpath("schema.sql").read_text("utf-8")


class Database:
    """Thread-safe access to one SQLite file; one connection per thread."""

    def __init__(self, path: Path, *, clock: Any = time.time) -> None:
        """Open (and create or upgrade) the database at ``path``, or raise ``StoreError``."""
        self.path = path
        self.clock = clock
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _make_private(path)
            self._install_schema(self._connection())
        except (sqlite3.DatabaseError, OSError) as exc:
            self.close()
            raise StoreError(_store_problem(path, exc)) from exc

    def _connection(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
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
        """Run the block in one IMMEDIATE transaction (committed on success)."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(_store_problem(self.path, exc)) from exc
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            # A full disk makes SQLite roll back by itself: a second ROLLBACK would fail
            # and hide the StoreError that stops the runner.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(_store_problem(self.path, exc)) from exc

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query and return all rows."""
        return self._connection().execute(sql, params).fetchall()

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
    """Create the store file readable by its owner only: it holds phone numbers."""
    if os.name != "posix":
        return  # the per-user data folder's permissions protect it on Windows
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    elif path.is_file():
        os.chmod(path, 0o600)


def _store_problem(path: Path, exc: BaseException) -> str:
    """Return a sentence saying what is wrong with the store at ``path``."""
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return f"the store {path} is damaged or not an fbcheck store ({text}); move it away"
    if "locked" in text or "busy" in text:
        return f"the store {path} is locked by another program for over {BUSY_TIMEOUT:.0f} s"
    if "full" in text:
        return f"the disk holding the store {path} is full ({text})"
    if "readonly" in text or "read-only" in text:
        return f"the store {path} is read-only ({text})"
    return f"the store {path} cannot be used: {text}"


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Yield consecutive slices of at most ``size`` items (SQLite caps bound parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
