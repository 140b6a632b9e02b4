"""pace_history: what earlier tasks of a realm showed of the vendor's pace (poll schedule).

Revision ID: 0002
Revises: 0001

One row per task realm (``schema.define_pace_history``); only adds a table, so an
older fbcheck still opens a store at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from addin.engine.store.schema import define_pace_history

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``pace_history`` as ``schema.py`` declares it."""
    tables = sa.MetaData()
    define_pace_history(tables)
    tables.create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    """Not supported: stores only move forward."""
    raise NotImplementedError("fbcheck stores are only upgraded")
