"""A team server instance killed with SIGKILL mid-job loses nothing (issue 13).

Real processes on loopback: two ``fbcheck serve --team`` instances (A and B) over TLS
sharing one throwaway PostgreSQL database, ``fbcheck worker`` processes in queue
mode, the vendor emulator, and ``fbcheck check --server`` as a laptop would run it.
Instance A is killed while a job runs (its tasks created, none done) or while a file's
numbers are still being sent to it; the work goes on, and instance B continues the
same job (the command line by the input's fingerprint, the pane by the job's id).

The emulator's tasks wait in its queue for an hour of its clock, so "mid-job" is a
state, not a race: the test moves the clock once the kill is done.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
import requests

from addin.engine.states import TaskState
from addin.engine.store import Store, TaskRecord
from addin.web.certs import ServerCertificate
from tests.cli_runs import laptop_env, read_output, start, swiss, uploads, write_input
from tests.conftest import Emulator, Emulators
from tests.test_workers import db_upgrade, start_worker, stop
from tests.web.conftest import SECRET_KEY
from tests.web.engine_app import column_of, payload
from tests.web.test_cli import REPO
from tests.web.test_team_cli import CODE

pytestmark = pytest.mark.slow

#: An hour of the emulator's clock in its queue: tasks stay open until the test moves it.
QUEUE_HOUR = 3600


@pytest.fixture
def queue_url(pg_store_url: str, tmp_path: Path) -> str:
    """Return a database at the store's head revision with the queue's tables."""
    db_upgrade(pg_store_url, tmp_path)
    return pg_store_url


@pytest.fixture
def vendor(emulators: Emulators[Emulator]) -> Emulator:
    """The emulator on the demo pace, its tasks held in its queue for an hour of its clock."""
    return emulators.start(
        MOCK_PROFILE="demo", MOCK_QUEUE_DELAY=QUEUE_HOUR, MOCK_API_KEYS={SECRET_KEY: 1_000_000}
    )


def wait_for(check: Callable[[], Any], what: str, timeout: float) -> None:
    """Wait until ``check()`` is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def team_env(
    root: Path, name: str, url: str, vendor: Emulator, scheduler: str, **extra: str
) -> dict[str, str]:
    """Return the environment of one team machine (its own data folder, the shared store)."""
    key_file = root / "vendor-key"
    key_file.write_text(SECRET_KEY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        HOME=str(root / "home"),
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        FBCHECK_DATA_DIR=str(root / name),
        FBCHECK_DATABASE_URL=url,
        FBCHECK_SCHEDULER=scheduler,
        FBCHECK_API_KEY_FILE=str(key_file),
        FBCHECK_API_URL=vendor.url,
        FBCHECK_POLL_MIN_INTERVAL="0.2",
        FBCHECK_POLL_MAX_INTERVAL="1",
        FBCHECK_MAX_NUMBERS_PER_TASK="100",
        FBCHECK_MAX_CONCURRENT_TASKS="20",
        FBCHECK_REGION="CH",
    )
    env.update(extra)
    return env


