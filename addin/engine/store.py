"""The SQLite store: result cache, jobs, upstream tasks and which numbers each holds.

Tables (one file under the data folder, WAL mode, safe for several threads and
processes):

- ``results``: the cache, one row per (realm, E.164) with a yes/no/ban answer.
  Errors are never cached, so a later run asks again.
- ``jobs``: one row per check (a CLI run, a ribbon click, a batch of FBCHECK cells).
- ``job_numbers``: the distinct numbers a job needs and, once known, their answer.
- ``tasks``: upstream tasks. A row is written *before* the create request
  (state ``queued``), flips to ``creating`` just before the upload and gets its
  vendor ``task_id`` the moment the create returns, so a crash never forgets a
  billed task.
- ``task_numbers``: the numbers uploaded in each task.

A realm separates the bundled emulator ("demo") from a real vendor URL, so demo
answers never leak into real results.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
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

#: Task states: queued (numbers chosen, nothing sent), creating (upload under way:
#: the only window where a crash can bill twice), running (vendor task id known),
#: done, failed, cancelled, abandoned (its demo emulator is gone).
OPEN_TASK_STATES = ("queued", "creating", "running")
IN_FLIGHT_STATES = OPEN_TASK_STATES
ANSWERS = ("yes", "no", "ban")


@dataclass(frozen=True)
class TaskRecord:
    """One upstream task as stored."""

    ref: int
    realm: str
    job_id: str
    task_id: str | None
    state: str
    n_numbers: int
    vendor_status: str | None
    total: int
    success: int
    failure: int
    billed: int
    polls: int
    create_attempts: int
    uncertain_creates: int
    created_at: float | None
    updated_at: float
    finished_at: float | None
    owner: str | None
    owner_pid: int | None
    error: str | None


@dataclass(frozen=True)
class JobRecord:
    """One job as stored."""

    job_id: str
    realm: str
    kind: str
    label: str
    state: str
    created_at: float
    updated_at: float
    refresh: bool
    plan: dict[str, Any]
    error: str | None


@dataclass(frozen=True)
class Answer:
    """A number's answer for one job."""

    answer: str
    reason: str | None
    source: str
    checked_at: float | None


