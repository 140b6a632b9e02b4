"""Jobs: planned and claimed in one transaction, read for progress, cancelled, settled.

:meth:`JobTable.create_job` is where the money rule holds across processes:
in one transaction (SQLite: IMMEDIATE; PostgreSQL: under the realm's
claims lock) it takes fresh cache hits, joins every number
another open task of the realm has claimed, and claims the rest for new queued
tasks. Two CLIs, two backends on one data folder or eight identical selections
at once therefore put each distinct number into exactly one task.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from addin.engine.chunking import balanced_chunks
from addin.engine.states import JobState, TaskState, sql_list
from addin.engine.store.cache import fresh_answers
from addin.engine.store.database import FIRST_PRODUCT, insert_rows, is_postgres
from addin.engine.store.records import (
    JOB_COLUMNS,
    TASK_COLUMNS,
    Answer,
    JobRecord,
    TaskRecord,
    job_from_row,
    task_from_row,
)
from addin.engine.store.tasks import (
    TaskTable,
    answer_waiting_with_error,
    claimed_numbers,
    finish_jobs,
    move_jobs,
    paid_by_others,
    queue_task,
    task_starters,
)

#: PostgreSQL: a job of this many numbers refreshes the planner's statistics of its tables.
ANALYZE_FROM = 10_000


@dataclass(frozen=True)
class NewJob:
    """What :meth:`JobTable.create_job` stored: the job and how its numbers were settled."""

    job_id: str
    cache_hits: int
    joined: int
    uploaded: int
    tasks: int
    #: New numbers left out: fewer than the minimum of one task (not part of the job).
    held: int = 0
    #: Of the cache hits and joined numbers, how many other users paid for (team mode).
    paid_by_colleagues: int = 0


#: A job's numbers that have their answer (a ``job_id`` parameter).
_KNOWN_ANSWERS = (
    "SELECT e164, answer, reason, source, checked_at FROM job_numbers"
    " WHERE job_id = ? AND answer IS NOT NULL"
)


class JobTable(TaskTable):
    """The ``jobs`` and ``job_numbers`` tables (jobs wait on tasks, so this builds on them)."""

    def create_job(
        self,
        *,
        realm: str,
        cache_realm: str,
        kind: str,
        label: str,
        numbers: Sequence[str],
        refresh: bool,
        max_age: float,
        chunk_size: int,
        plan: dict[str, Any],
        hit_source: str,
        fingerprint: str | None = None,
        owner: str | None = None,
        lease_seconds: float = 0.0,
        min_chunk: int = 1,
        product: str = FIRST_PRODUCT,
        started_by: str | None = None,
    ) -> NewJob:
        """Store a job for the distinct ``numbers``, claiming the ones nobody checks yet.

        New tasks are leased to ``owner`` (the submitting process's runner) at once.
        Numbers to upload are split by ``addin.engine.chunking.balanced_chunks``; fewer
        than ``min_chunk`` of them make no task and are left out of the job (``held``).
        ``started_by`` names the team server's user who started it (None: local mode).
        """
        job_id = uuid.uuid4().hex[:16]
        now = self.clock()
        # The realm's claims lock (PostgreSQL): no other plan or task end of the realm
        # runs meanwhile, so a number is claimed once (postgres.py says why a lock).
        with self.transaction(lock=realm) as db:
            hits: dict[str, tuple[str, float]] = {}
            hit_payers: dict[str, str] = {}
            joined: dict[str, int] = {}
            if not refresh:
                rows = fresh_answers(
                    db.execute,
                    list(numbers),
                    realm=cache_realm,
                    product=product,
                    oldest=now - max_age,
                    postgres=is_postgres(db),
                )
                for row in rows:
                    hits[row[0]] = (row[1], row[2])
                    if row[3] is not None:
                        hit_payers[row[0]] = row[3]
            claimed = claimed_numbers(db.execute, list(numbers), realm, postgres=is_postgres(db))
            for number, ref in claimed:
                if number not in hits:
                    joined[number] = ref
            upload = sorted(n for n in numbers if n not in hits and n not in joined)
            groups = balanced_chunks(upload, minimum=min_chunk, maximum=chunk_size)
            held = 0 if groups else len(upload)
            state = JobState.RUNNING if (joined or groups) else JobState.DONE
            plan = {**plan, "cache_hits": len(hits), "in_flight": len(joined)}
            colleagues = 0
            plan.pop("paid_by_colleagues", None)  # counted for users only, below
            if started_by is not None:
                # Counted again under the lock, as the hits and joins themselves.
                starters = task_starters(db.execute, joined.values())
                colleagues = paid_by_others(started_by, hit_payers, joined, starters)
                plan["paid_by_colleagues"] = colleagues
            plan.update(to_upload=len(upload) - held, tasks=len(groups), held=held)
            db.execute(
                f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",  # noqa: S608
                (
                    job_id,
                    realm,
                    kind,
                    label,
                    state.value,
                    now,
                    now,
                    int(refresh),
                    json.dumps(plan),
                    fingerprint,
                    started_by,
                ),
            )
            insert_rows(
                db,
                "job_numbers",
                ("job_id", "e164", "answer", "source", "checked_at"),
                ((job_id, n, a, hit_source, t) for n, (a, t) in hits.items()),
            )
            insert_rows(
                db,
                "job_numbers",
                ("job_id", "e164", "task_ref"),
                ((job_id, n, ref) for n, ref in joined.items()),
            )
            for group in groups:
                expires = now + lease_seconds if owner else None
                ref = queue_task(db, realm, job_id, group, now, owner, expires)
                insert_rows(
                    db,
                    "job_numbers",
                    ("job_id", "e164", "task_ref"),
                    ((job_id, n, ref) for n in group),
                )
            if is_postgres(db) and len(numbers) >= ANALYZE_FROM:
                # Fresh statistics, or the planner, still believing the tables small, would
                # answer each task by scanning every job number (minutes for a million).
                db.execute("ANALYZE job_numbers, task_numbers, claims")
        return NewJob(
            job_id,
            len(hits),
            len(joined),
            len(upload) - held,
            len(groups),
            held,
            colleagues,
        )

    def open_job(
        self, fingerprint: str, realm: str, *, started_by: str | None = None
    ) -> JobRecord | None:
        """Return the newest unfinished job of ``realm`` with this input fingerprint, if any.

        With ``started_by``, only among that user's jobs (the team server: one person's
        run never continues, or learns of, another person's job of the same input).
        """
        if started_by is None:
            rows = self.read(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE fingerprint = ? AND realm = ?"  # noqa: S608
                " AND state = 'running' ORDER BY created_at DESC LIMIT 1",
                (fingerprint, realm),
            )
        else:
            rows = self.read(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE fingerprint = ? AND realm = ?"  # noqa: S608
                " AND started_by = ? AND state = 'running' ORDER BY created_at DESC LIMIT 1",
                (fingerprint, realm, started_by),
            )
        return job_from_row(rows[0]) if rows else None

    def _job_realm(self, job_id: str) -> str | None:
        """Return the task realm of a job (the claims lock its task ends take), None if unknown."""
        rows = self.read("SELECT realm FROM jobs WHERE job_id = ?", (job_id,))
        return str(rows[0][0]) if rows else None

    def job(self, job_id: str) -> JobRecord | None:
        """Return one job, or None."""
        rows = self.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))  # noqa: S608
        return job_from_row(rows[0]) if rows else None

    def jobs(self, *, limit: int = 50, started_by: str | None = None) -> list[JobRecord]:
        """Return the newest jobs first; only ``started_by``'s when a user is named."""
        if started_by is None:
            rows = self.read(
                f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT ?",  # noqa: S608
                (limit,),
            )
        else:
            rows = self.read(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE started_by = ?"  # noqa: S608
                " ORDER BY created_at DESC LIMIT ?",
                (started_by, limit),
            )
        return [job_from_row(r) for r in rows]

    def job_answers(self, job_id: str) -> dict[str, Answer]:
        """Return the known answers of a job's numbers."""
        rows = self.read(_KNOWN_ANSWERS, (job_id,), tuples=True)
        return {
            e164: Answer(answer, reason, source, at) for e164, answer, reason, source, at in rows
        }

    def job_answers_page(
        self, job_id: str, *, after: str | None, limit: int
    ) -> list[tuple[str, Answer]]:
        """Return up to ``limit`` known answers of a job, in number order, after ``after``.

        The order is the code-point order of the E.164 text (Python's ``sorted``), on
        PostgreSQL too whatever the database's collation; one page reads one page.
        """
        collate = ' COLLATE "C"' if self.dialect == "postgresql" else ""
        sql = _KNOWN_ANSWERS
        params: list[Any] = [job_id]
        if after is not None:
            sql += f" AND e164{collate} > ?"
            params.append(after)
        sql += f" ORDER BY e164{collate} LIMIT ?"
        params.append(limit)
        rows = self.read(sql, params, tuples=True)
        return [
            (e164, Answer(answer, reason, source, at)) for e164, answer, reason, source, at in rows
        ]

    def job_counts(self, job_id: str) -> dict[str, int]:
        """Return counts of a job's distinct numbers by answer (``pending`` for unknown)."""
        rows = self.read(
            "SELECT COALESCE(answer, 'pending'), COUNT(*) FROM job_numbers WHERE job_id = ?"
            " GROUP BY 1",
            (job_id,),
        )
        return {r[0]: r[1] for r in rows}

    def job_tasks(self, job_id: str) -> list[TaskRecord]:
        """Return the tasks a job waits or waited on: those it created and those it joined."""
        rows = self.read(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE job_id = ? OR ref IN"  # noqa: S608
            " (SELECT DISTINCT task_ref FROM job_numbers WHERE job_id = ?"
            " AND task_ref IS NOT NULL) ORDER BY ref",
            (job_id, job_id),
        )
        return [task_from_row(r) for r in rows]

    def job_waiting_numbers(self, job_id: str, state: TaskState) -> int:
        """Return how many of a job's unanswered numbers wait on a task in ``state``."""
        rows = self.read(
            "SELECT COUNT(*) FROM job_numbers jn JOIN tasks t ON t.ref = jn.task_ref"
            " WHERE jn.job_id = ? AND jn.answer IS NULL AND t.state = ?",
            (job_id, state.value),
        )
        return int(rows[0][0])

    def cancel_job(self, job_id: str) -> list[int]:
        """Mark a job cancelled, drop its queued chunks; return refs of tasks no longer needed.

        A task stops only when no other unfinished job waits on it; an upload in
        flight and an uncertain upload are not touched (their outcome is reported).
        """
        now = self.clock()
        with self.transaction(lock=self._job_realm(job_id)) as db:
            move_jobs(db, JobState.RUNNING, JobState.CANCELLED, now, "job_id = ?", (job_id,))
            refs = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT task_ref FROM job_numbers WHERE job_id = ?"
                    " AND answer IS NULL AND task_ref IS NOT NULL ORDER BY task_ref",
                    (job_id,),
                )
            ]
            stopped: list[int] = []
            for ref in refs:
                others = db.execute(
                    "SELECT 1 FROM job_numbers jn JOIN jobs j ON j.job_id = jn.job_id"
                    " WHERE jn.task_ref = ? AND jn.answer IS NULL AND j.state = 'running'"
                    " AND j.job_id != ? LIMIT 1",
                    (ref, job_id),
                ).fetchone()
                row = db.execute("SELECT state FROM tasks WHERE ref = ?", (ref,)).fetchone()
                state = TaskState(row[0]) if row else None
                if others is None and state in (
                    TaskState.QUEUED,
                    TaskState.RUNNING,
                    TaskState.PAUSED,
                ):
                    self._move(db, ref, state, TaskState.CANCELLED, error="cancelled by the user")
                    stopped.append(ref)
            db.execute(
                "UPDATE job_numbers SET answer = 'error', reason = 'cancelled before an answer',"
                " source = 'cancelled' WHERE job_id = ? AND answer IS NULL",
                (job_id,),
            )
        return stopped

    def approve_resend(self, job_id: str) -> list[int]:
        """The user's word: send the job's uncertain uploads again; return their refs."""
        with self.transaction() as db:
            refs = self._job_refs_in(db, job_id, (TaskState.UNCERTAIN,))
            for ref in refs:
                self._requeue_uncertain(db, ref, "sent again on the user's word")
        return refs

    def approve_resend_task(self, ref: int, reason: str) -> None:
        """Send one uncertain upload again (the automatic, bounded re-send policy)."""
        with self.transaction() as db:
            self._requeue_uncertain(db, ref, reason)

    def _requeue_uncertain(self, db: Any, ref: int, reason: str) -> None:
        """Move an uncertain task back to ``queued``, free for any runner to upload."""
        self._move(
            db,
            ref,
            TaskState.UNCERTAIN,
            TaskState.QUEUED,
            error=reason,
            lease_owner=None,
            lease_expires=None,
        )

    def abandon_waiting(self, job_id: str, reason: str) -> list[int]:
        """The user's word: give up the job's uncertain and paused tasks; return their refs."""
        now = self.clock()
        with self.transaction(lock=self._job_realm(job_id)) as db:
            moved: list[int] = []
            for state in (TaskState.UNCERTAIN, TaskState.PAUSED):
                for ref in self._job_refs_in(db, job_id, (state,)):
                    self._move(db, ref, state, TaskState.ABANDONED, error=reason)
                    answer_waiting_with_error(db, ref, reason, "upstream", now)
                    moved.append(ref)
            finish_jobs(db, now)
        return moved

    @staticmethod
    def _job_refs_in(db: Any, job_id: str, states: tuple[TaskState, ...]) -> list[int]:
        """Return refs of the tasks a job created or waits on that are in ``states``."""
        return [
            r[0]
            for r in db.execute(
                f"SELECT ref FROM tasks WHERE state IN ({sql_list(states)}) AND (job_id = ?"  # noqa: S608
                " OR ref IN (SELECT task_ref FROM job_numbers WHERE job_id = ?"
                " AND answer IS NULL)) ORDER BY ref",
                (job_id, job_id),
            )
        ]

    def abandon_realm(self, realm: str, reason: str) -> int:
        """End every open task of ``realm`` (its demo emulator is gone); return how many."""
        count = 0
        for task in self.open_tasks(realm):
            if task.realm != realm:
                continue
            state = task.state
            if state == TaskState.CREATING:
                self.record_uncertain(task.ref, reason)
                state = TaskState.UNCERTAIN
            self.end_task(task.ref, state, TaskState.ABANDONED, reason, answer_source="demo")
            count += 1
        return count
