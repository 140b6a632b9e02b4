"""Print the time of the store's bulk paths, on SQLite and on PostgreSQL, beside a plain reference.

Two steps of a job of N distinct numbers (default 1,000,000) in tasks of 20,000:

* ``store job``: ``Store.create_job`` (cache look-up, claims, the job's numbers, the
  tasks, in one transaction), the step a 1M-row ``fbcheck check`` spends most of its
  store time in;
* ``answers``: each task created and answered (``finish_task``: the cache rows and
  every job number's answer, with who paid for them), as the runner stores downloaded
  results;
* ``cached job``: a colleague's job of the same numbers (``started_by`` named), all
  answered from the cache, counting the numbers the first job paid for.

The reference is the floor for the same rows on the same database: the job's rows
(job_numbers, task_numbers, claims) inserted plainly in one transaction, by
``executemany`` on SQLite and by ``COPY`` on PostgreSQL, without the store's reads.

PostgreSQL runs on a throwaway cluster of the tests (``tests/postgres.py``), skipped
with the reason when none can be started here. ``--baseline DIR`` also times the
store of another checkout (``DIR``, say the main branch's work tree) in a child
process, on each backend, for a before/after figure measured in the same run.

Usage: ``python bench/store_bulk.py [--numbers N] [--baseline DIR] [--backends sqlite,postgresql]
[--rounds N] [--no-cached-job]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
TASK_SIZE = 20_000
NAN = float("nan")
OWNER = "b" * 32


def numbers(count: int) -> list[str]:
    """Return ``count`` distinct E.164 numbers."""
    return [f"+1555{n:07d}" for n in range(count)]


def time_store(location: Any, count: int, cached: bool = True) -> dict[str, float]:
    """Time ``create_job``, the answers of its tasks and (``cached``) a colleague's job of the
    same numbers on a new store at ``location``; a step not timed is NaN."""
    from addin.engine.states import TaskState
    from addin.engine.store import Store

    store = Store(location)
    wanted = numbers(count)

    def create(started_by: str) -> Any:
        """Store a job of every wanted number, started by ``started_by``."""
        return store.create_job(
            realm="bench",
            cache_realm="bench-cache",
            kind="bench",
            label="",
            numbers=wanted,
            refresh=False,
            max_age=3600.0,
            chunk_size=TASK_SIZE,
            plan={},
            hit_source="cache",
            owner=OWNER,
            lease_seconds=600.0,
            started_by=started_by,
        )

    started = time.perf_counter()
    job = create("bench-first")
    planned = time.perf_counter()
    for task in store.job_tasks(job.job_id):
        store.start_upload(task.ref, OWNER, "key")
        store.record_created(
            task.ref, source=TaskState.CREATING, task_id=f"t{task.ref}", vendor_status="done"
        )
        results = {n: ("yes", None) for n in store.task_numbers(task.ref)}
        store.finish_task(
            task.ref,
            OWNER,
            cache_realm="bench-cache",
            results=results,
            source="upstream",
            missing_reason="missing",
        )
    answered = time.perf_counter()
    assert store.job_counts(job.job_id) == {"yes": count}
    if not cached:
        store.close()
        return {"store job": planned - started, "answers": answered - planned, "cached job": NAN}
    again = create("bench-colleague")
    reused = time.perf_counter()
    assert (again.cache_hits, again.uploaded) == (count, 0)
    store.close()
    return {
        "store job": planned - started,
        "answers": answered - planned,
        "cached job": reused - answered,
    }


def job_rows(
    count: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Return the rows a job of ``count`` numbers writes: job_numbers, task_numbers, claims."""
    wanted = numbers(count)
    refs = [1 + i // TASK_SIZE for i in range(count)]
    return (
        [("job", n, r) for n, r in zip(wanted, refs, strict=True)],
        [(r, n) for n, r in zip(wanted, refs, strict=True)],
        [("bench", n, r) for n, r in zip(wanted, refs, strict=True)],
    )


def reference_sqlite(path: Path, count: int) -> float:
    """Time the job's rows inserted plainly into an SQLite store's tables."""
    from addin.engine.store import Store

    Store(path).close()
    job, task, claims = job_rows(count)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO job_numbers (job_id, e164, task_ref) VALUES (?, ?, ?)", job)
    conn.executemany("INSERT INTO task_numbers (ref, e164) VALUES (?, ?)", task)
    conn.executemany("INSERT INTO claims (realm, e164, ref) VALUES (?, ?, ?)", claims)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def reference_postgres(url: str, count: int) -> float:
    """Time the job's rows copied plainly into a PostgreSQL store's tables."""
    import psycopg

    job, task, claims = job_rows(count)
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for table, columns, rows in (
                ("job_numbers", "job_id, e164, task_ref", job),
                ("task_numbers", "ref, e164", task),
                ("claims", "realm, e164, ref", claims),
            ):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def baseline(checkout: Path, count: int, location: str, *, cached: bool) -> dict[str, float]:
    """Time the store of another checkout at ``location`` (an SQLite path, or the URL of an
    empty PostgreSQL database its own code upgrades), in a child process on its code."""
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        " sys.path.insert(1, sys.argv[2]); import store_bulk; where = sys.argv[3]\n"
        "if where.startswith('postgresql://'):\n"
        "    from addin.engine.store.migrate import upgrade_postgres; upgrade_postgres(where)\n"
        "else:\n"
        "    where = Path(where)\n"
        "print(json.dumps(store_bulk.time_store(where, int(sys.argv[4]), sys.argv[5] == '1')))"
    )
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(checkout),
            str(REPOSITORY / "bench"),
            location,
            str(count),
            "1" if cached else "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=checkout,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the baseline run failed: {done.stderr[-1000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Run the steps on each backend (``--rounds`` times, interleaved) and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--baseline", type=Path, help="another checkout to time (SQLite)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, interleaved (load varies)")
    parser.add_argument(
        "--no-cached-job",
        action="store_true",
        help="skip the colleague's cached job (a store before the array look-up takes hours"
        " for it on PostgreSQL at 1,000,000 numbers)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(REPOSITORY))
    backends = args.backends.split(",")
    cached = not args.no_cached_job
    folder = Path(tempfile.mkdtemp(prefix="fbcheck-store-bench-"))
    rows: list[tuple[str, dict[str, float], float | None]] = []
    cluster = None
    try:
        if "postgresql" in backends:
            from tests.postgres import Cluster

            reason = Cluster.why_not()
            if reason is not None:
                print(f"postgresql: skipped ({reason})")
            else:
                cluster = Cluster.start()
        for round_ in range(args.rounds):
            for old in folder.glob("*.sqlite3*"):
                old.unlink()
            if args.baseline and "sqlite" in backends:
                figures = baseline(
                    args.baseline, args.numbers, str(folder / "baseline.sqlite3"), cached=cached
                )
                rows.append((f"sqlite ({args.baseline})", figures, None))
            if "sqlite" in backends:
                reference = reference_sqlite(folder / "reference.sqlite3", args.numbers)
                figures = time_store(folder / "store.sqlite3", args.numbers, cached)
                rows.append(("sqlite (this checkout)", figures, reference))
            if cluster is not None:
                from addin.engine.store.migrate import upgrade_postgres

                urls = []
                for _ in range(2):
                    url = cluster.url(cluster.create_database(prefix=f"bench{round_}"))
                    upgrade_postgres(url)
                    urls.append(url)
                reference = reference_postgres(urls[0], args.numbers)
                rows.append(("postgresql", time_store(urls[1], args.numbers, cached), reference))
                if args.baseline:
                    url = cluster.url(cluster.create_database(prefix=f"base{round_}"))
                    urls.append(url)
                    figures = baseline(args.baseline, args.numbers, url, cached=cached)
                    rows.append((f"postgresql ({args.baseline})", figures, None))
                for url in urls:
                    cluster.drop_database(url.rsplit("/", 1)[1])
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"{args.numbers:,} distinct numbers in tasks of {TASK_SIZE:,}; load average {load:.1f}")
    print(
        f"{'store':<40} {'store job s':>11} {'answers s':>10} {'cached job s':>12}"
        f" {'reference s':>12}"
    )
    for name, figures, floor in rows:
        ref = f"{floor:12.1f}" if floor is not None else f"{'':>12}"
        print(
            f"{name:<40} {figures['store job']:11.1f} {figures['answers']:10.1f}"
            f" {figures['cached job']:12.1f} {ref}"
        )


if __name__ == "__main__":
    main()
