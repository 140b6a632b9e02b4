"""Never pay twice (issue 7): one test per row of the issue's table, on loopback.

Every test checks the same promises: no task created twice without the user's word
(the numbers each task uploaded, from ``/_mock/tasks``), no paid task given up, the
billed figures the CLI prints equal the emulator's ledger (possibly billed requests
counted apart), every row answered or ``pending`` with a true reason, and no hang
(every wait has a timeout). Process boundaries are real subprocesses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from addin.web.engine_host import host_of
from mock_server import create_app as create_emulator
from mock_server.models import Emulator
from mock_server.server import BackgroundServer
from tests.cli_runs import read_output, swiss, write_input
from tests.conftest import wait_for_stored_tasks, wait_for_upload_in_flight
from tests.web.conftest import AddinClient
from tests.web.engine_app import engine_app, ok, payload, post, wait_job

KEY = "money-key"
OTHER_KEY = "other-key"
ANSWERS = {"yes", "no", "ban"}
RUN_TIMEOUT = 120.0


@dataclass
class Vendor:
    """The emulator over loopback HTTP, and its in-process object (to top up balances)."""

    app: Flask
    server: BackgroundServer

    @property
    def url(self) -> str:
        """Return the base URL."""
        return self.server.url

    def configure(self, **changes: Any) -> None:
        """Change run-time settings (``PUT /_mock/config``)."""
        response = requests.put(self.url + "/_mock/config", json=changes, timeout=5)
        assert response.status_code == 200, response.text

    def ledger(self, key: str = KEY) -> dict[str, Any]:
        """Return one key's ledger."""
        body = requests.get(self.url + "/_mock/ledger", timeout=5).json()
        return body["keys"][key]  # type: ignore[no-any-return]

    def received(self, key: str = KEY) -> int:
        """Return how many create requests' files the vendor has read whole for ``key``."""
        body = requests.get(self.url + "/_mock/received", timeout=5).json()
        return body["keys"][key]["uploads_received"]  # type: ignore[no-any-return]

    def tasks(self) -> list[dict[str, Any]]:
        """Return every task the vendor created, with its uploaded numbers."""
        body = requests.get(self.url + "/_mock/tasks?numbers=1", timeout=5).json()
        return body["tasks"]  # type: ignore[no-any-return]

    def uploads(self) -> Counter[str]:
        """Return how many times each number was uploaded in all."""
        return Counter(n for task in self.tasks() for n in task["uploaded_numbers"])

    def top_up(self, key: str, balance: int) -> None:
        """Set a key's balance (``api_keys`` cannot be changed through ``PUT /_mock/config``)."""
        model: Emulator = self.app.extensions["mock_server"]
        with model._lock:
            model._accounts[key].balance = balance

    def wait_created(self, count: int, timeout: float = 60.0) -> None:
        """Wait until the vendor has created ``count`` tasks for the test key."""
        deadline = time.monotonic() + timeout
        while self.ledger()["tasks_created"] < count:
            assert time.monotonic() < deadline, f"the vendor did not create {count} task(s)"
            time.sleep(0.05)

    def wait_received(self, count: int, timeout: float = 60.0) -> None:
        """Wait until the vendor has read ``count`` create requests' files whole."""
        deadline = time.monotonic() + timeout
        while self.received() < count:
            assert time.monotonic() < deadline, f"the vendor did not receive {count} upload(s)"
            time.sleep(0.02)


def start_vendor(**config: Any) -> tuple[Flask, BackgroundServer]:
    """Return an emulator app on the demo profile and its (unstarted) server."""
    app = create_emulator(
        {
            "MOCK_PROFILE": "demo",
            "MOCK_API_KEYS": {KEY: 1_000_000, OTHER_KEY: 1_000_000},
            **config,
        }
    )
    return app, BackgroundServer(app)


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    """The emulator on 127.0.0.1, demo profile (about 500 numbers/s after a 1 s queue)."""
    app, server = start_vendor()
    with server:
        yield Vendor(app, server)


