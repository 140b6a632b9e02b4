"""What the store hands out: frozen records of tasks, jobs and answers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from addin.engine.states import JobState, TaskState

#: The columns of ``tasks`` a TaskRecord holds, in its field order.
TASK_COLUMNS = (
    "ref, realm, job_id, task_id, state, n_numbers, vendor_status, total, success, failure,"
    " polls, create_attempts, uncertain_creates, created_at, updated_at, finished_at,"
    " lease_owner, lease_expires, key_fp, error"
)
JOB_COLUMNS = (
    "job_id, realm, kind, label, state, created_at, updated_at, refresh, plan, error, fingerprint,"
    " started_by"
)


@dataclass(frozen=True)
class TaskRecord:
    """One upstream task as stored."""

    ref: int
    realm: str
    job_id: str
    task_id: str | None
    state: TaskState
    n_numbers: int
    vendor_status: str | None
    total: int
    success: int
    failure: int
    polls: int
    create_attempts: int
    uncertain_creates: int
    created_at: float | None
    updated_at: float
    finished_at: float | None
    lease_owner: str | None
    lease_expires: float | None
    key_fp: str | None
    error: str | None

    @property
    def processed(self) -> int:
        """Return how many of its numbers the vendor reports as processed."""
        return min(self.success + self.failure, self.n_numbers)


@dataclass(frozen=True)
class JobRecord:
    """One job as stored."""

    job_id: str
    realm: str
    kind: str
    label: str
    state: JobState
    created_at: float
    updated_at: float
    refresh: bool
    plan: dict[str, Any]
    error: str | None
    fingerprint: str | None
    #: The team server's user who started the job (None in local mode).
    started_by: str | None = None


class Answer(NamedTuple):
    """A number's answer for one job (a named tuple: a job's answers are built by the million)."""

    answer: str
    reason: str | None
    source: str
    checked_at: float | None


def task_from_row(row: Sequence[Any]) -> TaskRecord:
    """Build a TaskRecord from a row selected with ``TASK_COLUMNS``."""
    values: list[Any] = list(row)
    values[4] = TaskState(values[4])
    return TaskRecord(*values)


def job_from_row(row: Sequence[Any]) -> JobRecord:
    """Build a JobRecord from a row selected with ``JOB_COLUMNS``."""
    values: list[Any] = list(row)
    values[4] = JobState(values[4])
    values[7] = bool(values[7])
    values[8] = json.loads(values[8])
    return JobRecord(*values)
