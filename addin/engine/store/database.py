"""The store's database: SQLite in the data folder, or PostgreSQL; connections, transactions.

``Database(path)`` opens (and creates or upgrades) the SQLite file; ``Database(url)``
with a ``postgresql://`` URL uses that database (``postgres.py``), whose schema
``fbcheck db upgrade`` installs. Both hold the tables of ``schema.py``, versioned by
the Alembic revisions of ``migrations/``; the table modules run one SQL text on both
(``?`` placeholders, rows indexed by position).

SQLite (one user's file) keeps upgrading itself when opened, as before Alembic: a
file of version 1 or 2 (``PRAGMA user_version``) is brought to version 3 in place
(columns are added, so an older fbcheck can still read what it knows; version 3
put the product, ``facebook``, into the result cache's key by rebuilding that
table), adopted by Alembic, and given the later revisions (``migrate.py``). A
PostgreSQL schema is never changed by opening it: a store behind ``revisions.HEAD``
is a ``StoreError`` that names ``fbcheck db upgrade``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from addin.engine.private_files import create_private_file, make_private_dir
from addin.engine.store import problems
from addin.engine.store.revisions import HEAD, REVISIONS

if TYPE_CHECKING:
    from addin.engine.store.postgres import PostgresBackend

log = logging.getLogger(__name__)
T = TypeVar("T")

#: PRAGMA user_version of the SQLite stores at the Alembic baseline (kept for older fbcheck).
SCHEMA_VERSION = 3
#: The product of every answer cached before the product was part of the key.
FIRST_PRODUCT = "facebook"
#: Seconds a writer waits for another process's transaction before giving up (default).
BUSY_TIMEOUT = 60.0
#: Seconds waited in silence before saying that the store is locked (our own writes are
#: shorter, another program's may not be).
LOCK_NOTICE_AFTER = 2.0


class StoreError(RuntimeError):
    """The store cannot be opened or written: damaged, locked, read-only or the disk is full.

    Its message is one paragraph for a person: the file (or database), what is wrong,
    what to do.
    """


class Cursor(Protocol):
    """What the table modules use of a cursor (sqlite3's and psycopg's alike)."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """Return the next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """Return the remaining rows."""
        ...

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the rows."""
        ...


class Connection(Protocol):
    """A connection inside a store transaction: ``sqlite3.Connection`` or ``PgConnection``."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        """Run one statement (``?`` placeholders)."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        """Run one statement for each row of parameters."""
        ...


def is_postgres(db: Connection) -> bool:
    """Return True for a PostgreSQL connection (it copies rows: ``PgConnection``)."""
    return hasattr(db, "copy_rows")


def insert_rows(
    db: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert many rows: ``COPY`` on PostgreSQL, ``executemany`` on SQLite.

    Constraints hold either way (a claim another task holds fails the transaction).
    """
    if is_postgres(db):
        db.copy_rows(table, columns, rows)  # type: ignore[attr-defined]
        return
    marks = ", ".join("?" * len(columns))
    db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608


