"""``fbcheck`` in a subprocess, for the end-to-end tests of the command line.

The environments of a run (this computer's store on the emulator or in demo mode,
and a laptop that talks to a team server), running the CLI to its end, in the
background or on a pseudo-terminal, and the input and output files those runs share.
"""

from __future__ import annotations

import csv
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import Emulator

#: The vendor key of local runs on the emulator.
LOCAL_KEY = "cli-key"
#: The team server's vendor key, and a user's personal token for it.
TEAM_KEY = "team-vendor-key"
TOKEN = "tok-personal-7f3a"
#: A laptop's own vendor key, which a run with --server must never use.
LAPTOP_KEY = "laptop-key-never-used"


def clean_env(**values: str) -> dict[str, str]:
    """Return this process's environment without any ``FBCHECK_`` variable, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(values)
    return env


def env_for(tmp_path: Path, server: Emulator | None, **extra: str) -> dict[str, str]:
    """Return the environment of a local run (live mode on the emulator ``server``, or demo)."""
    env = clean_env(
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        FBCHECK_POLL_MIN_INTERVAL="0.05",
        FBCHECK_POLL_MAX_INTERVAL="0.3",
        FBCHECK_REGION="CH",
    )
    if server is not None:
        env.update(FBCHECK_API_KEY=LOCAL_KEY, FBCHECK_API_URL=server.url)
    env.update(extra)
    return env


def laptop_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Return a laptop's environment: a token, a vendor key that must be ignored."""
    env = clean_env(
        FBCHECK_DATA_DIR=str(tmp_path / "laptop"),
        FBCHECK_TOKEN=TOKEN,
        FBCHECK_API_KEY=LAPTOP_KEY,
        # A database no run with --server may touch: nothing listens on port 9.
        FBCHECK_DATABASE_URL="postgresql://laptop:secret@127.0.0.1:9/none",
        FBCHECK_REGION="CH",
        FBCHECK_PROGRESS_INTERVAL="0.2",
    )
    env.update(extra)
    return env


def fbcheck(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd`` to the end (standard input not a terminal); return its result."""
    return subprocess.run(
        [sys.executable, "-m", "addin.cli", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start the CLI in the background; its standard output and error are pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "addin.cli", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_input(path: Path, values: list[str]) -> Path:
    """Write a one-column CSV with a header."""
    path.write_text("phone\n" + "\n".join(values) + "\n", encoding="utf-8")
    return path


def read_output(path: Path) -> list[dict[str, str]]:
    """Read the CLI's CSV output."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def swiss(count: int, start: int = 0) -> list[str]:
    """Return valid Swiss mobile numbers in E.164."""
    return [f"+4179{n:07d}" for n in range(start, start + count)]


def uploads(vendor: Emulator) -> Counter[str]:
    """Return how many times the vendor was sent each number."""
    counts: Counter[str] = Counter()
    for task in vendor.tasks(with_numbers=True):
        counts.update(task["uploaded_numbers"])
    return counts


def job_of(text: str) -> str:
    """Return the job id a run printed."""
    marker = "for job "
    assert marker in text, text
    return text.split(marker, 1)[1].split()[0]


class Terminal:
    """The CLI on a pseudo-terminal (stdin, stdout and stderr), its output read as it comes."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *args: str) -> None:
        """Start ``fbcheck ARGS`` on a new 50x160 pseudo-terminal."""
        try:
            master, slave = pty.openpty()
        except OSError as exc:
            pytest.skip(f"no pseudo-terminal on this machine: {exc}")
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        env = {k: v for k, v in env.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        env["TERM"] = "xterm-256color"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "addin.cli", *args],
            env=env,
            cwd=tmp_path,
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        self.master = master
        self.received = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """Collect everything the terminal shows until the CLI closes it."""
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not data:
                return
            self.received += data

    @property
    def text(self) -> str:
        """Return what the terminal received so far."""
        return self.received.decode("utf-8", errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Wait until ``text`` shows on the terminal."""
        deadline = time.monotonic() + timeout
        while text not in self.text:
            assert self.proc.poll() is None, f"{text!r} never came: {self.text}"
            assert time.monotonic() < deadline, f"{text!r} never came: {self.text}"
            time.sleep(0.05)

    def finish(self, timeout: float = 120.0) -> int:
        """Wait for the end (a hang fails the test) and return the exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            pytest.fail(f"the CLI hung: {self.text}")
        finally:
            self.reader.join(10)
            os.close(self.master)
        return code