def env_for(tmp_path: Path, vendor: Vendor, **extra: str) -> dict[str, str]:
    """Return the environment of a live CLI run against the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        FBCHECK_POLL_MIN_INTERVAL="0.05",
        FBCHECK_POLL_MAX_INTERVAL="0.3",
        FBCHECK_REGION="CH",
        FBCHECK_API_KEY=KEY,
        FBCHECK_API_URL=vendor.url,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    """Return the command line of ``fbcheck ARGS``."""
    return [sys.executable, "-m", "addin.cli", *args]


def fbcheck(
    tmp_path: Path, env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to the end (bounded by a timeout) and return its result."""
    return subprocess.run(
        [*prefix, *cli(*args)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


class Running:
    """A CLI started in the background whose output is read as it comes."""

    def __init__(
        self, tmp_path: Path, env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()
    ) -> None:
        """Start ``fbcheck ARGS`` and read both streams in threads."""
        self.proc = subprocess.Popen(
            [*prefix, *cli(*args)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        """Collect the lines of one stream."""
        for line in stream:
            lines.append(line)

    @property
    def stdout(self) -> str:
        """Return standard output so far."""
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        """Return standard error so far."""
        return "".join(self.err)

    def wait_for(self, text: str, *, stream: str = "out", timeout: float = 60.0) -> None:
        """Wait until ``text`` shows in stdout (or stderr)."""
        deadline = time.monotonic() + timeout
        while text not in (self.stdout if stream == "out" else self.stderr):
            assert self.proc.poll() is None or time.monotonic() < deadline, (
                f"{text!r} never came: {self.stdout}\n{self.stderr}"
            )
            assert time.monotonic() < deadline, f"{text!r} never came: {self.stdout}{self.stderr}"
            time.sleep(0.02)

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        """Wait for the end (a hang fails the test) and return the exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            pytest.fail(f"the CLI hung: {self.stdout}\n{self.stderr}")
        self._close()
        return code

    def _close(self) -> None:
        """Join the readers and close the pipes."""
        for reader in self._readers:
            reader.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        """SIGKILL the process if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._close()


_RUN_BILLED = re.compile(
    r"(\d[\d,]*) billed requests were made for job \S+ while this run followed it"
    r"(?:, and (\d[\d,]*) that may have been billed)?"
)
_JOB = re.compile(r"fbcheck jobs resend (\S+)")


def run_billing(stdout: str) -> tuple[int, int]:
    """Return (billed, possibly billed) that one run printed."""
    match = _RUN_BILLED.search(stdout)
    assert match, stdout
    return int(match[1].replace(",", "")), int((match[2] or "0").replace(",", ""))


def job_of(text: str) -> str:
    """Return the job id of the printed resend command."""
    match = _JOB.search(text)
    assert match, text
    return match[1]


def assert_each_uploaded_once(vendor: Vendor, values: list[str]) -> None:
    """No number was uploaded twice (nobody gave the word to send anything again)."""
    uploads = vendor.uploads()
    assert sorted(uploads) == sorted(set(values))
    assert set(uploads.values()) == {1}, [n for n, c in uploads.items() if c > 1]


def assert_all_answered(path: Path, values: list[str]) -> None:
    """Every row of the output has an answer, in input order."""
    rows = read_output(path)
    assert [r["e164"] for r in rows] == values
    assert {r["facebook"] for r in rows} <= ANSWERS, Counter(r["facebook"] for r in rows)


def assert_pending_rows_say_why(path: Path, values: list[str], why: str) -> int:
    """Rows are answered or ``pending`` with the reason; return how many are pending."""
    rows = read_output(path)
    assert [r["e164"] for r in rows] == values
    assert {r["facebook"] for r in rows} <= ANSWERS | {"pending"}
    pending = [r for r in rows if r["facebook"] == "pending"]
    assert all(why in r["reason"] for r in pending), pending[:1]
    return len(pending)


# -- row 1 and row 10: create faults ---------------------------------------------------------


BILLED_FAULTS = ["gateway_504", "drop", "html_200"]


def _uncertain_first_run(
    tmp_path: Path, vendor: Vendor, fault: str, values: list[str], **extra: str
) -> tuple[dict[str, str], str]:
    """Run a check whose first create gets ``fault``; assert the wait; return (env, job)."""
    vendor.configure(create_fault=fault, create_fault_count=1, hold_seconds=3)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(
        tmp_path, vendor, FBCHECK_MAX_NUMBERS_PER_TASK="20", FBCHECK_MAX_CONCURRENT_TASKS="1"
    )
    env.update(extra)
    first = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "out.csv"), "--yes")
    assert first.returncode == 6, first.stdout + first.stderr
    job = job_of(first.stdout)
    assert f"fbcheck jobs abandon {job}" in first.stdout
    assert "WAITING FOR YOUR WORD: 20 numbers in 1 upload(s)" in first.stdout
    # One task per chunk at the vendor: the uncertain one was not sent again.
    assert vendor.ledger()["tasks_created"] == 2
    assert_each_uploaded_once(vendor, values)
    billed, possibly = run_billing(first.stdout)
    # A 2xx is billed whatever its body (the accounting table); the rest may have been.
    assert possibly == (0 if fault == "html_200" else 1)
    # Every request the vendor billed is counted: as billed where the answer came back,
    # as possibly billed where it did not (here the vendor did bill it).
    assert billed + possibly == vendor.ledger()["billed_total"]
    pending = assert_pending_rows_say_why(
        tmp_path / "out.csv", values, f"fbcheck jobs resend {job}"
    )
    assert pending == 20
    return env, job


@pytest.mark.parametrize("fault", BILLED_FAULTS)
def test_uncertain_create_waits_then_abandon(tmp_path: Path, vendor: Vendor, fault: str) -> None:
    values = swiss(40)
    env, job = _uncertain_first_run(tmp_path, vendor, fault, values)
    created = vendor.ledger()["tasks_created"]
    gave_up = fbcheck(tmp_path, env, "jobs", "abandon", job)
    assert gave_up.returncode == 0, gave_up.stdout + gave_up.stderr
    assert "gave up 1 task(s)" in gave_up.stdout
    assert "20 error" in gave_up.stdout
    assert vendor.ledger()["tasks_created"] == created
    assert_each_uploaded_once(vendor, values)


@pytest.mark.parametrize("fault", BILLED_FAULTS)
def test_uncertain_create_waits_then_resend(tmp_path: Path, vendor: Vendor, fault: str) -> None:
    values = swiss(40)
    env, job = _uncertain_first_run(tmp_path, vendor, fault, values)
    again = fbcheck(tmp_path, env, "jobs", "resend", job)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "sending 1 upload(s)" in again.stdout
    # The second task exists because the user said so; the other chunk was not resent.
    assert vendor.ledger()["tasks_created"] == 3
    uploads = vendor.uploads()
    assert Counter(uploads.values()) == {1: 20, 2: 20}
    source = tmp_path / "in.csv"
    final = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "out.csv"))
    assert final.returncode == 0, final.stdout + final.stderr
    assert vendor.ledger()["tasks_created"] == 3
    assert_all_answered(tmp_path / "out.csv", values)


