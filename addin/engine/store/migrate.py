"""Running the Alembic revisions of ``migrations/`` on a store, SQLite or PostgreSQL.

Imported only when a store is not at ``revisions.HEAD`` (SQLAlchemy and Alembic
are not loaded by a run on an up-to-date store).

- SQLite (one user's file): :func:`upgrade_sqlite`, run by opening the store, as
  before Alembic. In one ``BEGIN IMMEDIATE`` transaction it brings a file written
  before Alembic (``PRAGMA user_version`` 1 or 2) to version 3 as those versions'
  code did, lets Alembic adopt it (the baseline creates only what is missing), then
  runs the later revisions. ``user_version`` stays 3, which older fbcheck versions read.
- PostgreSQL (shared by servers and workers): :func:`upgrade_postgres`, run by
  ``fbcheck db upgrade`` only, under a transaction-scoped advisory lock so two
  upgrades at once run one after the other; PostgreSQL's DDL is transactional, so a
  failed upgrade leaves the schema as it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from addin.engine.store.revisions import BASELINE, HEAD

#: The folder of ``env.py`` and ``versions/`` (package data beside this module).
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The ``PRAGMA user_version`` of the baseline, kept for fbcheck versions before Alembic.
SQLITE_USER_VERSION = 3
#: The product of every answer cached before the product was part of the key.
FIRST_PRODUCT = "facebook"
#: Key of the advisory lock that serialises ``fbcheck db upgrade`` runs on PostgreSQL.
UPGRADE_LOCK = 0x0FBC_0000_0000_0001

#: Columns added before version 3, by table, with their declarations.
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "jobs": (("fingerprint", "TEXT"),),
    "tasks": (("lease_owner", "TEXT"), ("lease_expires", "REAL"), ("key_fp", "TEXT")),
}


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Return an Alembic configuration of the store's migrations (on ``connection``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_revisions() -> list[str]:
    """Return the revision ids of ``migrations/versions``, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def current_revision(connection: sa.Connection) -> str | None:
    """Return the revision the database on ``connection`` is at (None: not versioned)."""
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: sa.Connection, target: str) -> None:
    """Run the revisions up to ``target`` on ``connection`` (inside its transaction)."""
    command.upgrade(alembic_config(connection), target)


def describe_change(
    before: str | None, after: str | None, *, version: int | None = None, empty: bool = True
) -> str:
    """Return what an upgrade did, for ``fbcheck db upgrade`` to print.

    ``version``: the ``PRAGMA user_version`` of an SQLite store written before Alembic.
    """
    if before == after:
        return f"already at revision {after}: nothing to do"
    if before is not None:
        start = f"revision {before}"
    elif empty:
        start = "an empty database"
    else:
        start = f"version {version} (a store written before schema revisions, kept whole)"
    return f"upgraded from {start} to revision {after}"


def _unwrapped(exc: sa.exc.DBAPIError) -> BaseException:
    """Return the driver's own error behind SQLAlchemy's wrapper."""
    orig: Any = exc.orig
    return orig if isinstance(orig, BaseException) else exc


# -- SQLite -----------------------------------------------------------------------


def upgrade_sqlite(path: Path, *, timeout: float) -> str | None:
    """Bring the SQLite store at ``path`` to ``HEAD``; return what was done (None: nothing).

    Waits up to ``timeout`` seconds for another program's lock, then raises the
    ``sqlite3.OperationalError`` saying it is locked (the caller says so and waits
    longer). Any SQLite error leaves the file as it was.
    """
    engine = sa.create_engine(
        f"sqlite:///{path}",
        poolclass=sa.pool.NullPool,
        connect_args={"timeout": timeout, "isolation_level": None},
    )

    # The documented recipe for pysqlite transactions: the driver does no BEGIN of
    # its own (isolation_level None), SQLAlchemy's begin emits one. IMMEDIATE takes
    # the write lock first, so two processes opening a new store upgrade it once.
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as connection:
            return _adopt_sqlite(connection)
    except sa.exc.DBAPIError as exc:
        raise _unwrapped(exc) from exc
    finally:
        engine.dispose()


def _adopt_sqlite(connection: sa.Connection) -> str | None:
    """Upgrade the store on ``connection`` (its write lock held); see :func:`upgrade_sqlite`."""
    raw: Any = connection.connection.driver_connection
    before = current_revision(connection)
    if before == HEAD:
        return None  # another process upgraded it while we waited for the lock
    version = raw.execute("PRAGMA user_version").fetchone()[0]
    old = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    legacy = version < SQLITE_USER_VERSION and bool(old - {"alembic_version"})
    if legacy:
        _add_columns(raw, old)
        if "results" in old:
            _add_product_to_cache_key(raw)
    if before is None:
        _upgrade(connection, BASELINE)
    if legacy and "tasks" in old:
        _upgrade_first_release(raw)
    _upgrade(connection, "head")
    raw.execute(f"PRAGMA user_version = {max(version, SQLITE_USER_VERSION)}")
    after = current_revision(connection)
    return describe_change(before, after, version=version, empty=not old - {"alembic_version"})


def _add_columns(conn: sqlite3.Connection, old: set[str]) -> None:
    """Add the columns versions 1 and 2 did not have (to the tables they had)."""
    for table, columns in _ADDED_COLUMNS.items():
        if table not in old:
            continue
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


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
    """Carry a store of before version 3 over: claims, billing records, creating -> uncertain."""
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
    # A process of before version 3 died inside that upload: its outcome is unknown.
    conn.execute(
        "UPDATE tasks SET state = 'uncertain', error = 'the upload was interrupted before"
        " this version; the vendor may have created the task' WHERE state = 'creating'"
    )


# -- PostgreSQL -------------------------------------------------------------------


def sqlalchemy_url(url: str) -> str:
    """Return ``url`` for SQLAlchemy's psycopg 3 dialect (``postgresql+psycopg://``)."""
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url


def upgrade_postgres(url: str) -> str:
    """Run the pending revisions on the PostgreSQL database at ``url``; return what was done.

    Raises the driver's error (``psycopg.Error``) when the database cannot be used.
    """
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
            before = current_revision(connection)
            _upgrade(connection, "head")
            return describe_change(before, current_revision(connection))
    except sa.exc.DBAPIError as exc:
        raise _unwrapped(exc) from exc
    finally:
        engine.dispose()
