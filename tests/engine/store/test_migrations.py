"""Schema revisions: the chain, the MetaData they build on both databases, and adoption of
SQLite stores written before revisions (a version-3 file made by the code of that version)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from addin.engine.planning import plan_numbers
from addin.engine.states import TaskState
from addin.engine.store import Store, StoreError
from addin.engine.store.migrate import (
    current_revision,
    script_revisions,
    sqlalchemy_url,
    upgrade_postgres,
)
from addin.engine.store.revisions import HEAD, REVISIONS
from addin.engine.store.schema import define_tables, metadata

#: A store written by fbcheck before schema revisions (PRAGMA user_version 3): two jobs,
#: a done task with cached answers and a billed request, a running task, an uncertain one.
VERSION_3_STORE = Path(__file__).parent / "data" / "version3.sqlite3"


def test_the_known_revisions_are_the_chain_of_the_migrations_folder() -> None:
    assert list(REVISIONS) == script_revisions()
    assert REVISIONS[-1] == HEAD


def schema_differences(url: str) -> list[Any]:
    """Return what differs between the database at ``url`` and ``schema.metadata``."""
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            found = list(compare_metadata(context, metadata))
            revision = context.get_current_revision()
    finally:
        engine.dispose()
    assert revision == HEAD
    return found


def test_the_revisions_build_the_metadata_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    Store(path).close()
    assert schema_differences(f"sqlite:///{path}") == []


def test_the_revisions_build_the_metadata_on_postgresql(pg_store_url: str) -> None:
    assert schema_differences(pg_store_url) == []


def test_an_adopted_version_3_store_has_the_metadata_too(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    shutil.copy(VERSION_3_STORE, path)
    Store(path).close()
    found = schema_differences(f"sqlite:///{path}")
    # Version 3 declared jobs.job_id, tasks.ref and requests.id "PRIMARY KEY" without
    # NOT NULL; schema.py says NOT NULL. The same columns: SQLite never stores NULL in an
    # INTEGER PRIMARY KEY, and fbcheck always writes a job id.
    pk_nullable = [("jobs", "job_id"), ("requests", "id"), ("tasks", "ref")]
    assert sorted((d[0][2], d[0][3]) for d in found if d[0][0] == "modify_nullable") == pk_nullable
    assert [d for d in found if d[0][0] != "modify_nullable"] == []


#: The tables and columns of version 3 (the baseline): what an adopted store must keep.
BASELINE = sa.MetaData()
define_tables(BASELINE)


def table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Return every row of every fbcheck table the SQLite file at ``path`` has, sorted.

    Of version 3's tables only version 3's columns: later revisions add columns
    (``jobs.started_by``); their tables are read whole.
    """
    conn = sqlite3.connect(path)
    try:
        present = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        rows = {}
        for table in metadata.sorted_tables:
            if table.name not in present:
                continue
            known = BASELINE.tables.get(table.name, table)
            columns = ", ".join(column.name for column in known.columns)
            query = f"SELECT {columns} FROM {table.name}"  # noqa: S608
            rows[table.name] = sorted(conn.execute(query).fetchall())
        return rows
    finally:
        conn.close()


def test_a_version_3_store_is_adopted_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    shutil.copy(VERSION_3_STORE, path)
    before = table_rows(path)
    assert before["results"]
    assert before["claims"]
    assert before["requests"]
    store = Store(path)
    assert store.schema_change is not None
    assert "version 3" in store.schema_change
    assert store.read("SELECT version_num FROM alembic_version")[0][0] == HEAD
    assert store.read("PRAGMA user_version")[0][0] == 3
    states = {t.ref: t.state for t in store.open_tasks()}
    assert states == {2: TaskState.RUNNING, 3: TaskState.UNCERTAIN}  # nothing moved
    store.close()
    after = table_rows(path)
    # Every row kept; the tables of later revisions are there, empty.
    assert {name: rows for name, rows in after.items() if name in before} == before
    assert set(after) == {t.name for t in metadata.sorted_tables}
    assert all(after[name] == [] for name in set(after) - set(before))
    again = Store(path)  # a second open changes nothing
    assert again.schema_change is None
    again.close()