def test_vendor_json_500_is_not_created_and_retried_without_asking(
    tmp_path: Path, vendor: Vendor
) -> None:
    vendor.configure(create_fault="json_500", create_fault_count=1)
    values = swiss(40)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(
        tmp_path, vendor, FBCHECK_MAX_NUMBERS_PER_TASK="20", FBCHECK_MAX_CONCURRENT_TASKS="1"
    )
    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "out.csv"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WAITING FOR YOUR WORD" not in result.stdout
    assert vendor.ledger()["tasks_created"] == 2
    assert_each_uploaded_once(vendor, values)
    billed, possibly = run_billing(result.stdout)
    assert (billed, possibly) == (vendor.ledger()["billed_total"], 0)
    assert_all_answered(tmp_path / "out.csv", values)


def test_html_500_is_uncertain_because_a_proxy_may_have_forwarded_it(
    tmp_path: Path, vendor: Vendor
) -> None:
    # The emulator creates nothing, but the client cannot tell a proxy's HTML 500 from
    # one sent after forwarding: the table makes any non-JSON 5xx uncertain.
    vendor.configure(create_fault="html_500", create_fault_count=1)
    values = swiss(40)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(
        tmp_path, vendor, FBCHECK_MAX_NUMBERS_PER_TASK="20", FBCHECK_MAX_CONCURRENT_TASKS="1"
    )
    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "out.csv"))
    assert result.returncode == 6, result.stdout + result.stderr
    assert vendor.ledger()["tasks_created"] == 1
    uploads = vendor.uploads()
    assert len(uploads) == 20
    assert set(uploads) < set(values)
    assert set(uploads.values()) == {1}
    billed, possibly = run_billing(result.stdout)
    assert (billed, possibly) == (vendor.ledger()["billed_total"], 1)
    assert_pending_rows_say_why(tmp_path / "out.csv", values, "waiting for your word")


