"""The look-up coalescer and the plans awaiting confirmation, on their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from addin.engine.planning import Plan
from addin.web.coalescer import UNCONFIRMED, Lookup, LookupCoalescer
from addin.web.pending_plans import PendingPlans
from tests.web.engine_app import wait_for


class Submissions:
    """A submit function that records its batches (and can be told to fail)."""

    def __init__(self, *, fail: bool = False) -> None:
        """Start with no batch."""
        self.batches: list[list[str]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, numbers: list[str]) -> str:
        """Record ``numbers`` and return a job id, or raise."""
        if self.fail:
            raise RuntimeError("the store is locked")
        with self.lock:
            self.batches.append(numbers)
            return f"job-{len(self.batches)}"


@pytest.fixture
def submissions() -> Submissions:
    """A recording submit function."""
    return Submissions()


@pytest.fixture
def coalescer(submissions: Submissions) -> Iterator[LookupCoalescer]:
    """A coalescer with a short quiet window, closed afterwards."""
    queue = LookupCoalescer(submissions, quiet=0.2, max_wait=5.0)
    yield queue
    queue.close()


def test_batches_close_together_make_one_job(
    coalescer: LookupCoalescer, submissions: Submissions
) -> None:
    for start in range(0, 100, 10):
        coalescer.add([f"+4179800{n:04d}" for n in range(start, start + 10)])
    coalescer.add(["+41798000000"])  # already queued
    assert coalescer.lookup("+41798000005") is not None
    assert coalescer.lookup("+41798000005").state == "queued"  # type: ignore[union-attr]
    wait_for(lambda: submissions.batches)
    assert len(submissions.batches) == 1
    assert len(submissions.batches[0]) == 100
    lookup = coalescer.lookup("+41798000005")
    assert lookup is not None
    assert (lookup.state, lookup.job_id) == ("submitted", "job-1")
    assert coalescer.lookup("+41790000000") is None


def test_a_steady_stream_is_cut_at_max_wait(submissions: Submissions) -> None:
    queue = LookupCoalescer(submissions, quiet=0.3, max_wait=0.4)
    try:
        # A new number every 50 ms for about a second never leaves 0.3 s of quiet.
        for n in range(20):
            queue.add([f"+4179800{n:04d}"])
            time.sleep(0.05)
        wait_for(lambda: sum(len(b) for b in submissions.batches) == 20)
        assert len(submissions.batches) >= 2
    finally:
        queue.close()


def test_a_failed_submit_is_recorded_for_every_number() -> None:
    queue = LookupCoalescer(Submissions(fail=True), quiet=0.0, max_wait=0.0)
    try:
        queue.add(["+41798000001", "+41798000002"])
        lookup = wait_for(
            lambda: (found := queue.lookup("+41798000002")) and found.state == "failed" and found
        )
        assert "the store is locked" in lookup.reason
        # The worker survives and takes the next numbers.
        queue.add(["+41798000003"])
        wait_for(lambda: queue.lookup("+41798000003").state == "failed")  # type: ignore[union-attr]
    finally:
        queue.close()


def test_forget_all_drops_queue_and_records(
    coalescer: LookupCoalescer, submissions: Submissions
) -> None:
    coalescer.add(["+41798000001"])
    wait_for(lambda: submissions.batches)
    coalescer.forget_all()
    assert coalescer.lookup("+41798000001") is None


def test_closed_coalescer_refuses_numbers(submissions: Submissions) -> None:
    queue = LookupCoalescer(submissions)
    queue.close()
    with pytest.raises(RuntimeError, match="closed"):
        queue.add(["+41798000001"])


def test_bad_timing_refused(submissions: Submissions) -> None:
    with pytest.raises(ValueError, match="quiet"):
        LookupCoalescer(submissions, quiet=2.0, max_wait=1.0)


def small_plan() -> Plan:
    """Return a plan of one number to upload."""
    return Plan(
        rows=1,
        invalid=0,
        distinct=1,
        hits={},
        in_flight={},
        upload=["+41798000001"],
        chunk_size=10,
        refresh=False,
    )


def test_plans_expire() -> None:
    now = [0.0]
    plans = PendingPlans(ttl=900.0, clock=lambda: now[0])
    first = plans.add(small_plan(), numbers=["+41798000001"], label="S!A1", generation=0)
    now[0] = 600.0
    second = plans.add(small_plan(), numbers=["+41798000001"], label="S!A1", generation=0)
    assert len(plans) == 2
    now[0] = 901.0
    assert plans.take(first) is None
    taken = plans.take(second)
    assert taken is not None
    assert taken.label == "S!A1"
    assert plans.take(second) is None


def test_a_held_batch_is_unconfirmed_until_settled() -> None:
    """submit returning None holds the batch; settle records what the user decided."""
    release = threading.Event()
    held: list[list[str]] = []

    def hold(numbers: list[str]) -> str | None:
        """Hold every batch (as above the confirmation threshold)."""
        held.append(numbers)
        release.wait(10)
        return None

    queue = LookupCoalescer(hold, quiet=0.05, max_wait=1.0)
    try:
        queue.add(["+41798000001", "+41798000002"])
        wait_for(lambda: held)
        # Confirmed before the worker recorded the batch as held: the confirmation wins.
        queue.settle(["+41798000001"], Lookup("submitted", job_id="job-9"))
        release.set()
        wait_for(lambda: queue.lookup("+41798000002") == UNCONFIRMED)
        assert queue.lookup("+41798000001") == Lookup("submitted", job_id="job-9")
        assert queue.jobs_submitted == 0
        # Held numbers are not queued again by a recalculation.
        queue.add(["+41798000002"])
        assert queue.lookup("+41798000002") == UNCONFIRMED
        queue.settle(["+41798000002"], Lookup("declined", reason="cancelled"))
        assert queue.lookup("+41798000002") == Lookup("declined", reason="cancelled")
        # settle touches only numbers still waiting for the user's word.
        queue.settle(["+41798000001", "+41798000003"], Lookup("declined", reason="late"))
        assert queue.lookup("+41798000001") == Lookup("submitted", job_id="job-9")
        assert queue.lookup("+41798000003") is None
    finally:
        release.set()
        queue.close()
