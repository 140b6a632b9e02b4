"""The store's tables as one SQLAlchemy ``MetaData``: the schema of both SQLite and PostgreSQL.

This module describes the schema at the newest revision (``revisions.HEAD``); the
Alembic revisions in ``migrations/versions`` build it step by step. A change here
needs a new revision (see ``migrations/README.md``); a test compares the two.

The store's queries are plain SQL common to both databases (``database.py`` runs
them on the DBAPI directly, for speed); only the DDL comes from here. Column types:
``Text``, ``Integer`` and ``TIMESTAMP`` below (seconds since the epoch, a double on
PostgreSQL, REAL on SQLite as before).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

#: Unix seconds: DOUBLE PRECISION on PostgreSQL (its REAL has 24 bits, too few for a
#: timestamp), REAL on SQLite (8 bytes there, as every store so far).
TIMESTAMP: sa.types.TypeEngine[float] = sa.Double().with_variant(sqlite.REAL(), "sqlite")


def define_tables(metadata: sa.MetaData) -> None:
    """Add the store's tables (the schema of version 3, the Alembic baseline) to ``metadata``.

    The baseline revision calls this too: it is the schema every later revision
    changes, so it must not change itself (add a revision instead).
    """
    # The result cache: one row per (realm, product, E.164) with a yes/no/ban answer.
    # The product is the vendor's check ("facebook"). Errors are never cached.
    sa.Table(
        "results",
        metadata,
        sa.Column("realm", sa.Text, nullable=False, primary_key=True),
        sa.Column("product", sa.Text, nullable=False, primary_key=True, server_default="facebook"),
        sa.Column("e164", sa.Text, nullable=False, primary_key=True),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("checked_at", TIMESTAMP, nullable=False),
        sa.Column("task_id", sa.Text),
        sqlite_with_rowid=False,
    )
    # One row per check: a CLI run, a ribbon click, a batch of =FBCHECK cells.
    # A CLI rerun of the same input finds its unfinished job by fingerprint.
    sa.Table(
        "jobs",
        metadata,
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("realm", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("refresh", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("plan", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        sa.Column("fingerprint", sa.Text),
        sa.Index("jobs_fingerprint", "fingerprint", "state"),
    )
    # The distinct numbers a job needs and, once known, their answer.
    sa.Table(
        "job_numbers",
        metadata,
        sa.Column("job_id", sa.Text, nullable=False, primary_key=True),
        sa.Column("e164", sa.Text, nullable=False, primary_key=True),
        sa.Column("task_ref", sa.Integer),
        sa.Column("answer", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("checked_at", TIMESTAMP),
        sa.Index(
            "job_numbers_task",
            "task_ref",
            sqlite_where=sa.text("answer IS NULL"),
            postgresql_where=sa.text("answer IS NULL"),
        ),
        sqlite_with_rowid=False,
    )
    # Upstream tasks (states: addin/engine/states.py). The row exists before the
    # upload; the vendor's task id is stored the moment the create returns.
    # lease_owner/lease_expires: the runner that may work on it (renewed by a
    # heartbeat); key_fp: a fingerprint of the API key that created it (never the key).
    sa.Table(
        "tasks",
        metadata,
        sa.Column("ref", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("realm", sa.Text, nullable=False),
        sa.Column("job_id", sa.Text, nullable=False),
        sa.Column("task_id", sa.Text, unique=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("n_numbers", sa.Integer, nullable=False),
        sa.Column("vendor_status", sa.Text),
        *(
            sa.Column(name, sa.Integer, nullable=False, server_default=sa.text("0"))
            for name in (
                "total",
                "success",
                "failure",
                "polls",
                "create_attempts",
                "uncertain_creates",
            )
        ),
        sa.Column("created_at", TIMESTAMP),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_expires", TIMESTAMP),
        sa.Column("key_fp", sa.Text),
        sa.Column("error", sa.Text),
        sa.Index("tasks_open", "realm", "state"),
        sqlite_autoincrement=True,
    )
    # The numbers uploaded in each task.
    sa.Table(
        "task_numbers",
        metadata,
        sa.Column("ref", sa.Integer, nullable=False, primary_key=True, autoincrement=False),
        sa.Column("e164", sa.Text, nullable=False, primary_key=True),
        sa.Index("task_numbers_e164", "e164"),
        sqlite_with_rowid=False,
    )
    # The money rule, enforced by the database: a number is in at most one open
    # task of a realm. Rows live from the claim to the end of the task.
    sa.Table(
        "claims",
        metadata,
        sa.Column("realm", sa.Text, nullable=False, primary_key=True),
        sa.Column("e164", sa.Text, nullable=False, primary_key=True),
        sa.Column("ref", sa.Integer, nullable=False),
        sa.Index("claims_ref", "ref"),
        sqlite_with_rowid=False,
    )
    # One record per vendor request outcome: billed (a 2xx), possibly billed
    # (no usable answer after the request may have arrived) or free.
    sa.Table(
        "requests",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("realm", sa.Text, nullable=False),
        sa.Column("key_fp", sa.Text),
        sa.Column("ref", sa.Integer),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("billing", sa.Text, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("count", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Index("requests_ref", "ref"),
        sa.Index("requests_realm", "realm"),
        sqlite_autoincrement=True,
    )


def define_pace_history(metadata: sa.MetaData) -> None:
    """Add ``pace_history`` (revision 0002): what earlier tasks of a realm showed of its pace.

    One row per task realm, rewritten as polls come back (``polling.PaceHistory``):
    the fastest processing rate an answer proved (numbers/s), decayed with every
    task, and how many tasks contributed.
    """
    sa.Table(
        "pace_history",
        metadata,
        sa.Column("realm", sa.Text, nullable=False, primary_key=True),
        sa.Column("top_rate", sa.Double().with_variant(sqlite.REAL(), "sqlite"), nullable=False),
        sa.Column("tasks", sa.Integer, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sqlite_with_rowid=False,
    )


def define_people(metadata: sa.MetaData) -> None:
    """Add revision 0003 to ``metadata``: who started each job, and the team server's people."""
    # started_by: the team server's user who started the job (NULL in local mode).
    jobs = metadata.tables["jobs"]
    jobs.append_column(sa.Column("started_by", sa.Text))
    sa.Index("jobs_started_by", jobs.c.started_by, jobs.c.created_at)
    # The team server's people (users.py). token_hash is the sha256 of a random
    # personal token (the token itself is never stored); NULL once the user is revoked.
    sa.Table(
        "users",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("admin", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("token_hash", sa.Text, unique=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP),
        sa.Column("revoked_at", TIMESTAMP),
    )


def define_paid_by(metadata: sa.MetaData) -> None:
    """Add revision 0004 to ``metadata``: who paid for each cached answer.

    results.paid_by: the team server's user who started the job whose task bought the
    answer (NULL: local mode, or an answer cached before this revision, payer unknown).
    A plan counts the answers colleagues paid for (``planning.Plan.paid_by_colleagues``).
    """
    metadata.tables["results"].append_column(sa.Column("paid_by", sa.Text))


def define_unfinished(metadata: sa.MetaData) -> None:
    """Add revision 0005 to ``metadata``: each person's unfinished business, shared by instances.

    The team server's upload sessions and their chunks, the plans awaiting a
    confirmation and the ``=FBCHECK`` batch held for one (``unfinished.py``): in the
    store, so that any instance behind a load balancer answers the next request and
    an instance that dies loses none of them. ``owner`` is the user's name ("" for the
    local backend); ``generation`` what the vendor key was (a changed key voids plans
    and batches). A chunk is the JSON text of its rows, read back when the upload is
    taken. Rows older than their time to live are deleted.
    """
    sa.Table(
        "upload_sessions",
        metadata,
        sa.Column("upload_id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("header", sa.Text, nullable=False),
        sa.Column("expected", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("touched", TIMESTAMP, nullable=False),
        sa.Index("upload_sessions_owner", "owner", "kind"),
    )
    sa.Table(
        "upload_chunks",
        metadata,
        sa.Column("upload_id", sa.Text, nullable=False, primary_key=True),
        sa.Column("idx", sa.Integer, nullable=False, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    sa.Table(
        "pending_plans",
        metadata,
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("generation", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Index("pending_plans_owner", "owner"),
    )
    sa.Table(
        "held_batches",
        metadata,
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("batch_id", sa.Text, nullable=False, unique=True),
        sa.Column("generation", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("numbers", sa.Text, nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("touched", TIMESTAMP, nullable=False),
    )


def define_settled_lookups(metadata: sa.MetaData) -> None:
    """Add revision 0006 to ``metadata``: what became of each held ``=FBCHECK`` number.

    ``state`` is ``submitted`` (in ``job_id``), ``declined`` or ``failed`` (``reason``
    says why), recorded by the instance that settled the held batch, so the other
    instances' cells show the same outcome instead of queueing the number again;
    ``asked`` once a cell asked for it anew. ``generation`` is the batch's (a changed
    vendor key voids the outcome, as it voids the batch).
    Rows older than the held batches' time to live are deleted.
    """
    sa.Table(
        "settled_lookups",
        metadata,
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("e164", sa.Text, primary_key=True),
        sa.Column("generation", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("job_id", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("settled", TIMESTAMP, nullable=False),
        sa.Index("settled_lookups_settled", "settled"),
    )


#: The schema at the newest revision.
metadata = sa.MetaData()
define_tables(metadata)
define_pace_history(metadata)
define_people(metadata)
define_paid_by(metadata)
define_unfinished(metadata)
define_settled_lookups(metadata)
