"""NormalizerPool: large batches shared with warm workers, the same answers as in the caller."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from addin.engine.normalizer_pool import NormalizerPool, server_workers, warm_up
from addin.engine.phones import normalize_many, normalize_once
from tests.engine import phonenumbers_probe as probe
from tests.engine.test_distinct_cells import ODD_CELLS


@pytest.fixture(scope="module")
def values() -> list[object]:
    """The seeded global sample, its cells of every other type, and repeats."""
    cells: list[object] = [value for value, _ in probe.sample()]
    return [*cells, *ODD_CELLS, *reversed(cells)]


@pytest.fixture(scope="module")
def pool() -> Iterator[NormalizerPool]:
    """One warm worker that takes a share of every batch of 100 cells or more."""
    with NormalizerPool(1, parallel_from=100) as pool:
        assert pool.wait_until_warm(120), "the worker did not warm up within 2 minutes"
        yield pool


def test_a_shared_batch_gives_every_cell_as_normalised_alone(
    pool: NormalizerPool, values: list[object]
) -> None:
    """Every region's numbers in every notation, junk and odd types: the caller's answers."""
    for region in ("US", "CH", None):
        before = pool.cells_shared
        shared = pool.normalize(values, region)
        assert pool.running
        assert pool.cells_shared > before, "the worker took no piece"
        assert shared == [normalize_once(value, region) for value in values]


def test_a_batch_of_any_length_is_split_without_losing_a_cell(pool: NormalizerPool) -> None:
    """Lengths that do not divide evenly between the caller and the worker."""
    cells = [f"+4179{n:07d}" for n in range(101)] + ["x", None, 41798284651.0]
    for length in (100, 101, 103, 104):
        assert pool.normalize(cells[:length], "CH") == normalize_many(cells[:length], "CH")


def test_an_unknown_region_is_refused_before_anything_is_sent(pool: NormalizerPool) -> None:
    """A caller's mistake, as for phones.normalize."""
    with pytest.raises(ValueError, match="region"):
        pool.normalize(["+41798284651"] * 200, "XX")


def test_a_worker_that_dies_leaves_its_share_to_the_caller(values: list[object]) -> None:
    """Its share is normalised in the caller, and later batches stay there."""
    with NormalizerPool(1, parallel_from=100) as pool:
        assert pool.wait_until_warm(120)
        executor = pool._pool
        assert executor is not None
        for pid in list(executor._processes):  # the worker's process id, to kill it
            os.kill(pid, signal.SIGKILL)
        expected = [normalize_once(value, "US") for value in values]
        # The pool learns of the death when a piece fails or can no longer be sent.
        deadline = time.monotonic() + 30
        while pool.running and time.monotonic() < deadline:
            assert pool.normalize(values, "US") == expected
            time.sleep(0.1)
        assert not pool.running
        assert pool.normalize(values, "US") == expected


def test_no_workers_means_no_process(values: list[object]) -> None:
    """workers=0 (the default of an app not made by fbcheck serve) starts nothing."""
    with NormalizerPool(0, parallel_from=1) as pool:
        assert not pool.running
        assert pool.wait_until_warm(0)
        assert pool.normalize(values, "US") == normalize_many(values, "US")


def test_after_close_batches_are_normalised_in_the_caller() -> None:
    """close() is idempotent; the pool still answers, without processes."""
    pool = NormalizerPool(1, parallel_from=1)
    pool.close()
    pool.close()
    assert not pool.running
    assert pool.normalize(["+41798284651", "x"], "CH") == normalize_many(
        ["+41798284651", "x"], "CH"
    )


def test_server_workers_leave_a_core_to_the_server() -> None:
    """One per core but one (at most three); a configured count wins, never negative."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert server_workers(None) == max(0, min(3, (cores or 1) - 1))
    assert server_workers(0) == 0
    assert server_workers(5) == 5
    assert server_workers(-1) == 0


def test_warm_up_normalises_an_example_of_every_region() -> None:
    """Every region and non-geographic code contributes its examples."""
    import phonenumbers

    regions = len(phonenumbers.SUPPORTED_REGIONS) + len(
        phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    )
    assert warm_up() > regions


PARENT = """
import sys
from addin.engine.normalizer_pool import NormalizerPool
pool = NormalizerPool(2, parallel_from=10)
assert pool.wait_until_warm(120)
print(" ".join(str(pid) for pid in pool._pool._processes), flush=True)  # type: ignore[union-attr]
sys.stdin.read()  # until killed
"""


def test_the_workers_of_a_backend_killed_with_sigkill_exit_too() -> None:
    # A backend killed with SIGKILL closes nothing; its warm workers must not outlive it.
    with subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            workers = [int(pid) for pid in parent.stdout.readline().split()]
            assert len(workers) == 2, workers
            assert all(alive(pid) for pid in workers)
        finally:
            parent.kill()
            parent.wait(30)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # do not leave them behind when the test fails
    assert left == [], "workers outlived the backend killed with SIGKILL"


def alive(pid: int) -> bool:
    """Return True while process ``pid`` runs (a zombie or a reaped one is not running)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
