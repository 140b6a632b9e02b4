"""The store on PostgreSQL from the command line: `fbcheck db upgrade`, refusing an outdated
schema, a demo check end to end, and what a database that cannot be used says (exit 8).

Every test talks to a throwaway cluster on loopback (tests/postgres.py) through the real
CLI in a subprocess; without PostgreSQL binaries they skip, saying why.
"""

from __future__ import annotations

import csv
import gc
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from addin.engine.store import Store, StoreError, UserError
from addin.engine.store.postgres import pg_sql, redact
from addin.engine.store.revisions import HEAD
from tests.postgres import PASSWORD, Cluster
from tests.test_store_failures import base_env, run

COMMANDS = {
    "check": ["check", "in.csv", "-o", "out.csv", "--yes"],
    "jobs list": ["jobs", "list"],
    "serve": ["serve", "--port", "0"],
}


def env_for(tmp_path: Path, url: str) -> dict[str, str]:
    """Return a demo CLI environment whose store is the database at ``url``."""
    env = base_env(tmp_path / "data", tmp_path)
    env["FBCHECK_DATABASE_URL"] = url
    return env


def assert_store_paragraph(result: subprocess.CompletedProcess[str], *says: str) -> None:
    """Assert exit 8, no traceback, no password, and a paragraph saying ``says``."""
    assert result.returncode == 8, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    for words in says:
        assert words in result.stderr, result.stderr


def write_input(tmp_path: Path, count: int = 3) -> None:
    """Write ``in.csv`` with ``count`` Swiss mobile numbers."""
    rows = "".join(f"+4179111{n:04d}\n" for n in range(count))
    (tmp_path / "in.csv").write_text("phone\n" + rows, encoding="utf-8")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_database_without_the_schema_refuses_to_start_naming_db_upgrade(
    pg_url: str, tmp_path: Path, command: str
) -> None:
    write_input(tmp_path)
    result = run(COMMANDS[command], env_for(tmp_path, pg_url), tmp_path)
    assert_store_paragraph(result, "fbcheck db upgrade", redact(pg_url))
    assert not (tmp_path / "out.csv").exists()
    assert "FBCheck backend on" not in result.stdout


