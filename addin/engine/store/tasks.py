"""Upstream tasks: leases, guarded state moves, answers, and the claims they hold.

Every move names the state it leaves and goes through :meth:`TaskTable._move`,
which refuses undeclared transitions and raises ``StaleStateError`` when the
row is no longer in that state (another process moved it first). A task that
ends releases its numbers' claims in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from addin.engine.states import (
    FINISHED_TASK_STATES,
    OPEN_TASK_STATES,
    JobState,
    StaleStateError,
    TaskState,
    check_job_move,
    check_task_move,
    sql_list,
)
from addin.engine.store.database import (
    FIRST_PRODUCT,
    Connection,
    Database,
    chunks,
    insert_rows,
    is_postgres,
    one_of,
)
from addin.engine.store.records import TASK_COLUMNS, TaskRecord, task_from_row
from addin.formats import ANSWERS

#: Tasks a runner leases and works on (uncertain ones wait for a person).
_LEASABLE = (TaskState.QUEUED, TaskState.CREATING, TaskState.RUNNING, TaskState.PAUSED)


class TaskTable(Database):
    """The ``tasks``, ``task_numbers`` and ``claims`` tables."""

    # -- reading ---------------------------------------------------------------

    def task(self, ref: int) -> TaskRecord | None:
        """Return one task by local ref, or None."""
        rows = self.read(f"SELECT {TASK_COLUMNS} FROM tasks WHERE ref = ?", (ref,))  # noqa: S608
        return task_from_row(rows[0]) if rows else None

    def _realm_of(self, ref: int) -> str | None:
        """Return the realm of task ``ref`` (the lock its end takes), None if unknown."""
        rows = self.read("SELECT realm FROM tasks WHERE ref = ?", (ref,))
        return str(rows[0][0]) if rows else None

    def task_numbers(self, ref: int) -> list[str]:
        """Return the numbers of a task in upload order."""
        sql = "SELECT e164 FROM task_numbers WHERE ref = ? ORDER BY e164"
        return [r[0] for r in self.read(sql, (ref,), tuples=True)]

    def in_flight(self, realm: str, numbers: Iterable[str]) -> dict[str, int]:
        """Return {e164: task ref} for numbers claimed by an open task of ``realm``."""
        return dict(claimed_numbers(self.read, list(numbers), realm, postgres=self._pg is not None))

    def task_starters(self, refs: Iterable[int]) -> dict[int, str]:
        """Return {task ref: the user who started the job that created it}, users known only.

        A task's numbers were paid for by that user (the team server's ``started_by``;
        tasks of local mode, with no user, are left out).
        """
        return task_starters(self.read, refs)

    def failed_numbers(self, realm: str, numbers: Iterable[str]) -> dict[str, str]:
        """Return {e164: the vendor's message} for numbers whose latest task of ``realm`` failed.

        A failed task was billed: its numbers are not uploaded again by themselves.
        """
        latest: dict[str, tuple[int, str, str | None]] = {}
        for chunk in chunks(list(numbers), 900):
            marks = ",".join("?" * len(chunk))
            rows = self.read(
                "SELECT n.e164, t.ref, t.state, t.error FROM task_numbers n"  # noqa: S608
                f" JOIN tasks t ON t.ref = n.ref WHERE t.realm = ? AND n.e164 IN ({marks})",
                (realm, *chunk),
            )
            for e164, ref, state, error in rows:
                if e164 not in latest or ref > latest[e164][0]:
                    latest[e164] = (ref, state, error)
        return {
            e164: error or "the vendor's task failed"
            for e164, (_, state, error) in latest.items()
            if state == TaskState.FAILED
        }

    def open_tasks(self, realm_prefix: str | None = None) -> list[TaskRecord]:
        """Return every open task (of realms starting with ``realm_prefix``), oldest first."""
        sql = f"SELECT {TASK_COLUMNS} FROM tasks WHERE state IN ({sql_list(OPEN_TASK_STATES)})"  # noqa: S608
        params: tuple[Any, ...] = ()
        if realm_prefix is not None:
            sql += " AND substr(realm, 1, ?) = ?"
            params = (len(realm_prefix), realm_prefix)
        return [task_from_row(r) for r in self.read(sql + " ORDER BY ref", params)]

    def latest_error(self, realm: str) -> str | None:
        """Return the newest problem any task of ``realm`` reported, if any."""
        rows = self.read(
            "SELECT error FROM tasks WHERE realm = ? AND error IS NOT NULL"
            " ORDER BY updated_at DESC LIMIT 1",
            (realm,),
        )
        return str(rows[0][0]) if rows else None

    # -- leases ------------------------------------------------------------------

    def claim_tasks(
        self,
        realm: str,
        owner: str,
        *,
        key_fp: str,
        lease_seconds: float,
        owners_gone: Callable[[set[str]], set[str]],
    ) -> list[TaskRecord]:
        """Lease the open tasks of ``realm`` this runner may work on; return all it holds.

        A lease is taken when it is free, already ours, expired, or held by an
        owner that ``owners_gone`` reports dead. Tasks another key created (and
        may have paid for) are left alone; a queued task, not yet sent, takes
        the key that uploads it.
        """
        now = self.clock()
        # The realm's claims lock first, as plans and task ends take it (PostgreSQL): a
        # claim takes many task rows, and without it a cancel or an abandon holding the
        # lock and one of those rows could wait for another this claim holds, a deadlock.
        with self.transaction(lock=realm) as db:
            held = {
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT lease_owner FROM tasks WHERE realm = ?"  # noqa: S608
                    f" AND state IN ({sql_list(_LEASABLE)}) AND lease_owner IS NOT NULL"
                    " AND lease_owner != ? AND lease_expires >= ?",
                    (realm, owner, now),
                )
            }
            gone = sorted(owners_gone(held)) if held else []
            marks = ",".join("?" * len(gone)) or "NULL"
            # A dead owner's leases are freed, whichever key: its lock file is gone after
            # this, so a later run with the tasks' own key could not tell it was dead.
            db.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_expires = NULL"  # noqa: S608
                f" WHERE realm = ? AND lease_owner IN ({marks})",
                (realm, *gone),
            )
            db.execute(
                "UPDATE tasks SET lease_owner = ?, lease_expires = ?"  # noqa: S608
                f" WHERE realm = ? AND state IN ({sql_list(_LEASABLE)})"
                " AND (key_fp IS NULL OR key_fp = ? OR state = 'queued')"
                " AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires < ?"
                f" OR lease_owner IN ({marks}))",
                (owner, now + lease_seconds, realm, key_fp, owner, now, *gone),
            )
            rows = db.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE lease_owner = ?"  # noqa: S608
                f" AND state IN ({sql_list(_LEASABLE)}) ORDER BY ref",
                (owner,),
            ).fetchall()
        if gone:
            self._free_leases(gone)
        return [task_from_row(r) for r in rows]

    def _free_leases(self, owners: Sequence[str]) -> None:
        """Free the leases dead ``owners`` hold in any realm, each realm under its lock.

        One transaction per realm, holding that realm's claims lock only: taking rows of
        other realms inside a claim would hold them without their lock, in the order of
        a scan, against a cancel or an abandon there that holds it.
        """
        marks = ",".join("?" * len(owners))
        for other in self._realms_leased_to(owners):
            with self.transaction(lock=other) as db:
                db.execute(
                    "UPDATE tasks SET lease_owner = NULL, lease_expires = NULL"  # noqa: S608
                    f" WHERE realm = ? AND lease_owner IN ({marks})",
                    (other, *owners),
                )

    def renew_leases(self, owner: str, lease_seconds: float) -> int:
        """Extend every lease ``owner`` holds (the heartbeat); return how many.

        One transaction per realm under its claims lock, as claims take them: renewing
        many task rows without it could hold one a cancel or a task end holding the lock
        will take, while waiting for another that one holds (a deadlock, PostgreSQL).
        """
        renewed = 0
        expires = self.clock() + lease_seconds
        for realm in self._realms_leased_to([owner]):
            with self.transaction(lock=realm) as db:
                renewed += db.execute(
                    "UPDATE tasks SET lease_expires = ? WHERE realm = ? AND lease_owner = ?",
                    (expires, realm, owner),
                ).rowcount
        return renewed

    def release_leases(self, owner: str) -> None:
        """Give up ``owner``'s leases, so the next runner takes them at once."""
        self._free_leases([owner])

    def _realms_leased_to(self, owners: Sequence[str]) -> list[str]:
        """Return the realms where ``owners`` hold leases, in the order their locks are taken."""
        marks = ",".join("?" * len(owners))
        rows = self.read(
            f"SELECT DISTINCT realm FROM tasks WHERE lease_owner IN ({marks})",  # noqa: S608
            tuple(owners),
        )
        return sorted(row[0] for row in rows)

    # -- moves -------------------------------------------------------------------

    def _move(
        self,
        db: Connection,
        ref: int,
        source: TaskState,
        target: TaskState,
        *,
        owner: str | None = None,
        **fields: Any,
    ) -> None:
        """Move task ``ref`` from ``source`` to ``target`` (and set ``fields``), or raise."""
        check_task_move(source, target)
        now = self.clock()
        assignments = ["state = ?", "updated_at = ?"]
        values: list[Any] = [target.value, now]
        for name, value in fields.items():
            if name.endswith("__add"):
                column = name.removesuffix("__add")
                assignments.append(f"{column} = {column} + ?")
            else:
                assignments.append(f"{name} = ?")
            values.append(value)
        if target in FINISHED_TASK_STATES:
            assignments.append("finished_at = ?")
            values.append(now)
        where = "ref = ? AND state = ?"
        values.extend([ref, source.value])
        if owner is not None:
            where += " AND lease_owner = ?"
            values.append(owner)
        changed = db.execute(
            f"UPDATE tasks SET {', '.join(assignments)} WHERE {where}",  # noqa: S608
            values,
        ).rowcount
        if changed != 1:
            sql = "SELECT state, lease_owner FROM tasks WHERE ref = ?"
            row = db.execute(sql, (ref,)).fetchone()
            found = "missing" if row is None else f"{row[0]} (lease {row[1] or 'free'})"
            raise StaleStateError(f"task {ref}: expected {source}, found {found}; nothing changed")
        if target in FINISHED_TASK_STATES:
            db.execute("DELETE FROM claims WHERE ref = ?", (ref,))

    def start_upload(self, ref: int, owner: str, key_fp: str) -> None:
        """Record that the upload of task ``ref`` is about to be sent, under key ``key_fp``."""
        with self.transaction() as db:
            self._move(
                db,
                ref,
                TaskState.QUEUED,
                TaskState.CREATING,
                owner=owner,
                key_fp=key_fp,
                create_attempts__add=1,
            )

    def record_created(
        self,
        ref: int,
        *,
        source: TaskState,
        task_id: str,
        vendor_status: str,
        total: int = 0,
        success: int = 0,
        failure: int = 0,
    ) -> None:
        """Store the vendor's task id: the task is ``running`` (from creating or uncertain)."""
        now = self.clock()
        with self.transaction() as db:
            self._move(
                db,
                ref,
                source,
                TaskState.RUNNING,
                task_id=task_id,
                vendor_status=vendor_status,
                total=total,
                success=success,
                failure=failure,
                created_at=now,
                error=None,
            )

    def record_not_created(self, ref: int, owner: str, error: str) -> None:
        """Put a task back to ``queued``: the vendor surely created nothing."""
        with self.transaction() as db:
            self._move(db, ref, TaskState.CREATING, TaskState.QUEUED, owner=owner, error=error)

    def record_uncertain(self, ref: int, reason: str) -> None:
        """Mark an upload whose outcome is unknown: it waits for the user's word."""
        with self.transaction() as db:
            self._move(
                db,
                ref,
                TaskState.CREATING,
                TaskState.UNCERTAIN,
                error=reason,
                uncertain_creates__add=1,
            )

    def record_poll(
        self, ref: int, owner: str, vendor_status: str, total: int, success: int, failure: int
    ) -> None:
        """Store a status poll's counters."""
        with self.transaction() as db:
            self._move(
                db,
                ref,
                TaskState.RUNNING,
                TaskState.RUNNING,
                owner=owner,
                vendor_status=vendor_status,
                total=total,
                success=success,
                failure=failure,
                polls__add=1,
                error=None,
            )

    def note_error(self, ref: int, error: str) -> None:
        """Keep a task's latest problem (shown in progress) without changing its state."""
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET error = ?, updated_at = ? WHERE ref = ?",
                (error, self.clock(), ref),
            )

    def pause_task(self, ref: int, owner: str, reason: str) -> None:
        """Keep a paid task open while the vendor refuses to answer for it (key, balance)."""
        with self.transaction() as db:
            self._move(db, ref, TaskState.RUNNING, TaskState.PAUSED, owner=owner, error=reason)

    def resume_task(self, ref: int, owner: str) -> None:
        """Try a paused task again."""
        with self.transaction() as db:
            self._move(db, ref, TaskState.PAUSED, TaskState.RUNNING, owner=owner)

    def end_task(
        self,
        ref: int,
        source: TaskState,
        target: TaskState,
        reason: str,
        *,
        owner: str | None = None,
        answer_source: str = "upstream",
    ) -> None:
        """End a task without answers: every waiting number gets ``error`` with ``reason``."""
        now = self.clock()
        with self.transaction(lock=self._realm_of(ref)) as db:
            self._move(db, ref, source, target, owner=owner, error=reason)
            answer_waiting_with_error(db, ref, reason, answer_source, now)
            finish_jobs(db, now)

    def split_task(
        self,
        ref: int,
        source: TaskState,
        *,
        owner: str,
        groups: Sequence[Sequence[str]],
        reason: str,
        lease_seconds: float,
    ) -> list[int]:
        """End task ``ref`` (never created at the vendor) and queue its numbers as ``groups``.

        ``source`` is ``creating`` (the vendor refused the upload) or ``queued`` (not
        sent). One transaction under the realm's claims lock: the task moves to
        ``refused`` with ``reason`` and its claims go; each group becomes a new queued
        task of the same job, leased to ``owner``, holding its numbers' claims, and every
        job still waiting for a number now waits on its new task. Nothing is answered.
        Returns the new tasks' refs; ``StaleStateError`` when the task left ``source``.
        """
        now = self.clock()
        with self.transaction(lock=self._realm_of(ref)) as db:
            realm, job_id = db.execute(
                "SELECT realm, job_id FROM tasks WHERE ref = ?", (ref,)
            ).fetchone()
            held = {r[0] for r in db.execute("SELECT e164 FROM task_numbers WHERE ref = ?", (ref,))}
            given = [n for group in groups for n in group]
            if len(given) != len(set(given)) or set(given) != held:
                raise ValueError(f"task {ref}: the groups must hold its numbers, each once")
            if source == TaskState.QUEUED:
                self._move(db, ref, source, TaskState.CREATING, owner=owner)
                source = TaskState.CREATING
            self._move(db, ref, source, TaskState.REFUSED, owner=owner, error=reason)
            refs: list[int] = []
            for group in groups:
                new = queue_task(db, realm, job_id, group, now, owner, now + lease_seconds)
                refs.append(new)
                for condition, params in one_of("e164", list(group), postgres=is_postgres(db)):
                    db.execute(
                        "UPDATE job_numbers SET task_ref = ?"  # noqa: S608
                        f" WHERE task_ref = ? AND answer IS NULL AND {condition}",
                        (new, ref, *params),
                    )
        return refs

    def finish_task(
        self,
        ref: int,
        owner: str,
        *,
        cache_realm: str,
        results: Mapping[str, tuple[str, str | None]],
        source: str,
        missing_reason: str,
        product: str = FIRST_PRODUCT,
    ) -> None:
        """Store a task's answers: cache yes/no/ban, answer every waiting job's numbers.

        ``results`` maps E.164 to (answer, reason); numbers of the task absent from
        it get ``error`` with ``missing_reason``, never a silent ``no``.
        """
        now = self.clock()
        with self.transaction(lock=self._realm_of(ref)) as db:
            # The payer: the user who started the job that created the task (None: local mode).
            task_id, paid_by = db.execute(
                "SELECT t.task_id, j.started_by FROM tasks t LEFT JOIN jobs j"
                " ON j.job_id = t.job_id WHERE t.ref = ?",
                (ref,),
            ).fetchone()
            numbers = [
                r[0] for r in db.execute("SELECT e164 FROM task_numbers WHERE ref = ?", (ref,))
            ]
            waiting = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT job_id FROM job_numbers WHERE task_ref = ? AND answer IS NULL",
                    (ref,),
                )
            ]
            if is_postgres(db):
                _store_answers_in_arrays(
                    db,
                    ref,
                    task_id,
                    numbers,
                    waiting,
                    results,
                    missing_reason,
                    source,
                    now,
                    cache_realm=cache_realm,
                    product=product,
                    paid_by=paid_by,
                )
                self._move(db, ref, TaskState.RUNNING, TaskState.DONE, owner=owner, error=None)
                finish_jobs(db, now, waiting)
                return
            rows: list[tuple[str, str | None, str, float, str, str, int]] = []
            cache_rows: list[tuple[str, str, str, str, float, str | None, str | None]] = []
            for number in numbers:
                answer, reason = results.get(number, ("error", missing_reason))
                rows.extend((answer, reason, source, now, job, number, ref) for job in waiting)
                if answer in ANSWERS:
                    cache_rows.append((cache_realm, product, number, answer, now, task_id, paid_by))
            db.executemany(
                "INSERT INTO results (realm, product, e164, answer, checked_at, task_id, paid_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (realm, product, e164) DO UPDATE SET"
                " answer = excluded.answer, checked_at = excluded.checked_at,"
                " task_id = excluded.task_id, paid_by = excluded.paid_by",
                cache_rows,
            )
            # Update through the (job_id, e164) key: one lookup per row, not a scan.
            db.executemany(
                "UPDATE job_numbers SET answer = ?, reason = ?, source = ?, checked_at = ?"
                " WHERE job_id = ? AND e164 = ? AND task_ref = ? AND answer IS NULL",
                rows,
            )
            self._move(db, ref, TaskState.RUNNING, TaskState.DONE, owner=owner, error=None)
            finish_jobs(db, now, waiting)


