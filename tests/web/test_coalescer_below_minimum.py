"""The look-up coalescer keeping numbers that are too few for one task of the vendor."""

from __future__ import annotations

import threading

from addin.web.coalescer import LookupCoalescer, Submission
from tests.web.engine_app import wait_for

MINIMUM = 5


class MinimumVendor:
    """A submit function that keeps back batches under ``MINIMUM`` numbers."""

    def __init__(self) -> None:
        """Start with no batch."""
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, numbers: list[str]) -> str | Submission:
        """Record ``numbers``; keep them back when too few, else return a job id."""
        with self.lock:
            self.batches.append(list(numbers))
            if len(numbers) < MINIMUM:
                return Submission(None, too_few=tuple(numbers), reason="too few")
            return f"job-{len(self.batches)}"


def numbers(start: int, count: int) -> list[str]:
    """Return ``count`` distinct E.164 numbers."""
    return [f"+4179800{n:04d}" for n in range(start, start + count)]


def test_too_few_numbers_wait_and_go_out_with_the_next_ones() -> None:
    vendor = MinimumVendor()
    queue = LookupCoalescer(vendor, quiet=0.05, max_wait=1.0)
    try:
        queue.add(numbers(0, 3))
        wait_for(lambda: queue.below_minimum()[0] == 3)
        assert queue.below_minimum() == (3, "too few")
        held = queue.lookup(numbers(0, 1)[0])
        assert held is not None
        assert (held.state, held.reason, held.job_id) == ("below_minimum", "too few", None)
        assert queue.jobs_submitted == 0
        queue.add(numbers(3, 2))  # together they make five: one job
        wait_for(lambda: queue.jobs_submitted == 1)
        assert sorted(vendor.batches[-1]) == numbers(0, 5)
        assert queue.below_minimum() == (0, None)
        sent = queue.lookup(numbers(0, 1)[0])
        assert sent is not None
        assert (sent.state, sent.job_id) == ("submitted", "job-2")
    finally:
        queue.close()


def test_dropping_them_tells_their_cells_why() -> None:
    vendor = MinimumVendor()
    queue = LookupCoalescer(vendor, quiet=0.05, max_wait=1.0)
    try:
        queue.add(numbers(0, 2))
        wait_for(lambda: queue.below_minimum()[0] == 2)
        assert queue.drop_below_minimum("dropped on your word") == 2
        dropped = queue.lookup(numbers(0, 1)[0])
        assert dropped is not None
        assert (dropped.state, dropped.reason) == ("failed", "dropped on your word")
        assert queue.below_minimum() == (0, None)
        assert queue.drop_below_minimum("again") == 0
        assert len(vendor.batches) == 1  # nothing was sent again by itself
    finally:
        queue.close()


def test_a_plain_job_id_still_works() -> None:
    queue = LookupCoalescer(lambda batch: "job-x", quiet=0.05, max_wait=1.0)
    try:
        queue.add(numbers(0, 1))
        wait_for(lambda: queue.jobs_submitted == 1)
        found = queue.lookup(numbers(0, 1)[0])
        assert found is not None
        assert found.job_id == "job-x"
    finally:
        queue.close()
