"""A team's load on two team servers and three workers; then the same with a worker SIGKILLed.

The issue's load (issue 13): 20 users x 5 jobs x 2,000 numbers with 50% overlap between
users, submitted at once through 2 ``fbcheck serve --team`` instances (the HTTP job API
of ``fbcheck check --server``, from one thread per user) and done by 3 ``fbcheck
worker`` processes against the emulator's realistic profile, time-scaled (its clock
runs ``--time-scale`` times faster; the workers' poll bounds and export target are
divided by the same factor, so the polls billed are those of real time). Everything
runs on 127.0.0.1 (``addin.local_team``: a throwaway PostgreSQL cluster, stopped and
removed after each run).

The overlap: each job holds ``numbers x (1 - overlap)`` numbers of its own and
``numbers x overlap`` numbers of a shared pool cut into ``--shared-slices`` slices; job
``j`` of user ``u`` takes slice ``(u + j) mod slices``, so each slice is in the jobs of
several users (printed at the start).

Printed per run: billed requests, tasks created and numbers uploaded (the emulator's
ledger), numbers uploaded more than once (its task list, target 0), whether every row
was answered (each job's answers through the API), rows waiting for a person's word
(an upload in flight at the kill is uncertain: never sent again by itself), and the
latency of every API request this script made (p50 / p95 / max). The second run
(a fresh database and emulator) kills worker 1 with SIGKILL once a third of the jobs'
tasks are created, at a moment the store shows no upload in flight; the other two
workers take its work over. Both runs side by side at the end.

Exit code 0 when both runs meet the targets (0 duplicates, every row answered), 1 when
one does not (the output says which), 2 for bad options, 3 when the team did not start
(no PostgreSQL: the message says what to install).

    python bench/team_load.py                       # the issue's size
    python bench/team_load.py --users 4 --jobs 2 --numbers 400   # a quick run
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from addin.engine.checker import input_fingerprint
from addin.engine.store.postgres import libpq_url
from addin.local_postgres import LocalCluster
from addin.local_team import LaunchError, LocalTeam
from addin.web.views.file_jobs import FILE_JOB_KIND

#: The answers of a checked row.
CHECKED = frozenset({"yes", "no", "ban"})
#: fbcheck's default poll bounds and export target (seconds of real time), scaled below.
POLL_MIN, POLL_MAX, TARGET_EXPORT = 30.0, 900.0, 60.0
#: Seconds between two readings of a user's job list.
FOLLOW_PAUSE = 2.0
#: Answers asked for per request.
ANSWERS_PAGE = 50_000


@dataclass(frozen=True)
class Load:
    """Who checks what: ``jobs[user]`` is that user's list of jobs (lists of numbers)."""

    jobs: dict[str, list[list[str]]]
    own: int
    shared: int
    slices: int

    @property
    def rows(self) -> int:
        """Return the rows of every job."""
        return sum(len(job) for jobs in self.jobs.values() for job in jobs)

    @property
    def distinct(self) -> int:
        """Return the distinct numbers of every job."""
        return len({n for jobs in self.jobs.values() for job in jobs for n in job})

    def describe(self) -> str:
        """Return the overlap design and what it gives."""
        users: dict[str, set[str]] = {}
        jobs_of: dict[str, int] = {}
        for user, jobs in self.jobs.items():
            for job in jobs:
                for n in job:
                    users.setdefault(n, set()).add(user)
                    jobs_of[n] = jobs_of.get(n, 0) + 1
        shared = [n for n, who in users.items() if len(who) > 1]
        per_number = [len(users[n]) for n in shared]
        count = len(self.jobs)
        each = len(next(iter(self.jobs.values())))
        lines = [
            f"load: {count} users x {each} jobs = {count * each} jobs, {self.rows:,} rows,"
            f" {self.distinct:,} distinct numbers",
            f"overlap: each job has {self.own:,} numbers of its own and {self.shared:,} of a"
            f" shared pool of {self.slices} slices x {self.shared:,}; job j of user u takes"
            f" slice (u + j) mod {self.slices}",
        ]
        if shared:
            lines.append(
                f"  {len(shared):,} numbers are in more than one user's jobs, each in the jobs"
                f" of {min(per_number)} to {max(per_number)} users; without sharing the team"
                f" would upload {self.rows:,} numbers, with it {self.distinct:,}"
            )
        return "\n".join(lines)


