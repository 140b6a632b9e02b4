"""Run ``fbcheck check`` as the command line does, and print how long each phase took.

The command is the real one (``addin.cli.main``); only the steps of
``addin.check_cli`` are wrapped in timers, each once per run, so the phases add up
to the command's own work:

* ``read``: reading the input and normalising each distinct cell (``_read_rows``);
* ``plan``: the estimate (cache and open-task look-ups in the store);
* ``store``: storing the job and its tasks (``Checker.submit``);
* ``upstream``: following the job until it ends (uploads, polls, downloads, storing
  the answers; the runner's work, seen from here);
* ``answers``: reading the job's answers back from the store;
* ``write``: writing the output file.

The line ``phases: ...`` goes to standard error after the command's own output;
``other`` is the rest of the wall time (start-up, imports, the vendor connection,
closing the store). ``--plain`` first reads every cell without the normaliser's
shortcuts (``phones.read_clean(..., shortcuts=False)``: ``phonenumbers.parse`` and its
own ``is_valid_number``, the same answers), to time the check as it would be without
them; give it with ``FBCHECK_NORMALIZE_WORKERS=0`` (worker processes read with the
shortcuts). Usage: ``python bench/timed_check.py [--plain] check INPUT [options]``.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

from addin import check_cli, cli
from addin.engine import phones
from addin.engine.checker import Checker

PHASES = ("read", "plan", "store", "upstream", "answers", "write")


def timed(
    seconds: dict[str, float], phase: str, function: Callable[..., Any]
) -> Callable[..., Any]:
    """Return ``function`` adding the seconds of each call to ``seconds[phase]``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        """Call the function under the phase's timer."""
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - started

    return wrapper


def plain_reading(read: Callable[..., phones.Normalized]) -> Callable[..., phones.Normalized]:
    """Return ``phones._read_clean`` reading without shortcuts whatever its caller asks."""

    def plain(clean: str, region: str | None, shortcuts: bool = True) -> phones.Normalized:
        """Read ``clean`` through phonenumbers alone."""
        return read(clean, region, False)

    return plain


def main() -> int:
    """Run the command with its phases timed; print them; return its exit code."""
    seconds: dict[str, float] = {}
    args = sys.argv[1:]
    if args[:1] == ["--plain"]:
        args = args[1:]
        phones._read_clean = plain_reading(phones._read_clean)
    check_cli._read_rows = timed(seconds, "read", check_cli._read_rows)
    check_cli.follow = timed(seconds, "upstream", check_cli.follow)
    check_cli._write = timed(seconds, "write", check_cli._write)
    Checker.plan = timed(seconds, "plan", Checker.plan)  # type: ignore[method-assign]
    Checker.submit = timed(seconds, "store", Checker.submit)  # type: ignore[method-assign]
    Checker.answers = timed(seconds, "answers", Checker.answers)  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        return cli.main(args)
    finally:
        total = time.perf_counter() - started
        other = total - sum(seconds.values())
        parts = [f"{phase} {seconds.get(phase, 0.0):.1f}" for phase in PHASES]
        print(f"phases: {', '.join(parts)}, other {other:.1f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
