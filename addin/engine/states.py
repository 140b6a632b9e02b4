"""The declared state machines of upstream tasks and jobs.

Every change of state goes through the store, which names the state it leaves
(``UPDATE ... WHERE state = <from>``): a move that is not in the tables below is
refused before it reaches the database, and a move from a state the row is no
longer in changes nothing and raises :class:`StaleStateError`.

Task lifecycle::

    queued ──► creating ──► running ──► done
      │          │  │  │       │ ▲ ├──► failed     (the vendor reports it failed)
      │          │  │  │       │ │ ├──► lost       (the vendor's 404 under its own key)
      │          │  │  │       ▼ │ └──► cancelled  (the user)
      │          │  │  │     paused ──► cancelled / abandoned (the user)
      │          │  │  └──► refused   (the vendor's own JSON error: nothing created)
      │          │  └─────► uncertain ──► queued (the user's word: send again)
      │          │              └───────► abandoned (the user's word: give up)
      │          └────────► queued    (surely not created: send again later)
      └──► cancelled

``creating`` covers one upload attempt. A process that dies in it leaves the row
there; the next owner turns it into ``uncertain`` (or ``running`` when the create
journal holds the task id), never back into ``queued``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class TaskState(StrEnum):
    """Where one upstream task is in its life."""

    QUEUED = "queued"  # numbers claimed, nothing sent
    CREATING = "creating"  # an upload attempt is under way
    UNCERTAIN = "uncertain"  # the upload may have created a task: waits for the user's word
    RUNNING = "running"  # the vendor's task id is known; polled
    PAUSED = "paused"  # paid and open, but the vendor refuses to answer for now (key, balance)
    DONE = "done"  # answers stored
    REFUSED = "refused"  # the vendor refused the upload with its own error: nothing created
    FAILED = "failed"  # the vendor reports the task failed
    LOST = "lost"  # the vendor answered 404 for the task under its own key
    CANCELLED = "cancelled"  # stopped by the user
    ABANDONED = "abandoned"  # given up by the user (or its demo emulator is gone)


class JobState(StrEnum):
    """Where one job (a CLI run, a ribbon click, a batch of =FBCHECK cells) is."""

    RUNNING = "running"  # some number has no answer yet
    DONE = "done"  # every number has its answer (yes/no/ban or an error with a reason)
    CANCELLED = "cancelled"  # stopped by the user


class StaleStateError(RuntimeError):
    """A state change found the row in another state than the one it names: nothing changed."""


TASK_TRANSITIONS: Final[frozenset[tuple[TaskState, TaskState]]] = frozenset(
    {
        (TaskState.QUEUED, TaskState.CREATING),
        (TaskState.QUEUED, TaskState.CANCELLED),
        (TaskState.QUEUED, TaskState.ABANDONED),
        (TaskState.CREATING, TaskState.RUNNING),
        (TaskState.CREATING, TaskState.QUEUED),
        (TaskState.CREATING, TaskState.UNCERTAIN),
        (TaskState.CREATING, TaskState.REFUSED),
        (TaskState.UNCERTAIN, TaskState.QUEUED),
        (TaskState.UNCERTAIN, TaskState.ABANDONED),
        (TaskState.UNCERTAIN, TaskState.RUNNING),  # the create journal knew the task id
        (TaskState.RUNNING, TaskState.RUNNING),  # a poll
        (TaskState.RUNNING, TaskState.PAUSED),
        (TaskState.RUNNING, TaskState.DONE),
        (TaskState.RUNNING, TaskState.FAILED),
        (TaskState.RUNNING, TaskState.LOST),
        (TaskState.RUNNING, TaskState.CANCELLED),
        (TaskState.RUNNING, TaskState.ABANDONED),  # its demo emulator is gone
        (TaskState.PAUSED, TaskState.RUNNING),
        (TaskState.PAUSED, TaskState.CANCELLED),
        (TaskState.PAUSED, TaskState.ABANDONED),
    }
)

JOB_TRANSITIONS: Final[frozenset[tuple[JobState, JobState]]] = frozenset(
    {
        (JobState.RUNNING, JobState.DONE),
        (JobState.RUNNING, JobState.CANCELLED),
        (JobState.DONE, JobState.RUNNING),  # a resent uncertain upload reopens its numbers
    }
)

#: Tasks whose numbers are claimed: no other task of the realm may hold them.
OPEN_TASK_STATES: Final = (
    TaskState.QUEUED,
    TaskState.CREATING,
    TaskState.UNCERTAIN,
    TaskState.RUNNING,
    TaskState.PAUSED,
)
#: Tasks a runner works on by itself; the others wait for a person.
ACTIVE_TASK_STATES: Final = (TaskState.QUEUED, TaskState.CREATING, TaskState.RUNNING)
#: Tasks that may have been billed at the vendor.
PAID_TASK_STATES: Final = (
    TaskState.UNCERTAIN,
    TaskState.RUNNING,
    TaskState.PAUSED,
    TaskState.DONE,
    TaskState.FAILED,
    TaskState.LOST,
)
FINISHED_TASK_STATES: Final = tuple(s for s in TaskState if s not in OPEN_TASK_STATES)


def check_task_move(source: TaskState, target: TaskState) -> None:
    """Raise ``ValueError`` unless ``source -> target`` is a declared task transition."""
    if (source, target) not in TASK_TRANSITIONS:
        raise ValueError(f"a task cannot go from {source} to {target}")


def check_job_move(source: JobState, target: JobState) -> None:
    """Raise ``ValueError`` unless ``source -> target`` is a declared job transition."""
    if (source, target) not in JOB_TRANSITIONS:
        raise ValueError(f"a job cannot go from {source} to {target}")


def sql_list(states: tuple[TaskState, ...]) -> str:
    """Return ``'a', 'b'`` for an SQL ``IN (...)`` of fixed, known states."""
    return ", ".join(f"'{s.value}'" for s in states)
