"""``fbcheck db upgrade``: bring the store's schema to this fbcheck's revision.

The store is the one ``fbcheck check`` uses: ``FBCHECK_DATABASE_URL`` (PostgreSQL),
else the SQLite file in the data folder. PostgreSQL is only ever changed by this
command: ``fbcheck serve``, ``check``, ``jobs`` and ``worker`` facing an older schema refuse
to start (exit 8) and name it. On PostgreSQL it also creates the tables of the workers'
queue (procrastinate's, ``addin.engine.workers``) when they are missing. The SQLite file
is upgraded by any command that opens it, as before; this command does the same and says
what it did.

Exit codes: 0 upgraded or already current; 2 a bad ``FBCHECK_`` setting; 8 the store
could not be used (the message says why; never with the password).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from addin.check_cli import EXIT_OK, load_settings, run_plain
from addin.config import Settings
from addin.engine.store import Store, StoreError


def register(subparsers: Any) -> None:
    """Add the ``db`` sub-command."""
    parser = subparsers.add_parser(
        "db",
        help="upgrade the store's schema (PostgreSQL: needed after installing a new version)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("upgrade", help="run the schema revisions this fbcheck has")
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace, *, out: TextIO | None = None, settings: Settings | None = None
) -> int:
    """Run ``fbcheck db ACTION`` and return its exit code."""
    stream = out or sys.stdout

    def body() -> int:
        """Upgrade and say what was done."""
        print(upgrade(load_settings(settings)), file=stream)
        return EXIT_OK

    return run_plain("error", body)


def upgrade(settings: Settings) -> str:
    """Upgrade the store of ``settings``; return the line saying what was done."""
    location = settings.store_location
    if isinstance(location, str):
        from addin.engine.store.postgres import PostgresBackend, is_postgres_url, redact

        if not is_postgres_url(location):
            Store(location).close()  # raises the StoreError that says what is wrong
        import psycopg

        try:
            change = _upgrade_postgres(location)
            change += _upgrade_queue(location)
        except psycopg.Error as exc:
            target = PostgresBackend(
                location, lock_timeout=settings.store_lock_timeout, check=False
            )
            raise StoreError(str(target.problem(exc))) from exc
        Store(location, lock_timeout=settings.store_lock_timeout).close()  # usable now?
        return f"PostgreSQL store {redact(location)}: {change}."
    store = Store(location, lock_timeout=settings.store_lock_timeout)
    store.close()
    change = store.schema_change or "already at the newest revision: nothing to do"
    return f"SQLite store {location}: {change}."


def _upgrade_queue(url: str) -> str:
    """Create the workers' queue tables (procrastinate's) unless there; return what was done."""
    from addin.engine.store.postgres import libpq_url
    from addin.engine.workers import apply_queue_schema

    if apply_queue_schema(libpq_url(url)):
        return "; the workers' queue tables created"
    return "; the workers' queue tables present"


def _upgrade_postgres(url: str) -> str:
    """Run the pending revisions on PostgreSQL (SQLAlchemy and Alembic load only here)."""
    from addin.engine.store.migrate import upgrade_postgres

    return upgrade_postgres(url)
