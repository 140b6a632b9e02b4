"""Turn a pile of inputs into the fewest billed requests, and say what it will cost first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from addin.engine.chunking import balanced_chunks, chunk_count
from addin.engine.store import Store
from addin.engine.store.tasks import paid_by_others

#: A typical task costs its create plus a handful of adaptive polls (see
#: ``addin.upstream.polling``); used only for the printed estimate.
TYPICAL_POLLS_PER_TASK = 8


@dataclass(frozen=True)
class Plan:
    """What a job will do, computed before anything is billed."""

    rows: int
    invalid: int
    distinct: int
    hits: dict[str, tuple[str, float]] = field(repr=False)
    in_flight: dict[str, int] = field(repr=False)
    upload: list[str] = field(repr=False)
    chunk_size: int
    refresh: bool
    #: The fewest numbers one task may hold (the vendor's minimum; 1 for the legacy API).
    min_size: int = 1
    #: The team server's user the plan is made for (None: local mode, nobody else pays).
    user: str | None = None
    #: Of the cache hits and joined numbers, how many other users paid for (0 in local mode).
    colleagues: int = 0

    @property
    def cache_hits(self) -> int:
        """Return how many distinct numbers are answered from the cache."""
        return len(self.hits)

    @property
    def joined(self) -> int:
        """Return how many distinct numbers wait on a task another job already runs."""
        return len(self.in_flight)

    @property
    def paid_by_colleagues(self) -> int:
        """Return how many distinct numbers other users already paid for (0 in local mode).

        Cache hits their jobs bought, and numbers of open tasks their jobs created that this
        job joins: this job is not billed for them.
        """
        return self.colleagues if self.user is not None else 0

    @property
    def to_upload(self) -> int:
        """Return how many distinct numbers will be uploaded."""
        return len(self.upload)

    @property
    def tasks(self) -> int:
        """Return how many upstream tasks will be created."""
        return chunk_count(len(self.upload), minimum=self.min_size, maximum=self.chunk_size)

    @property
    def chunks(self) -> list[list[str]]:
        """Return the upload split into balanced tasks within the size bounds."""
        return balanced_chunks(self.upload, minimum=self.min_size, maximum=self.chunk_size)

    @property
    def held(self) -> int:
        """Return how many new numbers are not uploaded: fewer than the minimum of one task."""
        return len(self.upload) if self.upload and self.tasks == 0 else 0

    @property
    def billed_minimum(self) -> int:
        """Return the billed requests that are certain: one create per task, one poll each."""
        return 2 * self.tasks

    @property
    def billed_typical(self) -> int:
        """Return a typical total of billed requests for the tasks to create."""
        return self.tasks * (1 + TYPICAL_POLLS_PER_TASK)

    def summary(self) -> dict[str, Any]:
        """Return the estimate as plain JSON-ready data.

        ``paid_by_colleagues`` only in team mode (a plan made for a user).
        """
        summary: dict[str, Any] = {
            "rows": self.rows,
            "invalid": self.invalid,
            "distinct": self.distinct,
            "cache_hits": self.cache_hits,
            "in_flight": self.joined,
            "to_upload": self.to_upload,
            "tasks": self.tasks,
            "held": self.held,
            "min_task_numbers": self.min_size,
            "billed_minimum": self.billed_minimum,
            "billed_typical": self.billed_typical,
            "refresh": self.refresh,
        }
        if self.user is not None:
            summary["paid_by_colleagues"] = self.paid_by_colleagues
        return summary

    def needs_confirmation(self, threshold: int) -> bool:
        """Return True when the plan uploads more numbers than ``threshold``: ask before paying."""
        return self.to_upload > threshold


def plan_numbers(
    store: Store,
    numbers: Iterable[str],
    *,
    cache_realm: str,
    task_realm: str,
    max_age: float,
    chunk_size: int,
    refresh: bool = False,
    rows: int | None = None,
    invalid: int = 0,
    min_size: int = 1,
    product: str = "facebook",
    user: str | None = None,
) -> Plan:
    """Plan the distinct E.164 ``numbers``: cache hits, in-flight joins, uploads.

    ``rows`` and ``invalid`` only feed the estimate (the caller normalised the
    input); ``refresh`` skips the cache but still joins tasks already running,
    whose answers will be fresh anyway. ``user`` (the team server's user asking)
    also counts the numbers other users already paid for.
    """
    distinct = list(dict.fromkeys(numbers))
    payers: dict[str, str] | None = None if user is None else {}
    hits = (
        {}
        if refresh
        else store.cached(cache_realm, distinct, max_age=max_age, product=product, payers=payers)
    )
    rest = [n for n in distinct if n not in hits]
    in_flight = store.in_flight(task_realm, rest)
    upload = sorted(n for n in rest if n not in in_flight)
    colleagues = 0
    if user is not None:
        starters = store.task_starters(in_flight.values())
        colleagues = paid_by_others(user, payers or {}, in_flight, starters)
    return Plan(
        rows=len(distinct) + invalid if rows is None else rows,
        invalid=invalid,
        distinct=len(distinct),
        hits=hits,
        in_flight=in_flight,
        upload=upload,
        chunk_size=chunk_size,
        refresh=refresh,
        min_size=min_size,
        user=user,
        colleagues=colleagues,
    )


def shown_balance(balance: float) -> str:
    """Return a vendor balance as the estimate shows it: whole numbers without decimals."""
    return f"{int(balance):,}" if float(balance).is_integer() else f"{balance:,.2f}"


def balance_shortfall(balance: float, needed: int) -> str | None:
    """Return why a job must stop before billing when ``balance`` cannot pay it, else None.

    The balance's unit is not documented (requests or money), so only a balance below
    the requests that are certain to be billed (one create and one poll per task)
    clearly cannot pay.
    """
    if balance >= needed:
        return None
    return (
        f"the balance of {shown_balance(balance)} is below the {needed:,} requests this job"
        " is certain to be billed; top up the balance and run again"
    )
