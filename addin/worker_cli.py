"""``fbcheck worker``: run team mode's vendor I/O from the PostgreSQL queue until stopped.

Start as many as you like, on any machines that reach the database and the
vendor: each takes the next due step (create, poll, download) of any task. A
worker stopped with Ctrl-C or SIGTERM ends the steps in flight first; a worker
that dies (SIGKILL, a crash, a lost machine) has its jobs taken over by another
within about 30 s (``FBCHECK_WORKER_STALLED_AFTER``, 25 s by default, plus a sweep
of 5 s: ``addin.engine.workers.takeover_bound``), and an upload it had
in flight is never sent again by itself: the task waits as ``uncertain`` for
``fbcheck jobs resend`` or ``abandon``.

Needs ``FBCHECK_DATABASE_URL`` (postgresql://...) and the vendor key
(``FBCHECK_API_KEY``; demo mode's emulator lives inside one process and cannot
be shared). Exit codes: 0 stopped; 2 a bad or missing setting; 8 the store or
the queue cannot be used (an outdated schema names ``fbcheck db upgrade``).
"""

from __future__ import annotations

import argparse
import fcntl
import sys
from pathlib import Path
from typing import IO, Any

from addin.check_cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, load_settings, open_store, run_plain
from addin.cli_output import CommandError
from addin.config import Settings
from addin.engine.checker import runner_settings
from addin.engine.connection import live_connection
from addin.engine.journal import CreateJournal
from addin.engine.ownership import QUEUE_OWNER
from addin.engine.private_files import secure_data_dir
from addin.engine.steps import TaskSteps


def register(subparsers: Any) -> None:
    """Add the ``worker`` sub-command."""
    parser = subparsers.add_parser(
        "worker",
        help="team mode: do the vendor I/O of every user's jobs (PostgreSQL queue)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--name", help="this worker's name in the queue (default: generated)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, settings: Settings | None = None) -> int:
    """Run ``fbcheck worker`` until stopped and return its exit code."""
    return run_plain("fbcheck worker", lambda: _work(load_settings(settings), name=args.name))


def queue_url(settings: Settings) -> str:
    """Return the PostgreSQL URL of the store and the queue (as libpq reads it), or exit 2."""
    from addin.engine.store.postgres import is_postgres_url, libpq_url

    url = settings.database_url.get_secret_value().strip() if settings.database_url else ""
    if not is_postgres_url(url):
        raise CommandError(
            EXIT_USAGE,
            "needs FBCHECK_DATABASE_URL=postgresql://USER:PASSWORD@HOST:PORT/DATABASE (the"
            " team's store and queue); a single user needs no worker: `fbcheck serve` and"
            " `fbcheck check` do the vendor I/O themselves",
        )
    return libpq_url(url)


def _work(settings: Settings, *, name: str | None) -> int:
    """Open the store, the queue and the vendor, then run the worker."""
    url = queue_url(settings)
    if settings.demo:
        raise CommandError(
            EXIT_USAGE,
            "needs the vendor's key (FBCHECK_API_KEY, and FBCHECK_API_URL for another"
            " endpoint): demo mode's emulator lives inside one process and cannot be shared",
        )
    from addin.engine.workers import WorkerRuntime, make_app, queue_schema_present, run_worker

    try:
        secure_data_dir(settings.data_dir)
        journal, held = worker_journal(settings.data_dir)
    except (OSError, RuntimeError) as exc:
        raise CommandError(EXIT_STORE, f"the data folder cannot be used: {exc}") from None
    # The store refuses a schema older than this fbcheck, naming `fbcheck db upgrade`.
    store = open_store(settings)
    app = make_app(url)
    try:
        _check_queue(url, queue_schema_present)
        connection = live_connection(settings)
        try:
            steps = TaskSteps(
                store=store,
                client=connection.client,
                settings=runner_settings(settings, connection),
                owner=QUEUE_OWNER,
                journal=journal,
            )
            # Epoch seconds for the memo: the next step may run on another machine.
            steps.clock = steps.wall
            print(
                f"fbcheck worker: working on {connection.task_realm}; a worker without a"
                f" heartbeat for {settings.worker_stalled_after:g} s is taken over",
                file=sys.stderr,
            )
            runtime = WorkerRuntime(
                store=store, steps=steps, stalled_after=settings.worker_stalled_after
            )
            run_worker(app, runtime, name=name)
        finally:
            connection.close()
    finally:
        store.close()
        held.close()
    return EXIT_OK


#: Create journals of the workers of one data folder (one per worker running at once).
JOURNAL_SLOTS = 64


def worker_journal(data_dir: Path) -> tuple[CreateJournal, IO[bytes]]:
    """Return a create journal no other live worker of this folder uses, and its held lock.

    Each worker writes the task ids it is given into its own journal (a shared one
    would let a worker record another's upload that is still being stored). A worker
    started after one died takes a free slot, the dead one's too, and replays what
    it kept.
    """
    folder = data_dir / "worker-journals"
    folder.mkdir(mode=0o700, exist_ok=True)
    for slot in range(JOURNAL_SLOTS):
        handle = (folder / f"{slot}.lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return CreateJournal(folder / f"{slot}.journal"), handle
    raise RuntimeError(f"{JOURNAL_SLOTS} workers already run on {data_dir}")


def _check_queue(url: str, present: Any) -> None:
    """Stop with exit 8 when the queue's tables are missing or the database is unreachable."""
    import psycopg

    from addin.engine.workers import make_app

    app = make_app(url, sync=True)
    try:
        with app.open():
            ok = present(app)
    except psycopg.Error as exc:
        raise CommandError(EXIT_STORE, f"the queue's database cannot be used: {exc}") from None
    if not ok:
        raise CommandError(
            EXIT_STORE,
            "the queue's tables are missing from the database: run `fbcheck db upgrade` first",
        )
