"""The look-up coalescer and the plans awaiting confirmation, on their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from addin.web.coalescer import (
    BUSY_SIZE,
    DEFAULT_MAX_QUIET,
    DEFAULT_MAX_WAIT,
    DEFAULT_QUIET,
    UNCONFIRMED,
    BatchWindow,
    Lookup,
    LookupCoalescer,
)
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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quiet": 2.0, "max_wait": 1.0},
        {"quiet": -1.0},
        {"quiet": 2.0, "max_quiet": 1.0},
        {"max_quiet": 40.0, "max_wait": 30.0},
        {"max_batch": 0},
    ],
)
def test_bad_timing_refused(submissions: Submissions, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"quiet|max_batch"):
        LookupCoalescer(submissions, **kwargs)  # type: ignore[arg-type]


# -- the batching rule, on a hand-moved clock ---------------------------------------


class HandClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        """Start at zero."""
        self.now = 0.0

    def __call__(self) -> float:
        """Return the time."""
        return self.now


def window() -> BatchWindow:
    """Return a batch window with the production timing."""
    return BatchWindow(quiet=DEFAULT_QUIET, max_quiet=DEFAULT_MAX_QUIET, max_wait=DEFAULT_MAX_WAIT)


def test_a_cell_alone_is_due_after_the_shortest_quiet() -> None:
    batch = window()
    assert batch.arrive(10.0, ["+41798000001"])
    assert batch.due_at() == 10.0 + DEFAULT_QUIET


def test_arrivals_in_steps_stretch_the_quiet_up_to_its_cap() -> None:
    batch = window()
    batch.arrive(0.0, ["+41798000001"])
    batch.arrive(2.0, ["+41798000002"])  # a step of 2 s: wait 4 s of quiet for the next
    assert batch.due_at() == 2.0 + 4.0
    batch.arrive(6.0, ["+41798000003"])  # 4 s: the quiet is capped
    assert batch.due_at() == 6.0 + DEFAULT_MAX_QUIET
    # Numbers already in the batch are no arrival.
    assert not batch.arrive(9.0, ["+41798000003"])
    assert batch.due_at() == 6.0 + DEFAULT_MAX_QUIET


def test_a_large_batch_waits_longer_for_more() -> None:
    batch = window()
    batch.arrive(0.0, [f"+417980{n:05d}" for n in range(BUSY_SIZE // 2)])
    assert batch.due_at() == pytest.approx(DEFAULT_MAX_QUIET / 2)
    batch.arrive(0.1, [f"+417981{n:05d}" for n in range(BUSY_SIZE)])
    assert batch.due_at() == pytest.approx(0.1 + DEFAULT_MAX_QUIET)


def test_a_steady_stream_is_due_at_the_longest_hold() -> None:
    batch = window()
    for step in range(400):
        batch.arrive(step * 0.1, [f"+417980{step:05d}"])
    assert batch.due_at() == DEFAULT_MAX_WAIT
    assert len(batch.take()) == 400
    assert batch.numbers == {}


def trickle(queue: LookupCoalescer, clock: HandClock, cells: int, seconds: float, every: float):
    """Queue ``cells`` numbers in requests ``every`` seconds apart over ``seconds``."""
    requests_sent = round(seconds / every)
    per_request = -(-cells // requests_sent)
    for index in range(requests_sent):
        clock.now = index * every
        first = index * per_request
        queue.add(f"+417980{n:05d}" for n in range(first, min(cells, first + per_request)))


def submitted(submissions: Submissions) -> int:
    """Return how many numbers were submitted so far."""
    with submissions.lock:
        return sum(len(batch) for batch in submissions.batches)


@pytest.mark.parametrize("every", [0.1, 1.0, 3.0], ids=["recalculation", "js-batches", "steps"])
def test_ten_thousand_cells_over_30_seconds_make_at_most_two_jobs(
    submissions: Submissions, every: float
) -> None:
    clock = HandClock()
    queue = LookupCoalescer(submissions, clock=clock)
    try:
        trickle(queue, clock, 10_000, 30.0, every)
        clock.now += 60.0
        wait_for(lambda: submitted(submissions) == 10_000)
        assert 1 <= len(submissions.batches) <= 2
    finally:
        queue.close()


def test_a_cell_typed_alone_goes_after_a_second_of_quiet(submissions: Submissions) -> None:
    clock = HandClock()
    queue = LookupCoalescer(submissions, clock=clock)
    try:
        queue.add(["+41798000001"])
        clock.now = DEFAULT_QUIET - 0.01
        queue.add([])  # a request of cached cells only: no arrival
        assert submissions.batches == []
        clock.now = DEFAULT_QUIET
        wait_for(lambda: submissions.batches)
        assert submissions.batches == [["+41798000001"]]
        # The next cell, typed a while later, is not held for the first one's company.
        clock.now = 10.0
        queue.add(["+41798000002"])
        clock.now = 10.0 + DEFAULT_QUIET
        wait_for(lambda: len(submissions.batches) == 2)
        assert submissions.batches[1] == ["+41798000002"]
    finally:
        queue.close()


def test_a_full_batch_goes_at_once(submissions: Submissions) -> None:
    clock = HandClock()
    queue = LookupCoalescer(submissions, clock=clock, max_batch=100)
    try:
        queue.add(f"+417980{n:05d}" for n in range(150))
        wait_for(lambda: submissions.batches)
        assert len(submissions.batches[0]) == 150  # one arrival is never split
        queue.add(f"+417981{n:05d}" for n in range(60))
        queue.add(f"+417981{n:05d}" for n in range(60, 120))
        wait_for(lambda: len(submissions.batches) == 2)
        assert len(submissions.batches[1]) == 120
        assert clock.now == 0.0  # nobody waited
    finally:
        queue.close()


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


def test_another_instances_outcome_is_adopted_unless_submitted_here_and_forgotten_when_asked() -> (
    None
):
    queue = LookupCoalescer(lambda numbers: None, quiet=30.0, max_wait=60.0)
    try:
        queue.add(["+41798000001", "+41798000002"])  # queued, not cut for 30 s
        declined = Lookup("declined", reason="cancelled in the task pane")
        queue.adopt({"+41798000001": declined, "+41798000009": declined})
        assert queue.lookup("+41798000001") == declined  # queued here, settled elsewhere
        assert queue.lookup("+41798000009") == declined  # never heard of here
        assert queue.lookup("+41798000002") is not None
        queue.settle(["+41798000002"], Lookup("submitted", job_id="job-1"))
        queue.adopt({"+41798000002": declined})
        # Submitted here: its job is followed, whatever another instance says later.
        assert queue.lookup("+41798000002") == Lookup("submitted", job_id="job-1")
        # Asked again through another instance: the declined ones are forgotten only.
        queue.forget(["+41798000001", "+41798000002", "+41798000009"])
        assert queue.lookup("+41798000001") is None
        assert queue.lookup("+41798000009") is None
        assert queue.lookup("+41798000002") == Lookup("submitted", job_id="job-1")
    finally:
        queue.close()