def test_held_answer_past_the_client_timeout_is_possibly_billed(
    tmp_path: Path, vendor: Vendor
) -> None:
    values = swiss(40)
    _uncertain_first_run(tmp_path, vendor, "hold", values, FBCHECK_UPLOAD_TIMEOUT="1")


# -- row 2: two CLIs at once -----------------------------------------------------------------


def test_two_clis_on_one_data_folder_upload_each_number_once(
    tmp_path: Path, vendor: Vendor
) -> None:
    values = swiss(120)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(tmp_path, vendor, FBCHECK_MAX_NUMBERS_PER_TASK="20")
    runs = [
        Running(tmp_path, env, "check", str(source), "-o", str(tmp_path / f"out{i}.csv"), "--yes")
        for i in range(2)
    ]
    codes = [run.finish() for run in runs]
    assert codes == [0, 0], [run.stdout + run.stderr for run in runs]
    assert vendor.ledger()["tasks_created"] == 6
    assert_each_uploaded_once(vendor, values)
    # The second run joins the first one's job and both follow it, whose billed figure is
    # the ledger's. When both planned before either submitted (a loaded machine), each has a
    # job, and the second's numbers join the first's open tasks (the claims): still one
    # upload each, and the first job carries every billed request.
    billed = [run_billing(run.stdout)[0] for run in runs]
    if "continuing job" not in runs[0].stdout + runs[1].stdout:
        assert sum(billed) == vendor.ledger()["billed_total"], billed
    else:
        assert max(billed) == vendor.ledger()["billed_total"]
    for i in range(2):
        assert_all_answered(tmp_path / f"out{i}.csv", values)


def test_two_clis_on_two_machines_sharing_postgresql_upload_each_number_once(
    tmp_path: Path, vendor: Vendor, pg_store_url: str
) -> None:
    """Team mode: two data folders (two machines: own journals, own owner locks), one
    PostgreSQL store. Each number is uploaded once, however the two plans interleave."""
    values = swiss(120)
    source = write_input(tmp_path / "in.csv", values)
    runs = []
    for i in range(2):
        env = env_for(tmp_path / f"machine{i}", vendor, FBCHECK_MAX_NUMBERS_PER_TASK="20")
        env["FBCHECK_DATABASE_URL"] = pg_store_url
        out = str(tmp_path / f"out{i}.csv")
        runs.append(Running(tmp_path, env, "check", str(source), "-o", out, "--yes"))
    codes = [run.finish() for run in runs]
    assert codes == [0, 0], [run.stdout + run.stderr for run in runs]
    assert vendor.ledger()["tasks_created"] == 6
    assert_each_uploaded_once(vendor, values)
    for i in range(2):
        assert_all_answered(tmp_path / f"out{i}.csv", values)
        assert not (tmp_path / f"machine{i}" / "data" / "fbcheck.sqlite3").exists()


# -- row 3: eight identical selections at once ----------------------------------------------


