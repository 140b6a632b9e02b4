"""The store on PostgreSQL (psycopg 3): connections, transactions, and what failures mean.

Imported only when ``FBCHECK_DATABASE_URL`` names a PostgreSQL database. The store's
SQL is written once, with SQLite's ``?`` placeholders; :class:`PgConnection` hands
it to psycopg with ``%s`` (and bulk rows through ``COPY``).

The rules the SQLite store gets from its single writer hold here across processes
and machines:

- the claims primary key (realm, e164) is the same constraint on both;
- planning a job and ending a task (the transactions that read, add or drop a
  realm's claims) take a transaction-scoped advisory lock on the realm
  (``pg_advisory_xact_lock``), so they run one after the other as under SQLite's
  ``BEGIN IMMEDIATE``. Claims (leasing many task rows at once), cancels and abandons
  take the same lock first, so each takes the realm's lock, then the task rows, and
  none holds rows another waits for while it waits for the lock (a claim taking rows
  without it deadlocked with a cancel holding it; a dead owner's leases in other
  realms are freed in one transaction per realm, under that realm's lock). An
  advisory lock rather than SERIALIZABLE with retries: a plan of a million numbers
  that fails serialisation would redo all its work, and plans of other realms
  (another vendor account, the demo) need not wait at all;
- every other write is one guarded ``UPDATE ... WHERE state = ?`` (and lease
  owner), which PostgreSQL re-checks on the row it finally locks under READ
  COMMITTED, so a move another process made first changes nothing here.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import errors

from addin.engine.store.problems import LOCK_SETTING
from addin.engine.store.revisions import HEAD, REVISIONS

#: The setting that names the database.
URL_SETTING = "FBCHECK_DATABASE_URL"
#: Seconds to wait for the server to accept a connection.
CONNECT_TIMEOUT = 10
_UPGRADE = "run `fbcheck db upgrade` (with the same FBCHECK_DATABASE_URL) and start again"


class PostgresProblem(RuntimeError):
    """The database cannot be used; the message is one paragraph for a person."""


def is_postgres_url(location: str) -> bool:
    """Return True for a ``postgresql://`` (or ``postgres://``, ``postgresql+psycopg://``) URL."""
    scheme = location.partition("://")[0].lower()
    return scheme in ("postgresql", "postgres", "postgresql+psycopg")


