"""``fbcheck check --server`` and ``fbcheck jobs ... --server``: real subprocesses, a real server.

The server is the backend app of today's ``fbcheck serve`` on the vendor emulator, over
plain HTTP on loopback, behind a recorder of every request's method, path and
``Authorization`` header. The command line runs in a subprocess whose own data folder
must stay absent: nothing of a local store is opened.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from addin.http_server import BackgroundServer
from addin.web import close_app, create_app
from addin.web.flask_config import PORT_KEY, SETTINGS_KEY
from tests.cli_runs import (
    TEAM_KEY,
    TOKEN,
    fbcheck,
    job_of,
    laptop_env,
    read_output,
    start,
    swiss,
    uploads,
    write_input,
)
from tests.conftest import Emulator, Emulators
from tests.web.conftest import make_settings

KEY = TEAM_KEY


class Recorder:
    """A WSGI middleware keeping (method, path with query, Authorization) of each request."""

    def __init__(self, app: Flask) -> None:
        """Wrap ``app``."""
        self.app = app
        self.seen: list[tuple[str, str, str | None]] = []
        #: (path, bytes of the body) of each request.
        self.sizes: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Record the request, then let the app answer it."""
        query = environ.get("QUERY_STRING", "")
        path = environ["PATH_INFO"] + (f"?{query}" if query else "")
        with self._lock:
            self.seen.append((environ["REQUEST_METHOD"], path, environ.get("HTTP_AUTHORIZATION")))
            self.sizes.append((path, int(environ.get("CONTENT_LENGTH") or 0)))
        return self.app(environ, start_response)


class Flaky:
    """A TCP relay on loopback in front of a server, whose link can be cut and mended.

    While cut, every connection (open or new) is closed at once: the client sees the
    network fail, as when a VPN drops or a load balancer loses its instances.
    """

    def __init__(self, target_port: int) -> None:
        """Listen on a free port and relay to ``target_port``."""
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        """Accept connections until closed."""
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy bytes one way until either side closes."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with self._lock:
                    self._open.discard(end)
                end.close()

    def cut_link(self) -> None:
        """Close every open connection and refuse new ones."""
        self.cut.set()
        with self._lock:
            ends, self._open = list(self._open), set()
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def mend(self) -> None:
        """Relay again."""
        self.cut.clear()

    def close(self) -> None:
        """Stop listening and close everything."""
        self.cut_link()
        self.listener.close()


class LocalServer:
    """Today's backend app on the emulator, served over HTTP on a free loopback port."""

    def __init__(self, root: Path, vendor: Emulator, **settings: Any) -> None:
        """Start it with live settings (the emulator's key) plus ``settings``."""
        values: dict[str, Any] = {
            "api_key": KEY,
            "api_url": vendor.url,
            "poll_min_interval": 0.05,
            "poll_max_interval": 0.3,
            "region": "CH",
            **settings,
        }
        self.app = create_app({SETTINGS_KEY: make_settings(root / "server", **values)})
        self.recorder = Recorder(self.app)
        self.server = BackgroundServer(self.recorder)
        self.port = self.server.port
        self.app.config[PORT_KEY] = self.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.server.start()
        self.relay: Flaky | None = None

    def behind_relay(self) -> Flaky:
        """Put a relay in front (the app then answers as the relay's port); return it."""
        self.relay = Flaky(self.port)
        self.app.config[PORT_KEY] = self.relay.port
        self.url = f"http://127.0.0.1:{self.relay.port}"
        return self.relay

    def close(self) -> None:
        """Stop serving and close the app's engine."""
        if self.relay is not None:
            self.relay.close()
        self.server.stop()
        close_app(self.app)


@pytest.fixture
def vendor(emulators: Emulators[Emulator]) -> Emulator:
    """The emulator on the demo profile (about 500 numbers/s after a 1 s queue)."""
    return emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 1_000_000})


@pytest.fixture
def team(tmp_path: Path, vendor: Emulator) -> Iterator[LocalServer]:
    """The server, stopped after the test."""
    server = LocalServer(tmp_path, vendor)
    yield server
    server.close()


