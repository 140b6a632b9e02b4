"""The pace history of a realm in the store (SQLite and PostgreSQL): written, replaced, read."""

from __future__ import annotations

from addin.engine.store import Store
from addin.upstream.polling import PaceHistory
from tests.engine.store.conftest import REALM, FakeClock


def test_a_realm_never_seen_has_no_history(store: Store) -> None:
    assert store.pace_history(REALM) is None


def test_a_history_is_stored_per_realm_and_replaced(store: Store, clock: FakeClock) -> None:
    store.record_pace_history(REALM, PaceHistory(12.5, 1))
    store.record_pace_history("other", PaceHistory(3.0, 7))
    clock.advance(60)
    store.record_pace_history(REALM, PaceHistory(20.25, 2))
    assert store.pace_history(REALM) == PaceHistory(20.25, 2)
    assert store.pace_history("other") == PaceHistory(3.0, 7)
    rows = store.read("SELECT realm, updated_at FROM pace_history ORDER BY realm")
    assert [(r[0], float(r[1])) for r in rows] == [("other", clock() - 60), (REALM, clock())]


def test_a_row_no_answer_could_have_written_is_ignored(store: Store) -> None:
    store.record_pace_history(REALM, PaceHistory(12.5, 1))
    with store.transaction() as db:
        db.execute("UPDATE pace_history SET top_rate = ?, tasks = ?", (-1.0, 3))
    # Edited by hand into nonsense: the schedule starts afresh, as for a new vendor.
    assert store.pace_history(REALM) is None
    store.record_pace_history(REALM, PaceHistory(4.0, 1))
    assert store.pace_history(REALM) == PaceHistory(4.0, 1)
