"""``fbcheck jobs``: list and show checks, and give your word on uploads with an unknown outcome.

- ``fbcheck jobs list``: the newest jobs with their state and billing;
- ``fbcheck jobs show JOB``: one job: answers so far, tasks by state, what waits;
- ``fbcheck jobs resend JOB``: upload the job's uncertain tasks again (the vendor may
  then bill them twice: that is the choice you make) and follow them to the end;
- ``fbcheck jobs abandon JOB``: give up the job's uncertain and paused tasks; their
  numbers get ``error`` and are asked again by a later check.

Exit codes are those of ``fbcheck check`` (0 done, 2 unknown job, 6 still waiting for
your word, 7 paused, 8 the store could not be used, 130 interrupted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any, TextIO

from pydantic import ValidationError

from addin.check_cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_STORE,
    EXIT_USAGE,
    EXIT_WAITING_FOR_USER,
    follow,
    interrupted,
    interruptible,
    print_waiting,
)
from addin.config import Settings
from addin.engine.checker import Checker, JobProgress
from addin.engine.store import StoreError
from addin.vendor import open_checker


def register(subparsers: Any) -> None:
    """Add the ``jobs`` sub-command."""
    parser = subparsers.add_parser(
        "jobs",
        help="list checks; resend or abandon uploads whose outcome is unknown",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the newest jobs")
    listing.add_argument("--limit", type=int, default=20)
    for name, text in (
        ("show", "one job in detail"),
        ("resend", "upload the job's uncertain tasks again (may bill twice)"),
        ("abandon", "give up the job's uncertain and paused tasks"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("job_id", help="the job id that fbcheck check printed")
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace, *, out: TextIO | None = None, settings: Settings | None = None
) -> int:
    """Run ``fbcheck jobs ACTION`` and return its exit code."""
    out = out or sys.stdout
    err = sys.stderr
    try:
        settings = settings or Settings()
        checker = open_checker(settings)
    except ValidationError as exc:
        print(f"error: bad FBCHECK_ setting: {exc}", file=err)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_STORE
    clean = True
    try:
        if args.action == "list":
            for progress in checker.history(args.limit):
                print(_line(progress), file=out)
            return EXIT_OK
        found = checker.progress(args.job_id)
        if found is None:
            print(f"error: there is no job {args.job_id!r} (see `fbcheck jobs list`)", file=err)
            return EXIT_USAGE
        progress = found
        if args.action == "resend":
            return _resend(checker, progress, settings, out, err)
        if args.action == "abandon":
            count = checker.abandon(args.job_id)
            print(f"gave up {count} task(s) of job {args.job_id}", file=out)
            progress = checker.progress(args.job_id) or progress
        _show(progress, out)
        return _code(progress)
    except KeyboardInterrupt:
        clean = False
        return EXIT_INTERRUPTED
    finally:
        checker.close(wait=clean)


def _resend(
    checker: Checker, progress: JobProgress, settings: Settings, out: TextIO, err: TextIO
) -> int:
    """Send the uncertain uploads again on the user's word and follow the job."""
    count = checker.resend(progress.job_id)
    if not count:
        print(f"job {progress.job_id} has no upload waiting for your word", file=out)
        _show(progress, out)
        return _code(progress)
    print(
        f"sending {count} upload(s) of job {progress.job_id} again, as you asked"
        " (the vendor may bill them twice)",
        file=out,
    )
    try:
        with interruptible():
            final = follow(checker, progress.job_id, err)
    except KeyboardInterrupt:
        return interrupted(checker, progress.job_id, settings, err)
    if checker.fatal:
        print(f"error: {checker.fatal}", file=err)
        return EXIT_STORE
    _show(final, out)
    print(
        "run your `fbcheck check` command again to write the results file"
        " (answered from the cache, nothing uploaded again)",
        file=out,
    )
    return _code(final)


def _code(progress: JobProgress) -> int:
    """Return the exit code for a job's state."""
    if progress.uncertain_tasks:
        return EXIT_WAITING_FOR_USER
    if not progress.finished:
        return EXIT_PAUSED
    return EXIT_OK


def _line(p: JobProgress) -> str:
    """Return one line of ``jobs list``."""
    when = dt.datetime.fromtimestamp(p.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
    waiting = ""
    if p.uncertain_tasks:
        waiting = f" · {p.uncertain_numbers:,} waiting for your word"
    elif p.paused_tasks:
        waiting = f" · {p.paused_tasks} task(s) paused"
    return (
        f"{p.job_id}  {when}  {p.state:<9} {p.kind:<9} {p.answered:,}/{p.distinct:,} answered"
        f" · {p.billed:,} billed, {p.possibly_billed:,} possibly{waiting}  {p.label}"
    )


def _show(p: JobProgress, out: TextIO) -> None:
    """Print one job in detail."""
    print(_line(p), file=out)
    counts = ", ".join(f"{n:,} {k}" for k, n in sorted(p.counts.items()))
    print(f"  numbers: {counts or 'none'}", file=out)
    states = ", ".join(f"{n} {k}" for k, n in sorted(p.task_states.items()))
    print(f"  tasks it created: {states or 'none'}", file=out)
    if p.uncertain_creates:
        print(f"  uploads with an unknown outcome so far: {p.uncertain_creates}", file=out)
    for error in p.task_errors:
        print(f"  {error}", file=out)
    print_waiting(out, p)
