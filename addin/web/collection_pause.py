"""Python's cyclic garbage collector held off while a request reads a large selection.

A 100,000-row selection makes a few hundred thousand container objects in one go
(the normalised rows, one ``[value]`` row per answer cell for xlwings, the
answer's JSON). Python counts them as they are made and, every so many, walks
the whole heap looking for cycles among them: there are none (every one of them
lives until the answer is sent), and the walks took 0.1 to 0.25 s of such a
request (``bench/pipeline.py --selection-only``). :func:`collection_paused` stops
the collector for the duration; reference counting still frees everything
that is not in a cycle, and the collector resumes, with all it would have
looked at, when the last paused request ends.

The collector is process-wide, so the pauses of concurrent requests are counted:
it runs again only when none holds it, and only if it ran before the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collection_paused"]

_lock = threading.Lock()
_holders = 0
_resume = False


@contextmanager
def collection_paused() -> Iterator[None]:
    """Hold off cyclic garbage collection inside the block (nested and concurrent blocks too)."""
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