def test_the_adopted_store_works_with_this_code(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    shutil.copy(VERSION_3_STORE, path)
    store = Store(path, clock=lambda: 1_700_000_100.0)
    hits = store.cached("cache-r", ["+41790000000", "+41790000001"], max_age=3600)
    assert {n: a for n, (a, _) in hits.items()} == {"+41790000000": "yes", "+41790000001": "yes"}
    # The running task still holds its claims: a new job joins it instead of uploading.
    new = store.create_job(
        realm="r",
        cache_realm="cache-r",
        kind="check",
        label="",
        numbers=["+41790000003", "+41790000004"],
        refresh=False,
        max_age=3600.0,
        chunk_size=10,
        plan={},
        hit_source="cache",
    )
    assert (new.joined, new.uploaded) == (2, 0)
    store.close()


@pytest.mark.parametrize("version", [1, 2])
def test_older_stores_still_upgrade_in_place_and_are_adopted(tmp_path: Path, version: int) -> None:
    from tests.engine.store.test_database import first_release_store, version_2_store

    path = tmp_path / "fbcheck.sqlite3"
    if version == 1:
        first_release_store(path)
    else:
        version_2_store(path, {"+41790000001": "yes"})
    store = Store(path)
    assert store.schema_change is not None
    assert f"version {version if version == 2 else 0}" in store.schema_change
    store.close()
    found = schema_differences(f"sqlite:///{path}")
    # The first release's task columns stay (an older fbcheck still reads them).
    kept = sorted(d[3].name for d in found if isinstance(d, tuple) and d[0] == "remove_column")
    assert kept == (["billed", "owner", "owner_pid"] if version == 1 else [])
    changed = [d for d in found if isinstance(d, list) and d[0][0] != "modify_nullable"]
    assert changed == []
    assert [d for d in found if isinstance(d, tuple) and d[0] != "remove_column"] == []


# -- revision 0004 (results.paid_by) on a store with data at 0003 ---------------------

#: Rows of a store at revision 0003: ann's finished job (its answers cached) and her
#: running task, whose numbers are claimed.
AT_0003 = (
    "INSERT INTO jobs (job_id, realm, kind, label, state, created_at, updated_at, refresh,"
    " plan, started_by) VALUES ('j1', 'r', 'check', '', 'done', 1, 1, 0, '{}', 'ann'),"
    " ('j2', 'r', 'check', '', 'running', 2, 2, 0, '{}', 'ann')",
    "INSERT INTO results (realm, product, e164, answer, checked_at, task_id) VALUES"
    " ('cache-r', 'facebook', '+41790000000', 'yes', :now, 't1'),"
    " ('cache-r', 'facebook', '+41790000001', 'ban', :now, 't1')",
    "INSERT INTO tasks (ref, realm, job_id, task_id, state, n_numbers, updated_at) VALUES"
    " (1, 'r', 'j1', 't1', 'done', 2, 1), (2, 'r', 'j2', 't2', 'running', 1, 2)",
    "INSERT INTO task_numbers (ref, e164) VALUES (1, '+41790000000'), (1, '+41790000001'),"
    " (2, '+41790000002')",
    "INSERT INTO claims (realm, e164, ref) VALUES ('r', '+41790000002', 2)",
)


def store_at_0003(url: str, *, sqlite_file: bool) -> float:
    """Bring the empty database at ``url`` to revision 0003 and fill it; return "now"."""
    from addin.engine.store.migrate import alembic_config

    now = 1_700_000_000.0
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0003")
            if sqlite_file:
                conn.exec_driver_sql("PRAGMA user_version = 3")  # as every SQLite store has
            for statement in AT_0003:
                conn.execute(sa.text(statement), {"now": now})
            assert current_revision(conn) == "0003"
    finally:
        engine.dispose()
    return now


def assert_upgraded_with_every_row(store: Store, now: float) -> None:
    """The 0003 rows are kept, the answers' payer unknown; a colleague's plan counts right."""
    rows = store.read("SELECT e164, answer, task_id, paid_by FROM results ORDER BY e164")
    assert [tuple(r) for r in rows] == [
        ("+41790000000", "yes", "t1", None),
        ("+41790000001", "ban", "t1", None),
    ]
    assert {t.ref: t.state for t in store.open_tasks()} == {2: TaskState.RUNNING}
    plan = plan_numbers(
        store,
        ["+41790000000", "+41790000001", "+41790000002", "+41790000003"],
        cache_realm="cache-r",
        task_realm="r",
        max_age=3600.0,
        chunk_size=10,
        user="bob",
    ).summary()
    # Answers cached before 0004 have no known payer; ann's running task is hers.
    assert (plan["cache_hits"], plan["in_flight"], plan["to_upload"]) == (2, 1, 1)
    assert plan["paid_by_colleagues"] == 1


def test_an_sqlite_store_at_0003_with_data_is_upgraded_to_0004(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    now = store_at_0003(f"sqlite:///{path}", sqlite_file=True)
    store = Store(path, clock=lambda: now + 60)
    assert store.schema_change == f"upgraded from revision 0003 to revision {HEAD}"
    assert_upgraded_with_every_row(store, now)
    store.close()
    assert schema_differences(f"sqlite:///{path}") == []


def test_a_postgresql_store_at_0003_with_data_is_upgraded_to_0004(pg_url: str) -> None:
    now = store_at_0003(pg_url, sqlite_file=False)
    with pytest.raises(StoreError, match="fbcheck db upgrade"):
        Store(pg_url)  # a server refuses the older schema
    assert upgrade_postgres(pg_url) == f"upgraded from revision 0003 to revision {HEAD}"
    store = Store(pg_url, clock=lambda: now + 60)
    assert_upgraded_with_every_row(store, now)
    store.close()
    assert schema_differences(pg_url) == []