def swiss(start: int, count: int) -> list[str]:
    """Return ``count`` valid Swiss mobile numbers in E.164 from offset ``start``."""
    return [f"+4178{n:07d}" for n in range(1_000_000 + start, 1_000_000 + start + count)]


def make_load(users: int, jobs: int, numbers: int, overlap: float, slices: int) -> Load:
    """Return the jobs of every user (see the module's docstring for the overlap)."""
    shared = round(numbers * overlap)
    own = numbers - shared
    pool = swiss(0, slices * shared)
    base = len(pool)
    plan: dict[str, list[list[str]]] = {}
    for u in range(users):
        mine: list[list[str]] = []
        for j in range(jobs):
            block = base + (u * jobs + j) * own
            s = (u + j) % slices
            mine.append([*pool[s * shared : (s + 1) * shared], *swiss(block, own)])
        plan[f"user{u:02d}"] = mine
    return Load(plan, own, shared, slices)


@dataclass
class Latencies:
    """The wall time of every API request made, by route."""

    samples: list[tuple[str, float, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, seconds: float, status: int) -> None:
        """Keep one request's time."""
        with self.lock:
            self.samples.append((route, seconds, status))

    def summary(self, route: str | None = None) -> tuple[int, float, float, float]:
        """Return (count, p50, p95, max) in seconds, of one route or all."""
        times = sorted(s for r, s, _ in self.samples if route is None or r == route)
        if not times:
            return (0, 0.0, 0.0, 0.0)
        return (len(times), _quantile(times, 0.5), _quantile(times, 0.95), times[-1])

    def failures(self) -> int:
        """Return how many requests answered anything but 2xx."""
        return sum(1 for _, _, status in self.samples if not 200 <= status < 300)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile of sorted values (nearest rank)."""
    index = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


class ApiUser:
    """One user's session with the team servers; every request timed."""

    def __init__(self, team: LocalTeam, name: str, latencies: Latencies) -> None:
        """Sign in as ``name`` (the token ``team`` made)."""
        self.name = name
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {team.tokens[name]}"
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's own ``verify``.
        self.verify = str(team.ca_file)
        self.latencies = latencies
        #: Times a lost start had the whole command run again.
        self.reruns = 0

    def call(self, method: str, url: str, route: str, *, again: bool = False, **kwargs: Any) -> Any:
        """Send one request, time it, and return its JSON (raise on an error status).

        ``again``: sent again after a network failure (1 s, 2 s, 4 s apart, at most 4
        times), as ``fbcheck check --server`` sends its reading, chunk and plan requests;
        the others are sent once.
        """
        for attempt in range(5):
            started = time.perf_counter()
            try:
                answer = self.session.request(
                    method, url, timeout=300, verify=self.verify, **kwargs
                )
            except requests.ConnectionError:
                self.latencies.add(route, time.perf_counter() - started, 0)
                if not again or attempt == 4:
                    raise
                time.sleep(2**attempt)
                continue
            self.latencies.add(route, time.perf_counter() - started, answer.status_code)
            if not 200 <= answer.status_code < 300:
                raise RuntimeError(f"{method} {route}: {answer.status_code} {answer.text[:300]}")
            return answer.json()
        raise AssertionError("unreachable")

    def submit(self, base: str, numbers: list[str], label: str) -> str:
        """Start a file job of ``numbers`` as ``fbcheck check --server`` does; return its id.

        When the start's answer is lost, the whole command is run again, as its message
        says: the server answers the job it started for this input (by its fingerprint),
        or a new upload if it started none; nothing is paid twice.
        """
        for attempt in range(3):
            try:
                return self._submit_once(base, numbers, label)
            except requests.ConnectionError:
                if attempt == 2:
                    raise
                self.reruns += 1
        raise AssertionError("unreachable")

    def _submit_once(self, base: str, numbers: list[str], label: str) -> str:
        """Open, send, plan and start one file job (or follow the unfinished one)."""
        opened = self.call(
            "POST",
            f"{base}/api/file-jobs",
            "open",
            again=True,
            json={"fingerprint": input_fingerprint(FILE_JOB_KIND, numbers), "chunks": 1},
        )
        if opened.get("job_id"):
            return str(opened["job_id"])  # a run before this one started it
        upload = opened["upload_id"]
        self.call(
            "PUT",
            f"{base}/api/file-jobs/uploads/{upload}/chunks/0",
            "chunk",
            again=True,
            json={"numbers": numbers},
        )
        planned = self.call(
            "POST",
            f"{base}/api/file-jobs/uploads/{upload}/plan",
            "plan",
            json={"rows": len(numbers), "invalid": 0, "label": label},
        )
        started = self.call(
            "POST", f"{base}/api/file-jobs/plans/{planned['plan_id']}/start", "start", json={}
        )
        return str(started["job_id"])

    def jobs(self, base: str) -> dict[str, dict[str, Any]]:
        """Return the user's jobs' progress by id (``GET /api/jobs``)."""
        listed = self.call("GET", f"{base}/api/jobs", "jobs", again=True, params={"limit": 200})
        return {job["job_id"]: job for job in listed["jobs"]}

    def answers(self, base: str, job_id: str) -> dict[str, str]:
        """Return a job's answers by number, every page."""
        found: dict[str, str] = {}
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": ANSWERS_PAGE}
            if after is not None:
                params["after"] = after
            page = self.call(
                "GET", f"{base}/api/file-jobs/{job_id}/answers", "answers", params=params
            )
            found.update({row[0]: row[1] for row in page["answers"]})
            after = page["next"]
            if after is None:
                return found


@dataclass
class UserRun:
    """What one user's thread saw."""

    jobs: dict[str, list[str]] = field(default_factory=dict)
    answered_rows: int = 0
    rows: int = 0
    waiting_jobs: int = 0
    reruns: int = 0
    error: str | None = None


def run_user(
    team: LocalTeam, name: str, jobs: list[list[str]], latencies: Latencies, deadline: float
) -> UserRun:
    """Submit the user's jobs one after another (through both servers), follow, read answers."""
    seen = UserRun()
    user = ApiUser(team, name, latencies)
    servers = team.server_urls
    index = int(name.removeprefix("user"))
    try:
        where: dict[str, str] = {}
        for j, numbers in enumerate(jobs):
            base = servers[(index + j) % len(servers)]
            job_id = user.submit(base, numbers, f"{name}-job{j}")
            seen.jobs[job_id] = numbers
            where[job_id] = base
            seen.rows += len(numbers)
        pending = set(seen.jobs)
        follow = servers[index % len(servers)]
        while pending and time.monotonic() < deadline:
            time.sleep(FOLLOW_PAUSE)
            progress = user.jobs(follow)
            for job_id in list(pending):
                job = progress.get(job_id)
                if job is None:
                    continue
                finished = job["state"] in ("done", "cancelled")
                waiting = bool(job["settled"]) and int(job["uncertain_tasks"]) > 0
                if finished or waiting:
                    pending.discard(job_id)
                    seen.waiting_jobs += waiting
        for job_id, numbers in seen.jobs.items():
            got = user.answers(where[job_id], job_id)
            seen.answered_rows += sum(1 for n in numbers if got.get(n) in CHECKED)
        if pending:
            seen.error = f"{len(pending)} job(s) unfinished at the deadline"
    except (requests.RequestException, RuntimeError, KeyError) as exc:
        seen.error = f"{type(exc).__name__}: {exc}"
    finally:
        seen.reruns = user.reruns
        user.session.close()
    return seen


@dataclass
class RunFigures:
    """One run's results."""

    name: str
    seconds: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    billed: int = 0
    tasks: int = 0
    uploaded: int = 0
    uploaded_twice: int = 0
    rows: int = 0
    answered: int = 0
    waiting_for_word: int = 0
    uncertain_tasks: int = 0
    latency: tuple[int, float, float, float] = (0, 0.0, 0.0, 0.0)
    by_route: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)
    failed_requests: int = 0
    reruns: int = 0
    #: Why each uncertain task is uncertain (the store's words).
    uncertain_reasons: list[str] = field(default_factory=list)
    killed: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        """Return True when the targets are met: 0 duplicates, every row answered."""
        return self.uploaded_twice == 0 and self.answered == self.rows and not self.errors


