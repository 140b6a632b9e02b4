"""``fbcheck jobs``: list and show checks, and give your word on uploads with an unknown outcome.

- ``fbcheck jobs list``: the newest jobs with their state and billing;
- ``fbcheck jobs show JOB``: one job: answers so far, tasks by state, what waits;
- ``fbcheck jobs resend JOB``: upload the job's uncertain tasks again (the vendor may
  then bill them twice: that is the choice you make) and follow them to the end;
- ``fbcheck jobs abandon JOB``: give up the job's uncertain and paused tasks; their
  numbers get ``error`` and are asked again by a later check.

With ``--server URL`` each action asks a team server about its jobs instead of this
computer's store (the token as for ``fbcheck check --server``).

Exit codes are those of ``fbcheck check`` (0 done, 2 unknown job, 6 still waiting for
your word, 7 paused, 8 the store could not be used, 10 sign in again, 11 the server
could not be reached, 130 interrupted).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any, TextIO

from addin.check_cli import (
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_STORE,
    EXIT_USAGE,
    EXIT_WAITING_FOR_USER,
    add_json_flag,
    add_server_option,
    close_quietly,
    follow,
    interrupted,
    interruptible,
    load_settings,
    print_waiting,
    start_checker,
)
from addin.cli_output import EXIT_INTERRUPTED, Column, Grid, Output, facts_grid
from addin.config import Settings
from addin.engine.checker import Checker, JobProgress
from addin.engine.store import StoreError


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
    add_server_option(listing)
    add_json_flag(listing)
    for name, text in (
        ("show", "one job in detail"),
        ("resend", "upload the job's uncertain tasks again (may bill twice)"),
        ("abandon", "give up the job's uncertain and paused tasks"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("job_id", help="the job id that fbcheck check printed")
        add_server_option(action)
        add_json_flag(action)
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace, *, out: TextIO | None = None, settings: Settings | None = None
) -> int:
    """Run ``fbcheck jobs ACTION`` and return its exit code."""
    document: dict[str, Any] = {"jobs": []} if args.action == "list" else {"job": None}
    ui = Output(json_mode=args.json, stdout=out, document=document)
    return ui.run(lambda: _jobs(args, ui, settings))


def _jobs(args: argparse.Namespace, ui: Output, given: Settings | None) -> int:
    """Carry out one action and return its exit code."""
    settings = load_settings(given)
    if args.server is not None:
        # Imported here: a local run never loads the HTTP client of a team server.
        from addin.server_check import jobs_on_server

        return jobs_on_server(args, ui, settings)
    checker = start_checker(settings)
    clean = True
    try:
        if args.action == "list":
            jobs = checker.history(args.limit)
            ui.set(jobs=[progress.as_dict() for progress in jobs])
            list_jobs(jobs, ui)
            return EXIT_OK
        found = checker.progress(args.job_id)
        if found is None:
            return ui.error(
                EXIT_USAGE, f"there is no job {args.job_id!r} (see `fbcheck jobs list`)"
            )
        progress = found
        if args.action == "resend":
            return _resend(checker, progress, settings, ui)
        if args.action == "abandon":
            count = checker.abandon(args.job_id)
            ui.set(abandoned=count)
            ui.say(f"gave up {count} task(s) of job {args.job_id}")
            progress = checker.progress(args.job_id) or progress
        show_job(progress, ui)
        return job_exit_code(progress)
    except KeyboardInterrupt:
        clean = False
        return ui.error(EXIT_INTERRUPTED, "interrupted")
    except StoreError as exc:
        return ui.error(EXIT_STORE, str(exc))
    finally:
        close_quietly(checker, wait=clean, ui=ui)


def _resend(checker: Checker, progress: JobProgress, settings: Settings, ui: Output) -> int:
    """Send the uncertain uploads again on the user's word and follow the job."""
    nothing = announce_resend(checker.resend(progress.job_id), progress, ui)
    if nothing is not None:
        return nothing
    try:
        with interruptible():
            final = follow(checker, progress.job_id, ui, interval=settings.progress_interval)
    except KeyboardInterrupt:
        return interrupted(checker, progress.job_id, settings, ui)
    if checker.fatal:
        return ui.error(EXIT_STORE, checker.fatal)
    show_job(final, ui)
    ui.say(
        "run your `fbcheck check` command again to write the results file"
        " (answered from the cache, nothing uploaded again)"
    )
    return job_exit_code(final)


