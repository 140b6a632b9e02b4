"""Who paid: results.paid_by, the user whose job's task bought each cached answer.

Revision ID: 0004
Revises: 0003

Only adds a nullable column: answers cached before it have no known payer (NULL).
An older fbcheck still reads and writes the cache; it does not know the column, so
answers it stores are NULL (new rows) or keep the payer they had (refreshed rows).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add results.paid_by (NULL for every answer already cached)."""
    op.add_column("results", sa.Column("paid_by", sa.Text))


def downgrade() -> None:
    """Not supported: stores only move forward."""
    raise NotImplementedError("fbcheck stores are only upgraded")