def settings_for(time_scale: float, max_tasks: int) -> dict[str, str]:
    """Return the servers' and workers' settings: fbcheck's timing divided by the scale."""
    return {
        "FBCHECK_REGION": "CH",
        "FBCHECK_POLL_MIN_INTERVAL": f"{POLL_MIN / time_scale:g}",
        "FBCHECK_POLL_MAX_INTERVAL": f"{POLL_MAX / time_scale:g}",
        "FBCHECK_TARGET_EXPORT_DELAY": f"{TARGET_EXPORT / time_scale:g}",
        "FBCHECK_MAX_CONCURRENT_TASKS": str(max_tasks),
    }


def uploads_in_flight(team: LocalTeam) -> int:
    """Return how many tasks the store shows with an upload in flight (``creating``)."""
    with psycopg.connect(libpq_url(team.database_url)) as db:
        row = db.execute("SELECT COUNT(*) FROM tasks WHERE state = 'creating'").fetchone()
    return int(row[0]) if row else 0


def killer(team: LocalTeam, after_tasks: int, stop: threading.Event, figures: RunFigures) -> None:
    """SIGKILL worker 1 once ``after_tasks`` tasks are created, with no upload in flight."""
    started = time.monotonic()
    while not stop.is_set():
        created = int(team.vendor_ledger()["tasks_created"])
        if created >= after_tasks and uploads_in_flight(team) == 0:
            worker = team.kill_worker(0)
            figures.killed = (
                f"{worker.name} SIGKILLed {time.monotonic() - started:.1f} s into the run, after"
                f" {created} tasks were created (exit {worker.popen.returncode})"
            )
            return
        stop.wait(0.05)