def test_eight_identical_selections_at_once_make_one_task_per_number(tmp_path: Path) -> None:
    with engine_app(tmp_path, max_wait=20.0) as app:
        cells = ["phone", *swiss(30)]
        sent = payload(("A1:A31", cells))
        barrier = threading.Barrier(8)
        bodies: list[dict[str, Any]] = []

        def check() -> None:
            """Post the selection as a double-clicking user would."""
            client = AddinClient(app)
            barrier.wait(10)
            bodies.append(ok(post(client, "/xlwings/check-selection", sent)))

        threads = [threading.Thread(target=check) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(bodies) == 8
        client = AddinClient(app)
        for job_id in {b["job_id"] for b in bodies if b["job_id"]}:
            assert wait_job(client, job_id)["state"] == "done"
        with host_of(app).checker() as checker:
            base_url = checker.base_url
        tasks = requests.get(base_url + "/_mock/tasks?numbers=1", timeout=5).json()["tasks"]
        uploads = Counter(n for task in tasks for n in task["uploaded_numbers"])
        assert sorted(uploads) == sorted(cells[1:])
        assert set(uploads.values()) == {1}


# -- row 4: balance runs out while polling ----------------------------------------------------


def test_balance_out_while_polling_pauses_then_resumes(tmp_path: Path, vendor: Vendor) -> None:
    values = swiss(40)
    source = write_input(tmp_path / "in.csv", values)
    # Two creates and two polls, then 402 on every poll.
    vendor.top_up(KEY, 4)
    env = env_for(
        tmp_path, vendor, FBCHECK_MAX_NUMBERS_PER_TASK="20", FBCHECK_MAX_CONCURRENT_TASKS="2"
    )
    args = ("check", str(source), "-o", str(tmp_path / "out.csv"))
    first = fbcheck(tmp_path, env, *args)
    assert first.returncode == 7, first.stdout + first.stderr
    assert "PAUSED" in first.stdout
    assert vendor.ledger()["tasks_created"] == 2
    billed, _ = run_billing(first.stdout)
    assert billed == vendor.ledger()["billed_total"]
    rows = read_output(tmp_path / "out.csv")
    assert "error" not in {r["facebook"] for r in rows}
    assert_pending_rows_say_why(tmp_path / "out.csv", values, "waiting")

    vendor.top_up(KEY, 1_000_000)
    again = fbcheck(tmp_path, env, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "continuing job" in again.stdout
    assert vendor.ledger()["tasks_created"] == 2
    assert_each_uploaded_once(vendor, values)
    assert_all_answered(tmp_path / "out.csv", values)
    assert "the job in all" in again.stdout


# -- row 5: Ctrl-C and SIGTERM during a 14 s upload ------------------------------------------


def _start_slow_upload(
    tmp_path: Path, vendor: Vendor, values: list[str]
) -> tuple[Running, dict[str, str]]:
    """Start a check whose one upload takes 14 s; return once the upload is in flight."""
    vendor.configure(create_latency_ms=14_000)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(tmp_path, vendor)
    run = Running(tmp_path, env, "check", str(source), "-o", str(tmp_path / "out.csv"))
    run.wait_for("estimated cost")
    vendor.wait_received(1)  # the vendor holds the file; 14 s of its work are left
    assert vendor.ledger()["tasks_created"] == 0
    return run, env


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_upload_waits_for_the_answer(
    tmp_path: Path, vendor: Vendor, stop_signal: signal.Signals
) -> None:
    values = swiss(20)
    run, env = _start_slow_upload(tmp_path, vendor, values)
    run.proc.send_signal(stop_signal)
    assert run.finish() == 130, run.stdout + run.stderr
    assert "waiting for its answer" in run.stderr
    assert "1 task(s) created at the vendor and stored" in run.stderr
    assert vendor.ledger()["tasks_created"] == 1
    vendor.configure(create_latency_ms=0)
    source = tmp_path / "in.csv"
    again = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "out.csv"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "continuing job" in again.stdout
    assert vendor.ledger()["tasks_created"] == 1
    assert_each_uploaded_once(vendor, values)
    assert_all_answered(tmp_path / "out.csv", values)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_second_interrupt_stops_at_once_and_leaves_it_uncertain(
    tmp_path: Path, vendor: Vendor, stop_signal: signal.Signals
) -> None:
    values = swiss(20)
    run, env = _start_slow_upload(tmp_path, vendor, values)
    run.proc.send_signal(stop_signal)
    run.wait_for("waiting for its answer", stream="err")
    run.proc.send_signal(stop_signal)
    assert run.finish() == 130, run.stdout + run.stderr
    assert "unknown outcome" in run.stderr
    # The vendor still creates (and bills) the task at the end of the upload.
    vendor.wait_created(1)
    vendor.configure(create_latency_ms=0)
    source = tmp_path / "in.csv"
    again = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "out.csv"))
    assert again.returncode == 6, again.stdout + again.stderr
    assert "WAITING FOR YOUR WORD" in again.stdout
    assert vendor.ledger()["tasks_created"] == 1
    assert_each_uploaded_once(vendor, values)
    assert_pending_rows_say_why(tmp_path / "out.csv", values, "waiting for your word")