def queue_task(
    db: Connection,
    realm: str,
    job_id: str,
    numbers: Sequence[str],
    now: float,
    owner: str | None,
    lease_expires: float | None,
) -> int:
    """Store a queued task of ``job_id`` holding ``numbers`` and their claims; return its ref.

    The claims' primary key refuses a number another open task of ``realm`` holds (the
    transaction then fails). The caller points the jobs' numbers at the task.
    """
    ref = int(
        db.execute(
            "INSERT INTO tasks (realm, job_id, state, n_numbers, updated_at, lease_owner,"
            " lease_expires) VALUES (?, ?, 'queued', ?, ?, ?, ?) RETURNING ref",
            (realm, job_id, len(numbers), now, owner, lease_expires),
        ).fetchone()[0]
    )
    insert_rows(db, "task_numbers", ("ref", "e164"), ((ref, n) for n in numbers))
    insert_rows(db, "claims", ("realm", "e164", "ref"), ((realm, n, ref) for n in numbers))
    return ref


def _store_answers_in_arrays(
    db: Connection,
    ref: int,
    task_id: str | None,
    numbers: list[str],
    waiting: list[str],
    results: Mapping[str, tuple[str, str | None]],
    missing_reason: str,
    source: str,
    now: float,
    *,
    cache_realm: str,
    product: str,
    paid_by: str | None,
) -> None:
    """PostgreSQL: store a task's answers in two statements over arrays (``unnest``).

    One round trip for the cache and one for the job numbers instead of one per row
    (a 20,000-number task answered row by row costs seconds over a network).
    """
    answers: list[str] = []
    reasons: list[str | None] = []
    for number in numbers:
        answer, reason = results.get(number, ("error", missing_reason))
        answers.append(answer)
        reasons.append(reason)
    cached = [(n, a) for n, a in zip(numbers, answers, strict=True) if a in ANSWERS]
    db.execute(
        "INSERT INTO results (realm, product, e164, answer, checked_at, task_id, paid_by)"
        " SELECT ?, ?, v.e164, v.answer, ?, ?, ? FROM unnest(?::text[], ?::text[])"
        " AS v(e164, answer) ON CONFLICT (realm, product, e164) DO UPDATE SET"
        " answer = excluded.answer, checked_at = excluded.checked_at,"
        " task_id = excluded.task_id, paid_by = excluded.paid_by",
        (
            cache_realm,
            product,
            now,
            task_id,
            paid_by,
            [n for n, _ in cached],
            [a for _, a in cached],
        ),
    )
    db.execute(
        "UPDATE job_numbers AS jn SET answer = v.answer, reason = v.reason, source = ?,"
        " checked_at = ? FROM unnest(?::text[], ?::text[], ?::text[]) AS v(e164, answer, reason)"
        " WHERE jn.job_id = ANY(?::text[]) AND jn.e164 = v.e164 AND jn.task_ref = ?"
        " AND jn.answer IS NULL",
        (source, now, numbers, answers, reasons, waiting, ref),
    )


