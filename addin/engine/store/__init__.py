"""The local store (SQLite): result cache, jobs, upstream tasks, claims and the request ledger.

One file under the data folder, WAL mode, safe for several threads and
processes. The schema is ``schema.sql`` (package data); each table family has
its module:

- ``cache``: the result cache (a realm separates the demo from each vendor URL);
- ``jobs``: jobs and their numbers, planned and claimed in one transaction;
- ``tasks``: upstream tasks, their leases and guarded state moves (``addin.engine.states``);
- ``ledger``: one record per vendor request outcome;
- ``database``: connections, transactions, schema upgrades.
"""

from __future__ import annotations

from addin.engine.store.cache import ResultCache
from addin.engine.store.database import StoreError
from addin.engine.store.jobs import JobTable, NewJob
from addin.engine.store.ledger import Billed, RequestLedger
from addin.engine.store.records import Answer, JobRecord, TaskRecord

__all__ = [
    "Answer",
    "Billed",
    "JobRecord",
    "NewJob",
    "Store",
    "StoreError",
    "TaskRecord",
]


class Store(JobTable, ResultCache, RequestLedger):
    """The store: every table family over one SQLite file."""
