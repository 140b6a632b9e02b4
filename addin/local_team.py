"""A whole team deployment on this computer, for ``make team-demo`` and ``bench/team_load.py``.

``LocalTeam`` starts, all on 127.0.0.1: a throwaway PostgreSQL cluster
(``addin.local_postgres``) with one database upgraded by ``fbcheck db upgrade``; the
vendor emulator (``python -m mock_server``, its flags as given); the users
(as ``fbcheck users add`` makes them, tokens kept); N ``fbcheck serve --team`` processes over https
with one local certificate (``addin.web.certs``, its CA given to the clients as
``REQUESTS_CA_BUNDLE``) in queue mode (``FBCHECK_SCHEDULER=queue``: they do no vendor
I/O); and M ``fbcheck worker`` processes sharing one data folder (as workers of one
machine do, so a later worker could take a dead one's create journal over).

Nothing outlives it: every process runs in its own process group and is stopped
(SIGTERM, then SIGKILL) by ``stop()``, which the context manager, an ``atexit`` hook
and SIGTERM all call; on Linux each child also gets SIGTERM should this process die
without stopping it (``PR_SET_PDEATHSIG``), and the cluster has its own watchdog.
The temporary folder (logs, data folder, certificate) is removed at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Self

import psycopg
import requests

from addin.engine.store import Store
from addin.engine.store.postgres import libpq_url
from addin.local_postgres import LocalCluster
from addin.upstream.accounting import Billing
from addin.web.certs import ensure_server_certificate

#: The vendor key the emulator accepts and the servers and workers use.
TEAM_KEY = "local-team-key"
#: The emulator's balance for that key: far above any run here.
TEAM_BALANCE = 10_000_000
#: Seconds a process may take to say it is ready (a loaded two-core machine is slow).
START_TIMEOUT = 120.0
#: Seconds a process may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 20.0
#: The modules run as ``python -m``: the fbcheck command line and the emulator.
FBCHECK = ("-m", "addin.cli")
EMULATOR = ("-m", "mock_server")

_PR_SET_PDEATHSIG = 1


class LaunchError(RuntimeError):
    """A part of the local team did not start; the message says which and why."""


@dataclass
class TeamProcess:
    """One child process of the team, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        """Return the last ``lines`` lines of its log."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def alive(self) -> bool:
        """Return True while the process runs."""
        return self.popen.poll() is None


def _die_with_parent(parent: int) -> Callable[[], None]:
    """Return a pre-exec hook: on Linux the child gets SIGTERM if ``parent`` dies."""

    def hook() -> None:
        """Ask the kernel for SIGTERM when the parent dies; stop if it already has."""
        name = ctypes.util.find_library("c")
        if sys.platform.startswith("linux") and name:
            ctypes.CDLL(name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return hook


class LocalTeam:
    """PostgreSQL, the emulator, team servers and workers on loopback; ``stop()`` ends all."""

    def __init__(
        self,
        *,
        servers: int = 2,
        workers: int = 2,
        users: Sequence[str] = ("alice", "bob"),
        emulator_flags: Sequence[str] = ("--profile", "demo"),
        settings: Mapping[str, str] | None = None,
        say: Callable[[str], None] | None = None,
        keep_logs: Path | None = None,
    ) -> None:
        """Keep what to start; ``settings`` are FBCHECK_* variables of servers and workers.

        ``keep_logs``: a folder the processes' logs are copied to when they stop.
        """
        self.keep_logs = keep_logs
        self.servers_wanted = servers
        self.workers_wanted = workers
        self.user_names = tuple(users)
        self.emulator_flags = tuple(emulator_flags)
        self.settings = dict(settings or {})
        self.say = say or (lambda text: print(text, flush=True))
        self.root = Path(tempfile.mkdtemp(prefix="fbcheck-team-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.data_dir = self.root / "data"
        self.cluster: LocalCluster | None = None
        self.database_url = ""
        self.emulator_url = ""
        self.emulator: TeamProcess | None = None
        self.servers: list[TeamProcess] = []
        self.server_urls: list[str] = []
        self.workers: list[TeamProcess] = []
        self.tokens: dict[str, str] = {}
        self.ca_file: Path | None = None
        self._stopped = False
        self._previous_sigterm: Any = None

    # -- start ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        """Start everything (stopping what started if a part fails)."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop everything."""
        self.stop()

    def start(self) -> Self:
        """Start the cluster, the emulator, the users, the servers and the workers."""
        atexit.register(self.stop)
        self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        """Start the parts in order; raise LaunchError naming the part that failed."""
        reason = LocalCluster.why_not()
        if reason is not None:
            raise LaunchError(f"no local PostgreSQL: {reason}")
        began = time.monotonic()
        self.say("starting a throwaway PostgreSQL cluster on 127.0.0.1 ...")
        try:
            self.cluster = LocalCluster.start()
        except RuntimeError as exc:
            raise LaunchError(f"the PostgreSQL cluster did not start: {exc}") from None
        self.database_url = self.cluster.url(self.cluster.create_database(prefix="team"))
        self.emulator = self._spawn("emulator", [*EMULATOR, "--port", "0", *self._key_flag()])
        self._run_fbcheck("db upgrade", ["db", "upgrade"])
        # In this process (one store connection), as `fbcheck users add NAME` does.
        store = Store(self.database_url)
        try:
            for name in self.user_names:
                self.tokens[name] = store.add_user(name)
        finally:
            store.close()
        line = self._wait_for(self.emulator, re.compile(r"listening on (http://\S+)"))
        self.emulator_url = line.group(1)
        certificate = ensure_server_certificate(data_dir=self.data_dir, home=self.root)
        self.ca_file = certificate.ca_file
        tls = ["--cert", str(certificate.certfile), "--key", str(certificate.keyfile)]
        for index in range(1, self.servers_wanted + 1):
            argv = [*FBCHECK, "serve", "--team", "--port", "0", *tls]
            self.servers.append(self._spawn(f"server{index}", argv))
        for index in range(1, self.workers_wanted + 1):
            argv = [*FBCHECK, "worker", "--name", f"worker{index}"]
            self.workers.append(self._spawn(f"worker{index}", argv))
        started = re.compile(r"FBCheck team server on https://127\.0\.0\.1:(\d+)")
        for server in self.servers:
            port = self._wait_for(server, started).group(1)
            self._wait_for(server, re.compile(r"Add-in manifest"))
            # The certificate names localhost (and the loopback addresses).
            self.server_urls.append(f"https://localhost:{port}")
        for worker in self.workers:
            self._wait_for(worker, re.compile(r"fbcheck worker: working on"))
        self.say(
            f"team ready after {time.monotonic() - began:.1f} s: PostgreSQL on port"
            f" {self.cluster.port}, the emulator, {len(self.servers)} servers,"
            f" {len(self.workers)} workers, {len(self.tokens)} users"
        )

    def _key_flag(self) -> list[str]:
        """Return the emulator's flags: the team's key with its balance, then the caller's."""
        return ["--api-key", f"{TEAM_KEY}:{TEAM_BALANCE}", *self.emulator_flags]

    def server_env(self) -> dict[str, str]:
        """Return the environment of the servers, the workers and ``fbcheck users``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
        env.update(
            FBCHECK_DATA_DIR=str(self.data_dir),
            FBCHECK_DATABASE_URL=self.database_url,
            FBCHECK_SCHEDULER="queue",
            FBCHECK_API_KEY=TEAM_KEY,
            FBCHECK_API_URL=self.emulator_url or "http://127.0.0.1:9",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=_source_root(env.get("PYTHONPATH")),
        )
        env.update(self.settings)
        return env

    def laptop_env(self, user: str) -> dict[str, str]:
        """Return the environment of ``fbcheck check --server`` run by ``user``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
        env.update(
            FBCHECK_TOKEN=self.tokens[user],
            FBCHECK_DATA_DIR=str(self.root / f"laptop-{user}"),  # never made: nothing local
            REQUESTS_CA_BUNDLE=str(self.ca_file),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=_source_root(env.get("PYTHONPATH")),
        )
        return env

    def _spawn(self, name: str, argv: Sequence[str]) -> TeamProcess:
        """Start ``python ARGV`` in its own process group, its output in ``logs/NAME.log``."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, *argv],
                env=self.server_env(),
                cwd=self.root,  # no stray .env file is read
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        return TeamProcess(name, popen, log)

    def _run_fbcheck(self, what: str, argv: Sequence[str]) -> str:
        """Run one ``fbcheck`` command to its end; return its standard output."""
        done = subprocess.run(
            [sys.executable, *FBCHECK, *argv],
            env=self.server_env(),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise LaunchError(f"fbcheck {what} failed ({done.returncode}): {done.stderr[-800:]}")
        return done.stdout.strip()

    def _wait_for(self, process: TeamProcess, pattern: re.Pattern[str]) -> re.Match[str]:
        """Wait until ``process`` writes a line matching ``pattern``; return the match."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = process.log.read_text(encoding="utf-8", errors="replace")
            found = pattern.search(text)
            if found is not None:
                return found
            if not process.alive:
                raise LaunchError(
                    f"{process.name} stopped ({process.popen.returncode}) before it was ready:\n"
                    + process.tail()
                )
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"{process.name} was not ready after {START_TIMEOUT:.0f} s:\n" + process.tail()
                )
            time.sleep(0.1)

    # -- while it runs ----------------------------------------------------------------

    def kill_worker(self, index: int = 0) -> TeamProcess:
        """Kill worker ``index`` with SIGKILL (a crash, a lost machine); return it."""
        worker = self.workers[index]
        os.killpg(worker.popen.pid, signal.SIGKILL)
        worker.popen.wait(10)
        return worker

    def check_alive(self) -> None:
        """Raise LaunchError if a server or the emulator has stopped by itself."""
        for part in [*self.servers, *([self.emulator] if self.emulator else [])]:
            if not part.alive:
                raise LaunchError(f"{part.name} stopped ({part.popen.returncode}):\n" + part.tail())

    # -- what happened --------------------------------------------------------------

    def vendor_ledger(self) -> dict[str, Any]:
        """Return the emulator's ledger of the team's key (``GET /_mock/ledger``)."""
        answer = requests.get(f"{self.emulator_url}/_mock/ledger", timeout=60)
        answer.raise_for_status()
        return dict(answer.json()["keys"][TEAM_KEY])

    def vendor_uploads(self) -> Counter[str]:
        """Return how many times the emulator was sent each number (``/_mock/tasks?numbers=1``)."""
        url = f"{self.emulator_url}/_mock/tasks"
        answer = requests.get(url, params={"numbers": "1"}, timeout=120)
        answer.raise_for_status()
        return Counter(n for t in answer.json()["tasks"] for n in t["uploaded_numbers"])

    def user_figures(self) -> dict[str, UserFigures]:
        """Return, per user who started jobs, what the store says their jobs got and cost."""
        with psycopg.connect(libpq_url(self.database_url)) as db:
            numbers = db.execute(_NUMBERS_BY_USER).fetchall()
            billed = db.execute(_BILLED_BY_USER).fetchall()
        figures = {
            str(row[0]): UserFigures(*(int(value or 0) for value in row[1:])) for row in numbers
        }
        for user, billing, count in billed:
            if str(user) in figures:
                if billing == Billing.BILLED.value:
                    figures[str(user)].billed += int(count)
                elif billing == Billing.POSSIBLY.value:
                    figures[str(user)].possibly_billed += int(count)
        return figures

    # -- stop -------------------------------------------------------------------------

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Stop everything, then leave as SIGTERM asks."""
        self.stop()
        raise SystemExit(128 + signum)

    def stop(self) -> None:
        """Stop every process (workers first), the cluster, and remove the folder. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        parts = [*self.workers, *self.servers, *([self.emulator] if self.emulator else [])]
        for part in parts:
            _signal_group(part.popen, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for part in parts:
            with contextlib.suppress(subprocess.TimeoutExpired):
                part.popen.wait(max(0.1, deadline - time.monotonic()))
            _signal_group(part.popen, signal.SIGKILL)  # the group too: nothing left behind
            with contextlib.suppress(subprocess.TimeoutExpired):
                part.popen.wait(10)
        if self.cluster is not None:
            self.cluster.stop()
        if self.keep_logs is not None:
            with contextlib.suppress(OSError):  # the logs are a help; cleaning up comes first
                shutil.copytree(self.logs, self.keep_logs, dirs_exist_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(ValueError):  # atexit and signals: the main thread only
            atexit.unregister(self.stop)
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)


@dataclass
class UserFigures:
    """One user's jobs, from the store: their numbers and what answered them."""

    jobs: int
    numbers: int
    answered: int
    #: Numbers in tasks their own jobs created (uploaded for them).
    uploaded_for_them: int
    #: Numbers answered from the shared cache (a colleague's earlier work).
    from_cache: int
    #: Numbers that joined a task a colleague's job created (in flight when they asked).
    joined: int
    #: Numbers waiting on an uncertain upload, for a person's word.
    waiting_for_word: int
    tasks_created: int
    billed: int = 0
    possibly_billed: int = 0


#: Per user: jobs, numbers, answered, uploaded for them, from the cache, joined, waiting, tasks.
_NUMBERS_BY_USER = """
SELECT j.started_by,
       COUNT(DISTINCT j.job_id),
       COUNT(*),
       COUNT(jn.answer),
       COUNT(*) FILTER (WHERE t.job_id = jn.job_id),
       COUNT(*) FILTER (WHERE jn.task_ref IS NULL AND jn.answer IS NOT NULL),
       COUNT(*) FILTER (WHERE t.job_id <> jn.job_id),
       COUNT(*) FILTER (WHERE jn.answer IS NULL AND t.state = 'uncertain'),
       (SELECT COUNT(*) FROM tasks t2 JOIN jobs j2 ON j2.job_id = t2.job_id
         WHERE j2.started_by = j.started_by)
  FROM job_numbers jn
  JOIN jobs j ON j.job_id = jn.job_id
  LEFT JOIN tasks t ON t.ref = jn.task_ref
 GROUP BY j.started_by
"""
#: Per user: the vendor requests recorded for the tasks their jobs created, by billing.
_BILLED_BY_USER = """
SELECT j.started_by, r.billing, SUM(r.count)
  FROM requests r
  JOIN tasks t ON t.ref = r.ref
  JOIN jobs j ON j.job_id = t.job_id
 GROUP BY j.started_by, r.billing
"""


def _signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the process group ``popen`` leads, if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signum)


def _source_root(existing: str | None) -> str:
    """Return PYTHONPATH with this checkout's root first (``addin`` and ``mock_server``)."""
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join([root, existing]) if existing else root
