"""Many distinct cells normalised at once, shared with worker processes kept warm.

A 100,000-row selection holds about 85,000 distinct cells, and normalising them is
most of the time it takes to plan it (0.5 to 0.9 s of one core here). A backend that
lives for hours can afford what a one-off ``fbcheck check`` cannot: worker processes
started once, with the server, and warmed then (phonenumbers' metadata of every
region loaded, the validity patterns of every region's example numbers compiled), so
a batch costs only the sending. :meth:`NormalizerPool.normalize` cuts a batch of
at least :data:`PARALLEL_FROM` cells into pieces, sends all but the first to the
workers and normalises the first itself meanwhile, then takes back the pieces no
worker has started yet (cancelled, from the last), so with one worker on two idle
cores a batch takes about half the time, and a worker slowed by other programs on
its core costs little more than normalising alone (``bench/pipeline.py --selection-only``).
Smaller batches stay in the caller: sending them costs more than it saves.

A worker runs the very same ``phones.normalize_many``, so the answers are identical
either way; when no worker can be started (a sandbox, limits) or one dies, its share
is normalised in the caller and the pool carries on without processes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from addin.closing import ClosedOnExit
from addin.engine.phones import Normalized, normalize_many, validate_region

__all__ = ["MAX_WORKERS", "PARALLEL_FROM", "NormalizerPool", "server_workers", "warm_up"]

#: Batches of fewer distinct cells are normalised in the caller alone.
PARALLEL_FROM = 20_000
#: A large batch is cut into this many pieces per process (the workers and the caller).
PIECES_PER_PROCESS = 4
#: The most worker processes a pool keeps (each is a Python process of about 40 MB).
MAX_WORKERS = 3

Outcome = tuple[str | None, str | None]


def server_workers(configured: int | None) -> int:
    """Return how many workers a server keeps: ``configured``, else one per core but one.

    The server's own process normalises a share of every large batch, so on two
    cores one worker uses both.
    """
    if configured is not None:
        return max(0, configured)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(MAX_WORKERS, (cores or 1) - 1))


def exit_with_parent() -> None:
    """In a worker: exit the moment the process that started it is gone (even SIGKILLed).

    A pool worker waits on its call queue, whose pipe it holds both ends of (the queue
    is sent to it whole), so a parent that dies without closing the pool never ends its
    wait: a backend killed with SIGKILL would leave its workers running for good.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        """Wait for the parent's end, then leave at once (nothing of ours to flush)."""
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def warm_up() -> int:
    """Normalise every region's example numbers (loading and compiling what they need)."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    examples: list[object] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                examples.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            examples.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    normalize_many(examples)
    return len(examples)


def _normalize_share(values: Sequence[object], region: str | None) -> list[Outcome]:
    """Normalise one share in a worker; return (e164, reason) per cell."""
    return [(result.e164, result.reason) for result in normalize_many(values, region)]


class NormalizerPool(ClosedOnExit):
    """Worker processes started and warmed once, that share large normalisation batches."""

    def __init__(self, workers: int, *, parallel_from: int = PARALLEL_FROM) -> None:
        """Start ``workers`` processes (0: none, everything in the caller) and warm them."""
        self.workers = max(0, workers)
        self.parallel_from = max(1, parallel_from)
        #: Cells the workers normalised so far (a figure for benchmarks and tests).
        self.cells_shared = 0
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._warming: tuple[list[Future[int]], threading.Thread] | None = None
        if self.workers:
            try:
                pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=exit_with_parent,
                )
                warming = [pool.submit(warm_up) for _ in range(self.workers)]
            except (OSError, RuntimeError):
                # No process can be started here: the caller does all the work.
                self.workers = 0
            else:
                self._pool = pool
                # The caller normalises a share too: warm it as well, without waiting.
                here = threading.Thread(target=warm_up, name="normalizer-warm-up", daemon=True)
                here.start()
                self._warming = (warming, here)

    @property
    def running(self) -> bool:
        """Return True while worker processes take shares of large batches."""
        return self._pool is not None

    def wait_until_warm(self, timeout: float | None = None) -> bool:
        """Wait for the warm-up of the workers and of this process; return True once done."""
        if self._warming is None:
            return True
        futures, here = self._warming
        done, _ = wait(futures, timeout=timeout)
        here.join(timeout)
        return len(done) == len(futures) and not here.is_alive()

    def normalize(self, values: Sequence[object], region: str | None) -> list[Normalized]:
        """Return ``phones.normalize_many(values, region)``, shared with the workers when large."""
        region = None if region is None else validate_region(region)
        with self._lock:
            pool = self._pool
        if pool is None or len(values) < self.parallel_from:
            return normalize_many(values, region)
        # Pieces rather than one share per process: the workers take them in order,
        # the caller does the first and then takes back those still waiting, from the
        # last; so a worker slowed by other programs on its core leaves more to the caller.
        size = -(-len(values) // (PIECES_PER_PROCESS * (self.workers + 1)))
        starts = range(0, len(values), size)
        sent: dict[int, Future[list[Outcome]] | None] = {}
        for start in starts[1:]:
            try:
                sent[start] = pool.submit(_normalize_share, values[start : start + size], region)
            except (RuntimeError, BrokenProcessPool):
                sent[start] = None  # the pool broke or closed: the caller does this piece
                self._give_up()
        pieces: dict[int, list[Normalized]] = {0: normalize_many(values[:size], region)}
        for start in reversed(starts[1:]):
            future = sent[start]
            if future is not None and not future.cancel():
                break  # it runs or ran in a worker, as did every piece before it
            pieces[start] = normalize_many(values[start : start + size], region)
        results: list[Normalized] = []
        for start in starts:
            piece = pieces.get(start)
            if piece is None:
                outcomes = self._outcomes(sent[start])
                if outcomes is None:
                    piece = normalize_many(values[start : start + size], region)
                else:
                    piece = [Normalized(e164=e164, reason=reason) for e164, reason in outcomes]
                    self.cells_shared += len(piece)
            results.extend(piece)
        return results

    def _outcomes(self, future: Future[list[Outcome]] | None) -> list[Outcome] | None:
        """Return a share's outcomes, or None (and stop using workers) when it failed."""
        if future is not None:
            try:
                return future.result()
            except (OSError, BrokenProcessPool):
                pass
        self._give_up()
        return None

    def _give_up(self) -> None:
        """Go on without workers: one died (killed, out of memory) or the pool shut down."""
        pool = self._stop()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _stop(self) -> ProcessPoolExecutor | None:
        """Forget the worker processes; return the pool that ran them, if any."""
        with self._lock:
            pool, self._pool = self._pool, None
            self.workers = 0
        return pool

    def close(self) -> None:
        """Stop the worker processes (idempotent); later batches are normalised in the caller."""
        pool = self._stop()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