def wait_line(proc: subprocess.Popen[str], needle: str, seen: list[str]) -> str:
    """Read standard error until a line holds ``needle``; return it (all lines go to ``seen``)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r}: {''.join(seen)}")


def assert_token_only_in_the_header(team: LocalServer) -> None:
    """Every request carried the bearer token, and no URL ever held it."""
    assert team.recorder.seen
    assert {auth for _, _, auth in team.recorder.seen} == {f"Bearer {TOKEN}"}
    assert not [path for _, path, _ in team.recorder.seen if TOKEN in path]


# -- a whole check on the server ---------------------------------------------------------------


def test_check_on_the_server_writes_the_output_here_and_opens_no_local_store(
    tmp_path: Path, team: LocalServer, vendor: Emulator
) -> None:
    values = [*swiss(30), "abc", "079 000 00 03", "+41790000001", ""]
    source = write_input(tmp_path / "in.csv", [*values, "12"])
    out = tmp_path / "out.csv"
    env = laptop_env(tmp_path)
    result = fbcheck(tmp_path, env, "check", "--server", team.url, str(source), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "estimate (column 'phone')" in result.stdout
    assert "FBCHECK_API_KEY is set on this computer; with --server it is ignored" in result.stderr
    assert "FBCHECK_DATABASE_URL is set on this computer; with --server it is ignored" in (
        result.stderr
    )
    assert "secret" not in result.stdout + result.stderr
    assert "progress: 30/30 numbers (100%)" in result.stderr
    job = job_of(result.stdout)
    assert "billed requests were made for job" in result.stdout
    rows = read_output(out)
    assert [r["phone"] for r in rows] == [*values, "12"]
    assert rows[30]["facebook"] == "invalid"
    assert rows[30]["reason"] == "contains letters"
    assert rows[-1]["reason"] == "too short"
    assert {r["facebook"] for r in rows[:30]} <= {"yes", "no", "ban"}
    assert {r["source"] for r in rows[:30]} == {"upstream"}
    assert rows[32]["facebook"] == rows[1]["facebook"]
    # The server did the work: one task of the 30 distinct numbers, each sent once.
    assert uploads(vendor) == Counter(swiss(30))
    assert vendor.ledger()["tasks_created"] == 1
    # Nothing of this computer's store, journal or key folder was created.
    assert not (tmp_path / "laptop").exists()
    assert_token_only_in_the_header(team)
    # The job is the server's, with the input's name.
    listed = fbcheck(tmp_path, env, "jobs", "list", "--server", team.url, "--json")
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)["jobs"]
    assert [(j["job_id"], j["kind"], j["label"]) for j in jobs] == [(job, "cli", "in.csv")]


def test_json_document_has_the_keys_of_a_local_run(
    tmp_path: Path, team: LocalServer, vendor: Emulator
) -> None:
    source = write_input(tmp_path / "in.csv", [*swiss(5), "abc"])
    env = laptop_env(tmp_path)
    args = ("check", "--server", team.url, str(source), "--json")
    first = fbcheck(tmp_path, env, *args)
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    local = fbcheck(
        tmp_path,
        # A local run in demo mode, in its own data folder: the same keys.
        laptop_env(
            tmp_path,
            FBCHECK_API_KEY="",
            FBCHECK_DATABASE_URL="",
            FBCHECK_DATA_DIR=str(tmp_path / "local"),
        ),
        "check",
        str(source),
        "-o",
        str(tmp_path / "local.csv"),
        "--json",
    )
    assert local.returncode == 0, local.stderr
    assert sorted(document) == sorted(json.loads(local.stdout))
    assert document["counts"]["invalid"] == 1
    assert sum(document["counts"].values()) == document["rows"] == 6
    assert document["estimate"]["to_upload"] == 5
    assert document["demo"] is False
    # Run again: answered from the server's cache, nothing billed, no task created.
    again = json.loads(fbcheck(tmp_path, env, *args).stdout)
    assert again["exit_code"] == 0
    assert again["estimate"]["cache_hits"] == 5
    assert again["billed"] == {"run": 0, "job": 0}
    assert vendor.ledger()["tasks_created"] == 1


def test_above_max_upload_stops_before_the_server_starts_anything(
    tmp_path: Path, team: LocalServer, vendor: Emulator
) -> None:
    source = write_input(tmp_path / "in.csv", swiss(20))
    env = laptop_env(tmp_path)
    result = fbcheck(
        tmp_path, env, "check", "--server", team.url, str(source), "--max-upload", "10"
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "stopped before billing: 20 numbers to upload is above --max-upload 10" in (
        result.stdout
    )
    assert vendor.ledger()["tasks_created"] == 0
    paths = [path for _, path, _ in team.recorder.seen]
    assert not [p for p in paths if p.endswith("/start")]
    assert [p for p in paths if p.endswith("/discard")]


def test_a_large_input_goes_in_chunks_under_5_mb(
    tmp_path: Path, team: LocalServer, vendor: Emulator
) -> None:
    values = [f"+4179{n:07d}" for n in range(150_000)]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(values) + "\n", encoding="utf-8")
    result = fbcheck(tmp_path, laptop_env(tmp_path), "check", "--server", team.url, str(source))
    # Above --max-upload (1,000 by default): planned on the server, nothing started.
    assert result.returncode == 3, result.stdout + result.stderr
    assert "stopped before billing: 150,000 numbers to upload" in result.stdout
    chunks = [size for path, size in team.recorder.sizes if "/chunks/" in path]
    assert len(chunks) == 2
    assert max(chunks) < 5_000_000
    assert sum(chunks) > 150_000 * 14
    assert vendor.tasks() == []


# -- the same command again, Ctrl-C, a server that goes away ----------------------------------


def test_ctrl_c_stops_following_and_the_same_command_continues_the_same_job(
    tmp_path: Path, team: LocalServer, vendor: Emulator
) -> None:
    values = swiss(3000)
    source = write_input(tmp_path / "in.csv", values)
    env = laptop_env(tmp_path)
    args = ("check", "--server", team.url, str(source), "-o", str(tmp_path / "out.csv"), "--yes")
    # The task waits in the vendor's queue until the test moves its clock: the job is still
    # open when the same command runs again, however loaded the machine.
    assert vendor.configure(queue_delay=3600).status_code == 200
    proc = start(tmp_path, env, *args)
    seen: list[str] = []
    wait_line(proc, "progress:", seen)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + stderr
    assert "stopped following job" in stderr
    assert f"fbcheck jobs show --server {team.url}" in stderr
    assert vendor.ledger()["tasks_created"] == 1
    rerun = start(tmp_path, env, *args)
    wait_line(rerun, "progress:", seen)  # following the job: now let the vendor finish it
    assert vendor.configure(queue_delay=1).status_code == 200  # the demo profile's
    vendor.advance(7200)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stdout + stderr
    assert "continuing job" in stdout
    # The same job, not a second paid one: one task, each number sent once.
    assert vendor.ledger()["tasks_created"] == 1
    assert uploads(vendor) == Counter(values)
    assert {r["facebook"] for r in read_output(tmp_path / "out.csv")} <= {"yes", "no", "ban"}


def test_a_server_lost_while_following_is_tried_again_and_the_run_finishes(
    tmp_path: Path, team: LocalServer, vendor: Emulator
) -> None:
    values = swiss(2500)
    source = write_input(tmp_path / "in.csv", values)
    out = tmp_path / "out.csv"
    relay = team.behind_relay()
    proc = start(
        tmp_path,
        laptop_env(tmp_path),
        "check",
        "--server",
        team.url,
        str(source),
        "-o",
        str(out),
        "--yes",
    )
    seen: list[str] = []
    wait_line(proc, "progress:", seen)
    relay.cut_link()
    wait_line(proc, "the server does not answer", seen)
    relay.mend()
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, "".join(seen) + stderr
    assert "trying again in" in "".join(seen)
    assert len(read_output(out)) == 2500
    assert vendor.ledger()["tasks_created"] == 1


def test_a_server_that_never_answers_stops_with_exit_11(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    # Bound and closed: nothing listens there now.
    source = write_input(tmp_path / "in.csv", swiss(3))
    env = laptop_env(tmp_path, FBCHECK_SERVER_RETRY_SECONDS="1.5")
    result = fbcheck(tmp_path, env, "check", "--server", url, str(source), "--json")
    assert result.returncode == 11, result.stderr
    assert "no answer from the server" in json.loads(result.stdout)["error"]
    assert "trying again in 1 s" in result.stderr
    assert not (tmp_path / "in.csv.results.csv").exists()


# -- uploads waiting for the user's word, on the server --------------------------------------


def test_an_uncertain_upload_waits_then_jobs_resend_on_the_server(
    tmp_path: Path, emulators: Emulators[Emulator]
) -> None:
    vendor = emulators.start(MOCK_PROFILE="instant", MOCK_API_KEYS={KEY: 1_000_000})
    vendor.configure(create_fault="gateway_504", create_fault_count=1, hold_seconds=3)
    team = LocalServer(tmp_path, vendor, max_numbers_per_task=20, max_concurrent_tasks=1)
    try:
        values = swiss(40)
        source = write_input(tmp_path / "in.csv", values)
        env = laptop_env(tmp_path)
        args = ("check", "--server", team.url, str(source), "-o", str(tmp_path / "out.csv"))
        first = fbcheck(tmp_path, env, *args, "--yes")
        assert first.returncode == 6, first.stdout + first.stderr
        job = job_of(first.stdout)
        assert f"fbcheck jobs resend --server {team.url} {job}" in first.stdout
        assert f"fbcheck jobs abandon --server {team.url} {job}" in first.stdout
        pending = [r for r in read_output(tmp_path / "out.csv") if r["facebook"] == "pending"]
        assert len(pending) == 20
        assert all(f"fbcheck jobs resend --server {team.url} {job}" in r["reason"] for r in pending)
        assert vendor.ledger()["tasks_created"] == 2
        shown = fbcheck(tmp_path, env, "jobs", "show", "--server", team.url, job)
        assert shown.returncode == 6, shown.stdout + shown.stderr
        assert "20 waiting for your word" in shown.stdout
        resent = fbcheck(tmp_path, env, "jobs", "resend", "--server", team.url, job)
        assert resent.returncode == 0, resent.stdout + resent.stderr
        assert "sending 1 upload(s)" in resent.stdout
        assert vendor.ledger()["tasks_created"] == 3
        final = fbcheck(tmp_path, env, *args)
        assert final.returncode == 0, final.stdout + final.stderr
        assert vendor.ledger()["tasks_created"] == 3
        assert {r["facebook"] for r in read_output(tmp_path / "out.csv")} <= {"yes", "no", "ban"}
        # Nothing waits any more: resend says so, abandon gives up nothing.
        nothing = fbcheck(tmp_path, env, "jobs", "resend", "--server", team.url, job)
        assert nothing.returncode == 0, nothing.stderr
        assert "has no upload waiting for your word" in nothing.stdout
        gave_up = fbcheck(tmp_path, env, "jobs", "abandon", "--server", team.url, job, "--json")
        assert json.loads(gave_up.stdout)["abandoned"] == 0
        assert not (tmp_path / "laptop").exists()
    finally:
        team.close()


def test_jobs_show_of_an_unknown_job_exits_2(tmp_path: Path, team: LocalServer) -> None:
    result = fbcheck(tmp_path, laptop_env(tmp_path), "jobs", "show", "--server", team.url, "nope")
    assert result.returncode == 2
    assert f"the server has no job 'nope' (see `fbcheck jobs list --server {team.url}`)" in (
        result.stderr
    )


# -- v1 on the server: the balance and the minimum per task ---------------------------------


def test_v1_balance_that_cannot_pay_stops_before_the_server_bills(
    tmp_path: Path, emulators: Emulators[Emulator]
) -> None:
    poor = emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 5})
    team = LocalServer(tmp_path, poor, api_dialect="v1", max_numbers_per_task=200)
    try:
        source = write_input(tmp_path / "in.csv", swiss(450))
        result = fbcheck(
            tmp_path, laptop_env(tmp_path), "check", "--server", team.url, str(source), "--yes"
        )
        assert result.returncode == 4, result.stdout + result.stderr
        assert "stopped before billing: the balance of 5 is below the 6 requests" in (result.stdout)
        assert poor.tasks() == []
        assert poor.ledger()["billed_total"] == 0
        assert not (tmp_path / "in.csv.results.csv").exists()
    finally:
        team.close()


def test_v1_on_the_server_reads_the_balance_and_holds_too_few_numbers(
    tmp_path: Path, vendor: Emulator
) -> None:
    team = LocalServer(tmp_path, vendor, api_dialect="v1")
    try:
        env = laptop_env(tmp_path)
        few = write_input(tmp_path / "few.csv", swiss(5))
        held = fbcheck(tmp_path, env, "check", "--server", team.url, str(few))
        assert held.returncode == 9, held.stdout + held.stderr
        assert "not uploaded: 5 new number(s), fewer than the vendor's minimum of 100" in (
            held.stdout
        )
        assert vendor.tasks() == []
        enough = write_input(tmp_path / "enough.csv", swiss(120))
        paid = fbcheck(tmp_path, env, "check", "--server", team.url, str(enough))
        assert paid.returncode == 0, paid.stdout + paid.stderr
        assert "(read from the vendor by the server now; this request may be billed)" in (
            paid.stdout
        )
        assert len(vendor.tasks()) == 1
    finally:
        team.close()
