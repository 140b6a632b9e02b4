"""The request ledger: one record per vendor request outcome, summed per task, job and realm."""

from __future__ import annotations

from addin.engine.store import Billed
from addin.upstream.accounting import Billing, RequestOutcome
from tests.engine.store.conftest import KEY, REALM, Desk, numbers

BILLED = RequestOutcome("create", Billing.BILLED, 200, "")
POSSIBLY = RequestOutcome("create", Billing.POSSIBLY, None, "read timeout")
FREE = RequestOutcome("poll", Billing.FREE, 500, "server error")


def test_record_request_stores_every_field(desk: Desk) -> None:
    ref = desk.only_task(desk.job(numbers(1)).job_id).ref
    desk.store.record_request(
        RequestOutcome("poll", Billing.BILLED, 200, "x" * 900), realm=REALM, key_fp=KEY, ref=ref
    )
    (row,) = desk.store.read(
        "SELECT at, realm, key_fp, ref, kind, billing, status, detail, count FROM requests"
    )
    assert tuple(row) == (desk.clock.now, REALM, KEY, ref, "poll", "billed", 200, "x" * 500, 1)


def test_sums_by_task_job_and_realm(desk: Desk) -> None:
    job = desk.job(numbers(2), chunk_size=1)
    a, b = desk.store.job_tasks(job.job_id)
    other = desk.only_task(desk.job(numbers(1, 5)).job_id)
    for outcome, ref in [
        (BILLED, a.ref),
        (BILLED, a.ref),
        (POSSIBLY, a.ref),
        (FREE, a.ref),
        (BILLED, b.ref),
        (BILLED, other.ref),
    ]:
        desk.store.record_request(outcome, realm=REALM, key_fp=KEY, ref=ref)
    desk.store.record_request(POSSIBLY, realm="elsewhere", key_fp=None, ref=None)
    assert desk.store.task_billing(a.ref) == Billed(billed=2, possibly=1)
    assert desk.store.task_billing(b.ref) == Billed(billed=1, possibly=0)
    assert desk.store.job_billing(job.job_id) == Billed(billed=3, possibly=1)
    assert desk.store.realm_billing(REALM) == Billed(billed=4, possibly=1)
    assert desk.store.realm_billing("elsewhere") == Billed(billed=0, possibly=1)


def test_nothing_recorded_sums_to_zero(desk: Desk) -> None:
    assert desk.store.task_billing(1) == Billed()
    assert desk.store.job_billing("nope") == Billed(0, 0)
    assert desk.store.realm_billing(REALM) == Billed()


def test_a_joining_job_is_not_billed_for_the_task_it_joined(desk: Desk) -> None:
    first = desk.job(numbers(1))
    desk.store.record_request(BILLED, realm=REALM, key_fp=KEY, ref=desk.only_task(first.job_id).ref)
    second = desk.job(numbers(1))
    assert second.joined == 1
    assert desk.store.job_billing(second.job_id) == Billed()