def libpq_url(url: str) -> str:
    """Return ``url`` as libpq reads it (SQLAlchemy's ``+psycopg`` removed)."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.lower() == "postgresql+psycopg" else url


def redact(url: str) -> str:
    """Return ``url`` without its password (in the user part or a ``password=`` parameter)."""
    shown = re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", shown)


def _password(url: str) -> str | None:
    """Return the password written in ``url``, to keep it out of any message."""
    found = re.search(r"://[^:/@?]*:([^@/?]*)@", url) or re.search(r"(?i)password=([^&]*)", url)
    return found.group(1) if found and found.group(1) else None


def lock_key(realm: str) -> int:
    """Return the advisory lock key (a signed 64-bit number) of a realm's claims."""
    digest = hashlib.blake2b(f"fbcheck.claims:{realm}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@functools.lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """Return the store's SQL with psycopg's placeholders: ``?`` -> ``%s``, ``%`` -> ``%%``.

    Quoted text (``'...'``) is left alone.
    """
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif quoted:
            out.append("%%" if char == "%" else char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


class PgConnection:
    """A psycopg connection inside a transaction, speaking the store's SQL."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        """Wrap ``conn``."""
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        """Run one statement and return its cursor."""
        return self.conn.execute(pg_sql(sql), parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        """Run one statement for every row (psycopg pipelines them)."""
        cursor = self.conn.cursor()
        cursor.executemany(pg_sql(sql), rows)
        return cursor

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert ``rows`` with ``COPY`` (constraints hold as for INSERT: a duplicate fails)."""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


class _Held:
    """A thread's connection, closed when the thread (and so its thread-local) goes away."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        """Hold ``conn``."""
        self.conn = conn

    def __del__(self) -> None:
        """Close the connection quietly (a thread that ended cannot close its own)."""
        with suppress(Exception):
            self.conn.close()


class PostgresBackend:
    """Connections (one per thread, autocommit between transactions) to one database."""

    def __init__(self, url: str, *, lock_timeout: float, check: bool = True) -> None:
        """Connect, check the schema's revision; raise ``PostgresProblem`` if unusable.

        ``check=False``: neither (to describe a failure met elsewhere: ``problem``).
        """
        self.url = libpq_url(url)
        self.shown = redact(self.url)
        self._secret = _password(self.url)
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        if check:
            try:
                self.check_revision()
            except BaseException:
                self.close()  # never leave a connection for the garbage collector
                raise

    # -- connections -------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        """Return this thread's connection, opening it on first use (or after a loss)."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and not held.conn.closed and not held.conn.broken:
            return held.conn
        # A wait for a lock (another planner of the realm) ends after the store's
        # lock timeout with an error, as SQLite's busy timeout does.
        millis = max(1, int(self.lock_timeout * 1000))
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            options=f"-c lock_timeout={millis}",
            application_name="fbcheck",
        )
        self._local.held = _Held(conn)
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None:
            held.conn.close()
            self._local.held = None

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[PgConnection]:
        """Run the block in one transaction; ``lock``: first take that realm's claims lock."""
        try:
            conn = self._connection()
            with conn.transaction():
                if lock is not None:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(lock),))
                yield PgConnection(conn)
        except psycopg.Error as exc:
            raise self.problem(exc) from exc

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read-only query and return all rows."""
        try:
            return self._connection().execute(pg_sql(sql), params).fetchall()
        except psycopg.Error as exc:
            raise self.problem(exc) from exc

    def check_revision(self) -> None:
        """Raise ``PostgresProblem`` unless the schema is at a revision this fbcheck can use."""
        try:
            rows = self.read("SELECT version_num FROM alembic_version")
        except PostgresProblem as problem:
            if isinstance(problem.__cause__, errors.UndefinedTable):
                raise PostgresProblem(
                    f"The PostgreSQL store {self.shown} has no fbcheck tables yet (a new"
                    f" database): {_UPGRADE}."
                ) from None
            raise
        found = [str(r[0]) for r in rows]
        if found == [HEAD]:
            return
        if len(found) == 1 and found[0] not in REVISIONS:
            return  # a newer fbcheck upgraded it: revisions only add, this one still works
        where = f"revision {found[0]}" if found else "no revision"
        raise PostgresProblem(
            f"The PostgreSQL store {self.shown} is at {where}, older than this fbcheck"
            f" (revision {HEAD}): {_UPGRADE}. Servers and workers refuse an outdated schema"
            " rather than write a table they do not know."
        )

    # -- failures ------------------------------------------------------------------

    def problem(self, exc: BaseException) -> PostgresProblem:
        """Return the paragraph saying what ``exc`` means for this database."""
        if isinstance(exc, PostgresProblem):
            return exc
        text = self._scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        lowered = str(exc).lower()
        where = f"The PostgreSQL store {self.shown}"
        if isinstance(exc, errors.LockNotAvailable):
            return PostgresProblem(
                f"{where} kept a lock for more than {self.lock_timeout:.0f} s ({LOCK_SETTING})"
                " (another fbcheck planning or ending tasks of the same account, or a long"
                f" transaction of another program). Run again, or raise {LOCK_SETTING}. Task ids"
                " the vendor already returned are kept in the create journal; the next run"
                " pays nothing for them."
            )
        if isinstance(exc, errors.DiskFull):
            return PostgresProblem(
                f"{where} has no space left on its server ({text}). Free some space on the"
                " database server and run again."
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return PostgresProblem(
                f"{where} refused a statement to its user ({text}). Grant that user the"
                " rights on the fbcheck tables (or use the user that ran `fbcheck db"
                f" upgrade`) in {URL_SETTING}, and run again."
            )
        if isinstance(exc, errors.ReadOnlySqlTransaction):
            return PostgresProblem(
                f"{where} is read-only ({text}): it is a standby or in read-only mode."
                f" Point {URL_SETTING} at the primary server and run again."
            )
        if isinstance(
            exc, (errors.TransactionRollback, errors.DeadlockDetected, errors.SerializationFailure)
        ):
            # A deadlock or a serialization failure: the server is there and well; it
            # rolled this one transaction back, so nothing of it was written.
            return PostgresProblem(
                f"{where} rolled back a transaction that conflicted with another one"
                f" ({text}); nothing of it was written. Run again. If it comes back, two"
                " programs take the same rows in different orders: please report it."
                " Task ids the vendor already returned are kept in the create journal;"
                " the next run pays nothing for them."
            )
        if isinstance(exc, psycopg.OperationalError):
            if "does not exist" in lowered and "database" in lowered:
                return PostgresProblem(
                    f"{where} cannot be opened: the database does not exist ({text}). Create"
                    f" it (for example `createdb` on the server), run `fbcheck db upgrade`,"
                    f" or correct {URL_SETTING}."
                )
            if any(
                word in lowered
                for word in (
                    "authentication",
                    "password",
                    "pg_hba.conf",
                    "role",
                    "permission denied",
                )
            ):
                return PostgresProblem(
                    f"{where} refused the login ({text}). Check the user name and password"
                    f" in {URL_SETTING} (or the server's pg_hba.conf) and run again."
                )
            return PostgresProblem(
                f"{where} cannot be reached or lost the connection ({text}). Check that the"
                f" server runs and accepts connections at that address, and {URL_SETTING};"
                " then run again. Task ids the vendor already returned are kept in the"
                " create journal; the next run pays nothing for them."
            )
        return PostgresProblem(
            f"{where} cannot be used ({text}). Check the database and {URL_SETTING};"
            f" if its schema was changed by hand, {_UPGRADE}."
        )

    def _scrub(self, text: str) -> str:
        """Return ``text`` without the password, should the driver have repeated it."""
        return text.replace(self._secret, "***") if self._secret else text