def task_starters(
    run: Callable[[str, tuple[Any, ...]], Iterable[Any]], refs: Iterable[int]
) -> dict[int, str]:
    """Return {task ref: its job's ``started_by``} of ``refs``, read with ``run`` (users known).

    ``run`` is ``Database.read`` or a transaction's ``execute``.
    """
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(refs)), 900):
        marks = ",".join("?" * len(chunk))
        rows = run(
            "SELECT t.ref, j.started_by FROM tasks t JOIN jobs j ON j.job_id = t.job_id"  # noqa: S608
            f" WHERE j.started_by IS NOT NULL AND t.ref IN ({marks})",
            tuple(chunk),
        )
        found.update((int(row[0]), str(row[1])) for row in rows)
    return found


def paid_by_others(
    user: str,
    hit_payers: Mapping[str, str],
    joined: Mapping[str, int],
    starters: Mapping[int, str],
) -> int:
    """Return how many of a job's numbers other users than ``user`` already paid for.

    ``hit_payers``: {e164: payer} of its cache hits whose payer is known; ``joined``:
    {e164: task ref} of the numbers it joins; ``starters``: {task ref: the user who
    started the job that created it}. Unknown payers (answers cached before revision
    0004, tasks of local mode) count as nobody's.
    """
    cached = sum(1 for payer in hit_payers.values() if payer != user)
    waiting = sum(1 for ref in joined.values() if starters.get(ref, user) != user)
    return cached + waiting


