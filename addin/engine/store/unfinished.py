"""Each person's unfinished business, kept in the store: uploads, plans, held look-up batches.

The team server's instances share nothing but the database (issue 13), so what one
person has begun on one instance must be found by whichever instance answers the
next request: an upload session and its chunks, a plan awaiting confirmation, the
``=FBCHECK`` batch held for one (``addin.web.stored_unfinished`` speaks for them
to the routes). Every row names its ``owner`` (the user; "" for the local backend)
and every query filters on it: nobody takes or sees another person's rows.

Taking is one statement the database decides (``DELETE ... RETURNING``, or an
``UPDATE`` conditional on the version read): of two instances taking the same plan
or upload at once exactly one gets it, the other finds nothing. Times are wall-clock
seconds (``time.time``: instances on several machines compare them); rows past
their time to live are deleted by the next request that opens or adds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from addin.engine.store.database import Connection, Database, is_postgres, one_of


@dataclass(frozen=True)
class PutOutcome:
    """What storing one chunk did: ``kept`` (new), ``again`` (same content) or a refusal."""

    status: Literal["kept", "again", "unknown", "outside", "conflict", "too_large"]
    received: int = 0
    expected: int = 0


@dataclass(frozen=True)
class TakenUpload:
    """An upload taken from the store: its header and its chunks' texts in index order."""

    header: str
    chunks: list[str]


@dataclass(frozen=True)
class IncompleteUpload:
    """An upload named before all its chunks arrived (it stays open)."""

    expected: int
    missing: list[int]


@dataclass(frozen=True)
class StoredPlan:
    """A plan awaiting confirmation, as stored: the generation and the JSON body."""

    generation: str
    body: str
    created: float


@dataclass(frozen=True)
class SettledLookup:
    """What became of one held ``=FBCHECK`` number: ``submitted``, ``declined`` or ``failed``."""

    state: str
    job_id: str | None
    reason: str | None


@dataclass(frozen=True)
class StoredBatch:
    """A held look-up batch, as stored (numbers and plan as JSON texts)."""

    batch_id: str
    generation: str
    version: int
    numbers: str
    plan: str
    touched: float


_BATCH_COLUMNS = "batch_id, generation, version, numbers, plan, touched"


