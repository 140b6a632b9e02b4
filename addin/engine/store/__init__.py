"""The store: result cache, jobs, upstream tasks, claims and the request ledger.

An SQLite file under the data folder (WAL mode, safe for several threads and
processes), or a PostgreSQL database (``FBCHECK_DATABASE_URL``) shared by many
processes and machines. The tables are ``schema.py``'s SQLAlchemy ``MetaData``,
versioned by the Alembic revisions of ``migrations/``; each table family has its
module:

- ``cache``: the result cache (a realm separates the demo from each vendor URL);
- ``jobs``: jobs and their numbers, planned and claimed in one transaction;
- ``tasks``: upstream tasks, their leases and guarded state moves (``addin.engine.states``);
- ``ledger``: one record per vendor request outcome;
- ``pace``: what earlier tasks of a realm showed of the vendor's pace (poll schedule);
- ``users``: the team server's people and their hashed tokens;
- ``unfinished``: each person's upload sessions, plans awaiting confirmation and held
  look-up batch (the team server's instances share them through the store);
- ``database``: connections and transactions (``postgres`` for PostgreSQL);
- ``migrate``: the schema revisions, run on a store (``revisions``: their ids).
"""

from __future__ import annotations

from addin.engine.store.cache import ResultCache
from addin.engine.store.database import StoreError
from addin.engine.store.jobs import JobTable, NewJob
from addin.engine.store.ledger import Billed, RequestLedger
from addin.engine.store.pace import PaceTable
from addin.engine.store.records import Answer, JobRecord, TaskRecord
from addin.engine.store.unfinished import UnfinishedTable
from addin.engine.store.users import User, UserError, UserTable

__all__ = [
    "Answer",
    "Billed",
    "JobRecord",
    "NewJob",
    "Store",
    "StoreError",
    "TaskRecord",
    "User",
    "UserError",
]


class Store(JobTable, ResultCache, RequestLedger, PaceTable, UserTable, UnfinishedTable):
    """The store: every table family over one SQLite file or PostgreSQL database."""
