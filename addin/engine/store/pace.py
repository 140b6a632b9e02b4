"""What earlier tasks of a realm showed of the vendor's pace: one ``pace_history`` row per realm.

The poll schedule (``addin.upstream.polling.PaceHistory``) reads it when a task's
polling begins and rewrites it as that task's answers come back, so the next task
of the same vendor starts from what the vendor was seen to do.
"""

from __future__ import annotations

from addin.engine.store.database import Database
from addin.upstream.polling import PaceHistory


class PaceTable(Database):
    """The ``pace_history`` table."""

    def pace_history(self, realm: str) -> PaceHistory | None:
        """Return what earlier tasks of ``realm`` showed, or None for a vendor never seen."""
        rows = self.read(
            "SELECT top_rate, tasks FROM pace_history WHERE realm = ?",
            (realm,),
        )
        if not rows:
            return None
        top_rate, tasks = rows[0]
        try:
            return PaceHistory(float(top_rate), int(tasks))
        except (TypeError, ValueError):
            # A row no answer could have written (edited by hand): start afresh.
            return None

    def record_pace_history(self, realm: str, history: PaceHistory) -> None:
        """Store ``history`` as what ``realm`` showed so far (replacing the row)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO pace_history (realm, top_rate, tasks, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (realm) DO UPDATE SET"
                " top_rate = excluded.top_rate, tasks = excluded.tasks,"
                " updated_at = excluded.updated_at",
                (realm, history.top_rate, history.tasks, self.clock()),
            )
