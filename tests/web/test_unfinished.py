"""Upload sessions, plans awaiting confirmation and held batches: one suite, every keeper.

The local backend keeps them in memory; the team server in the store (SQLite or
PostgreSQL), where all its instances find them (issue 13: "share nothing but the
database"). The same rules hold for each: used once, times to live, chunk conflicts,
open sessions per user, bytes per session, a changed vendor key voids. The store's
keepers also keep users apart, and of two instances taking the same thing at once
exactly one gets it (two ``Store`` objects: two connections, as two instances).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from addin.engine.planning import Plan
from addin.engine.store import Store
from addin.web.answer_columns import SPILL
from addin.web.coalescer import Lookup
from addin.web.file_numbers import FileHeader, FileNumbers, assemble_numbers
from addin.web.held_lookups import (
    ASKED_AGAIN,
    HeldBatchChangedError,
    HeldBatchGoneError,
    HeldBook,
    HeldLookups,
)
from addin.web.pending_plans import PendingPlans, PlanBook
from addin.web.stored_unfinished import (
    FILE_CODEC,
    StoredHeldLookups,
    StoredPlans,
    StoredUploads,
    stored_selection_uploads,
)
from addin.web.uploads import (
    ChunkConflictError,
    TooManyUploadsError,
    UnknownUploadError,
    UploadBook,
    UploadIncompleteError,
    UploadSessions,
    UploadTooLargeError,
    selection_uploads,
)
from addin.web.xlwings_glue import AreaColumn, Chunk, SelectionError, read_header

FileBook = UploadBook[FileHeader, tuple[str, ...], FileNumbers]
HEADER = FileHeader("ab" * 8, refresh=False)
GENERATION = "0:demo@http://vendor"


def small_plan(numbers: list[str], *, rows: int = 0, refresh: bool = False) -> Plan:
    """Return a plan that uploads ``numbers`` (nothing cached)."""
    return Plan(
        rows=rows or len(numbers),
        invalid=1,
        distinct=len(numbers),
        hits={},
        in_flight={},
        upload=list(numbers),
        chunk_size=10,
        refresh=refresh,
    )


class Keepers:
    """Makes the uploads, plans and held batch of one user, on one clock, in one keeper."""

    def __init__(self, kind: str, store: Callable[[], Store] | None) -> None:
        """``kind``: memory, sqlite or postgresql (``store`` then opens it)."""
        self.kind = kind
        self.store = store
        self.now = 1_000_000.0
        self._held: dict[str | None, HeldLookups] = {}

    def clock(self) -> float:
        """Return the test's time."""
        return self.now

    def uploads(
        self, user: str | None = "alice", *, max_open: int = 4, max_bytes: int = 10_000
    ) -> FileBook:
        """Return a user's file uploads (TTL 600 s)."""
        limits: dict[str, Any] = {
            "ttl": 600.0,
            "max_open": max_open,
            "max_bytes": max_bytes,
            "clock": self.clock,
        }
        if self.store is None:
            return UploadSessions[FileHeader, tuple[str, ...], FileNumbers](
                assemble_numbers, **limits
            )
        return StoredUploads(
            self.store,
            owner=user,
            kind="file",
            assemble=assemble_numbers,
            codec=FILE_CODEC,
            **limits,
        )

    def plans(self, user: str | None = "alice") -> PlanBook:
        """Return a user's plans (TTL 900 s)."""
        if self.store is None:
            return PendingPlans(ttl=900.0, clock=self.clock)
        return StoredPlans(self.store, owner=user, ttl=900.0, clock=self.clock)

    def held(self, user: str | None = "alice") -> HeldBook:
        """Return a user's held batch (in memory: the same one each time)."""
        if self.store is None:
            return self._held.setdefault(user, HeldLookups())
        return StoredHeldLookups(self.store, owner=user, clock=self.clock)


@contextmanager
def keepers_of(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Keepers]:
    """Yield the keepers of ``kind``: memory, an SQLite store or a PostgreSQL store."""
    if kind == "memory":
        yield Keepers(kind, None)
        return
    location: Path | str = tmp_path / "store.sqlite3"
    if kind == "postgresql":
        location = request.getfixturevalue("pg_store_url")
    with closing(Store(location)) as store:
        yield Keepers(kind, lambda: store)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def keepers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Keepers]:
    """Every keeper in turn: memory, an SQLite store, a PostgreSQL store."""
    with keepers_of(str(request.param), request, tmp_path) as made:
        yield made