def answer_waiting_with_error(
    db: Connection, ref: int, reason: str, source: str, now: float
) -> None:
    """Give every number still waiting on task ``ref`` the answer ``error`` with ``reason``."""
    db.execute(
        "UPDATE job_numbers SET answer = 'error', reason = ?, source = ?,"
        " checked_at = ? WHERE task_ref = ? AND answer IS NULL",
        (reason, source, now, ref),
    )


def move_jobs(
    db: Connection,
    source: JobState,
    target: JobState,
    now: float,
    where: str,
    params: tuple[Any, ...] = (),
) -> int:
    """Move the jobs in ``source`` matching ``where`` to ``target``; return how many moved.

    The one place a job changes state: the move must be declared, and only rows
    still in ``source`` change.
    """
    check_job_move(source, target)
    return db.execute(
        f"UPDATE jobs SET state = ?, updated_at = ? WHERE state = ? AND ({where})",  # noqa: S608
        (target.value, now, source.value, *params),
    ).rowcount


def finish_jobs(db: Connection, now: float, jobs: Sequence[str] | None = None) -> None:
    """Mark running jobs with no unanswered number as done: all, or those of ``jobs``.

    A task's end names the jobs that waited on it: the others' numbers did not change, and
    checking every running job under the realm's lock made each end slower with each job.
    """
    done = (
        "NOT EXISTS (SELECT 1 FROM job_numbers jn WHERE jn.job_id = jobs.job_id"
        " AND jn.answer IS NULL)"
    )
    if jobs is None:
        move_jobs(db, JobState.RUNNING, JobState.DONE, now, done)
        return
    for chunk in chunks(list(jobs), 900):
        marks = ",".join("?" * len(chunk))
        move_jobs(
            db,
            JobState.RUNNING,
            JobState.DONE,
            now,
            f"job_id IN ({marks}) AND {done}",
            tuple(chunk),
        )