class UnfinishedTable(Database):
    """The tables ``upload_sessions``, ``upload_chunks``, ``pending_plans``, ``held_batches``
    and ``settled_lookups``."""

    # -- upload sessions ----------------------------------------------------------------

    def open_upload(
        self,
        *,
        upload_id: str,
        owner: str,
        kind: str,
        header: str,
        expected: int,
        now: float,
        oldest: float,
        max_open: int,
    ) -> int:
        """Open a session unless ``owner`` has ``max_open`` of ``kind`` open; return that count.

        The session is opened when the returned count is below ``max_open``. Sessions
        idle since before ``oldest`` are deleted first (every owner's).
        """
        with self.transaction(lock=f"uploads:{owner}") as db:
            _expire_uploads(db, oldest)
            row = db.execute(
                "SELECT COUNT(*) FROM upload_sessions WHERE owner = ? AND kind = ?", (owner, kind)
            ).fetchone()
            count = int(row[0])
            if count < max_open:
                db.execute(
                    "INSERT INTO upload_sessions"
                    " (upload_id, owner, kind, header, expected, size, touched)"
                    " VALUES (?, ?, ?, ?, ?, 0, ?)",
                    (upload_id, owner, kind, header, expected, now),
                )
            return count

    def upload_header(
        self, upload_id: str, *, owner: str, kind: str, oldest: float
    ) -> tuple[str, int] | None:
        """Return an open session's header text and how many chunks it expects, or None."""
        rows = self.read(
            "SELECT header, expected FROM upload_sessions"
            " WHERE upload_id = ? AND owner = ? AND kind = ? AND touched >= ?",
            (upload_id, owner, kind, oldest),
        )
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def put_upload_chunk(
        self,
        upload_id: str,
        *,
        owner: str,
        kind: str,
        index: int,
        digest: str,
        body: str,
        size: int,
        now: float,
        oldest: float,
        max_bytes: int,
    ) -> PutOutcome:
        """Keep chunk ``index`` (its text and digest) of an open session; say what happened."""
        with self.transaction() as db:
            row = _touch_session(db, upload_id, owner, kind, now, oldest)
            if row is None:
                return PutOutcome("unknown")
            expected, used = row
            if not 0 <= index < expected:
                return PutOutcome("outside", expected=expected)
            known = db.execute(
                "SELECT digest FROM upload_chunks WHERE upload_id = ? AND idx = ?",
                (upload_id, index),
            ).fetchone()
            if known is not None:
                status: Literal["again", "conflict"] = (
                    "again" if str(known[0]) == digest else "conflict"
                )
                return PutOutcome(status, _received(db, upload_id), expected)
            if used + size > max_bytes:
                return PutOutcome("too_large", expected=expected)
            db.execute(
                "INSERT INTO upload_chunks (upload_id, idx, digest, body) VALUES (?, ?, ?, ?)",
                (upload_id, index, digest, body),
            )
            db.execute(
                "UPDATE upload_sessions SET size = size + ? WHERE upload_id = ?",
                (size, upload_id),
            )
            return PutOutcome("kept", _received(db, upload_id), expected)

    def take_upload(
        self, upload_id: str, *, owner: str, kind: str, now: float, oldest: float
    ) -> TakenUpload | IncompleteUpload | None:
        """Close a complete session and return it; None when unknown, used already or expired.

        A session with chunks missing stays open (its idle time starts again).
        """
        with self.transaction() as db:
            row = _touch_session(db, upload_id, owner, kind, now, oldest)
            if row is None:
                return None
            expected = row[0]
            have = {
                int(r[0])
                for r in db.execute(
                    "SELECT idx FROM upload_chunks WHERE upload_id = ?", (upload_id,)
                ).fetchall()
            }
            missing = [i for i in range(expected) if i not in have]
            if missing:
                return IncompleteUpload(expected, missing)
            # Used once, whatever the outcome: the one DELETE that finds the row wins.
            taken = db.execute(
                "DELETE FROM upload_sessions WHERE upload_id = ? AND owner = ? RETURNING header",
                (upload_id, owner),
            ).fetchone()
            if taken is None:
                return None
            chunks = [
                str(r[0])
                for r in db.execute(
                    "SELECT body FROM upload_chunks WHERE upload_id = ? ORDER BY idx",
                    (upload_id,),
                ).fetchall()
            ]
            db.execute("DELETE FROM upload_chunks WHERE upload_id = ?", (upload_id,))
            return TakenUpload(str(taken[0]), chunks)

    def drop_upload(self, upload_id: str, *, owner: str, kind: str, oldest: float) -> bool:
        """Delete a session and its chunks; return False when it was unknown or expired."""
        with self.transaction() as db:
            _expire_uploads(db, oldest)
            gone = db.execute(
                "DELETE FROM upload_sessions WHERE upload_id = ? AND owner = ? AND kind = ?",
                (upload_id, owner, kind),
            ).rowcount
            if gone:
                db.execute("DELETE FROM upload_chunks WHERE upload_id = ?", (upload_id,))
            return bool(gone)

    def open_uploads(self, *, owner: str, kind: str, oldest: float) -> int:
        """Return how many sessions of ``kind`` ``owner`` has open (expired ones excluded)."""
        rows = self.read(
            "SELECT COUNT(*) FROM upload_sessions WHERE owner = ? AND kind = ? AND touched >= ?",
            (owner, kind, oldest),
        )
        return int(rows[0][0])

    def clear_uploads(self, *, owner: str, kind: str) -> None:
        """Delete every session of ``kind`` of ``owner``."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM upload_chunks WHERE upload_id IN (SELECT upload_id FROM"
                " upload_sessions WHERE owner = ? AND kind = ?)",
                (owner, kind),
            )
            db.execute("DELETE FROM upload_sessions WHERE owner = ? AND kind = ?", (owner, kind))

    # -- plans awaiting confirmation -----------------------------------------------------

    def add_pending_plan(
        self, plan_id: str, *, owner: str, generation: str, body: str, now: float, oldest: float
    ) -> None:
        """Keep a plan's body; plans made before ``oldest`` (anyone's) are deleted."""
        with self.transaction() as db:
            db.execute("DELETE FROM pending_plans WHERE created < ?", (oldest,))
            db.execute(
                "INSERT INTO pending_plans (plan_id, owner, generation, body, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (plan_id, owner, generation, body, now),
            )

    def take_pending_plan(self, plan_id: str, *, owner: str, oldest: float) -> StoredPlan | None:
        """Delete and return ``owner``'s plan; None when unknown, taken already or expired."""
        with self.transaction() as db:
            row = db.execute(
                "DELETE FROM pending_plans WHERE plan_id = ? AND owner = ?"
                " RETURNING generation, body, created",
                (plan_id, owner),
            ).fetchone()
        if row is None or float(row[2]) < oldest:
            return None
        return StoredPlan(str(row[0]), str(row[1]), float(row[2]))

    def pending_plans(self, *, owner: str, oldest: float) -> int:
        """Return how many plans of ``owner`` wait (expired ones excluded)."""
        rows = self.read(
            "SELECT COUNT(*) FROM pending_plans WHERE owner = ? AND created >= ?", (owner, oldest)
        )
        return int(rows[0][0])

    def clear_pending_plans(self, *, owner: str) -> None:
        """Delete every plan of ``owner``."""
        with self.transaction() as db:
            db.execute("DELETE FROM pending_plans WHERE owner = ?", (owner,))

    # -- the held look-up batch (at most one per owner: the primary key) ------------------

    def held_batch(self, *, owner: str, oldest: float) -> StoredBatch | None:
        """Return ``owner``'s held batch, or None (also when it idled since before ``oldest``)."""
        rows = self.read(
            f"SELECT {_BATCH_COLUMNS} FROM held_batches WHERE owner = ? AND touched >= ?",  # noqa: S608
            (owner, oldest),
        )
        return _batch(rows[0]) if rows else None

    def hold_new_batch(
        self,
        *,
        owner: str,
        batch_id: str,
        generation: str,
        numbers: str,
        plan: str,
        now: float,
        oldest: float,
    ) -> bool:
        """Hold a first batch (version 1); False when ``owner`` has one already (join it)."""
        with self.transaction() as db:
            db.execute("DELETE FROM held_batches WHERE touched < ?", (oldest,))
            inserted = db.execute(
                "INSERT INTO held_batches"
                " (owner, batch_id, generation, version, numbers, plan, touched)"
                " VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT (owner) DO NOTHING",
                (owner, batch_id, generation, numbers, plan, now),
            ).rowcount
        return bool(inserted)

    def grow_batch(
        self, *, owner: str, batch_id: str, version: int, numbers: str, plan: str, now: float
    ) -> bool:
        """Replace the numbers and plan of the batch at ``version`` (it becomes version + 1).

        False when the batch changed or went meanwhile (read it again).
        """
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE held_batches SET version = version + 1, numbers = ?, plan = ?, touched = ?"
                " WHERE owner = ? AND batch_id = ? AND version = ?",
                (numbers, plan, now, owner, batch_id, version),
            ).rowcount
        return bool(changed)

    def replace_batch(self, *, owner: str, batch_id: str) -> bool:
        """Delete ``owner``'s batch ``batch_id`` whatever its version (a void generation)."""
        with self.transaction() as db:
            return bool(
                db.execute(
                    "DELETE FROM held_batches WHERE owner = ? AND batch_id = ?", (owner, batch_id)
                ).rowcount
            )

    def take_batch(
        self, *, owner: str, batch_id: str, version: int | None
    ) -> StoredBatch | tuple[Literal["changed"], StoredBatch] | None:
        """Delete and return the batch (at ``version`` unless None).

        ``("changed", batch)`` when it is at another version (it stays held); None when
        ``owner`` holds no batch of that id.
        """
        with self.transaction() as db:
            at_version = "" if version is None else " AND version = ?"
            params = (owner, batch_id) if version is None else (owner, batch_id, version)
            row = db.execute(
                f"DELETE FROM held_batches WHERE owner = ? AND batch_id = ?{at_version}"  # noqa: S608
                f" RETURNING {_BATCH_COLUMNS}",
                params,
            ).fetchone()
            if row is not None:
                return _batch(row)
            now = db.execute(
                f"SELECT {_BATCH_COLUMNS} FROM held_batches"  # noqa: S608
                " WHERE owner = ? AND batch_id = ?",
                (owner, batch_id),
            ).fetchone()
        return None if now is None else ("changed", _batch(now))

    def clear_held_batch(self, *, owner: str) -> StoredBatch | None:
        """Delete ``owner``'s held batch and return it."""
        with self.transaction() as db:
            row = db.execute(
                f"DELETE FROM held_batches WHERE owner = ? RETURNING {_BATCH_COLUMNS}",  # noqa: S608
                (owner,),
            ).fetchone()
        return None if row is None else _batch(row)

    # -- what became of held numbers (settled_lookups) -----------------------------------

    def settle_lookups(
        self,
        *,
        owner: str,
        numbers: Sequence[str],
        outcome: SettledLookup,
        generation: str,
        now: float,
        oldest: float,
    ) -> None:
        """Record ``outcome`` for ``numbers`` of ``owner`` (a newer outcome replaces one)."""
        with self.transaction() as db:
            db.execute("DELETE FROM settled_lookups WHERE settled < ?", (oldest,))
            db.executemany(
                "INSERT INTO settled_lookups"
                " (owner, e164, generation, state, job_id, reason, settled)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, e164) DO UPDATE SET"
                " generation = excluded.generation, state = excluded.state,"
                " job_id = excluded.job_id, reason = excluded.reason, settled = excluded.settled",
                [
                    (owner, n, generation, outcome.state, outcome.job_id, outcome.reason, now)
                    for n in dict.fromkeys(numbers)
                ],
            )

    def settled_lookups(
        self, *, owner: str, numbers: Sequence[str], generation: str, oldest: float
    ) -> dict[str, SettledLookup]:
        """Return the outcome of each of ``numbers`` recorded since ``oldest`` in ``generation``."""
        found: dict[str, SettledLookup] = {}
        for matching, params in one_of("e164", numbers, postgres=self._pg is not None):
            rows = self.read(
                "SELECT e164, state, job_id, reason FROM settled_lookups"  # noqa: S608
                f" WHERE owner = ? AND settled >= ? AND generation = ? AND {matching}",
                (owner, oldest, generation, *params),
            )
            for e164, state, job_id, reason in rows:
                found[str(e164)] = SettledLookup(str(state), job_id, reason)
        return found

    def ask_settled_lookups_again(self, *, owner: str, numbers: Sequence[str], now: float) -> None:
        """Mark the recorded outcomes of ``numbers`` as ``asked`` (a cell asked again).

        Only numbers that have an outcome are touched: asking for a number never
        settled writes nothing.
        """
        if not numbers:
            return
        with self.transaction() as db:
            for matching, params in one_of("e164", numbers, postgres=is_postgres(db)):
                db.execute(
                    "UPDATE settled_lookups SET state = 'asked', job_id = NULL, reason = NULL,"  # noqa: S608
                    f" settled = ? WHERE owner = ? AND {matching}",
                    (now, owner, *params),
                )