def one_run(name: str, load: Load, args: argparse.Namespace, *, kill: bool) -> RunFigures:
    """Start a fresh team, run the load (killing a worker if asked), return the figures."""
    figures = RunFigures(name, load_before=os.getloadavg()[0])
    emulator = ["--profile", "realistic", "--time-scale", f"{args.time_scale:g}"]
    with LocalTeam(
        servers=args.servers,
        workers=args.workers,
        users=tuple(load.jobs),
        emulator_flags=emulator,
        settings=settings_for(args.time_scale, args.max_concurrent_tasks),
        keep_logs=args.logs / name.replace(" ", "-") if args.logs else None,
    ) as team:
        latencies = Latencies()
        results: dict[str, UserRun] = {}
        stop = threading.Event()
        started = time.monotonic()
        deadline = started + args.timeout
        threads = [
            threading.Thread(
                target=lambda u=user, j=jobs: results.__setitem__(
                    u, run_user(team, u, j, latencies, deadline)
                ),
                name=user,
                daemon=True,  # after Ctrl-C the team is stopped and nobody waits for them
            )
            for user, jobs in load.jobs.items()
        ]
        watcher = None
        if kill:
            after = max(1, len(load.jobs) * len(next(iter(load.jobs.values()))) // 3)
            watcher = threading.Thread(target=killer, args=(team, after, stop, figures))
            watcher.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        if watcher is not None:
            watcher.join()
            if not figures.killed:
                figures.errors.append("the run ended before a worker could be killed")
        figures.seconds = time.monotonic() - started
        ledger = team.vendor_ledger()
        uploads = team.vendor_uploads()
        people = team.user_figures()
        figures.billed = int(ledger["billed_total"])
        figures.tasks = int(ledger["tasks_created"])
        figures.uploaded = int(ledger["numbers_uploaded"])
        figures.uploaded_twice = sum(1 for times in uploads.values() if times > 1)
        figures.rows = load.rows
        figures.answered = sum(r.answered_rows for r in results.values())
        figures.waiting_for_word = sum(p.waiting_for_word for p in people.values())
        figures.uncertain_reasons = _uncertain_reasons(team)
        figures.uncertain_tasks = len(figures.uncertain_reasons)
        figures.reruns = sum(r.reruns for r in results.values())
        figures.latency = latencies.summary()
        routes = sorted({r for r, _, _ in latencies.samples})
        figures.by_route = {r: latencies.summary(r) for r in routes}
        figures.failed_requests = latencies.failures()
        figures.errors += [f"{u}: {r.error}" for u, r in sorted(results.items()) if r.error]
        figures.load_after = os.getloadavg()[0]
    return figures


def _uncertain_reasons(team: LocalTeam) -> list[str]:
    """Return, per task waiting for a person's word (an uncertain upload), the store's why."""
    with psycopg.connect(libpq_url(team.database_url)) as db:
        rows = db.execute(
            "SELECT ref, n_numbers, COALESCE(error, '') FROM tasks WHERE state = 'uncertain'"
            " ORDER BY ref"
        ).fetchall()
    return [f"task {ref} ({count:,} numbers): {error}" for ref, count, error in rows]


def _yes(value: bool) -> str:
    """Return "yes" or "no"."""
    return "yes" if value else "no"


def report(runs: list[RunFigures]) -> None:
    """Print the runs side by side."""

    def ms(value: float) -> str:
        """Return seconds as milliseconds."""
        return f"{value * 1000:,.0f} ms"

    lines: list[tuple[str, list[str]]] = [
        ("wall time", [f"{r.seconds:.1f} s" for r in runs]),
        ("load average (start / end)", [f"{r.load_before:.1f} / {r.load_after:.1f}" for r in runs]),
        ("billed requests", [f"{r.billed:,}" for r in runs]),
        ("tasks created", [f"{r.tasks:,}" for r in runs]),
        ("numbers uploaded", [f"{r.uploaded:,}" for r in runs]),
        ("numbers uploaded more than once (target 0)", [f"{r.uploaded_twice:,}" for r in runs]),
        (
            "every row answered",
            [
                f"{'yes' if r.answered == r.rows else 'no'} ({r.answered:,} of {r.rows:,})"
                for r in runs
            ],
        ),
        ("rows waiting for a person's word", [f"{r.waiting_for_word:,}" for r in runs]),
        ("uncertain uploads (tasks)", [f"{r.uncertain_tasks:,}" for r in runs]),
        (
            "API requests (failed: no answer or not 2xx)",
            [f"{r.latency[0]:,} ({r.failed_requests})" for r in runs],
        ),
        ("lost starts: command run again", [f"{r.reruns}" for r in runs]),
        ("API latency p50", [ms(r.latency[1]) for r in runs]),
        ("API latency p95", [ms(r.latency[2]) for r in runs]),
        ("API latency max", [ms(r.latency[3]) for r in runs]),
    ]
    for route in sorted({route for r in runs for route in r.by_route}):
        lines.append(
            (
                f"  p95 of {route}",
                [
                    f"{ms(r.by_route[route][2])} ({r.by_route[route][0]:,})"
                    if route in r.by_route
                    else "-"
                    for r in runs
                ],
            )
        )
    lines.append(("targets met", ["yes" if r.met else "NO" for r in runs]))
    width = max(len(label) for label, _ in lines)
    columns = [max(len(r.name), *(len(v[i]) for _, v in lines)) for i, r in enumerate(runs)]
    print()
    print(
        " " * width + "  " + "  ".join(r.name.ljust(c) for r, c in zip(runs, columns, strict=True))
    )
    for label, values in lines:
        cells = "  ".join(v.ljust(c) for v, c in zip(values, columns, strict=True))
        print(f"{label.ljust(width)}  {cells}")
    for r in runs:
        if r.killed:
            print(f"{r.name}: {r.killed}")
        if r.waiting_for_word or r.uncertain_tasks:
            print(
                f"{r.name}: {r.waiting_for_word:,} rows wait for a person's word on"
                f" {r.uncertain_tasks} uncertain upload(s): the vendor may have created and"
                " billed the task, so it is not sent again by itself (`fbcheck jobs resend`"
                " or `abandon` decides):"
            )
            for reason in r.uncertain_reasons:
                print(f"  {reason}")
        for error in r.errors:
            print(f"{r.name}: {error}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load without and with a killed worker; print the figures side by side."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=5, help="jobs per user")
    parser.add_argument("--numbers", type=int, default=2000, help="numbers per job")
    parser.add_argument("--overlap", type=float, default=0.5, help="share of a job from the pool")
    parser.add_argument("--shared-slices", type=int, default=10, help="slices of the shared pool")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=50.0, help="emulator clock speed-up")
    parser.add_argument(
        "--max-concurrent-tasks", type=int, default=5, help="FBCHECK_MAX_CONCURRENT_TASKS (5)"
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per run at most")
    parser.add_argument("--logs", type=Path, help="keep every process's log here (per run)")
    parser.add_argument(
        "--runs", choices=("both", "plain", "kill"), default="both", help="which runs (both)"
    )
    args = parser.parse_args(argv)
    if (
        min(args.users, args.jobs, args.numbers, args.shared_slices, args.servers) < 1
        or not 0 <= args.overlap <= 1
        or (args.runs != "plain" and args.workers < 2)
        or args.workers < 1
    ):
        print(
            "team_load: users, jobs, numbers, slices and servers must be at least 1, the"
            " overlap between 0 and 1, and a killed worker needs another (--workers 2 or more)",
            file=sys.stderr,
        )
        return 2
    reason = LocalCluster.why_not()
    if reason is not None:
        print(f"team_load: cannot run without a local PostgreSQL: {reason}", file=sys.stderr)
        return 3
    load = make_load(args.users, args.jobs, args.numbers, args.overlap, args.shared_slices)
    print(load.describe())
    print(
        f"team: {args.servers} team servers, {args.workers} workers, the emulator's realistic"
        f" profile (20 s queue, 11.5 numbers/s, 10 s export) at {args.time_scale:g} x; poll"
        f" bounds {POLL_MIN / args.time_scale:g} s / {POLL_MAX / args.time_scale:g} s, export"
        f" target {TARGET_EXPORT / args.time_scale:g} s; at most {args.max_concurrent_tasks}"
        " tasks running at once"
    )
    wanted = {"both": ("plain", "kill"), "plain": ("plain",), "kill": ("kill",)}[args.runs]
    runs: list[RunFigures] = []
    try:
        for name in wanted:
            title = "all workers" if name == "plain" else "worker 1 SIGKILLed"
            print(f"run: {title} ...", flush=True)
            runs.append(one_run(title, load, args, kill=name == "kill"))
    except LaunchError as exc:
        print(f"team_load: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(
            "team_load: stopped (Ctrl-C); every process and the cluster are gone", file=sys.stderr
        )
        return 130
    report(runs)
    return 0 if all(r.met for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
