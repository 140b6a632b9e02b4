"""What became of each held ``=FBCHECK`` number: submitted in a job, declined or failed.

Revision ID: 0006
Revises: 0005

A held look-up batch is confirmed or cancelled through whichever team server instance
the pane reaches; the cells of its numbers poll every instance. Without a record of
the outcome, an instance that held the batch (or never heard of it) would queue those
numbers again and hold them for a second confirmation. Only adds a table: an older
fbcheck ignores it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from addin.engine.store.schema import TIMESTAMP

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create settled_lookups."""
    op.create_table(
        "settled_lookups",
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("e164", sa.Text, primary_key=True),
        sa.Column("generation", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("job_id", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("settled", TIMESTAMP, nullable=False),
    )
    op.create_index("settled_lookups_settled", "settled_lookups", ["settled"])


def downgrade() -> None:
    """Not supported: stores only move forward."""
    raise NotImplementedError("fbcheck stores are only upgraded")
