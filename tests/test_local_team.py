"""``make team-demo`` and ``bench/team_load.py`` end to end: real processes on loopback.

Each runs as a subprocess with its own temporary folder (``TMPDIR``), so the test can
prove that nothing it started outlives it: the folder is empty afterwards (the
cluster's and the team's folders removed) and no process names it. A throwaway
PostgreSQL cluster, the emulator, team servers and workers are started by
``addin.local_team``; the test skips, saying why, without PostgreSQL's binaries.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import Cluster

REPOSITORY = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temporary folder for the subprocess's TMPDIR, under the system's (nobody enters it)."""
    reason = Cluster.why_not()
    if reason is not None:
        pytest.skip(f"the local team needs a PostgreSQL cluster: {reason}")
    folder = Path(tempfile.mkdtemp(prefix="fbcheck-team-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def child_env(scratch: Path) -> dict[str, str]:
    """Return the environment of the demo or the bench: its own TMPDIR, no FBCHECK_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(TMPDIR=str(scratch), PYTHONPATH=str(REPOSITORY), PYTHONUNBUFFERED="1")
    return env


def processes_naming(folder: Path) -> list[str]:
    """Return the command lines of live processes that mention ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in line:
            found.append(line)
    return found


def assert_nothing_left(scratch: Path) -> None:
    """Fail unless every process and folder the run made is gone (the watchdog has 5 s)."""
    deadline = time.monotonic() + 5
    while (processes_naming(scratch) or any(scratch.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_naming(scratch) == []
    assert [p.name for p in scratch.iterdir()] == []


def run(scratch: Path, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGV`` from the repository to its end."""
    return subprocess.run(
        [sys.executable, *argv],
        env=child_env(scratch),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def figure(pattern: str, line: str) -> int:
    """Return the number ``pattern`` captures in ``line`` (fail when it is absent)."""
    found = re.search(pattern, line)
    assert found is not None, line
    return int(found[1])


def test_team_load_quick_run_kills_a_worker_and_loses_nothing(scratch: Path) -> None:
    argv = ["bench/team_load.py", "--users", "3", "--jobs", "2", "--numbers", "300"]
    done = run(scratch, [*argv, "--runs", "kill"])
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "load: 3 users x 2 jobs = 6 jobs, 1,800 rows, 1,500 distinct numbers" in out
    assert re.search(r"numbers uploaded more than once \(target 0\)\s+0\s*$", out, re.M), out
    assert re.search(r"every row answered\s+yes \(1,800 of 1,800\)", out), out
    assert re.search(r"numbers uploaded\s+1,500\s*$", out, re.M), out
    assert re.search(r"worker1 SIGKILLed .* after \d+ tasks were created \(exit -9\)", out), out
    assert re.search(r"targets met\s+yes", out), out
    assert_nothing_left(scratch)


def test_team_demo_prints_what_each_user_paid(scratch: Path) -> None:
    done = run(scratch, ["-m", "addin.team_demo", "--numbers", "300", "--shared", "100"])
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.startswith("DEMO: the vendor here is the bundled emulator")
    users = dict(re.findall(r"^  (alice|bob): (rows 300, answered 300;.*)$", out, re.M))
    assert set(users) == {"alice", "bob"}, out
    uploaded = {u: figure(r"uploaded for \w+ (\d+)", line) for u, line in users.items()}
    shared = {u: figure(r"colleagues' work (\d+)", line) for u, line in users.items()}
    # 500 distinct numbers, each uploaded once; the 100 shared ones paid by whoever came first.
    assert sum(uploaded.values()) == 500, out
    assert sorted(shared.values()) == [0, 100], out
    assert "numbers uploaded 500," in out
    assert "numbers uploaded more than once: 0" in out
    assert_nothing_left(scratch)


def test_ctrl_c_stops_the_whole_team(scratch: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "addin.team_demo", "--numbers", "300", "--shared", "100"],
        env=child_env(scratch),
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if line.startswith("team ready after"):
                break
        assert seen[-1].startswith("team ready after"), "".join(seen)
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 130, "".join(seen) + rest
    assert "stopped (Ctrl-C)" in rest
    assert_nothing_left(scratch)