class Store:
    """Thread-safe access to the SQLite file; one connection per thread."""

    def __init__(self, path: Path) -> None:
        """Open (and create) the database at ``path``."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # executescript commits on its own, so it runs outside ``transaction()``.
        self._connection().executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one IMMEDIATE transaction (committed on success)."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query and return all rows."""
        return self._connection().execute(sql, params).fetchall()

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- the result cache -------------------------------------------------

    def cached(
        self, realm: str, numbers: Iterable[str], *, max_age: float, now: float | None = None
    ) -> dict[str, tuple[str, float]]:
        """Return {e164: (answer, checked_at)} for fresh cache entries among ``numbers``."""
        now = time.time() if now is None else now
        oldest = now - max_age
        found: dict[str, tuple[str, float]] = {}
        conn = self._connection()
        for chunk in _chunks(list(numbers), 900):
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT e164, answer, checked_at FROM results WHERE realm = ? "  # noqa: S608
                f"AND checked_at >= ? AND e164 IN ({marks})",
                (realm, oldest, *chunk),
            )
            for row in rows:
                found[row[0]] = (row[1], row[2])
        return found

    def clear_cache(self, realm: str | None = None) -> int:
        """Delete cached answers (of one realm, or all) and return how many."""
        with self.transaction() as db:
            if realm is None:
                return db.execute("DELETE FROM results").rowcount
            return db.execute("DELETE FROM results WHERE realm = ?", (realm,)).rowcount

    # -- jobs ----------------------------------------------------------------

    def create_job(
        self,
        *,
        realm: str,
        kind: str,
        label: str,
        refresh: bool,
        plan: dict[str, Any],
        hits: dict[str, tuple[str, float]],
        in_flight: dict[str, int],
        chunks: Sequence[Sequence[str]],
        hit_source: str,
        owner: str | None = None,
    ) -> str:
        """Store a planned job, its numbers, and its queued upload chunks; return its id."""
        job_id = uuid.uuid4().hex[:16]
        now = time.time()
        state = "running" if (in_flight or chunks) else "done"
        with self.transaction() as db:
            db.execute(
                "INSERT INTO jobs (job_id, realm, kind, label, state, created_at, updated_at,"
                " refresh, plan) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, realm, kind, label, state, now, now, int(refresh), json.dumps(plan)),
            )
            db.executemany(
                "INSERT INTO job_numbers (job_id, e164, answer, source, checked_at)"
                " VALUES (?, ?, ?, ?, ?)",
                ((job_id, n, a, hit_source, t) for n, (a, t) in hits.items()),
            )
            db.executemany(
                "INSERT INTO job_numbers (job_id, e164, task_ref) VALUES (?, ?, ?)",
                ((job_id, n, ref) for n, ref in in_flight.items()),
            )
            for chunk in chunks:
                cur = db.execute(
                    "INSERT INTO tasks (realm, job_id, state, n_numbers, updated_at, owner,"
                    " owner_pid) VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                    (realm, job_id, len(chunk), now, owner, os.getpid() if owner else None),
                )
                ref = cur.lastrowid
                db.executemany(
                    "INSERT INTO task_numbers (ref, e164) VALUES (?, ?)", ((ref, n) for n in chunk)
                )
                db.executemany(
                    "INSERT INTO job_numbers (job_id, e164, task_ref) VALUES (?, ?, ?)",
                    ((job_id, n, ref) for n in chunk),
                )
        return job_id

    def in_flight(self, realm: str, numbers: Iterable[str]) -> dict[str, int]:
        """Return {e164: task ref} for numbers already in an open task of ``realm``."""
        found: dict[str, int] = {}
        conn = self._connection()
        for chunk in _chunks(list(numbers), 900):
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT tn.e164, tn.ref FROM task_numbers tn JOIN tasks t ON t.ref = tn.ref"  # noqa: S608
                f" WHERE t.realm = ? AND t.state IN ('queued', 'creating', 'running')"
                f" AND tn.e164 IN ({marks})",
                (realm, *chunk),
            )
            for row in rows:
                found[row[0]] = row[1]
        return found

    def job(self, job_id: str) -> JobRecord | None:
        """Return one job, or None."""
        rows = self.read("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, *, limit: int = 50) -> list[JobRecord]:
        """Return the newest jobs first."""
        rows = self.read("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    def job_answers(self, job_id: str) -> dict[str, Answer]:
        """Return the known answers of a job's numbers."""
        rows = self.read(
            "SELECT e164, answer, reason, source, checked_at FROM job_numbers"
            " WHERE job_id = ? AND answer IS NOT NULL",
            (job_id,),
        )
        return {r[0]: Answer(r[1], r[2], r[3], r[4]) for r in rows}

    def job_counts(self, job_id: str) -> dict[str, int]:
        """Return counts of a job's distinct numbers by answer (``pending`` for unknown)."""
        rows = self.read(
            "SELECT COALESCE(answer, 'pending'), COUNT(*) FROM job_numbers WHERE job_id = ?"
            " GROUP BY 1",
            (job_id,),
        )
        return {r[0]: r[1] for r in rows}

    def job_tasks(self, job_id: str) -> list[TaskRecord]:
        """Return the tasks a job waits on: those it created and those it joined."""
        rows = self.read(
            "SELECT * FROM tasks WHERE ref IN (SELECT DISTINCT task_ref FROM job_numbers"
            " WHERE job_id = ? AND task_ref IS NOT NULL) ORDER BY ref",
            (job_id,),
        )
        return [_task(r) for r in rows]

    def job_uncertain_creates(self, job_id: str) -> int:
        """Return uploads of this job's tasks that may have created a task we never heard of."""
        rows = self.read(
            "SELECT COALESCE(SUM(uncertain_creates), 0) FROM tasks WHERE job_id = ?", (job_id,)
        )
        return int(rows[0][0])

    def job_billed(self, job_id: str) -> int:
        """Return billed requests spent on the tasks this job created."""
        rows = self.read("SELECT COALESCE(SUM(billed), 0) FROM tasks WHERE job_id = ?", (job_id,))
        return int(rows[0][0])

    def set_job_state(self, job_id: str, state: str, error: str | None = None) -> None:
        """Set a job's state (and error message)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, error = COALESCE(?, error), updated_at = ?"
                " WHERE job_id = ?",
                (state, error, time.time(), job_id),
            )

    def cancel_job(self, job_id: str) -> list[int]:
        """Mark a job cancelled, drop its queued chunks; return refs of tasks to stop polling.

        A running task stops being polled only when no other unfinished job waits on it.
        """
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE job_id = ?"
                " AND state = 'running'",
                (time.time(), job_id),
            )
            refs = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT task_ref FROM job_numbers WHERE job_id = ?"
                    " AND answer IS NULL AND task_ref IS NOT NULL",
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
                if others is None:
                    db.execute(
                        "UPDATE tasks SET state = 'cancelled', error = 'cancelled by the user',"
                        " finished_at = ?, updated_at = ? WHERE ref = ?"
                        " AND state IN ('queued', 'running')",
                        (time.time(), time.time(), ref),
                    )
                    stopped.append(ref)
            db.execute(
                "UPDATE job_numbers SET answer = 'error', reason = 'cancelled before an answer',"
                " source = 'cancelled' WHERE job_id = ? AND answer IS NULL",
                (job_id,),
            )
        return stopped

    # -- tasks -------------------------------------------------------------

    def task(self, ref: int) -> TaskRecord | None:
        """Return one task by local ref, or None."""
        rows = self.read("SELECT * FROM tasks WHERE ref = ?", (ref,))
        return _task(rows[0]) if rows else None

    def task_numbers(self, ref: int) -> list[str]:
        """Return the numbers of a task in upload order."""
        rows = self.read("SELECT e164 FROM task_numbers WHERE ref = ? ORDER BY e164", (ref,))
        return [r[0] for r in rows]

    def claim_open_tasks(self, realm: str, owner: str, pid: int) -> list[TaskRecord]:
        """Take over open tasks of ``realm`` whose owner is this runner or gone; return them."""
        with self.transaction() as db:
            rows = db.execute(
                "SELECT ref, owner, owner_pid FROM tasks WHERE realm = ?"
                " AND state IN ('queued', 'creating', 'running')",
                (realm,),
            ).fetchall()
            mine: list[int] = []
            for ref, row_owner, row_pid in rows:
                if row_owner == owner or row_owner is None or not _process_alive(row_pid):
                    mine.append(ref)
            for chunk in _chunks(mine, 900):
                marks = ",".join("?" * len(chunk))
                db.execute(
                    f"UPDATE tasks SET owner = ?, owner_pid = ? WHERE ref IN ({marks})",  # noqa: S608
                    (owner, pid, *chunk),
                )
        if not mine:
            return []
        rows2 = self.read(
            "SELECT * FROM tasks WHERE owner = ? AND state IN ('queued', 'creating', 'running')"
            " ORDER BY ref",
            (owner,),
        )
        return [_task(r) for r in rows2]

    def release(self, owner: str) -> None:
        """Give up ownership of open tasks, so the next runner takes them at once."""
        with self.transaction() as db:
            db.execute("UPDATE tasks SET owner = NULL, owner_pid = NULL WHERE owner = ?", (owner,))

    def mark_creating(self, ref: int) -> None:
        """Record that the upload of task ``ref`` is about to be sent."""
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET state = 'creating', create_attempts = create_attempts + 1,"
                " updated_at = ? WHERE ref = ?",
                (time.time(), ref),
            )

    def mark_created(
        self,
        ref: int,
        task_id: str,
        vendor_status: str,
        total: int,
        success: int,
        failure: int,
    ) -> None:
        """Store the vendor's task id the moment the create returns (one billed request)."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET state = 'running', task_id = ?, vendor_status = ?, total = ?,"
                " success = ?, failure = ?, billed = billed + 1, created_at = ?, updated_at = ?"
                " WHERE ref = ?",
                (task_id, vendor_status, total, success, failure, now, now, ref),
            )

    def mark_unsent(self, ref: int, error: str, *, uncertain: bool = False) -> None:
        """Put a task back to queued after an upload; ``uncertain`` if it may have arrived."""
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET state = 'queued', error = ?, updated_at = ?,"
                " uncertain_creates = uncertain_creates + ? WHERE ref = ?",
                (error, time.time(), int(uncertain), ref),
            )

    def record_poll(
        self, ref: int, vendor_status: str, total: int, success: int, failure: int
    ) -> None:
        """Store a billed status poll's counters."""
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET vendor_status = ?, total = ?, success = ?, failure = ?,"
                " billed = billed + 1, polls = polls + 1, updated_at = ? WHERE ref = ?",
                (vendor_status, total, success, failure, time.time(), ref),
            )

    def finish_task(
        self,
        ref: int,
        *,
        realm: str,
        results: dict[str, tuple[str, str | None]],
        source: str,
        missing_reason: str,
    ) -> None:
        """Store a task's answers: cache yes/no/ban, answer every waiting job's numbers.

        ``results`` maps E.164 to (answer, reason); numbers of the task absent from
        it get ``error`` with ``missing_reason``, never a silent ``no``.
        """
        now = time.time()
        with self.transaction() as db:
            task_id = db.execute("SELECT task_id FROM tasks WHERE ref = ?", (ref,)).fetchone()[0]
            numbers = [
                r[0] for r in db.execute("SELECT e164 FROM task_numbers WHERE ref = ?", (ref,))
            ]
            # Update through the (job_id, e164) key: one lookup per row, not a scan.
            waiting = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT job_id FROM job_numbers WHERE task_ref = ? AND answer IS NULL",
                    (ref,),
                )
            ]
            rows: list[tuple[str, str | None, str, float, str, str, int]] = []
            cache_rows: list[tuple[str, str, str, float, str | None]] = []
            for number in numbers:
                answer, reason = results.get(number, ("error", missing_reason))
                rows.extend((answer, reason, source, now, job, number, ref) for job in waiting)
                if answer in ANSWERS:
                    cache_rows.append((realm, number, answer, now, task_id))
            db.executemany(
                "INSERT INTO results (realm, e164, answer, checked_at, task_id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (realm, e164) DO UPDATE SET"
                " answer = excluded.answer, checked_at = excluded.checked_at,"
                " task_id = excluded.task_id",
                cache_rows,
            )
            db.executemany(
                "UPDATE job_numbers SET answer = ?, reason = ?, source = ?, checked_at = ?"
                " WHERE job_id = ? AND e164 = ? AND task_ref = ? AND answer IS NULL",
                rows,
            )
            db.execute(
                "UPDATE tasks SET state = 'done', error = NULL, finished_at = ?, updated_at = ?"
                " WHERE ref = ?",
                (now, now, ref),
            )
            self._finish_jobs(db, now)

    def fail_task(self, ref: int, reason: str, *, state: str = "failed") -> None:
        """Give up on a task: every waiting number gets ``error`` with ``reason``."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET state = ?, error = ?, finished_at = ?, updated_at = ?"
                " WHERE ref = ?",
                (state, reason, now, now, ref),
            )
            db.execute(
                "UPDATE job_numbers SET answer = 'error', reason = ?, source = 'upstream',"
                " checked_at = ? WHERE task_ref = ? AND answer IS NULL",
                (reason, now, ref),
            )
            self._finish_jobs(db, now)

    def abandon_open_tasks(self, realm: str, reason: str) -> int:
        """Fail every open task of ``realm`` (its demo emulator is gone)."""
        refs = [
            r[0]
            for r in self.read(
                "SELECT ref FROM tasks WHERE realm = ?"
                " AND state IN ('queued', 'creating', 'running')",
                (realm,),
            )
        ]
        for ref in refs:
            self.fail_task(ref, reason, state="abandoned")
        return len(refs)

    @staticmethod
    def _finish_jobs(db: sqlite3.Connection, now: float) -> None:
        """Mark running jobs with no unanswered number as done."""
        db.execute(
            "UPDATE jobs SET state = 'done', updated_at = ? WHERE state = 'running'"
            " AND NOT EXISTS (SELECT 1 FROM job_numbers jn WHERE jn.job_id = jobs.job_id"
            " AND jn.answer IS NULL)",
            (now,),
        )

    def billed_total(self, realm: str) -> int:
        """Return all billed requests recorded for a realm."""
        rows = self.read("SELECT COALESCE(SUM(billed), 0) FROM tasks WHERE realm = ?", (realm,))
        return int(rows[0][0])


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Yield consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _process_alive(pid: int | None) -> bool:
    """Return True if a process with ``pid`` runs on this machine."""
    if pid is None or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _windows_process_alive(pid: int) -> bool:
    """Return True if ``pid`` runs, asking Windows (os.kill would terminate it there)."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    kernel32.CloseHandle(handle)
    return bool(ok) and code.value == 259  # STILL_ACTIVE


def _task(row: sqlite3.Row) -> TaskRecord:
    """Build a TaskRecord from a row."""
    return TaskRecord(**{k: row[k] for k in row.keys()})  # noqa: SIM118


def _job(row: sqlite3.Row) -> JobRecord:
    """Build a JobRecord from a row."""
    data = {k: row[k] for k in row.keys()}  # noqa: SIM118
    data["refresh"] = bool(data["refresh"])
    data["plan"] = json.loads(data["plan"])
    return JobRecord(**data)
