"""``fbcheck mock`` / ``python -m mock_server``: flags, start-up errors, curl, Ctrl-C."""

from __future__ import annotations

import gc
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import requests

from addin.cli import build_parser
from mock_server.cli import config_from_args, flag_name, run
from mock_server.settings import SETTINGS

STARTUP_SECONDS = 30.0
PYTHON_M = (sys.executable, "-m", "mock_server")
#: The console script installed next to this interpreter.
FBCHECK = Path(sys.executable).with_name("fbcheck.exe" if os.name == "nt" else "fbcheck")


def free_port() -> int:
    """Return a port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LiveMock:
    """``python -m mock_server`` in a subprocess, with its output collected line by line."""

    def __init__(self, *flags: str, cwd: Path, command: Sequence[str] = PYTHON_M) -> None:
        """Start the subprocess on a free port and wait until it answers."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), *flags],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._collect, daemon=True).start()
        self._wait_until_ready()

    def _collect(self) -> None:
        """Move output lines into the queue until the pipe closes."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def _wait_until_ready(self) -> None:
        """Poll the admin route until it answers; fail if the process dies first."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the emulator exited early: {self.output()}")
            try:
                if requests.get(f"{self.url}/_mock/config", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        pytest.fail(f"the emulator did not answer within {STARTUP_SECONDS} s")

    def output(self) -> str:
        """Return every line printed so far."""
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get())
        return "".join(lines)

    def stop(self) -> None:
        """Terminate the process if it still runs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def start_mock(tmp_path: Path) -> Iterator[type[LiveMock]]:
    """Start ``python -m mock_server`` subprocesses; every one is stopped at teardown."""
    started: list[LiveMock] = []

    class Tracked(LiveMock):
        def __init__(self, *flags: str, command: Sequence[str] = PYTHON_M) -> None:
            started.append(self)
            super().__init__(*flags, cwd=tmp_path, command=command)

    yield Tracked
    for mock in started:
        mock.stop()


def parse(*argv: str) -> dict[str, object]:
    """Return the config that ``fbcheck mock ARGV`` asks for."""
    return config_from_args(build_parser().parse_args(["mock", *argv]))


def test_no_flags_ask_for_the_demo_profile_only():
    assert parse() == {"MOCK_PROFILE": "demo"}


def test_every_flag_maps_to_its_config_key(tmp_path: Path):
    config = parse(
        "--profile", "realistic", "--time-scale", "60", "--queue-delay", "5", "--rate", "20",
        "--export-delay", "2", "--seed", "7", "--shares", "30/60/10", "--failure-rate", "0.1",
        "--fixtures", "f.json", "--api-key", "alpha:50", "--api-key", "beta",
        "--result-format", "zip", "--result-ttl", "60", "--max-file-bytes", "1000",
        "--max-numbers", "10", "--max-active-tasks", "2", "--error-rate", "0.2",
        "--retry-after", "3", "--latency-ms", "100", "--latency-jitter-ms", "50",
        "--drop-rate", "0.05", "--download-fail-once", "--download-expire-once", "--stuck",
        "--create-fault", "gateway_504", "--create-fault-count", "2", "--hold-seconds", "30",
        "--create-latency-ms", "14000",
    )  # fmt: skip
    assert config == {
        "MOCK_PROFILE": "realistic",
        "MOCK_TIME_SCALE": 60.0,
        "MOCK_QUEUE_DELAY": 5.0,
        "MOCK_RATE": 20.0,
        "MOCK_EXPORT_DELAY": 2.0,
        "MOCK_SEED": 7,
        "MOCK_SHARES": "30/60/10",
        "MOCK_FAILURE_RATE": 0.1,
        "MOCK_FIXTURES": "f.json",
        "MOCK_API_KEYS": {"alpha": 50, "beta": 1_000_000},
        "MOCK_RESULT_FORMAT": "zip",
        "MOCK_RESULT_TTL": 60.0,
        "MOCK_MAX_FILE_BYTES": 1000,
        "MOCK_MAX_NUMBERS": 10,
        "MOCK_MAX_ACTIVE_TASKS": 2,
        "MOCK_ERROR_RATE": 0.2,
        "MOCK_RETRY_AFTER": 3,
        "MOCK_LATENCY_MS": 100.0,
        "MOCK_LATENCY_JITTER_MS": 50.0,
        "MOCK_DROP_RATE": 0.05,
        "MOCK_DOWNLOAD_FAIL_ONCE": True,
        "MOCK_DOWNLOAD_EXPIRE_ONCE": True,
        "MOCK_STUCK": True,
        "MOCK_CREATE_FAULT": "gateway_504",
        "MOCK_CREATE_FAULT_COUNT": 2,
        "MOCK_HOLD_SECONDS": 30.0,
        "MOCK_CREATE_LATENCY_MS": 14000.0,
    }


def test_every_setting_has_a_flag_in_the_help(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as caught:
        parse("--help")
    assert caught.value.code == 0
    help_text = capsys.readouterr().out
    for name, declared in SETTINGS.items():
        assert flag_name(name, declared) in help_text
    assert "[run time]" in help_text


#: A valid flag text for settings whose flags take neither a number nor a choice.
SAMPLE_TEXT = {"shares": "1/1/1", "api_keys": "k:1", "fixtures": "f.json"}


def test_each_flag_sets_only_its_own_key():
    for name, declared in SETTINGS.items():
        flag = flag_name(name, declared)
        argv = [flag]
        if declared.kind.flag_action != "switch":
            choices = declared.kind.flag_choices()
            argv.append(choices[-1] if choices else SAMPLE_TEXT.get(name, "3"))
        assert set(parse(*argv)) <= {"MOCK_PROFILE", f"MOCK_{name.upper()}"}, flag


def test_a_flag_that_is_not_a_number_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as caught:
        parse("--rate", "fast")
    assert caught.value.code == 2
    assert "--rate: 'fast' is not a number" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["key:many", ":5", "key:-1"])
def test_a_bad_api_key_flag_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as caught:
        parse("--api-key", value)
    assert caught.value.code == 2
    assert "--api-key" in capsys.readouterr().err


def test_a_bad_shares_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        parse("--shares", "1/2")
    assert "YES/NO/BAN" in capsys.readouterr().err


def test_a_bad_value_exits_2_before_serving(capsys: pytest.CaptureFixture[str]):
    assert run(build_parser().parse_args(["mock", "--error-rate", "2"])) == 2
    assert "MOCK_ERROR_RATE must be between 0 and 1" in capsys.readouterr().err


def test_a_missing_fixtures_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    args = build_parser().parse_args(["mock", "--fixtures", str(tmp_path / "none.json")])
    assert run(args) == 2
    assert "cannot read" in capsys.readouterr().err


# cheroot leaves its half-made listening socket to the garbage collector on a bind
# failure; collect it here, where its ResourceWarning is expected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_busy_port_exits_1(capsys: pytest.CaptureFixture[str]):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        assert run(build_parser().parse_args(["mock", "--port", str(port)])) == 1
    gc.collect()
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}: " in err
    assert "in use" in err.lower()


@pytest.mark.parametrize("entry", ["python -m mock_server", "fbcheck mock"])
def test_the_vendors_curl_examples_work_unchanged(start_mock, tmp_path: Path, entry: str):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("the curl binary is not installed; the vendor's examples need it")
    command: Sequence[str] = PYTHON_M
    if entry == "fbcheck mock":
        if not FBCHECK.exists():
            pytest.skip(f"the fbcheck console script is not installed at {FBCHECK}")
        command = (str(FBCHECK), "mock")
    mock = start_mock("--api-key", "API-KEY", "--profile", "instant", command=command)
    (tmp_path / "input.txt").write_text("+41798284651\n+14155550100\n", encoding="utf-8")
    created = subprocess.run(
        [curl, "--location", f"{mock.url}/fb/api/simple/tasks",
         "--header", "X-API-Key: API-KEY", "--form", 'file=@"input.txt"'],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    task = json.loads(created.stdout)
    assert task["status"] == "pending"
    assert re.fullmatch(r"[0-9a-v]{20}", task["task_id"])
    polled = subprocess.run(
        [curl, "--location", f"{mock.url}/fb/api/simple/tasks/{task['task_id']}",
         "--header", "X-API-Key: API-KEY"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    status = json.loads(polled.stdout)
    assert (status["status"], status["total"]) == ("exported", 2)
    assert status["result_url"].startswith(f"{mock.url}/_mock/results/")


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process is POSIX-only")
def test_ctrl_c_stops_the_emulator_with_exit_code_0(start_mock):
    mock = start_mock()
    mock.process.send_signal(signal.SIGINT)
    assert mock.process.wait(timeout=15) == 0
    output = mock.output()
    assert f"listening on {mock.url}" in output
    assert "API key(s): demo (balance 1000000)" in output
    assert "profile demo" in output
    assert output.rstrip().endswith("emulator stopped")


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM semantics are POSIX-only")
def test_sigterm_stops_the_emulator_with_exit_code_0(start_mock):
    mock = start_mock()
    mock.process.terminate()
    assert mock.process.wait(timeout=15) == 0
