"""The result cache: one yes/no/ban answer per (realm, product, E.164), reused while fresh."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from addin.engine.store.database import FIRST_PRODUCT, Database, chunks

#: PostgreSQL: the fresh answers of many numbers in one statement, one index look-up per
#: number. (900 numbers to an ``IN`` list, planned without statistics on a cache that was
#: just filled, or by a generic plan once psycopg prepares the statement, compare every
#: number with every cached row of the realm: seconds per statement.)
_FRESH_PG = (
    "SELECT r.e164, r.answer, r.checked_at, r.paid_by FROM unnest(?::text[]) AS v(e164)"
    " JOIN results r ON r.realm = ? AND r.product = ? AND r.e164 = v.e164"
    " WHERE r.checked_at >= ?"
)


def fresh_answers(
    run: Callable[[str, Sequence[Any]], Iterable[Any]],
    numbers: Sequence[str],
    *,
    realm: str,
    product: str,
    oldest: float,
    postgres: bool,
) -> Iterator[Any]:
    """Yield (e164, answer, checked_at, paid_by) of the cached answers checked since ``oldest``.

    ``run`` is ``Database.read`` or a transaction's ``execute``; SQLite takes the numbers
    900 to a statement (its cap on bound parameters), PostgreSQL all in one array.
    """
    if postgres:
        if numbers:
            yield from run(_FRESH_PG, (list(numbers), realm, product, oldest))
        return
    for chunk in chunks(numbers, 900):
        marks = ",".join("?" * len(chunk))
        yield from run(
            "SELECT e164, answer, checked_at, paid_by FROM results WHERE realm = ?"  # noqa: S608
            f" AND product = ? AND checked_at >= ? AND e164 IN ({marks})",
            (realm, product, oldest, *chunk),
        )


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
        found: dict[str, tuple[str, float]] = {}
        rows = fresh_answers(
            self.read,
            list(numbers),
            realm=realm,
            product=product,
            oldest=now - max_age,
            postgres=self.dialect == "postgresql",
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
