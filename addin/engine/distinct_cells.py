"""Each distinct cell of an input normalised once, in worker processes when that pays.

A file of a million rows holds far fewer distinct cells (repeats, blank and junk rows),
and normalising a distinct cell of numbers from anywhere in the world costs about
10 µs, nearly all of it phonenumbers' validity check. :class:`DistinctCells` keeps
one result per distinct cell, counts the rows, and remembers which distinct cell each
row held (4 bytes a row), so the output is written from one line per distinct cell
(or, where a row's other columns are needed, from a second pass over the input that
looks each row up) instead of holding the rows. A cell is first cleaned
(``phones.cleaned``: cheap, and junk is answered there); cells that clean to the same
text (``+41 79 828 46 51`` and ``+41798284651``) are read once (``phones.read_clean``).

The first :data:`POOL_FROM` distinct cleaned texts are read in this process: below that
the worker processes cost more to start (a fresh interpreter importing phonenumbers,
and its metadata loaded again as regions are met) than they save; ``bench/pipeline.py
--break-even`` measures it. Beyond it, cells go in chunks to ``workers`` processes
(``spawn``, the same on every platform, and safe in a process that runs threads) while
this process goes on reading and cleaning, and the results are put back in place. By
default there are two workers, none on one core or while the load average says no core
is free (a worker competing for a busy core only adds its start-up). A worker runs
the very same ``phones.read_clean``, so the answers are identical either way.
"""

from __future__ import annotations

import multiprocessing
import os
from array import array
from collections import deque
from collections.abc import Hashable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from addin.closing import ClosedOnExit
from addin.engine.phones import Normalized, cleaned, read_clean, validate_region

__all__ = ["CHUNK", "POOL_FROM", "DistinctCells", "default_workers"]

#: Distinct cells normalised in this process before the workers start (break-even).
POOL_FROM = 30_000
#: Distinct cells per chunk sent to a worker.
CHUNK = 5_000
#: Chunks waiting in the workers at most, per worker (bounds the memory in flight).
_IN_FLIGHT_PER_WORKER = 4
#: The most worker processes used (the work is one pass over the input).
MAX_WORKERS = 2

Outcome = tuple[str | None, str | None]


