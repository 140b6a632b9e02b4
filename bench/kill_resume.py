"""Print what ``kill -9`` at random moments costs: duplicate tasks, uncertain uploads, lost rows.

Each trial starts ``fbcheck check`` on a fresh data folder against a fresh
emulator (its own process, demo profile), kills it with SIGKILL, then runs the
same command again (no ``fbcheck jobs resend``: nobody gives the word to send
anything again). Half the trials kill inside an upload: the emulator holds every
upload ``--upload-ms`` (``create_latency_ms``) and the kill lands during that
wait, after the body left; the vendor still creates (and bills) those tasks. The
other half kill at a random moment.

Per trial it prints where the kill landed, the tasks the emulator created (the
plan needs ``--numbers / --chunk``), tasks created twice without the user's word
(every number of the task was already in an earlier one), uploads in flight at
the kill (the tasks the vendor created after it), how many uncertain uploads the
rerun reported (``WAITING FOR YOUR WORD ... in N upload(s)``, exit 6), and rows
without a yes/no/ban answer after the rerun (the uncertain ones wait, ``pending``).

Usage: ``python bench/kill_resume.py [--trials 10] [--numbers 3000] [--chunk 500]``
Targets (issue 7): 0 duplicate tasks created without the user's word; every
upload in flight at a kill reported by the rerun as uncertain.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import start_emulator

_REPORTED = re.compile(r"WAITING FOR YOUR WORD: [\d,]+ numbers in (\d+) upload\(s\)")


@dataclass(frozen=True)
class Trial:
    """What one kill-and-resume trial left behind."""

    created: int  # tasks the emulator created in all
    duplicate_tasks: int  # tasks whose every number an earlier task already had
    in_flight: int  # uploads the vendor created after the kill (in flight at it)
    reported: int  # uncertain uploads the rerun reported
    rerun_exit: int
    unanswered: int


def _tasks(url: str) -> list[dict[str, Any]]:
    """Return every task the emulator created, with its uploaded numbers."""
    body = requests.get(url + "/_mock/tasks?numbers=1", timeout=10).json()
    return body["tasks"]  # type: ignore[no-any-return]


def _duplicate_tasks(tasks: list[dict[str, Any]]) -> int:
    """Return how many tasks uploaded only numbers that an earlier task uploaded."""
    seen: set[str] = set()
    duplicates = 0
    for task in tasks:
        numbers = set(task["uploaded_numbers"])
        if numbers and numbers <= seen:
            duplicates += 1
        seen |= numbers
    return duplicates


def _settle(url: str, wait: float) -> int:
    """Wait until uploads still held by the emulator are created; return the task count."""
    deadline = time.monotonic() + wait
    count = len(_tasks(url))
    while time.monotonic() < deadline:
        time.sleep(0.2)
        count = len(_tasks(url))
    return count


def trial(work: Path, numbers: int, chunk: int, delay: float, upload_ms: int) -> Trial:
    """Run one trial; ``upload_ms`` > 0 makes the kill land ``delay`` s into the first upload."""
    emulator, url = start_emulator("demo", "bench:1000000")
    try:
        if upload_ms:
            requests.put(
                url + "/_mock/config", json={"create_latency_ms": upload_ms}, timeout=10
            ).raise_for_status()
        source = work / "in.csv"
        source.write_text(
            "phone\n" + "".join(f"+4179{n:07d}\n" for n in range(numbers)), encoding="utf-8"
        )
        env = {
            **os.environ,
            "FBCHECK_API_KEY": "bench",
            "FBCHECK_API_URL": url,
            "FBCHECK_DATA_DIR": str(work / "data"),
            "FBCHECK_POLL_MIN_INTERVAL": "0.05",
            "FBCHECK_POLL_MAX_INTERVAL": "0.3",
            "FBCHECK_MAX_NUMBERS_PER_TASK": str(chunk),
            "FBCHECK_MAX_CONCURRENT_TASKS": "2",
            "PYTHONUNBUFFERED": "1",
        }
        out = work / "out.csv"
        cmd = [sys.executable, "-m", "addin.cli", "check", str(source), "-o", str(out), "--yes"]
        first = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert first.stdout is not None
        if upload_ms:
            # The plan is printed just before the runner sends its first uploads.
            for line in first.stdout:
                if line.startswith("estimated cost"):
                    break
        time.sleep(delay)
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stdout.close()
        at_kill = len(_tasks(url))
        after = _settle(url, upload_ms / 1000 + 0.5)
        if upload_ms:
            requests.put(
                url + "/_mock/config", json={"create_latency_ms": 0}, timeout=10
            ).raise_for_status()
        rerun = subprocess.run(
            cmd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        match = _REPORTED.search(rerun.stdout)
        tasks = _tasks(url)
        answers: list[str] = []
        if out.exists():
            with out.open(encoding="utf-8-sig", newline="") as handle:
                answers = [row["facebook"] for row in csv.DictReader(handle)]
        unanswered = (
            sum(1 for a in answers if a not in ("yes", "no", "ban")) + numbers - len(answers)
        )
        return Trial(
            created=len(tasks),
            duplicate_tasks=_duplicate_tasks(tasks),
            in_flight=after - at_kill,
            reported=int(match[1]) if match else 0,
            rerun_exit=rerun.returncode,
            unanswered=unanswered,
        )
    finally:
        emulator.terminate()
        emulator.wait(10)


def main() -> None:
    """Run the trials and print one line each, then the totals against the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--numbers", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--upload-ms", type=int, default=3000, help="upload time (in-upload kills)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    planned = -(-args.numbers // args.chunk)
    print(
        f"{args.numbers:,} numbers in {planned} tasks of {args.chunk}; SIGKILL (half of them"
        f" inside a {args.upload_ms} ms upload), then the same command"
    )
    print(
        f"{'trial':>5} {'kill':>16} {'tasks':>5} {'dup tasks':>9} {'in flight':>9}"
        f" {'reported':>8} {'exit':>4} {'unanswered':>10}"
    )
    totals: Counter[str] = Counter()
    for index in range(1, args.trials + 1):
        inside = index % 2 == 1
        if inside:
            delay = rng.uniform(0.2, 0.6) * args.upload_ms / 1000
            where = f"upload +{delay:.1f}s"
        else:
            delay = rng.uniform(0.3, 8.0)
            where = f"after {delay:.1f}s"
        with tempfile.TemporaryDirectory(prefix="fbcheck-kill-") as folder:
            result = trial(
                Path(folder), args.numbers, args.chunk, delay, args.upload_ms if inside else 0
            )
        totals["duplicates"] += result.duplicate_tasks
        totals["in_flight"] += result.in_flight
        totals["reported"] += result.reported
        totals["unanswered"] += result.unanswered
        print(
            f"{index:>5} {where:>16} {result.created:>5} {result.duplicate_tasks:>9}"
            f" {result.in_flight:>9} {result.reported:>8} {result.rerun_exit:>4}"
            f" {result.unanswered:>10}"
        )
    print(f"duplicate tasks created without the user's word: {totals['duplicates']} (target 0)")
    print(
        f"uncertain creates reported by the rerun: {totals['reported']} of {totals['in_flight']}"
        " uploads in flight at a kill (target: all)"
    )
    print(f"rows waiting or unanswered after the reruns: {totals['unanswered']}")


if __name__ == "__main__":
    main()