@pytest.fixture(params=["sqlite", "postgresql"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Keepers]:
    """The store's keepers: SQLite, then PostgreSQL."""
    with keepers_of(str(request.param), request, tmp_path) as made:
        yield made


@pytest.fixture(params=["sqlite", "postgresql"])
def two_instances(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two ``Store`` objects on one database: what two team server instances hold."""
    location: Path | str = tmp_path / "store.sqlite3"
    if request.param == "postgresql":
        location = request.getfixturevalue("pg_store_url")
    with closing(Store(location)) as a, closing(Store(location)) as b:
        yield a, b


# -- uploads ------------------------------------------------------------------------------


def test_chunks_in_any_order_are_assembled_once(keepers: Keepers) -> None:
    uploads = keepers.uploads()
    upload_id = uploads.open(HEADER, 3)
    assert uploads.header(upload_id) == (HEADER, 3)
    assert uploads.put(upload_id, 2, ("+41798000005",), 20) == 1
    assert uploads.put(upload_id, 0, ("+41798000001", "+41798000002"), 40) == 2
    assert uploads.put(upload_id, 1, ("+41798000002", "+41798000003"), 40) == 3
    taken = uploads.take(upload_id)
    assert taken.header == HEADER
    assert taken.numbers == ["+41798000001", "+41798000002", "+41798000003", "+41798000005"]
    assert len(uploads) == 0
    with pytest.raises(UnknownUploadError, match="unknown, used already or expired"):
        uploads.take(upload_id)
    with pytest.raises(UnknownUploadError):
        uploads.put(upload_id, 0, ("+41798000001",), 20)


def test_a_chunk_again_is_taken_once_and_other_content_is_a_conflict(keepers: Keepers) -> None:
    uploads = keepers.uploads()
    upload_id = uploads.open(HEADER, 2)
    assert uploads.put(upload_id, 0, ("+41798000001",), 20) == 1
    assert uploads.put(upload_id, 0, ("+41798000001",), 20) == 1
    with pytest.raises(ChunkConflictError, match="chunk 0 arrived already with other content"):
        uploads.put(upload_id, 0, ("+41798000009",), 20)
    with pytest.raises(SelectionError, match="outside this upload's 2 chunks"):
        uploads.put(upload_id, 2, ("+41798000001",), 20)
    uploads.put(upload_id, 1, ("+41798000002",), 20)
    assert uploads.take(upload_id).numbers == ["+41798000001", "+41798000002"]


def test_a_missing_chunk_is_refused_and_the_session_stays_open(keepers: Keepers) -> None:
    uploads = keepers.uploads()
    upload_id = uploads.open(HEADER, 3)
    uploads.put(upload_id, 0, ("+41798000001",), 20)
    with pytest.raises(UploadIncompleteError, match=r"2 of the upload's 3 chunks .*chunk 1, 2"):
        uploads.take(upload_id)
    uploads.put(upload_id, 1, ("+41798000002",), 20)
    uploads.put(upload_id, 2, ("+41798000003",), 20)
    assert len(uploads.take(upload_id).numbers) == 3


def test_a_session_expires_ttl_after_its_last_use(keepers: Keepers) -> None:
    uploads = keepers.uploads()
    upload_id = uploads.open(HEADER, 2)
    keepers.now += 500
    uploads.put(upload_id, 0, ("+41798000001",), 20)  # used: the TTL starts again
    keepers.now += 500
    assert uploads.header(upload_id) == (HEADER, 2)
    keepers.now += 601
    with pytest.raises(UnknownUploadError):
        uploads.put(upload_id, 1, ("+41798000002",), 20)
    assert len(uploads) == 0


def test_open_sessions_and_their_bytes_are_limited(keepers: Keepers) -> None:
    uploads = keepers.uploads(max_open=2, max_bytes=100)
    first = uploads.open(HEADER, 3)
    uploads.open(HEADER, 1)
    with pytest.raises(TooManyUploadsError, match="2 uploads are open already"):
        uploads.open(HEADER, 1)
    uploads.put(first, 0, ("+41798000001",), 60)
    with pytest.raises(UploadTooLargeError, match="the upload exceeds"):
        uploads.put(first, 1, ("+41798000002",), 41)
    assert uploads.put(first, 1, ("+41798000002",), 40) == 2
    assert uploads.drop(first) is True
    assert uploads.drop(first) is False
    uploads.open(HEADER, 1)  # room again
    with pytest.raises(SelectionError, match="from 1 to 10,000"):
        uploads.open(HEADER, 0)
    keepers.now += 601  # expired sessions do not count
    uploads.open(HEADER, 1)
    assert len(uploads) == 1


def test_a_selection_comes_back_as_it_was_sent(keepers: Keepers, tmp_path: Path) -> None:
    header = read_header(
        "Sheet 1",
        "CH",
        [AreaColumn(address="Z1:Z3"), AreaColumn(address="AC2:AC3", target_column="AE")],
    )
    chunks = [
        Chunk(area=0, offset=0, values=["phone", 41798000001, None], target=["", SPILL, "x"]),
        Chunk(area=1, offset=0, values=[True, 1.5], target=[None, "pending"]),
    ]
    book = selection_uploads()
    if keepers.store is not None:
        book = stored_selection_uploads(keepers.store, "alice")
    upload_id = book.open(header, 2)
    for index, chunk in enumerate(chunks):
        book.put(upload_id, index, chunk, 100)
    memory = selection_uploads()
    local = memory.open(header, 2)
    for index, chunk in enumerate(chunks):
        memory.put(local, index, chunk, 100)
    assert book.take(upload_id) == memory.take(local)


# -- plans --------------------------------------------------------------------------------


def test_plans_expire_and_are_taken_once(keepers: Keepers) -> None:
    plans = keepers.plans()
    numbers = ["+41798000001", "+41798000002"]
    first = plans.add(small_plan(numbers), numbers=numbers, label="S!A1", generation=GENERATION)
    keepers.now += 600
    second = plans.add(
        small_plan(numbers, rows=7, refresh=True),
        numbers=numbers,
        label="S!A1:A7",
        generation=GENERATION,
    )
    assert len(plans) == 2
    keepers.now += 301
    assert plans.take(first) is None  # 901 s old
    taken = plans.take(second)
    assert taken is not None
    assert (taken.numbers, taken.label, taken.rows, taken.invalid, taken.refresh) == (
        numbers,
        "S!A1:A7",
        7,
        1,
        True,
    )
    assert taken.generation == GENERATION
    assert plans.take(second) is None
    plans.add(small_plan(numbers), numbers=numbers, label="S!A1", generation=GENERATION)
    plans.clear()
    assert len(plans) == 0


# -- the held batch -----------------------------------------------------------------------


def test_a_held_batch_grows_by_version_and_is_taken_at_the_version_seen(
    keepers: Keepers,
) -> None:
    held = keepers.held()
    planned: list[list[str]] = []

    def plan(numbers: list[str]) -> Plan:
        planned.append(numbers)
        return small_plan(numbers)

    few = ["+41798000001"]
    assert held.hold_or_plan(few, plan, threshold=2, generation=GENERATION) is not None
    assert held.current() is None  # below the threshold: submitted, nothing held
    many = [f"+4179800000{i}" for i in range(1, 5)]
    assert held.hold_or_plan(many, plan, threshold=2, generation=GENERATION) is None
    batch = held.current()
    assert batch is not None
    assert (batch.version, batch.numbers, batch.plan["to_upload"]) == (1, tuple(many), 4)
    # Numbers held already change nothing; a new one joins and bumps the version.
    assert held.hold_or_plan(many[:2], plan, threshold=2, generation=GENERATION) is None
    assert held.current() == batch
    assert held.hold_or_plan(["+41798000009"], plan, threshold=2, generation=GENERATION) is None
    grown = held.current()
    assert grown is not None
    assert (grown.batch_id, grown.version, len(grown.numbers)) == (batch.batch_id, 2, 5)
    with pytest.raises(HeldBatchChangedError) as changed:
        held.take(batch.batch_id, 1)
    assert changed.value.batch == grown
    with pytest.raises(HeldBatchGoneError):
        held.take("not-" + batch.batch_id, 2)
    assert held.take(batch.batch_id, 2) == grown
    with pytest.raises(HeldBatchGoneError):
        held.take(batch.batch_id, 2)
    assert held.current() is None
    assert held.hold_or_plan(many, plan, threshold=2, generation=GENERATION) is None
    cleared = held.clear()
    assert cleared is not None
    assert cleared.numbers == tuple(many)
    assert held.current() is None


# -- the store's keepers: users apart, one winner -----------------------------------------


def test_nobody_takes_or_sees_another_users_business(stored: Keepers) -> None:
    keepers = stored
    alice, bob = keepers.uploads("alice"), keepers.uploads("bob")
    upload_id = alice.open(HEADER, 1)
    for refused in (
        lambda: bob.header(upload_id),
        lambda: bob.put(upload_id, 0, ("+41798000001",), 20),
        lambda: bob.take(upload_id),
    ):
        with pytest.raises(UnknownUploadError):
            refused()
    assert bob.drop(upload_id) is False
    assert (len(alice), len(bob)) == (1, 0)
    for _ in range(3):
        bob.open(HEADER, 1)  # alice's session does not count against bob's four
    alice.put(upload_id, 0, ("+41798000001",), 20)
    assert alice.take(upload_id).numbers == ["+41798000001"]
    plans = keepers.plans("alice")
    plan_id = plans.add(
        small_plan(["+41798000001"]), numbers=["+41798000001"], label="", generation="g"
    )
    assert keepers.plans("bob").take(plan_id) is None
    assert len(keepers.plans("bob")) == 0
    assert plans.take(plan_id) is not None
    many = [f"+4179800000{i}" for i in range(1, 5)]
    keepers.held("alice").hold_or_plan(many, small_plan, threshold=2, generation="g")
    batch = keepers.held("alice").current()
    assert batch is not None
    assert keepers.held("bob").current() is None
    with pytest.raises(HeldBatchGoneError):
        keepers.held("bob").take(batch.batch_id, 1)
    # The local backend (no user) is a person of its own too.
    assert keepers.held(None).current() is None


def race(*takes: Callable[[], Any]) -> list[Any]:
    """Run each take on its own thread at the same moment; return what each got."""
    start = threading.Barrier(len(takes))
    got: list[Any] = [None] * len(takes)

    def run(i: int) -> None:
        start.wait()
        try:
            got[i] = takes[i]()
        except Exception as exc:  # the loser's refusal is what is compared
            got[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(takes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return got


def file_uploads_in(store: Store) -> FileBook:
    """Return alice's file uploads in ``store``."""
    return StoredUploads(
        lambda: store, owner="alice", kind="file", assemble=assemble_numbers, codec=FILE_CODEC
    )


def race_once(a: Store, b: Store) -> None:
    """Two instances take the same plan, upload and held batch at once: one gets each."""
    plan_id = StoredPlans(lambda: a, owner="alice").add(
        small_plan(["+41798000001"]), numbers=["+41798000001"], label="", generation="g"
    )
    got = race(
        lambda: StoredPlans(lambda: a, owner="alice").take(plan_id),
        lambda: StoredPlans(lambda: b, owner="alice").take(plan_id),
    )
    assert sorted(x is None for x in got) == [False, True], got
    upload_id = file_uploads_in(a).open(HEADER, 1)
    file_uploads_in(b).put(upload_id, 0, ("+41798000001",), 20)
    got = race(
        lambda: file_uploads_in(a).take(upload_id), lambda: file_uploads_in(b).take(upload_id)
    )
    assert sorted(type(x).__name__ for x in got) == ["FileNumbers", "UnknownUploadError"], got
    many = [f"+4179800000{i}" for i in range(1, 5)]
    StoredHeldLookups(lambda: a, owner="alice").hold_or_plan(
        many, small_plan, threshold=2, generation="g"
    )
    batch = StoredHeldLookups(lambda: b, owner="alice").current()
    assert batch is not None
    got = race(
        lambda: StoredHeldLookups(lambda: a, owner="alice").take(batch.batch_id, 1),
        lambda: StoredHeldLookups(lambda: b, owner="alice").take(batch.batch_id, 1),
    )
    assert sorted(type(x).__name__ for x in got) == ["HeldBatch", "HeldBatchGoneError"], got


def test_two_instances_taking_the_same_thing_at_once_one_wins(
    two_instances: tuple[Store, Store],
) -> None:
    for _ in range(10):
        race_once(*two_instances)


def test_a_batch_held_with_another_vendor_key_is_void(keepers: Keepers) -> None:
    many = [f"+4179800000{i}" for i in range(1, 5)]
    keepers.held().hold_or_plan(many, small_plan, threshold=2, generation="0:old@v")
    more = [f"+4179800001{i}" for i in range(1, 5)]
    keepers.held().hold_or_plan(more, small_plan, threshold=2, generation="0:new@v")
    batch = keepers.held().current()
    assert batch is not None
    assert (batch.numbers, batch.version, batch.generation) == (tuple(more), 1, "0:new@v")


def test_two_instances_holding_at_once_make_one_batch(two_instances: tuple[Store, Store]) -> None:
    a, b = two_instances
    first = [f"+4179800001{i}" for i in range(5)]
    second = [f"+4179800002{i}" for i in range(5)]
    got = race(
        lambda: StoredHeldLookups(lambda: a, owner="alice").hold_or_plan(
            first, small_plan, threshold=2, generation="g"
        ),
        lambda: StoredHeldLookups(lambda: b, owner="alice").hold_or_plan(
            second, small_plan, threshold=2, generation="g"
        ),
    )
    assert got == [None, None]
    batch = StoredHeldLookups(lambda: a, owner="alice").current()
    assert batch is not None
    assert sorted(batch.numbers) == sorted(first + second)  # one batch holds both
    assert batch.version == 2


def test_expired_rows_are_deleted(stored: Keepers) -> None:
    keepers = stored
    assert keepers.store is not None
    store = keepers.store()
    uploads, plans, held = keepers.uploads(), keepers.plans(), keepers.held()
    upload_id = uploads.open(HEADER, 2)
    uploads.put(upload_id, 0, ("+41798000001",), 20)
    plans.add(small_plan(["+41798000001"]), numbers=["+41798000001"], label="", generation="g")
    many = [f"+4179800000{i}" for i in range(1, 5)]
    held.hold_or_plan(many, small_plan, threshold=2, generation="g")

    def rows() -> list[int]:
        tables = ("upload_sessions", "upload_chunks", "pending_plans", "held_batches")
        return [int(store.read(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in tables]  # noqa: S608

    assert rows() == [1, 1, 1, 1]
    keepers.now += 2 * 3600  # past every time to live
    # The next session, plan and batch opened (by anyone) delete the expired ones.
    keepers.uploads("bob").open(HEADER, 1)
    keepers.plans("bob").add(small_plan(many), numbers=many, label="", generation="g")
    keepers.held("bob").hold_or_plan(many, small_plan, threshold=2, generation="g")
    assert rows() == [1, 0, 1, 1]
    assert store.read("SELECT owner FROM upload_sessions")[0][0] == "bob"
    assert store.read("SELECT owner FROM held_batches")[0][0] == "bob"


# -- what became of held numbers, for the instances that did not settle them -------------


def test_an_outcome_is_kept_per_user_replaced_asked_again_and_expires(stored: Keepers) -> None:
    keepers = stored
    alice, bob = keepers.held("alice"), keepers.held("bob")
    numbers = [f"+4179800100{i}" for i in range(5)]
    # 1,000 at once: more than SQLite's bound parameters per statement.
    many = [f"+417981{i:05d}" for i in range(1_000)]
    assert alice.outcomes(numbers, generation="g") == {}
    alice.record_outcome(
        numbers[:3], Lookup("declined", reason="cancelled in the pane"), generation="g"
    )
    alice.record_outcome(many, Lookup("submitted", job_id="job-1"), generation="g")
    found = alice.outcomes([*numbers, *many], generation="g")
    assert set(found) == {*numbers[:3], *many}
    assert found[numbers[0]] == Lookup("declined", reason="cancelled in the pane")
    assert found[many[-1]] == Lookup("submitted", job_id="job-1")
    assert bob.outcomes(numbers, generation="g") == {}  # nobody sees another person's outcomes
    # Another vendor key (generation) voids them, as it voids the batch.
    assert alice.outcomes(numbers, generation="other key") == {}
    # A later settlement of the same number replaces the earlier one.
    keepers.now += 10
    alice.record_outcome(numbers[:1], Lookup("submitted", job_id="job-2"), generation="g")
    assert alice.outcomes(numbers[:1], generation="g") == {
        numbers[0]: Lookup("submitted", job_id="job-2")
    }
    # Asked again: only numbers that have an outcome are marked, and only alice's.
    bob.record_outcome(numbers[:1], Lookup("declined", reason="bob's"), generation="g")
    alice.forget_outcomes([*numbers, *many])
    again = alice.outcomes([*numbers, *many], generation="g")
    assert set(again) == {*numbers[:3], *many}
    assert {o.state for o in again.values()} == {ASKED_AGAIN}
    assert bob.outcomes(numbers[:1], generation="g") == {
        numbers[0]: Lookup("declined", reason="bob's")
    }
    # Past the held batches' time to live they are gone, and the next record deletes them.
    keepers.now += 2 * 3600
    assert alice.outcomes(numbers, generation="g") == {}
    bob.record_outcome(numbers[4:], Lookup("failed", reason="x"), generation="g")
    assert keepers.store is not None
    rows = keepers.store().read("SELECT owner, e164 FROM settled_lookups")
    assert [tuple(r) for r in rows] == [("bob", numbers[4])]