def default_workers() -> int:
    """Return how many worker processes to use: up to two, none when no core is free.

    A worker only pays on a core nothing else needs: on one core, or while the load
    average says the cores are busy (a shared machine), the work stays in this process.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not offered by this system (Windows)
        busy = 0.0
    if cores < 2 or cores - busy < 0.5:
        return 0
    return min(cores, MAX_WORKERS)


def _normalize_chunk(cells: list[str], region: str | None) -> list[Outcome]:
    """Read a chunk of cleaned cells in a worker; return (e164, reason) per cell."""
    results = []
    for cell in cells:
        result = read_clean(cell, region)
        results.append((result.e164, result.reason))
    return results


def _key(value: object) -> Hashable:
    """Return the memo key of a cell: text as it is, other values with their type.

    ``1 == 1.0 == True`` in Python, but TRUE in a cell is not the number 1.
    """
    if type(value) is str:
        return value
    try:
        hash(value)
    except TypeError:
        return (type(value), repr(value))
    return (type(value), value)


class DistinctCells(ClosedOnExit):
    """The distinct cells of one input, each normalised once, and which one each row held."""

    def __init__(
        self,
        region: str | None,
        *,
        workers: int | None = None,
        pool_from: int = POOL_FROM,
        chunk: int = CHUNK,
    ) -> None:
        """Normalise national numbers in ``region``; ``workers=0`` never starts a process."""
        self.region = None if region is None else validate_region(region)
        self.workers = default_workers() if workers is None else max(0, workers)
        self.pool_from = max(0, pool_from)
        self.chunk = max(1, chunk)
        self._index: dict[Hashable, int] = {}
        #: The first value seen of each distinct cell (equal keys show alike).
        self._values: list[object] = []
        self._outcomes: list[Outcome | None] = []
        self._counts: list[int] = []
        #: The first distinct cell of each cleaned text (one number in several notations).
        self._by_clean: dict[str, int] = {}
        #: (index, first index) of cells whose cleaned text an earlier cell had.
        self._same_as: list[tuple[int, int]] = []
        #: The distinct cell of each row, in row order.
        self.rows = array("L")
        self._batch: list[str] = []
        self._batch_index: list[int] = []
        self._pool: ProcessPoolExecutor | None = None
        self._in_flight: deque[tuple[list[int], list[str], Future[list[Outcome]]]] = deque()
        self._finished = False
        #: True once some cells went to worker processes.
        self.used_workers = False

    # -- first pass: every row ------------------------------------------------------

    def add(self, value: object) -> int:
        """Count one row holding ``value``; return the index of its distinct cell."""
        key = _key(value)
        index = self._index.get(key)
        if index is None:
            index = self._new(key, value)
        self._counts[index] += 1
        self.rows.append(index)
        return index

    def _new(self, key: Hashable, value: object) -> int:
        """Remember a distinct cell; read its cleaned text here, in a worker, or not again."""
        if self._finished:
            raise RuntimeError("DistinctCells.add after finish()")
        index = len(self._outcomes)
        self._index[key] = index
        self._values.append(value)
        self._counts.append(0)
        clean = cleaned(value)
        if isinstance(clean, Normalized):  # no number, whatever the region
            self._outcomes.append((clean.e164, clean.reason))
            return index
        first = self._by_clean.get(clean)
        if first is not None:  # the same number in another notation
            self._outcomes.append(self._outcomes[first])
            if self._outcomes[first] is None:
                self._same_as.append((index, first))
            return index
        self._by_clean[clean] = index
        if self.workers == 0 or (self._pool is None and len(self._by_clean) <= self.pool_from):
            result = read_clean(clean, self.region)
            self._outcomes.append((result.e164, result.reason))
            return index
        self._outcomes.append(None)
        self._batch.append(clean)
        self._batch_index.append(index)
        if len(self._batch) >= self.chunk:
            self._send()
        return index

    def _send(self) -> None:
        """Hand the current batch to a worker, waiting for older ones when enough wait."""
        batch, indexes = self._batch, self._batch_index
        self._batch, self._batch_index = [], []
        try:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
                )
            future = self._pool.submit(_normalize_chunk, batch, self.region)
        except (OSError, RuntimeError, BrokenProcessPool):
            # No process can be started here (limits, a sandbox): go on in this one.
            self.workers = 0
            self._normalize_here(indexes, batch)
            return
        self.used_workers = True
        self._in_flight.append((indexes, batch, future))
        while len(self._in_flight) > _IN_FLIGHT_PER_WORKER * self.workers:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        """Wait for the oldest chunk and put its results in place."""
        indexes, batch, future = self._in_flight.popleft()
        try:
            outcomes = future.result()
        except (OSError, BrokenProcessPool):
            # A worker died (killed, out of memory): its chunk is normalised here.
            self._normalize_here(indexes, batch)
            return
        for index, outcome in zip(indexes, outcomes, strict=True):
            self._outcomes[index] = outcome

    def _normalize_here(self, indexes: list[int], batch: list[str]) -> None:
        """Read a batch of cleaned cells in this process and put the results in place."""
        for index, clean in zip(indexes, batch, strict=True):
            result = read_clean(clean, self.region)
            self._outcomes[index] = (result.e164, result.reason)

    def finish(self) -> None:
        """Wait for every result (the last partial chunk is normalised here) and stop workers."""
        if self._finished:
            return
        if self._batch:
            self._normalize_here(self._batch_index, self._batch)
            self._batch, self._batch_index = [], []
        try:
            while self._in_flight:
                self._collect_oldest()
        finally:
            self.close()
        for index, first in self._same_as:
            self._outcomes[index] = self._outcomes[first]
        self._same_as.clear()
        self._by_clean.clear()
        self._finished = True

    def close(self) -> None:
        """Stop the worker processes (idempotent); unfinished results are lost."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._in_flight.clear()

    # -- after finish(): the figures and the second pass ------------------------------

    def __len__(self) -> int:
        """Return how many distinct cells were seen."""
        return len(self._outcomes)

    def outcome(self, index: int) -> Outcome:
        """Return (e164, reason) of distinct cell ``index``."""
        outcome = self._outcomes[index]
        if outcome is None:
            raise RuntimeError("DistinctCells.outcome before finish()")
        return outcome

    def result(self, index: int) -> Normalized:
        """Return the normalised result of distinct cell ``index``."""
        e164, reason = self.outcome(index)
        return Normalized(e164=e164, reason=reason)

    def value(self, index: int) -> object:
        """Return the value of distinct cell ``index`` (the first row's that held it)."""
        return self._values[index]

    def count(self, index: int) -> int:
        """Return how many rows held distinct cell ``index``."""
        return self._counts[index]

    def index_of(self, value: object) -> int | None:
        """Return the index of the distinct cell ``value``, or None if no row held it."""
        return self._index.get(_key(value))

    def invalid_rows(self) -> int:
        """Return how many rows hold no valid number."""
        return sum(
            count
            for count, outcome in zip(self._counts, self._outcomes, strict=True)
            if outcome is None or outcome[0] is None
        )

    def numbers(self) -> list[str]:
        """Return the distinct valid E.164 numbers, in the order rows first held them."""
        return list(
            dict.fromkeys(
                outcome[0] for outcome in self._outcomes if outcome is not None and outcome[0]
            )
        )