# -- row 6: the CLI is PID 1 every time -----------------------------------------------------


def _namespaces_usable() -> str | None:
    """Return why PID namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "not running as root: unshare -pf needs it"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    try:
        probe = subprocess.run(
            ["unshare", "-pf", "--mount-proc", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare -pf --mount-proc failed: {exc}"
    if probe.returncode != 0:
        return f"unshare -pf --mount-proc failed: {probe.stderr.decode(errors='replace').strip()}"
    return None


def _children(pid: int) -> list[int]:
    """Return the child process ids of ``pid``."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


UNSHARE = ("unshare", "-pf", "--mount-proc")


def test_rerun_as_pid_1_takes_over_the_dead_pid_1s_tasks(tmp_path: Path, vendor: Vendor) -> None:
    reason = _namespaces_usable()
    if reason:
        pytest.skip(reason)
    values = swiss(400)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(
        tmp_path, vendor, FBCHECK_MAX_NUMBERS_PER_TASK="200", FBCHECK_MAX_CONCURRENT_TASKS="1"
    )
    args = ("check", str(source), "-o", str(tmp_path / "out.csv"), "--yes")
    run = Running(tmp_path, env, *args, prefix=UNSHARE)
    try:
        vendor.wait_created(1)
        wait_for_stored_tasks(tmp_path / "data", 1, run.proc)
        # The CLI is PID 1 of its namespace: kill it from outside.
        inner = _children(run.proc.pid)
        assert inner, "unshare has no child"
        os.kill(inner[0], signal.SIGKILL)
        run.finish(30)
    finally:
        run.kill()
    created = vendor.ledger()["tasks_created"]
    assert created == 1
    again = fbcheck(tmp_path, env, *args, prefix=UNSHARE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "continuing job" in again.stdout
    assert vendor.ledger()["tasks_created"] == 2
    assert_each_uploaded_once(vendor, values)
    assert_all_answered(tmp_path / "out.csv", values)


# -- row 7: the disk fills while the create is in flight ---------------------------------------


def _tmpfs(mountpoint: Path, size: str) -> str | None:
    """Mount a small tmpfs; return why it cannot be done, or None."""
    if os.geteuid() != 0:
        return "not running as root: mounting a tmpfs needs it"
    mountpoint.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount -t tmpfs failed: {exc}"
    if done.returncode != 0:
        return f"mount -t tmpfs failed: {done.stderr.decode(errors='replace').strip()}"
    return None


def _fill(folder: Path) -> Path:
    """Write a filler file until the file system is full; return it."""
    filler = folder / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def test_full_disk_during_the_create_exits_8_and_the_rerun_pays_nothing(
    tmp_path: Path, vendor: Vendor
) -> None:
    mountpoint = tmp_path / "small"
    reason = _tmpfs(mountpoint, "4m")
    if reason:
        pytest.skip(reason)
    try:
        values = swiss(20)
        source = write_input(tmp_path / "in.csv", values)
        env = env_for(tmp_path, vendor, FBCHECK_DATA_DIR=str(mountpoint / "data"))
        vendor.configure(create_latency_ms=3000)
        args = ("check", str(source), "-o", str(tmp_path / "out.csv"))
        run = Running(tmp_path, env, *args)
        try:
            run.wait_for("estimated cost")
            vendor.wait_received(1)  # the upload is with the vendor: 3 s until it answers
            filler = _fill(mountpoint)
            code = run.finish()
        finally:
            run.kill()
        assert code == 8, run.stdout + run.stderr
        vendor.wait_created(1)
        task_id = vendor.tasks()[0]["task_id"]
        assert task_id in run.stderr
        assert "journal" in run.stderr
        filler.unlink()
        vendor.configure(create_latency_ms=0)
        again = fbcheck(tmp_path, env, *args)
        assert again.returncode == 0, again.stdout + again.stderr
        assert vendor.ledger()["tasks_created"] == 1
        assert_each_uploaded_once(vendor, values)
        assert_all_answered(tmp_path / "out.csv", values)
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, timeout=30)


