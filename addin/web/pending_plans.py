"""Plans that wait for the user's go-ahead before anything is billed.

A selection that would upload more numbers than ``confirm_above`` is planned
but not submitted; its plan waits under an unguessable id until the task pane
(or ``fbcheck check --server``) confirms or discards it, or until it expires.
What waits is what submitting needs later: the numbers, the label and the plan's
rows, invalid rows and refresh flag (the plan is made again when confirmed).

:class:`PendingPlans` keeps them in memory: the local backend's one process (a
restarted backend forgets them, and the user simply checks the selection again).
The team server keeps them in the store (``addin.web.stored_unfinished``), so any
instance confirms a plan another made; both are a :class:`PlanBook`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from addin.engine.planning import Plan

#: A plan not confirmed within this many seconds is dropped.
PLAN_TTL = 15 * 60.0


@dataclass(frozen=True)
class PendingPlan:
    """A plan awaiting confirmation and what is needed to submit it later."""

    numbers: list[str] = field(repr=False)
    label: str
    #: The plan's input rows and invalid rows (for the estimate made again) and --refresh.
    rows: int
    invalid: int
    refresh: bool
    #: The engine generation it was planned with; a changed API key voids it.
    generation: str
    created: float


class PlanBook(Protocol):
    """Plans awaiting confirmation, each taken at most once."""

    ttl: float

    def add(self, plan: Plan, *, numbers: list[str], label: str, generation: str) -> str:
        """Keep ``plan`` and return its new id."""
        ...

    def take(self, plan_id: str) -> PendingPlan | None:
        """Remove and return the plan, or None when unknown, taken already or expired."""
        ...

    def clear(self) -> None:
        """Drop every plan."""
        ...

    def __len__(self) -> int:
        """Return how many plans wait (expired ones excluded)."""
        ...


class PendingPlans:
    """Thread-safe plans by id, each living at most ``ttl`` seconds."""

    def __init__(
        self, *, ttl: float = PLAN_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Start empty."""
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._plans: dict[str, PendingPlan] = {}

    def add(self, plan: Plan, *, numbers: list[str], label: str, generation: str) -> str:
        """Keep ``plan`` and return its new id."""
        plan_id = secrets.token_urlsafe(12)
        with self._lock:
            self._expire()
            self._plans[plan_id] = PendingPlan(
                numbers, label, plan.rows, plan.invalid, plan.refresh, generation, self._clock()
            )
        return plan_id

    def take(self, plan_id: str) -> PendingPlan | None:
        """Remove and return the plan, or None when unknown or expired."""
        with self._lock:
            self._expire()
            return self._plans.pop(plan_id, None)

    def clear(self) -> None:
        """Drop every plan."""
        with self._lock:
            self._plans.clear()

    def __len__(self) -> int:
        """Return how many plans wait (expired ones excluded)."""
        with self._lock:
            self._expire()
            return len(self._plans)

    def _expire(self) -> None:
        """Drop plans older than the TTL (called with the lock held)."""
        oldest = self._clock() - self.ttl
        for plan_id in [k for k, v in self._plans.items() if v.created < oldest]:
            del self._plans[plan_id]
