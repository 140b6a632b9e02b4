"""Unfinished business in the store: upload sessions, their chunks, pending plans, held batches.

Revision ID: 0005
Revises: 0004

The team server's instances share nothing but the database (issue 13): a chunk, a
plan or a held ``=FBCHECK`` batch that one instance received must be there for the
next request, whichever instance answers it. Only adds tables: an older fbcheck
ignores them (and keeps those things in its memory, as before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from addin.engine.store.schema import TIMESTAMP

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create upload_sessions, upload_chunks, pending_plans and held_batches."""
    op.create_table(
        "upload_sessions",
        sa.Column("upload_id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("header", sa.Text, nullable=False),
        sa.Column("expected", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("touched", TIMESTAMP, nullable=False),
    )
    op.create_index("upload_sessions_owner", "upload_sessions", ["owner", "kind"])
    op.create_table(
        "upload_chunks",
        sa.Column("upload_id", sa.Text, nullable=False, primary_key=True),
        sa.Column("idx", sa.Integer, nullable=False, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "pending_plans",
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("generation", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
    )
    op.create_index("pending_plans_owner", "pending_plans", ["owner"])
    op.create_table(
        "held_batches",
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("batch_id", sa.Text, nullable=False, unique=True),
        sa.Column("generation", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("numbers", sa.Text, nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("touched", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    """Not supported: stores only move forward."""
    raise NotImplementedError("fbcheck stores are only upgraded")