def _touch_session(
    db: Connection, upload_id: str, owner: str, kind: str, now: float, oldest: float
) -> tuple[int, int] | None:
    """Mark an open session used now; return its chunks expected and bytes kept, or None.

    Also locks the session's row (PostgreSQL) for the rest of the transaction.
    """
    row = db.execute(
        "UPDATE upload_sessions SET touched = ?"
        " WHERE upload_id = ? AND owner = ? AND kind = ? AND touched >= ?"
        " RETURNING expected, size",
        (now, upload_id, owner, kind, oldest),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def _received(db: Connection, upload_id: str) -> int:
    """Return how many chunks of a session arrived."""
    row = db.execute("SELECT COUNT(*) FROM upload_chunks WHERE upload_id = ?", (upload_id,))
    return int(row.fetchone()[0])


def _expire_uploads(db: Connection, oldest: float) -> None:
    """Delete the sessions idle since before ``oldest``, and their chunks."""
    db.execute(
        "DELETE FROM upload_chunks WHERE upload_id IN"
        " (SELECT upload_id FROM upload_sessions WHERE touched < ?)",
        (oldest,),
    )
    db.execute("DELETE FROM upload_sessions WHERE touched < ?", (oldest,))


def _batch(row: Any) -> StoredBatch:
    """Return a ``held_batches`` row as a :class:`StoredBatch`."""
    batch_id, generation, version, numbers, plan, touched = row
    return StoredBatch(
        str(batch_id), str(generation), int(version), str(numbers), str(plan), float(touched)
    )