class Database:
    """Thread-safe access to the store: one SQLite file, or a PostgreSQL database.

    One connection per thread. ``transaction()`` and ``read()`` speak the same SQL
    to both; what fails becomes a ``StoreError`` (one paragraph, exit 8).
    """

    def __init__(
        self, location: Path | str, *, clock: Any = time.time, lock_timeout: float = BUSY_TIMEOUT
    ) -> None:
        """Open the store at ``location`` (an SQLite path, or a ``postgresql://`` URL).

        An SQLite file is created or upgraded; a store that another program holds
        locked is waited for up to ``lock_timeout`` seconds, saying so (a warning)
        once the wait passes ``LOCK_NOTICE_AFTER``. A PostgreSQL database must be
        reachable and at the schema's revision (``fbcheck db upgrade``).
        """
        self.clock = clock
        self.lock_timeout = lock_timeout
        #: What opening changed in the schema (for ``fbcheck db upgrade``), None: nothing.
        self.schema_change: str | None = None
        self._pg: PostgresBackend | None = None
        if isinstance(location, str):
            from addin.engine.store.postgres import (  # only team mode loads psycopg
                PostgresBackend,
                PostgresProblem,
                is_postgres_url,
            )

            if not is_postgres_url(location):
                scheme = location.partition("://")[0] if "://" in location else ""
                raise StoreError(
                    "FBCHECK_DATABASE_URL must be a postgresql:// URL (postgresql://USER:PASSWORD"
                    f"@HOST:PORT/DATABASE); it starts with {scheme + '://' if scheme else 'no'}"
                    " scheme. Correct it, or unset it to use the SQLite store in the data folder."
                )
            try:
                self._pg = PostgresBackend(location, lock_timeout=lock_timeout)
            except PostgresProblem as exc:
                raise StoreError(str(exc)) from exc
            self.path: Path | None = None
            self.where = self._pg.shown
            return
        self.path = location
        self.where = str(location)
        self._quiet_wait = min(LOCK_NOTICE_AFTER, lock_timeout)
        self._local = threading.local()
        self._notice_lock = threading.Lock()
        self._noticed_at = -float("inf")
        #: Threads of this process inside a write transaction on this store.
        self._writers = 0
        problem = problems.preflight(location)
        if problem is not None:
            raise StoreError(problem)
        try:
            make_private_dir(location.parent)
            _make_private(location)
            conn = self._connection()
            self._patiently(conn, lambda: self._install_schema(conn))
        except (sqlite3.DatabaseError, OSError) as exc:
            self.close()
            raise self.failure(exc) from exc

    @property
    def dialect(self) -> str:
        """Return ``sqlite`` or ``postgresql``."""
        return "sqlite" if self._pg is None else "postgresql"

    def failure(self, exc: BaseException) -> StoreError:
        """Return the ``StoreError`` saying what ``exc`` means for this store."""
        if isinstance(exc, StoreError):
            return exc
        if self._pg is not None:
            return StoreError(str(self._pg.problem(exc)))
        assert self.path is not None
        return StoreError(problems.describe(self.path, exc, lock_timeout=self.lock_timeout))

    @contextmanager
    def impatient(self, on: bool = True) -> Iterator[None]:
        """In the block (this thread, when ``on``), a locked store fails after the quiet wait.

        (SQLite: PostgreSQL waits for locks up to the lock timeout in any case.)
        """
        if self._pg is not None:
            yield
            return
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
            if not self._may_wait(exc):
                raise
        self._notice()
        left = self.lock_timeout - self._quiet_wait
        conn.execute(f"PRAGMA busy_timeout = {int(left * 1000)}")
        try:
            return step()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._quiet_wait * 1000)}")

    def _may_wait(self, exc: sqlite3.OperationalError) -> bool:
        """Return True when a locked store may be waited for longer than the quiet wait."""
        impatient = getattr(self._local, "impatient", False)
        return problems.is_locked(exc) and not impatient and self.lock_timeout > self._quiet_wait

    def _notice(self) -> None:
        """Say (once per wait) that the store is locked by another program."""
        with self._notice_lock:
            # One line per wait, whichever of this store's threads waits first; none
            # while one of our own threads writes (a long job insert is not a stranger).
            now = time.monotonic()
            if not self._writers and now - self._noticed_at > self.lock_timeout:
                self._noticed_at = now
                assert self.path is not None
                log.warning("%s", problems.lock_notice(self.path, self.lock_timeout))

    def _connection(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self.path is not None
            conn = sqlite3.connect(
                self.path,
                timeout=self._quiet_wait,
                isolation_level=None,
                factory=problems.TrackedConnection,
            )
            # Before anything else: from now on nobody here opens the file outside SQLite.
            problems.note_opened(self.path, conn)
            try:
                conn.row_factory = sqlite3.Row
                self._patiently(conn, lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()  # never keep a connection that is not set up
                raise
            self._local.conn = conn
        return conn

    def _install_schema(self, conn: sqlite3.Connection) -> None:
        """Bring the SQLite file to ``HEAD`` unless it is there (or newer) already."""
        if _sqlite_revision_known(conn):
            return
        from addin.engine.store.migrate import upgrade_sqlite  # SQLAlchemy only when needed

        assert self.path is not None
        try:
            self.schema_change = upgrade_sqlite(self.path, timeout=self._quiet_wait)
        except sqlite3.OperationalError as exc:
            if not self._may_wait(exc):
                raise
            self._notice()
            self.schema_change = upgrade_sqlite(
                self.path, timeout=self.lock_timeout - self._quiet_wait
            )

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Connection]:
        """Run the block in one write transaction (committed on success).

        SQLite: ``BEGIN IMMEDIATE``, so every write transaction runs alone. PostgreSQL:
        with ``lock`` (a task realm), the transaction first takes that realm's claims
        lock, so the plans and ends of its tasks run one after the other (postgres.py).
        Any database or OS error, from opening the transaction to its commit, becomes a
        ``StoreError`` saying what is wrong with the store.
        """
        if self._pg is not None:
            from addin.engine.store.postgres import PostgresProblem

            try:
                with self._pg.transaction(lock) as pg:
                    yield pg
            except PostgresProblem as exc:
                raise StoreError(str(exc)) from exc
            return
        with self._sqlite_transaction() as db:
            yield db

    @contextmanager
    def _sqlite_transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one IMMEDIATE transaction of the SQLite file."""
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

    def read(self, sql: str, params: Sequence[Any] = (), *, tuples: bool = False) -> list[Any]:
        """Run a read-only query and return all rows (``StoreError`` if the store fails).

        ``tuples``: SQLite gives plain tuples rather than ``sqlite3.Row`` (for reads of
        many rows, read by position only; PostgreSQL's rows are tuples anyway).
        """
        if self._pg is not None:
            from addin.engine.store.postgres import PostgresProblem

            try:
                return self._pg.read(sql, params)
            except PostgresProblem as exc:
                raise StoreError(str(exc)) from exc
        try:
            conn = self._connection()
            if tuples:
                return self._patiently(
                    conn, lambda: _plain_cursor(conn).execute(sql, params).fetchall()
                )
            return self._patiently(conn, lambda: conn.execute(sql, params).fetchall())
        except (sqlite3.DatabaseError, OSError) as exc:
            raise self.failure(exc) from exc

    def close(self) -> None:
        """Close this thread's connection."""
        if self._pg is not None:
            self._pg.close()
            return
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _plain_cursor(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """Return a cursor of ``conn`` whose rows are tuples."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


def _sqlite_revision_known(conn: sqlite3.Connection) -> bool:
    """Return True when the file is at ``HEAD``, or at a newer revision (an older fbcheck).

    A newer fbcheck's revisions only add, so this one still reads and writes what it knows.
    """
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False
        raise
    found = [str(r[0]) for r in rows]
    return found == [HEAD] or (len(found) == 1 and found[0] not in REVISIONS)


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


def one_of(
    column: str, values: Sequence[str], *, postgres: bool
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Yield (condition, its parameters) that together match ``column`` to each of ``values``.

    PostgreSQL: one condition over an array (``= ANY``, one parameter); SQLite: ``IN``
    lists of at most 900 values (its cap on bound parameters). Nothing for no values.
    """
    if not values:
        return
    if postgres:
        yield f"{column} = ANY(?::text[])", (list(values),)
        return
    for chunk in chunks(values, 900):
        yield f"{column} IN ({','.join('?' * len(chunk))})", tuple(chunk)
