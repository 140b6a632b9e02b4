"""The SQLite file: schema install, upgrade of a first-release store, damaged files, privacy."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from addin.engine.states import TaskState
from addin.engine.store import Store, StoreError
from addin.engine.store.database import SCHEMA_VERSION, chunks
from tests.engine.store.conftest import CACHE, OWNER, FakeClock

#: The schema.sql of version 3 (the last before Alembic), as that version shipped it.
VERSION_3_SCHEMA = (Path(__file__).parent / "data" / "version3_schema.sql").read_text("utf-8")


def schema_sql() -> str:
    """Return the DDL of version 3 (stores made before Alembic)."""
    return VERSION_3_SCHEMA


def _statements(script: str) -> list[str]:
    """Return the statements of an SQL script without its comments."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s for s in "\n".join(lines).split(";") if s.strip()]


TABLES = {"results", "jobs", "job_numbers", "tasks", "task_numbers", "claims", "requests"}

# The schema of the first release (git show 34fbb61:addin/engine/store.py, SCHEMA).
FIRST_RELEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    realm TEXT NOT NULL,
    e164 TEXT NOT NULL,
    answer TEXT NOT NULL,
    checked_at REAL NOT NULL,
    task_id TEXT,
    PRIMARY KEY (realm, e164)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    refresh INTEGER NOT NULL DEFAULT 0,
    plan TEXT NOT NULL DEFAULT '{}',
    error TEXT
);
CREATE TABLE IF NOT EXISTS job_numbers (
    job_id TEXT NOT NULL,
    e164 TEXT NOT NULL,
    task_ref INTEGER,
    answer TEXT,
    reason TEXT,
    source TEXT,
    checked_at REAL,
    PRIMARY KEY (job_id, e164)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_numbers_task ON job_numbers (task_ref) WHERE answer IS NULL;
CREATE TABLE IF NOT EXISTS tasks (
    ref INTEGER PRIMARY KEY AUTOINCREMENT,
    realm TEXT NOT NULL,
    job_id TEXT NOT NULL,
    task_id TEXT UNIQUE,
    state TEXT NOT NULL,
    n_numbers INTEGER NOT NULL,
    vendor_status TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    success INTEGER NOT NULL DEFAULT 0,
    failure INTEGER NOT NULL DEFAULT 0,
    billed INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    create_attempts INTEGER NOT NULL DEFAULT 0,
    uncertain_creates INTEGER NOT NULL DEFAULT 0,
    created_at REAL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    owner TEXT,
    owner_pid INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (realm, state);
CREATE TABLE IF NOT EXISTS task_numbers (
    ref INTEGER NOT NULL,
    e164 TEXT NOT NULL,
    PRIMARY KEY (ref, e164)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_numbers_e164 ON task_numbers (e164);
"""

# ref: (state, task_id, billed, numbers)
FIRST_RELEASE_TASKS = {
    1: ("creating", None, 0, ["+41790000001", "+41790000002"]),
    2: ("running", "cs9viu7i61pkfs4oavvg", 3, ["+41790000003"]),
    3: ("queued", None, 0, ["+41790000004"]),
    4: ("done", "cs9viu7i61pkfs4oavv0", 2, ["+41790000005"]),
}


def first_release_store(path: Path) -> None:
    """Write a store as the first release left it: one job waiting on four tasks."""
    conn = sqlite3.connect(path)
    conn.executescript(FIRST_RELEASE_SCHEMA)
    now = time.time()
    with conn:
        conn.execute(
            "INSERT INTO jobs (job_id, realm, kind, state, created_at, updated_at)"
            " VALUES ('j1', 'r', 'check', 'running', ?, ?)",
            (now, now),
        )
        for ref, (state, task_id, billed, nums) in FIRST_RELEASE_TASKS.items():
            conn.execute(
                "INSERT INTO tasks (ref, realm, job_id, task_id, state, n_numbers, billed,"
                " updated_at, created_at, owner, owner_pid) VALUES (?, 'r', 'j1', ?, ?, ?, ?,"
                " ?, ?, 'old-owner', 999999)",
                (ref, task_id, state, len(nums), billed, now, now if task_id else None),
            )
            for number in nums:
                conn.execute("INSERT INTO task_numbers VALUES (?, ?)", (ref, number))
                answer = "yes" if state == "done" else None
                conn.execute(
                    "INSERT INTO job_numbers (job_id, e164, task_ref, answer) VALUES"
                    " ('j1', ?, ?, ?)",
                    (number, ref, answer),
                )
    conn.close()


def test_schema_is_installed_on_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "new" / "fbcheck.sqlite3")
    names = {r[0] for r in store.read("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names >= TABLES
    assert store.read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert store.read("PRAGMA journal_mode")[0][0] == "wal"
    store.close()
    Store(tmp_path / "new" / "fbcheck.sqlite3").close()  # a second open changes nothing


def test_migrations_are_package_data() -> None:
    from addin.engine.store.migrate import MIGRATIONS

    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()


def test_first_release_store_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    first_release_store(path)
    store = Store(path)
    # Claims for every open task, none for the finished one.
    claims = {r[0]: r[1] for r in store.read("SELECT e164, ref FROM claims WHERE realm = 'r'")}
    assert claims == {
        "+41790000001": 1,
        "+41790000002": 1,
        "+41790000003": 2,
        "+41790000004": 3,
    }
    # What the first release counted as billed is in the ledger.
    assert store.task_billing(2).billed == 3
    assert store.task_billing(4).billed == 2
    assert store.job_billing("j1").billed == 5
    assert store.job_billing("j1").possibly == 0
    # A process died inside that upload: its outcome is unknown, never re-sent by itself.
    creating = store.task(1)
    assert creating is not None
    assert creating.state == TaskState.UNCERTAIN
    assert creating.error is not None
    assert "may have created" in creating.error
    assert store.task(2).state == TaskState.RUNNING  # type: ignore[union-attr]
    assert store.task(3).state == TaskState.QUEUED  # type: ignore[union-attr]
    assert store.read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    job = store.job("j1")
    assert job is not None
    assert job.fingerprint is None
    store.close()
    # Opening it again does not count the billed requests twice.
    again = Store(path)
    assert again.job_billing("j1").billed == 5
    again.close()


def test_upgraded_tasks_work_with_the_new_code(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    first_release_store(path)
    store = Store(path)
    held = store.claim_tasks(
        "r", OWNER, key_fp="k", lease_seconds=60, owners_gone=lambda owners: set()
    )
    # The uncertain task waits for the user; the others are leased.
    assert [t.ref for t in held] == [2, 3]
    store.finish_task(
        2,
        OWNER,
        cache_realm=CACHE,
        results={"+41790000003": ("no", None)},
        source="upstream",
        missing_reason="m",
    )
    assert store.job_answers("j1")["+41790000003"].answer == "no"
    assert "+41790000003" not in store.in_flight("r", ["+41790000003"])
    store.close()


def test_a_store_created_while_another_process_opens_it_is_not_upgraded(tmp_path: Path) -> None:
    """A store another process created (and already works in) is not a first-release store.

    The second opener reads user_version 0 before the first commits the schema, then
    waits for the write lock; by the time it has it, the first process may be
    uploading a task. That upload must stay ``creating``.
    """
    path = tmp_path / "fbcheck.sqlite3"
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("BEGIN IMMEDIATE")
    opened: list[Store] = []
    second = threading.Thread(target=lambda: opened.append(Store(path)))
    second.start()
    time.sleep(0.3)  # the second opener has read user_version 0 and waits for the lock
    for statement in _statements(schema_sql()):  # not executescript: it would commit
        first.execute(statement)
    first.execute(
        "INSERT INTO tasks (realm, job_id, state, n_numbers, updated_at) VALUES"
        " ('r', 'j', 'creating', 1, 0)"
    )
    first.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    first.execute("COMMIT")
    second.join(10)
    assert opened, "the second opener did not finish"
    task = opened[0].task(1)
    assert task is not None
    assert task.state == TaskState.CREATING
    opened[0].close()
    first.close()


def test_garbage_file_is_a_clear_store_error(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes\n" * 200)
    with pytest.raises(StoreError, match="is not an SQLite database") as caught:
        Store(path)
    assert str(path) in str(caught.value)
    assert "move it aside" in str(caught.value)


def test_directory_in_place_of_the_store_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    path.mkdir()
    with pytest.raises(StoreError, match="is a folder, not a file") as caught:
        Store(path)
    assert str(path) in str(caught.value)


@pytest.mark.skipif(os.name != "posix", reason="file modes are posix")
def test_store_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    Store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    Store(path).close()  # an existing file is made private again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "fbcheck.sqlite3", clock=FakeClock())

    def insert_then_fail() -> None:
        """Write a row, then fail inside the transaction."""
        with store.transaction() as db:
            db.execute(
                "INSERT INTO results (realm, e164, answer, checked_at)"
                " VALUES ('c', '+41790000001', 'yes', 0)"
            )
            raise KeyError("boom")

    with pytest.raises(KeyError):
        insert_then_fail()
    assert store.read("SELECT COUNT(*) FROM results")[0][0] == 0
    store.close()


def test_chunks() -> None:
    assert [list(c) for c in chunks([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert list(chunks([], 3)) == []


OLD_RESULTS = """
CREATE TABLE results (
    realm TEXT NOT NULL,
    e164 TEXT NOT NULL,
    answer TEXT NOT NULL,
    checked_at REAL NOT NULL,
    task_id TEXT,
    PRIMARY KEY (realm, e164)
) WITHOUT ROWID;
"""


def version_2_store(path: Path, answers: dict[str, str]) -> float:
    """Write a store as version 2 left it: the cache keyed by (realm, e164); return its time."""
    conn = sqlite3.connect(path)
    conn.executescript(schema_sql())
    conn.executescript("DROP TABLE results;" + OLD_RESULTS)
    now = time.time()
    with conn:
        conn.executemany(
            "INSERT INTO results VALUES (?, ?, ?, ?, 't1')",
            [(CACHE, number, answer, now) for number, answer in answers.items()],
        )
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    return now


@pytest.mark.parametrize("make_old", ["version 2", "first release"])
def test_the_cache_key_gains_the_product_and_old_answers_migrate(
    tmp_path: Path, make_old: str
) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    old = {"+41790000001": "yes", "+41790000002": "ban"}
    if make_old == "version 2":
        checked = version_2_store(path, old)
    else:
        first_release_store(path)
        checked = time.time()
        conn = sqlite3.connect(path)
        with conn:
            conn.executemany(
                "INSERT INTO results VALUES (?, ?, ?, ?, NULL)",
                [(CACHE, n, a, checked) for n, a in old.items()],
            )
        conn.close()
    store = Store(path)
    assert store.read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    columns = [r[1] for r in store.read("PRAGMA table_info(results)")]
    # paid_by: revision 0004 (who paid; unknown for these old answers).
    assert columns == ["realm", "product", "e164", "answer", "checked_at", "task_id", "paid_by"]
    assert [r[0] for r in store.read("SELECT paid_by FROM results")] == [None, None]
    found = store.cached(CACHE, list(old), max_age=3600, now=checked)
    assert {n: a for n, (a, _) in found.items()} == old  # kept, as facebook answers
    assert store.cached(CACHE, list(old), max_age=3600, now=checked, product="instagram") == {}
    store.close()
    again = Store(path)  # a second open changes nothing
    assert len(again.read("SELECT * FROM results")) == 2
    again.close()


def test_answers_of_two_products_live_side_by_side(tmp_path: Path) -> None:
    store = Store(tmp_path / "fbcheck.sqlite3")
    with store.transaction() as db:
        db.execute(
            "INSERT INTO results (realm, product, e164, answer, checked_at)"
            " VALUES (?, 'facebook', '+41790000001', 'yes', 1.0),"
            " (?, 'instagram', '+41790000001', 'no', 1.0)",
            (CACHE, CACHE),
        )
    facebook = store.cached(CACHE, ["+41790000001"], max_age=10, now=2.0)
    other = store.cached(CACHE, ["+41790000001"], max_age=10, now=2.0, product="instagram")
    assert (facebook["+41790000001"][0], other["+41790000001"][0]) == ("yes", "no")
    store.close()
