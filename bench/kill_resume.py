"""Print what ``kill -9`` at random moments costs: duplicate task creations and lost rows.

Each trial starts ``fbcheck check`` on a fresh data folder against a fresh
emulator (its own process, demo profile), kills it with SIGKILL after a random
delay, then runs the same command again to the end. It prints, per trial, the
moment of the kill, the tasks the emulator created (the plan needs
``--numbers / --chunk``), numbers uploaded more than once, and rows without a
yes/no/ban answer.

Usage: ``python bench/kill_resume.py [--trials 10] [--numbers 3000] [--chunk 500]``
Target (issue 3): 0 duplicate task creations and every row answered, except for
a kill during the create request itself (the vendor has no idempotency key).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import start_emulator


def trial(work: Path, numbers: int, chunk: int, delay: float) -> tuple[int, int, int]:
    """Run one kill-and-resume trial; return (tasks created, duplicated numbers, unanswered)."""
    emulator, url = start_emulator("demo", "bench:1000000")
    try:
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
        }
        cmd = [
            sys.executable,
            "-m",
            "addin.cli",
            "check",
            str(source),
            "-o",
            str(work / "out.csv"),
            "--yes",
        ]
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        first.send_signal(signal.SIGKILL)
        first.wait()
        subprocess.run(
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=300,
        )
        tasks = requests.get(url + "/_mock/tasks?numbers=1", timeout=10).json()["tasks"]
        uploads = Counter(n for task in tasks for n in task["uploaded_numbers"])
        with (work / "out.csv").open(encoding="utf-8-sig", newline="") as handle:
            answers = [row["facebook"] for row in csv.DictReader(handle)]
        unanswered = (
            sum(1 for a in answers if a not in ("yes", "no", "ban")) + numbers - len(answers)
        )
        return len(tasks), sum(1 for c in uploads.values() if c > 1), unanswered
    finally:
        emulator.terminate()
        emulator.wait(10)


def main() -> None:
    """Run the trials and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--numbers", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    planned = -(-args.numbers // args.chunk)
    print(
        f"{args.numbers:,} numbers in {planned} tasks of {args.chunk}; "
        "SIGKILL, then the same command"
    )
    print(
        f"{'trial':>5} {'kill after':>10} {'tasks created':>13} {'duplicated numbers':>18} "
        f"{'rows unanswered':>15}"
    )
    total_dupes = 0
    for index in range(1, args.trials + 1):
        delay = rng.uniform(0.3, 8.0)
        with tempfile.TemporaryDirectory(prefix="fbcheck-kill-") as folder:
            created, dupes, unanswered = trial(Path(folder), args.numbers, args.chunk, delay)
        total_dupes += dupes
        print(f"{index:>5} {delay:>9.1f}s {created:>13} {dupes:>18} {unanswered:>15}")
    print(f"duplicated numbers over all trials: {total_dupes}")


if __name__ == "__main__":
    main()