class Instance:
    """One ``fbcheck serve --team`` process (TLS with the test certificate, a free port)."""

    def __init__(self, root: Path, name: str, env: dict[str, str], cert: ServerCertificate):
        """Start it (``ready`` waits for its start lines); its output goes to ``<name>.log``."""
        self.name = name
        self.log = root / f"{name}.log"
        argv = ["serve", "--team", "--port", "0", "--cert", str(cert.certfile)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", CODE, *argv, "--key", str(cert.keyfile)],
                env=env,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.ca = str(cert.ca_file)
        self.port = 0
        self.url = ""

    def ready(self) -> Instance:
        """Wait for the start lines; learn the port. Return self."""
        wait_for(
            lambda: "Add-in manifest" in self.output() or self.process.poll() is not None,
            f"{self.name} to start",
            60,
        )
        first = self.output().splitlines()[0]
        assert first.startswith("FBCheck team server on https://127.0.0.1:"), self.output()
        self.port = int(first.split()[4].rsplit(":", 1)[1])
        self.url = f"https://localhost:{self.port}"
        return self

    def output(self) -> str:
        """Return what the process printed so far."""
        return self.log.read_text(errors="replace")

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        """Send one API request with the bearer token; it must answer 200."""
        response = requests.request(
            method,
            self.url + path,
            headers={"Authorization": f"Bearer {token}"},
            verify=self.ca,
            timeout=60,
            **kwargs,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is released but what the OS releases."""
        self.process.kill()
        assert self.process.wait(10) == -signal.SIGKILL

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL if it lingers)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Cutter:
    """A TCP relay on loopback that kills a server once this many bytes went towards it.

    The TLS bytes are not read, only counted: past ``after`` bytes from the client the
    server is killed before anything more is relayed, so the request carrying them
    (an upload's chunk of numbers) never arrives whole.
    """

    def __init__(self, target: Instance, after: int) -> None:
        """Listen on a free port in front of ``target``."""
        self.target = target
        self.after = after
        self.sent = 0
        self.killed = threading.Event()
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.url = f"https://localhost:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        """Relay each connection until the listener closes."""
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target.port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        """Copy one way; towards the server, count and kill it past the threshold."""
        try:
            while data := source.recv(4096):
                if counted:
                    with self._lock:
                        self.sent += len(data)
                        if self.sent > self.after and not self.killed.is_set():
                            self.target.kill()
                            self.killed.set()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.close()

    def close(self) -> None:
        """Stop listening."""
        self.listener.close()


def newest_tasks(store: Store) -> list[TaskRecord]:
    """Return the tasks of the newest job in the store (none without a job)."""
    jobs = store.jobs(limit=1)
    return store.job_tasks(jobs[0].job_id) if jobs else []


def created_and_stored(store: Store, count: int) -> bool:
    """Return True once the newest job has ``count`` tasks, each with its vendor id stored."""
    tasks = newest_tasks(store)
    return len(tasks) == count and all(
        t.task_id is not None and t.state == TaskState.RUNNING for t in tasks
    )


def read_stdout_until(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    """Read the process's standard output until a line holds ``needle``; return what was read."""
    assert proc.stdout is not None
    seen: list[str] = []
    found = threading.Event()

    def pump() -> None:
        """Read lines until the one wanted (or the end)."""
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if needle in line:
                found.set()
                return

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if not found.wait(timeout):
        pytest.fail(f"no {needle!r} in the output: {''.join(seen)}")
    return "".join(seen)


@pytest.fixture
def team(
    tmp_path: Path, queue_url: str, vendor: Emulator, certificate: ServerCertificate
) -> Iterator[Callable[..., tuple[Instance, Instance]]]:
    """Start instances A and B at once (``team(scheduler, **env)``); both stop at teardown."""
    running: list[Instance] = []

    def starter(scheduler: str, **extra: str) -> tuple[Instance, Instance]:
        """Start A and B side by side and wait for both."""
        for name in ("a", "b"):
            env = team_env(tmp_path, name, queue_url, vendor, scheduler, **extra)
            running.append(Instance(tmp_path, name, env, certificate))
        return running[0].ready(), running[1].ready()

    yield starter
    for instance in running:
        instance.stop()


@pytest.fixture
def workers(tmp_path: Path, queue_url: str, vendor: Emulator) -> Iterator[list[Any]]:
    """One ``fbcheck worker`` with its own data folder; stopped at teardown."""
    env = team_env(tmp_path, "w1", queue_url, vendor, "queue")
    started = [start_worker(env, tmp_path, "w1")]
    yield started
    for worker in started:
        stop(worker)


def alice_token(queue_url: str) -> str:
    """Add alice to the shared store (as `fbcheck users add` does, beside any instance)."""
    with closing(Store(queue_url)) as store:
        return store.add_user("alice")


# -- the command line: A killed mid-job, B continues it ---------------------------------


@pytest.mark.parametrize("scheduler", ["queue", "inprocess"])
def test_a_server_killed_mid_job_loses_nothing_and_another_instance_continues_it(
    tmp_path: Path,
    queue_url: str,
    vendor: Emulator,
    certificate: ServerCertificate,
    team: Callable[..., tuple[Instance, Instance]],
    scheduler: str,
    request: pytest.FixtureRequest,
) -> None:
    # queue: the workers do the vendor I/O, the instances none. inprocess: each instance
    # runs its own runner; B takes A's tasks over when A's lease (3 s here) expires.
    extra = {"FBCHECK_LEASE_SECONDS": "3"} if scheduler == "inprocess" else {}
    if scheduler == "queue":
        request.getfixturevalue("workers")
    alice = alice_token(queue_url)
    a, b = team(scheduler, **extra)
    for instance in (a, b):
        no_io = "No vendor I/O in this process" in instance.output()
        assert no_io is (scheduler == "queue"), instance.output()
    values = swiss(300)  # three tasks of 100
    source = write_input(tmp_path / "in.csv", values)
    out = tmp_path / "out.csv"
    laptop = laptop_env(
        tmp_path,
        FBCHECK_TOKEN=alice,
        REQUESTS_CA_BUNDLE=a.ca,
        FBCHECK_SERVER_RETRY_SECONDS="2",
    )
    with closing(Store(queue_url)) as store:
        first = start(tmp_path, laptop, "check", "--server", a.url, str(source), "-o", str(out))
        wait_for(lambda: created_and_stored(store, 3), "three tasks created and stored", 60)
        (job,) = store.jobs()
        owners = {t.lease_owner for t in store.job_tasks(job.job_id)}
        assert vendor.ledger()["tasks_created"] == 3
        a.kill()
        _, said = first.communicate(timeout=60)
        assert first.returncode == 11, said  # A is gone: the run says so and stops
        assert "no answer from the server" in said
        assert not out.exists()
        # The same command on B continues the same job: found by the input's fingerprint.
        again = start(tmp_path, laptop, "check", "--server", b.url, str(source), "-o", str(out))
        head = read_stdout_until(again, "continuing job")
        assert f"continuing job {job.job_id} on {b.url}" in head
        if scheduler == "inprocess":
            # B's runner takes A's tasks over (A's lease expired), with nothing sent again.
            wait_for(
                lambda: {t.lease_owner for t in store.job_tasks(job.job_id)}.isdisjoint(owners),
                "B's runner to lease A's tasks",
                30,
            )
        vendor.advance(QUEUE_HOUR)  # the vendor now works on the tasks
        rest, stderr = again.communicate(timeout=90)
        assert again.returncode == 0, head + rest + stderr
        assert store.job(job.job_id) is not None
        assert [j.job_id for j in store.jobs()] == [job.job_id]  # no second job
    rows = read_output(out)
    assert [r["phone"] for r in rows] == values
    assert {r["facebook"] for r in rows} <= {"yes", "no", "ban"}
    # Every number uploaded exactly once, and no create beyond the three.
    assert uploads(vendor) == Counter(values)
    assert vendor.ledger()["tasks_created"] == 3
    assert len(vendor.tasks()) == 3


def test_a_server_killed_while_the_numbers_are_sent_bills_nothing_and_b_starts_cleanly(
    tmp_path: Path,
    queue_url: str,
    vendor: Emulator,
    team: Callable[..., tuple[Instance, Instance]],
    workers: list[Any],
) -> None:
    alice = alice_token(queue_url)
    bigger = {"FBCHECK_MAX_NUMBERS_PER_TASK": "1000"}
    a, b = team("queue", **bigger)
    values = swiss(2000)  # one chunk of about 34 kB: A dies half way through it
    source = write_input(tmp_path / "in.csv", values)
    out = tmp_path / "out.csv"
    cutter = Cutter(a, after=20_000)
    laptop = laptop_env(
        tmp_path, FBCHECK_TOKEN=alice, REQUESTS_CA_BUNDLE=a.ca, FBCHECK_SERVER_RETRY_SECONDS="2"
    )
    args = (str(source), "-o", str(out), "--yes")
    try:
        first = start(tmp_path, laptop, "check", "--server", cutter.url, *args)
        _, said = first.communicate(timeout=60)
    finally:
        cutter.close()
    assert cutter.killed.is_set()
    assert first.returncode == 11, said
    assert "estimate" not in said  # killed before any plan
    with closing(Store(queue_url)) as store:
        assert store.jobs() == []  # nothing started, nothing billed for the dead upload
        assert vendor.ledger()["tasks_created"] == 0
        again = start(tmp_path, laptop, "check", "--server", b.url, *args)
        head = read_stdout_until(again, "estimate")
        assert "continuing job" not in head  # a clean start: the dead session was A's alone
        wait_for(lambda: created_and_stored(store, 2), "two tasks created and stored", 60)
        vendor.advance(QUEUE_HOUR)
        rest, stderr = again.communicate(timeout=90)
        assert again.returncode == 0, head + rest + stderr
        assert len(store.jobs()) == 1
    assert len(read_output(out)) == 2000
    assert uploads(vendor) == Counter(values)
    assert vendor.ledger()["tasks_created"] == 2


# -- the task pane's routes: started on A, followed and written through B ----------------


def test_a_pane_job_started_on_a_is_followed_and_written_through_b_after_a_dies(
    tmp_path: Path,
    queue_url: str,
    vendor: Emulator,
    team: Callable[..., tuple[Instance, Instance]],
    workers: list[Any],
) -> None:
    alice = alice_token(queue_url)
    a, b = team("queue")
    values = swiss(250, start=5000)  # three tasks: 84, 83, 83
    selection = payload((f"A1:A{len(values)}", values))
    started = a.call("POST", "/xlwings/check-selection", alice, json=selection)
    job_id = started["job_id"]
    assert job_id, started
    with closing(Store(queue_url)) as store:
        wait_for(lambda: created_and_stored(store, 3), "three tasks created and stored", 60)
    a.kill()
    # B answers for the job A started: its progress, then its answers into the cells.
    assert b.call("GET", f"/api/jobs/{job_id}", alice)["started_by"] == "alice"
    vendor.advance(QUEUE_HOUR)
    wait_for(
        lambda: b.call("GET", f"/api/jobs/{job_id}", alice)["finished"],
        "the job to finish",
        60,
    )
    written = b.call("POST", f"/xlwings/write-results/{job_id}", alice, json=selection)
    assert written["finished"] is True
    assert written["written"] == len(values)
    answers = column_of(written["actions"], "B")
    assert sorted(answers) == list(range(1, len(values) + 1))
    assert set(answers.values()) <= {"yes", "no", "ban"}
    assert uploads(vendor) == Counter(values)
    assert vendor.ledger()["tasks_created"] == 3
