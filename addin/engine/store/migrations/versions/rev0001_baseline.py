"""Baseline: the schema of version 3 (the SQLite stores at PRAGMA user_version 3).

Revision ID: 0001
Revises: (none)

On PostgreSQL (and a new SQLite file) it creates every table. An SQLite store
written before Alembic already has them (``database.py`` brings an older file to
version 3 first): on SQLite only what is missing is created, so adopting such a
store keeps every row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from addin.engine.store.schema import define_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables and indexes of version 3 (on SQLite: those missing)."""
    bind = op.get_bind()
    adopting = bind.dialect.name == "sqlite"
    version3 = sa.MetaData()
    define_tables(version3)
    version3.create_all(bind, checkfirst=adopting)
    if adopting:
        # A table an older version made may lack an index of version 3.
        for table in version3.sorted_tables:
            for index in table.indexes:
                index.create(bind, checkfirst=True)


def downgrade() -> None:
    """Not supported: stores only move forward."""
    raise NotImplementedError("fbcheck stores are only upgraded")
