"""Alembic's environment for the store: runs the revisions on the connection it is given.

``addin.engine.store.migrate`` passes an open SQLAlchemy connection, inside a
transaction it commits itself, as ``config.attributes["connection"]``. Without one
(the ``alembic`` command of a developer, see README.md beside this file) the URL is
``sqlalchemy.url`` of the Alembic configuration, else ``FBCHECK_DATABASE_URL``.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from addin.engine.store.schema import metadata


def _run(connection: sa.Connection) -> None:
    """Run the pending revisions on ``connection``."""
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("the store's migrations run online only (on a connection)")
given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get(
        "FBCHECK_DATABASE_URL", ""
    )
    if not url:
        raise SystemExit("set sqlalchemy.url or FBCHECK_DATABASE_URL")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        _run(connection)