# -- row 8: a crash with key A, the rerun with key B --------------------------------------------


def test_rerun_with_another_key_uploads_nothing_and_key_a_collects(
    tmp_path: Path, vendor: Vendor
) -> None:
    values = swiss(400)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(tmp_path, vendor, FBCHECK_MAX_NUMBERS_PER_TASK="400")
    args = ("check", str(source), "-o", str(tmp_path / "out.csv"))
    run = Running(tmp_path, env, *args)
    try:
        vendor.wait_created(1)
        wait_for_stored_tasks(tmp_path / "data", 1, run.proc)
    finally:
        run.kill()
    other = fbcheck(tmp_path, {**env, "FBCHECK_API_KEY": OTHER_KEY}, *args)
    assert other.returncode == 7, other.stdout + other.stderr
    assert "OTHER KEY: 1 task(s)" in other.stdout
    assert vendor.ledger(OTHER_KEY)["tasks_created"] == 0
    assert vendor.ledger(OTHER_KEY)["numbers_uploaded"] == 0
    assert "error" not in {r["facebook"] for r in read_output(tmp_path / "out.csv")}
    again = fbcheck(tmp_path, env, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert vendor.ledger()["tasks_created"] == 1
    assert_each_uploaded_once(vendor, values)
    assert_all_answered(tmp_path / "out.csv", values)


# -- row 9: kill -9 inside an upload ------------------------------------------------------------


def test_kill_inside_an_upload_is_reported_and_not_resent(tmp_path: Path, vendor: Vendor) -> None:
    values = swiss(20)
    source = write_input(tmp_path / "in.csv", values)
    env = env_for(tmp_path, vendor)
    vendor.configure(create_latency_ms=3000)
    args = ("check", str(source), "-o", str(tmp_path / "out.csv"))
    run = Running(tmp_path, env, *args)
    try:
        run.wait_for("estimated cost")
        wait_for_upload_in_flight(tmp_path / "data", run.proc)
        # Killed once the vendor holds the whole file: it goes on to create (and bill) the
        # task. A kill before the body is sent is a different case (nothing is created).
        vendor.wait_received(1)
        assert vendor.ledger()["tasks_created"] == 0
    finally:
        run.kill()
    vendor.wait_created(1)  # the vendor created (and billed) it after the client died
    vendor.configure(create_latency_ms=0)
    again = fbcheck(tmp_path, env, *args)
    assert again.returncode == 6, again.stdout + again.stderr
    assert "WAITING FOR YOUR WORD: 20 numbers in 1 upload(s)" in again.stdout
    # The dead upload is counted as possibly billed (the vendor did bill it).
    assert "the job in all: 0 billed, 1 possibly billed" in again.stdout
    assert vendor.ledger()["tasks_created"] == 1
    assert_each_uploaded_once(vendor, values)
    job = job_of(again.stdout)
    resent = fbcheck(tmp_path, env, "jobs", "resend", job)
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert vendor.ledger()["tasks_created"] == 2
    final = fbcheck(tmp_path, env, *args)
    assert final.returncode == 0, final.stdout + final.stderr
    assert vendor.ledger()["tasks_created"] == 2
    assert_all_answered(tmp_path / "out.csv", values)