def test_db_upgrade_installs_the_schema_then_a_demo_check_runs_on_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    env = env_for(tmp_path, pg_url)
    first = run(["db", "upgrade"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"upgraded from an empty database to revision {HEAD}" in first.stdout
    assert PASSWORD not in first.stdout + first.stderr
    again = run(["db", "upgrade"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout
    write_input(tmp_path, 5)
    checked = run(["check", "in.csv", "-o", "out.csv", "--yes", "--json"], env, tmp_path)
    assert checked.returncode == 0, checked.stderr
    document = json.loads(checked.stdout)
    assert document["rows"] == 5
    with (tmp_path / "out.csv").open(encoding="utf-8") as handle:
        answers = [row["facebook"] for row in csv.DictReader(handle)]
    assert len(answers) == 5
    assert set(answers) <= {"yes", "no", "ban"}
    # The job lives in PostgreSQL, not in an SQLite file of the data folder.
    assert not (tmp_path / "data" / "fbcheck.sqlite3").exists()
    with psycopg.connect(pg_url) as conn:
        (jobs,) = conn.execute("SELECT COUNT(*) FROM jobs").fetchone() or (0,)
    assert jobs == 1
    listed = run(["jobs", "list", "--json"], env, tmp_path)
    assert json.loads(listed.stdout)["jobs"][0]["job_id"] == document["job_id"]
    # A second run is answered from the shared cache: nothing uploaded.
    second = run(["check", "in.csv", "-o", "out2.csv", "--yes", "--json"], env, tmp_path)
    assert json.loads(second.stdout)["estimate"]["cache_hits"] == 5


def test_an_older_revision_is_refused_with_the_command_to_run(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This fbcheck pretends to know a revision after the database's.
    monkeypatch.setattr("addin.engine.store.postgres.REVISIONS", (HEAD, "9999"))
    monkeypatch.setattr("addin.engine.store.postgres.HEAD", "9999")
    with pytest.raises(StoreError) as caught:
        Store(pg_store_url)
    text = str(caught.value)
    assert f"is at revision {HEAD}, older than this fbcheck (revision 9999)" in text
    assert "fbcheck db upgrade" in text
    assert PASSWORD not in text


def test_a_newer_revision_is_used_as_it_is(pg_store_url: str) -> None:
    with psycopg.connect(pg_store_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'from-a-newer-fbcheck'")
    Store(pg_store_url).close()  # revisions only add: this fbcheck still works on it


def closed_port() -> int:
    """Return a loopback port nothing listens on."""
    from tests.postgres import _free_port

    return _free_port()


@pytest.mark.parametrize("case", ["wrong password", "no such database", "nothing listening"])
@pytest.mark.parametrize("command", ["jobs list", "db upgrade"])
def test_a_database_that_cannot_be_used_is_one_paragraph_and_exit_8(
    pg_cluster: Cluster, tmp_path: Path, case: str, command: str
) -> None:
    if case == "wrong password":
        url = pg_cluster.url("postgres", password="not-" + PASSWORD)
        says = "refused the login"
    elif case == "no such database":
        url = pg_cluster.url("no_such_db")
        says = "the database does not exist"
    else:
        url = pg_cluster.url("postgres").replace(f":{pg_cluster.port}/", f":{closed_port()}/")
        says = "cannot be reached"
    argv = COMMANDS.get(command, command.split())
    result = run(argv, env_for(tmp_path, url), tmp_path)
    assert_store_paragraph(result, says, "FBCHECK_DATABASE_URL", redact(url))
    assert "not-" + PASSWORD not in result.stderr


def test_a_url_that_is_not_postgresql_is_one_paragraph_and_exit_8(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data", tmp_path)
    env["FBCHECK_DATABASE_URL"] = f"mysql://me:{PASSWORD}@127.0.0.1/db"
    result = run(["jobs", "list"], env, tmp_path)
    assert_store_paragraph(result, "must be a postgresql:// URL", "mysql://")


def test_the_password_never_shows_in_a_redacted_url() -> None:
    assert redact("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://h/db?user=u&password=s3cret") == (
        "postgresql://h/db?user=u&password=***"
    )
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


def test_the_store_sql_becomes_psycopg_sql() -> None:
    assert pg_sql("SELECT ? WHERE a = ?") == "SELECT %s WHERE a = %s"
    assert pg_sql("SELECT '?', 5 % 2, ?") == "SELECT '?', 5 %% 2, %s"
    assert pg_sql("SELECT 'it''s ?'") == "SELECT 'it''s ?'"


def test_the_claims_key_refuses_a_second_open_claim_on_postgresql(pg_store_url: str) -> None:
    store = Store(pg_store_url)
    with store.transaction() as db:
        db.execute("INSERT INTO claims (realm, e164, ref) VALUES ('r', '+41790000001', 1)")
    with pytest.raises(StoreError, match="duplicate key"), store.transaction() as db:
        db.execute("INSERT INTO claims (realm, e164, ref) VALUES ('r', '+41790000001', 2)")
    assert store.read("SELECT ref FROM claims") == [(1,)]
    store.close()


def test_answers_survive_a_lost_connection(pg_cluster: Cluster, pg_store_url: str) -> None:
    store = Store(pg_store_url)
    assert store.read("SELECT 1") == [(1,)]
    name = pg_store_url.rsplit("/", 1)[1]
    with pg_cluster.admin() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    with pytest.raises(StoreError, match="lost the connection"):
        store.read("SELECT 1")
    assert store.read("SELECT 1") == [(1,)]  # the next call connects again
    store.close()


def test_two_upgrades_at_once_run_one_after_the_other(pg_url: str, tmp_path: Path) -> None:
    env = env_for(tmp_path, pg_url)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "addin.cli", "db", "upgrade"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    said = sorted(out for out, _ in outputs)
    assert "nothing to do" in said[0]
    assert "upgraded from an empty database" in said[1]


def test_two_queue_schema_creations_at_once_take_turns(pg_url: str) -> None:
    # CI once saw the second of two concurrent `db upgrade` runs fail inside
    # procrastinate's schema: both had looked, found no queue tables, and created them.
    from addin.engine.workers import QUEUE_SCHEMA_LOCK, apply_queue_schema

    results: list[bool] = []
    failures: list[BaseException] = []

    def create() -> None:
        try:
            results.append(apply_queue_schema(pg_url))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (QUEUE_SCHEMA_LOCK,))
        threads = [threading.Thread(target=create) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while _lock_waiters(pg_url) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lock_waiters(pg_url) == 2, "both creations should wait for the lock"
        assert results == []
        assert failures == []
        holder.execute("SELECT pg_advisory_unlock(%s)", (QUEUE_SCHEMA_LOCK,))
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sorted(results) == [False, True]


def test_a_change_of_users_waits_for_another_one(pg_store_url: str) -> None:
    # `fbcheck users add` reads the row, then writes it: two at once (a re-add of a
    # revoked user) both printed a token, and the first printed was void.
    from addin.engine.store.postgres import lock_key
    from addin.engine.store.users import USERS_LOCK

    store = Store(pg_store_url)
    store.add_user("carol")
    store.revoke_user("carol")
    tokens: list[str] = []
    with psycopg.connect(pg_store_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(USERS_LOCK),))
        adder = threading.Thread(target=lambda: tokens.append(store.add_user("carol")))
        adder.start()
        deadline = time.monotonic() + 30
        while not _lock_waiters(pg_store_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lock_waiters(pg_store_url) == 1, "the add should wait for the users' lock"
        assert tokens == []
        holder.execute("SELECT pg_advisory_unlock(%s)", (lock_key(USERS_LOCK),))
    adder.join(30)
    assert len(tokens) == 1
    assert store.user_of_token(tokens[0]) is not None
    with pytest.raises(UserError, match="exists already"):
        store.add_user("carol")
    store.close()


def _lock_waiters(url: str) -> int:
    """Return how many connections to the database of ``url`` wait for a lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def _waiting_on_a_lock(url: str) -> bool:
    """Return True when a connection to the database of ``url`` waits for a lock."""
    return _lock_waiters(url) > 0


def two_queued_tasks(store: Store) -> tuple[str, int, int]:
    """Store a job of two numbers in two queued tasks nobody leases; return it and their refs."""
    new = store.create_job(
        realm="r",
        cache_realm="c",
        kind="test",
        label="",
        numbers=["+41790000001", "+41790000002"],
        refresh=False,
        max_age=3600.0,
        chunk_size=1,
        plan={},
        hit_source="cache",
    )
    first, second = sorted(t.ref for t in store.job_tasks(new.job_id))
    return new.job_id, first, second


@pytest.mark.parametrize("step", ["claim", "renew", "release"])
def test_a_lease_step_waits_for_the_realms_lock_so_it_never_deadlocks_with_a_task_end(
    pg_store_url: str, step: str
) -> None:
    # Two queued tasks nobody leases. A transaction that holds the realm's claims lock (a
    # plan, a task end, a cancel, an abandon) moves the second task, then the first: the
    # order abandon_waiting takes (uncertain tasks, then paused ones), and cancel_job's
    # (the job's tasks as the database lists them). A claim of the realm taking the task
    # rows without that lock would hold the first and wait for the second: a deadlock.
    store = Store(pg_store_url, lock_timeout=30)
    job_id, first, second = two_queued_tasks(store)
    claimer = Store(pg_store_url, lock_timeout=30)
    claimed: list[list[int]] = []
    failed: list[BaseException] = []
    owner = "b" * 32
    if step != "claim":
        # A runner's heartbeat renews both leases; its stop releases them.
        claimer.claim_tasks(
            "r", owner, key_fp="k", lease_seconds=60.0, owners_gone=lambda owners: set()
        )

    def claim() -> None:
        """Claim, renew or release the realm's task leases, as a runner does."""
        try:
            if step == "claim":
                records = claimer.claim_tasks(
                    "r", owner, key_fp="k", lease_seconds=60.0, owners_gone=lambda owners: set()
                )
                claimed.append([r.ref for r in records])
            elif step == "renew":
                claimed.append([claimer.renew_leases(owner, 120.0)])
            else:
                claimer.release_leases(owner)
                claimed.append([])
        except BaseException as exc:
            failed.append(exc)
        finally:
            claimer.close()

    thread = threading.Thread(target=claim)
    with store.transaction(lock="r") as db:
        db.execute("UPDATE tasks SET updated_at = updated_at WHERE ref = ?", (second,))
        thread.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(pg_store_url):
            assert thread.is_alive(), failed
            assert time.monotonic() < deadline, "the claim never waited for a lock"
            time.sleep(0.05)
        # PostgreSQL looks for a deadlock after deadlock_timeout (1 s) of waiting.
        db.execute("UPDATE tasks SET updated_at = updated_at WHERE ref = ?", (first,))
        time.sleep(1.5)
    thread.join(30)
    claimer.close()  # this thread's connection (the set-up claim's)
    assert failed == [], [repr(exc.__cause__) for exc in failed]
    assert claimed == [{"claim": [first, second], "renew": [2], "release": []}[step]]
    reader = Store(pg_store_url)
    holders = {t.lease_owner for t in reader.job_tasks(job_id)}
    reader.close()
    assert holders == ({None} if step == "release" else {owner})
    store.close()


# A connection of the rolled-back transaction reaches the garbage collector unclosed
# (cause not found yet); it is collected here, so its warning is not blamed on a later test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_deadlock_is_said_as_a_rolled_back_transaction_not_a_lost_connection(
    pg_store_url: str,
) -> None:
    # Two transactions take two task rows in opposite orders (what the realm's lock
    # prevents in fbcheck's own steps): the server rolls one back, and says why.
    store = Store(pg_store_url, lock_timeout=30)
    _, first, second = two_queued_tasks(store)
    other = Store(pg_store_url, lock_timeout=30)
    failed: list[BaseException] = []
    touch = "UPDATE tasks SET updated_at = updated_at WHERE ref = ?"

    def opposite() -> None:
        """Take the second row, then the first."""
        try:
            with other.transaction() as db:
                db.execute(touch, (second,))
                db.execute(touch, (first,))
        except BaseException as exc:
            failed.append(exc)
        finally:
            other.close()

    thread = threading.Thread(target=opposite)
    try:
        with store.transaction() as db:
            db.execute(touch, (first,))
            thread.start()
            deadline = time.monotonic() + 30
            while not _waiting_on_a_lock(pg_store_url):
                assert thread.is_alive(), failed
                assert time.monotonic() < deadline, "the other transaction never waited"
                time.sleep(0.05)
            db.execute(touch, (second,))
    except StoreError as exc:
        failed.append(exc)
    thread.join(30)
    store.close()
    # A store's connections are per thread: opening ``other`` (its revision check) took
    # one in this thread, which the thread's close() does not reach.
    other.close()
    assert len(failed) == 1, failed
    text = str(failed[0])
    assert isinstance(failed[0], StoreError), repr(failed[0])
    assert "rolled back a transaction that conflicted with another one" in text, text
    assert "deadlock" in text.lower(), text
    assert "cannot be reached" not in text
    failed.clear()
    gc.collect()
