"""The ``=FBCHECK`` look-up batch that waits for the user's go-ahead before anything is billed.

The coalescer hands each batch of queued look-ups to the engine host, which plans
it. A batch that would upload more numbers than ``confirm_above`` is not submitted:
it is held here, under an unguessable id, until the task pane confirms or cancels
it. While one batch is held, later batches join it (a workbook opening recalculates
its cells in several waves: the user is asked once). Each join that brings new
numbers bumps the batch's ``version``; a confirmation must name the version the
user saw, so nothing more is billed than the estimate shown.

:class:`HeldLookups` keeps it in memory (the local backend: a restarted backend
forgets the batch and the cells, still polling, queue their numbers again). The
team server keeps each user's batch in the store (``addin.web.stored_unfinished``):
held by the instance whose coalescer cut it, confirmed through any other, with what
became of each of its numbers (submitted, declined, failed) for the cells that ask
the other instances. Both are a :class:`HeldBook`.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from addin.engine.planning import Plan
from addin.web.coalescer import Lookup


@dataclass(frozen=True)
class HeldBatch:
    """A look-up batch held for confirmation: its numbers and the estimate last shown."""

    batch_id: str
    numbers: tuple[str, ...]
    plan: dict[str, Any]
    #: 1 when held, +1 each time another batch joins it.
    version: int
    #: The engine generation it was planned with; a changed API key voids it.
    generation: str

    def as_dict(self) -> dict[str, Any]:
        """Return what the task pane shows (the numbers themselves stay here)."""
        return {
            "batch_id": self.batch_id,
            "version": self.version,
            "numbers": len(self.numbers),
            "plan": self.plan,
        }


class HeldBatchGoneError(LookupError):
    """No held batch has that id (confirmed or cancelled already, or the backend restarted)."""


class HeldBatchChangedError(RuntimeError):
    """More look-ups joined the batch since the user saw it: show the new estimate first."""

    def __init__(self, batch: HeldBatch) -> None:
        """Keep the batch as it is now."""
        super().__init__(f"the batch grew to version {batch.version}")
        self.batch = batch


class HeldBook(Protocol):
    """At most one held batch of one person."""

    def current(self) -> HeldBatch | None:
        """Return the held batch, or None."""
        ...

    def hold_or_plan(
        self,
        numbers: list[str],
        plan: Callable[[list[str]], Plan],
        *,
        threshold: int,
        generation: str,
    ) -> Plan | None:
        """Return the plan to submit ``numbers`` now, or None when they are held."""
        ...

    def take(self, batch_id: str, version: int | None = None) -> HeldBatch:
        """Remove and return the batch; ``version`` must be the one the user saw."""
        ...

    def clear(self) -> HeldBatch | None:
        """Drop the held batch (the vendor realm changed) and return it."""
        ...

    def record_outcome(self, numbers: Iterable[str], outcome: Lookup, *, generation: str) -> None:
        """Remember what became of a taken batch's numbers (submitted, declined, failed).

        ``generation``: the batch's; only asked for in the same one (a changed key
        voids it).
        """
        ...

    def outcomes(self, numbers: Iterable[str], *, generation: str) -> dict[str, Lookup]:
        """Return the remembered outcome of each of ``numbers`` that has one.

        An outcome in state :data:`ASKED_AGAIN` says that a cell asked for the number
        again since: what an instance remembers of its batch no longer holds.
        """
        ...

    def forget_outcomes(self, numbers: Iterable[str]) -> None:
        """Mark the outcomes of ``numbers`` :data:`ASKED_AGAIN` (a cell asked anew)."""
        ...


#: The stored outcome of a number a cell asked for again after its batch was settled
#: (``forget_outcomes``): the outcome no longer holds, on any instance.
ASKED_AGAIN = "asked"


def joined_numbers(held: HeldBatch, numbers: list[str]) -> list[str] | None:
    """Return the held batch's numbers with ``numbers`` joined; None when it holds them all."""
    merged = list(dict.fromkeys([*held.numbers, *numbers]))
    return None if len(merged) == len(held.numbers) else merged


def new_batch_id() -> str:
    """Return an unguessable batch id."""
    return secrets.token_urlsafe(12)


class HeldLookups:
    """At most one held batch, thread-safe (the coalescer's worker and requests share it)."""

    def __init__(self) -> None:
        """Hold nothing yet."""
        self._lock = threading.Lock()
        self._batch: HeldBatch | None = None

    def current(self) -> HeldBatch | None:
        """Return the held batch, or None."""
        with self._lock:
            return self._batch

    def hold_or_plan(
        self,
        numbers: list[str],
        plan: Callable[[list[str]], Plan],
        *,
        threshold: int,
        generation: str,
    ) -> Plan | None:
        """Return the plan to submit ``numbers`` now, or None when they are held.

        They are held when a batch is held already (they join it; numbers it holds
        already change nothing) or when their plan uploads more than ``threshold``
        numbers.
        """
        with self._lock:
            held = self._batch
            if held is not None and held.generation == generation:
                merged = joined_numbers(held, numbers)
                if merged is None:
                    return None
                self._batch = HeldBatch(
                    held.batch_id,
                    tuple(merged),
                    plan(merged).summary(),
                    held.version + 1,
                    generation,
                )
                return None
            planned = plan(numbers)
            if not planned.needs_confirmation(threshold):
                return planned
            self._batch = HeldBatch(
                new_batch_id(), tuple(numbers), planned.summary(), 1, generation
            )
            return None

    def take(self, batch_id: str, version: int | None = None) -> HeldBatch:
        """Remove and return the batch; ``version`` must be the one the user saw.

        Raises ``HeldBatchGoneError`` for an unknown id and ``HeldBatchChangedError``
        (the batch stays held) when it has grown since.
        """
        with self._lock:
            held = self._batch
            if held is None or not secrets.compare_digest(held.batch_id, batch_id):
                raise HeldBatchGoneError(batch_id)
            if version is not None and version != held.version:
                raise HeldBatchChangedError(held)
            self._batch = None
            return held

    def clear(self) -> HeldBatch | None:
        """Drop the held batch (the vendor realm changed) and return it."""
        with self._lock:
            held, self._batch = self._batch, None
            return held

    # One backend, one coalescer: the coalescer that settled a batch is the only one
    # its cells ask, and it keeps the outcome itself (``LookupCoalescer.settle``).

    def record_outcome(self, numbers: Iterable[str], outcome: Lookup, *, generation: str) -> None:
        """Nothing to share: the local coalescer keeps the outcome."""

    def outcomes(self, numbers: Iterable[str], *, generation: str) -> dict[str, Lookup]:
        """Return nothing: no other coalescer can have settled these numbers."""
        return {}

    def forget_outcomes(self, numbers: Iterable[str]) -> None:
        """Nothing to forget (see :meth:`record_outcome`)."""
