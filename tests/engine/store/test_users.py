"""The team server's people (``addin.engine.store.users``) and who started each job.

On both stores: the ``store`` fixture is an SQLite file, then a PostgreSQL database.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from addin.engine.store import Store, UserError
from addin.engine.store.revisions import HEAD
from addin.engine.store.users import LAST_SEEN_EVERY, TOKEN_PREFIX, token_hash
from tests.engine.store.conftest import FakeClock

#: A store written by fbcheck before schema revisions (PRAGMA user_version 3).
VERSION_3_STORE = Path(__file__).parent / "data" / "version3.sqlite3"


def test_a_token_is_random_prefixed_and_stored_only_as_its_hash(store: Store) -> None:
    first, second = store.add_user("alice"), store.add_user("bob", admin=True)
    assert first.startswith(TOKEN_PREFIX)
    assert first != second
    assert len(first) >= len(TOKEN_PREFIX) + 43  # 32 random bytes, base64url
    stored = {r[0]: r[1] for r in store.read("SELECT name, token_hash FROM users")}
    assert stored == {"alice": token_hash(first), "bob": token_hash(second)}
    if store.path is not None:  # the SQLite file (PostgreSQL: the hashes above)
        assert first.encode() not in store.path.read_bytes()


def test_the_token_names_its_user_and_a_revoked_or_wrong_one_nobody(
    store: Store, clock: FakeClock
) -> None:
    token = store.add_user("alice", admin=True)
    user = store.user_of_token(token)
    assert user is not None
    assert (user.name, user.admin, user.active) == ("alice", True, True)
    assert store.user_of_token(token[:-1]) is None
    assert store.user_of_token("") is None
    clock.now += 5
    store.revoke_user("alice")
    assert store.user_of_token(token) is None
    (alice,) = store.users()
    assert alice.revoked_at == clock.now
    assert not alice.active
    fresh = store.add_user("alice")
    assert store.user_of_token(token) is None
    renewed = store.user_of_token(fresh)
    assert renewed is not None
    assert renewed.admin is False  # as asked this time


def test_last_seen_is_written_at_most_once_a_minute(store: Store, clock: FakeClock) -> None:
    token = store.add_user("alice")
    store.user_of_token(token)
    first = clock.now
    clock.now += LAST_SEEN_EVERY - 1
    store.user_of_token(token)
    assert [u.last_seen for u in store.users()] == [first]
    clock.now += 1
    store.user_of_token(token)
    assert [u.last_seen for u in store.users()] == [clock.now]


@pytest.mark.parametrize("name", ["", " ", "a b", "_x", "x" * 65, "a/b", "é"])
def test_a_bad_name_is_refused(store: Store, name: str) -> None:
    with pytest.raises(UserError, match="a user name is"):
        store.add_user(name)
    assert store.users() == []


def test_adding_an_active_user_again_or_revoking_nobody_is_refused(store: Store) -> None:
    token = store.add_user("alice")
    with pytest.raises(UserError, match="exists already"):
        store.add_user("alice")
    assert store.user_of_token(token) is not None  # the first token still works
    with pytest.raises(UserError, match="no user named bob"):
        store.revoke_user("bob")


def test_adds_at_once_give_one_token_and_refuse_the_others(store: Store) -> None:
    store.add_user("carol")
    store.revoke_user("carol")  # a re-add reads the row, then writes it: the widest window
    start = threading.Barrier(4)
    tokens: list[str] = []
    refused: list[UserError] = []

    def add() -> None:
        start.wait()
        try:
            tokens.append(store.add_user("carol"))
        except UserError as exc:
            refused.append(exc)
        finally:
            store.close()  # this thread's connection

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(tokens) == 1, tokens
    assert len(refused) == 3
    assert all("exists already" in str(exc) for exc in refused)
    assert store.user_of_token(tokens[0]) is not None  # the token printed is the one kept


def test_jobs_record_who_started_them(store: Store) -> None:
    def job(started_by: str | None) -> str:
        """Store a job of one cached-nothing number; return its id."""
        return store.create_job(
            realm="demo:x",
            cache_realm="demo",
            kind="selection",
            label="Sheet1!A1",
            numbers=[],
            refresh=False,
            max_age=3600,
            chunk_size=10,
            plan={},
            hit_source="demo",
            started_by=started_by,
        ).job_id

    alices, bobs, local = job("alice"), job("bob"), job(None)
    record = store.job(alices)
    assert record is not None
    assert record.started_by == "alice"
    assert [j.job_id for j in store.jobs(started_by="alice")] == [alices]
    assert [j.job_id for j in store.jobs(started_by="bob")] == [bobs]
    assert {j.job_id for j in store.jobs()} == {alices, bobs, local}


def test_a_version_3_store_gains_started_by_and_users(tmp_path: Path) -> None:
    path = tmp_path / "fbcheck.sqlite3"
    shutil.copy(VERSION_3_STORE, path)
    before = sqlite3.connect(path)
    jobs_before = before.execute("SELECT job_id FROM jobs ORDER BY job_id").fetchall()
    tables = {r[0] for r in before.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    columns = {r[1] for r in before.execute("PRAGMA table_info(jobs)")}
    before.close()
    assert "users" not in tables
    assert "started_by" not in columns
    assert jobs_before
    store = Store(path)
    assert store.read("SELECT version_num FROM alembic_version")[0][0] == HEAD
    for (job_id,) in jobs_before:
        record = store.job(job_id)
        assert record is not None
        assert record.started_by is None  # a local job, kept
    token = store.add_user("alice")
    assert store.user_of_token(token) is not None
    store.close()


def test_the_unfinished_job_of_an_input_is_looked_for_among_one_users_jobs(store: Store) -> None:
    def job(started_by: str | None) -> str:
        """Store an unfinished job of one number to upload, input fingerprint "f"."""
        return store.create_job(
            realm="demo:x",
            cache_realm="demo",
            kind="cli",
            label="in.csv",
            numbers=["+41790000001"],
            refresh=False,
            max_age=3600,
            chunk_size=10,
            plan={},
            hit_source="demo",
            fingerprint="f",
            started_by=started_by,
        ).job_id

    alices = job("alice")

    def found(started_by: str | None) -> str | None:
        """Return the open job of input "f" that ``started_by`` would continue."""
        record = store.open_job("f", "demo:x", started_by=started_by)
        return None if record is None else record.job_id

    assert found("alice") == alices
    assert found("bob") is None
    assert found(None) == alices  # the local backend: anyone's
    bobs = job("bob")
    assert (found("alice"), found("bob")) == (alices, bobs)
