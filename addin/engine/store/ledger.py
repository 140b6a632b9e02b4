"""One record per vendor request outcome: what was billed, what may have been, what was free.

Billed figures shown anywhere (CLI summary, task pane, job history, account)
are sums of these records, so they match the vendor's ledger whenever its
answer came back; requests that may have been billed are counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from addin.engine.store.database import Database
from addin.upstream.accounting import Billing, RequestOutcome


@dataclass(frozen=True)
class Billed:
    """Billed and possibly billed requests of a job, a task or a realm."""

    billed: int = 0
    possibly: int = 0


class RequestLedger(Database):
    """The ``requests`` table."""

    def record_request(
        self, outcome: RequestOutcome, *, realm: str, key_fp: str | None, ref: int | None
    ) -> None:
        """Store one request outcome."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO requests (at, realm, key_fp, ref, kind, billing, status, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.clock(),
                    realm,
                    key_fp,
                    ref,
                    outcome.kind,
                    outcome.billing.value,
                    outcome.status,
                    outcome.detail[:500],
                ),
            )

    def _sum(self, where: str, params: tuple[object, ...]) -> Billed:
        """Return the billed and possibly billed counts of the records matching ``where``."""
        rows = self.read(
            "SELECT billing, COALESCE(SUM(count), 0) FROM requests WHERE "  # noqa: S608
            + where
            + " GROUP BY billing",
            params,
        )
        found = {r[0]: int(r[1]) for r in rows}
        return Billed(found.get(Billing.BILLED.value, 0), found.get(Billing.POSSIBLY.value, 0))

    def job_billing(self, job_id: str) -> Billed:
        """Return the requests spent on the tasks this job created."""
        return self._sum("ref IN (SELECT ref FROM tasks WHERE job_id = ?)", (job_id,))

    def task_billing(self, ref: int) -> Billed:
        """Return the requests spent on one task."""
        return self._sum("ref = ?", (ref,))

    def realm_billing(self, realm: str) -> Billed:
        """Return every request recorded for a realm."""
        return self._sum("realm = ?", (realm,))