#: The claims of an array of numbers (PostgreSQL: one statement, its index per number).
_CLAIMED_PG = (
    "SELECT c.e164, c.ref FROM unnest(?::text[]) AS v(e164)"
    " JOIN claims c ON c.realm = ? AND c.e164 = v.e164"
)


def claimed_numbers(
    run: Callable[[str, Sequence[Any]], Iterable[Any]],
    numbers: Sequence[str],
    realm: str,
    *,
    postgres: bool,
) -> Iterator[tuple[str, int]]:
    """Yield (e164, task ref) of the ``numbers`` an open task of ``realm`` has claimed.

    ``run`` is ``Database.read`` or a transaction's ``execute``. SQLite takes the numbers
    900 to a statement (its cap on bound parameters); PostgreSQL all in one array, as a
    list of 900 parameters each took the planner longer than the look-up (and a plan
    holds the realm's lock while it looks).
    """
    if postgres:
        if numbers:
            for row in run(_CLAIMED_PG, (list(numbers), realm)):
                yield row[0], row[1]
        return
    for chunk in chunks(numbers, 900):
        marks = ",".join("?" * len(chunk))
        for row in run(
            f"SELECT e164, ref FROM claims WHERE realm = ? AND e164 IN ({marks})",  # noqa: S608
            (realm, *chunk),
        ):
            yield row[0], row[1]