def announce_resend(
    count: int, progress: JobProgress, ui: Output, *, server: str | None = None
) -> int | None:
    """Say what resending ``count`` waiting uploads does; the exit code when none waited."""
    ui.set(resent=count)
    if not count:
        ui.say(f"job {progress.job_id} has no upload waiting for your word")
        show_job(progress, ui, server=server)
        return job_exit_code(progress)
    ui.say(
        f"sending {count} upload(s) of job {progress.job_id} again, as you asked"
        " (the vendor may bill them twice)"
    )
    return None


def job_exit_code(progress: JobProgress) -> int:
    """Return the exit code for a job's state."""
    if progress.uncertain_tasks:
        return EXIT_WAITING_FOR_USER
    if not progress.finished:
        return EXIT_PAUSED
    return EXIT_OK


def _created(p: JobProgress) -> str:
    """Return when a job was created, in UTC to the minute."""
    return dt.datetime.fromtimestamp(p.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _waiting(p: JobProgress) -> str:
    """Return what a job waits for, in a few words ("" when nothing)."""
    if p.uncertain_tasks:
        return f"{p.uncertain_numbers:,} waiting for your word"
    if p.paused_tasks:
        return f"{p.paused_tasks} task(s) paused"
    return ""


def list_jobs(jobs: list[JobProgress], ui: Output) -> None:
    """Print ``jobs list``: one row per job, newest first.

    A team server's jobs name who started them (``started by``); local jobs never
    do, so the column is shown only when some job has one.
    """
    if not jobs:
        ui.say("no job yet: `fbcheck check FILE` starts one")
        return
    team = any(p.started_by is not None for p in jobs)
    columns = [Column("job"), Column("created (UTC)"), Column("state"), Column("kind")]
    if team:
        columns.append(Column("started by"))
    columns += [
        Column("answered", numeric=True),
        Column("billed", numeric=True),
        Column("possibly", numeric=True),
        Column("waiting"),
        Column("label"),
    ]
    grid = Grid(columns)
    for p in jobs:
        who = [p.started_by or ""] if team else []
        grid.add(
            p.job_id,
            _created(p),
            p.state,
            p.kind,
            *who,
            f"{p.answered:,}/{p.distinct:,}",
            f"{p.billed:,}",
            f"{p.possibly_billed:,}",
            _waiting(p),
            p.label,
        )
    ui.table(grid)


def show_job(p: JobProgress, ui: Output, *, server: str | None = None) -> None:
    """Print one job in detail (``server``: the team server it runs on)."""
    ui.set(job=p.as_dict())
    counts = ", ".join(f"{n:,} {k}" for k, n in sorted(p.counts.items()))
    states = ", ".join(f"{n} {k}" for k, n in sorted(p.task_states.items()))
    facts = [
        ("created (UTC)", _created(p)),
        ("state", p.state),
        ("kind", p.kind),
        ("label", p.label),
        ("answered", f"{p.answered:,} of {p.distinct:,} numbers"),
        ("numbers", counts or "none"),
        ("tasks it created", states or "none"),
        ("billed requests", f"{p.billed:,}"),
        ("possibly billed", f"{p.possibly_billed:,}"),
    ]
    if p.uncertain_creates:
        facts.append(("uploads with an unknown outcome so far", f"{p.uncertain_creates}"))
    if _waiting(p):
        facts.append(("waiting", _waiting(p)))
    facts.extend(("task error", error) for error in p.task_errors)
    ui.table(facts_grid(f"job {p.job_id}", facts))
    print_waiting(ui, p, server=server)
