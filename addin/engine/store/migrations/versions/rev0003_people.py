"""People: jobs.started_by and the users table of the team server (``fbcheck serve --team``).

Revision ID: 0003
Revises: 0002

Only adds: an older fbcheck still reads jobs (without knowing who started them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from addin.engine.store.schema import TIMESTAMP

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add jobs.started_by (with its index) and the users table."""
    op.add_column("jobs", sa.Column("started_by", sa.Text))
    op.create_index("jobs_started_by", "jobs", ["started_by", "created_at"])
    op.create_table(
        "users",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("admin", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("token_hash", sa.Text, unique=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP),
        sa.Column("revoked_at", TIMESTAMP),
    )


def downgrade() -> None:
    """Not supported: stores only move forward."""
    raise NotImplementedError("fbcheck stores are only upgraded")
