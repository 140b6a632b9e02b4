"""The result cache: one yes/no/ban answer per (realm, product, E.164), reused while fresh."""

from __future__ import annotations

from collections.abc import Iterable

from addin.engine.store.database import FIRST_PRODUCT, Database, chunks


class ResultCache(Database):
    """Cached answers; errors are never cached, so a later run asks again."""

    def cached(
        self,
        realm: str,
        numbers: Iterable[str],
        *,
        max_age: float,
        now: float | None = None,
        product: str = FIRST_PRODUCT,
        payers: dict[str, str] | None = None,
    ) -> dict[str, tuple[str, float]]:
        """Return {e164: (answer, checked_at)} for fresh cache entries of ``product``.

        ``payers``, when given, is filled with {e164: the user who paid} for the entries
        whose payer is known (``results.paid_by``: a team server's job bought them).
        """
        now = self.clock() if now is None else now
        oldest = now - max_age
        found: dict[str, tuple[str, float]] = {}
        for chunk in chunks(list(numbers), 900):
            marks = ",".join("?" * len(chunk))
            rows = self.read(
                f"SELECT e164, answer, checked_at, paid_by FROM results WHERE realm = ? "  # noqa: S608
                f"AND product = ? AND checked_at >= ? AND e164 IN ({marks})",
                (realm, product, oldest, *chunk),
            )
            for row in rows:
                found[row[0]] = (row[1], row[2])
                if payers is not None and row[3] is not None:
                    payers[row[0]] = row[3]
        return found

    def clear_cache(self, realm: str | None = None) -> int:
        """Delete cached answers (of one realm, or all) and return how many."""
        with self.transaction() as db:
            if realm is None:
                return db.execute("DELETE FROM results").rowcount
            return db.execute("DELETE FROM results WHERE realm = ?", (realm,)).rowcount
