"""Plans that wait for the user's go-ahead before anything is billed.

A selection that would upload more numbers than ``confirm_above`` is planned
but not submitted; its plan waits here under an unguessable id until the task
pane confirms or discards it, or until it expires. Memory only: a restarted
backend forgets them, and the user simply checks the selection again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from addin.engine.planning import Plan

#: A plan not confirmed within this many seconds is dropped.
PLAN_TTL = 15 * 60.0


@dataclass(frozen=True)
class PendingPlan:
    """A plan awaiting confirmation and what is needed to submit it later."""

    plan: Plan
    numbers: list[str] = field(repr=False)
    label: str
    #: The engine generation it was planned with; a changed API key voids it.
    generation: int
    created: float


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

    def add(self, plan: Plan, *, numbers: list[str], label: str, generation: int) -> str:
        """Keep ``plan`` and return its new id."""
        plan_id = secrets.token_urlsafe(12)
        with self._lock:
            self._expire()
            self._plans[plan_id] = PendingPlan(plan, numbers, label, generation, self._clock())
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
