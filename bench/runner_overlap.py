"""Print how long the runner takes for a job's tasks: steps one after another, and overlapped.

The same job (``--numbers`` distinct numbers in tasks of ``--chunk``, 24 tasks by
default, as a 1,000,000-row global check makes) runs twice on fresh data folders
against the emulator (its own process, ``instant`` profile, as in
``bench/pipeline.py``): once with ``FBCHECK_PARALLEL_STEPS=1`` (the steps of
different tasks one after the other, as before the steps were split out) and once
with the default pool. The time printed runs from the job's submission (its
numbers stored) to its last answer stored: uploads, polls, downloads and storing
the answers, nothing of reading or writing files; beside it the CPU seconds of
this process and of the emulator meanwhile (when wall is about their sum, the
steps wait for the CPU, not for each other, and overlapping them cannot gain).
Repeated ``--rounds`` times, alternating, so both see the same machine load.

``--latency-ms`` makes the emulator answer every request that late, as a distant
vendor does.

Usage: ``python bench/runner_overlap.py [--numbers 480000] [--chunk 20000] [--rounds 2]
[--latency-ms 0]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline import cpu_seconds, start_emulator
from pydantic import SecretStr

from addin.config import Settings
from addin.vendor import open_checker


def one_run(
    url: str, data: Path, values: list[str], chunk: int, parallel: int
) -> tuple[float, float]:
    """Run the job once; return wall and CPU seconds (this process) from submission to the end."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_key=SecretStr("bench"),
        api_url=url,
        data_dir=data,
        poll_min_interval=0.05,
        poll_max_interval=0.5,
        max_numbers_per_task=chunk,
        parallel_steps=parallel,
    )
    with open_checker(settings) as checker:
        plan = checker.plan(values)
        started, cpu = time.perf_counter(), time.process_time()
        job = checker.submit(plan)
        progress = checker.wait(job, timeout=3600, interval=0.05)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if not progress.finished:
            raise SystemExit(f"the job did not finish: {progress}")
    return elapsed, cpu


def main() -> None:
    """Run both variants ``--rounds`` times and print each time and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=480_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="the emulator answers every request this late"
    )
    parser.add_argument(
        "--parallel", type=int, default=Settings.model_fields["parallel_steps"].default
    )
    args = parser.parse_args()
    values = [f"+4179{n:07d}" for n in range(args.numbers)]
    emulator, url = start_emulator("instant", "bench:100000000")
    if args.latency_ms:
        answer = requests.put(
            f"{url}/_mock/config", json={"latency_ms": args.latency_ms}, timeout=5
        )
        answer.raise_for_status()
    work = Path(tempfile.mkdtemp(prefix="fbcheck-overlap-"))
    tasks = -(-args.numbers // args.chunk)
    print(
        f"{args.numbers:,} numbers in {tasks} tasks, {args.latency_ms} ms vendor latency;"
        f" {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        f"{'round':>5} {'steps':>8} {'wall s':>7} {'cpu s':>6} {'emu cpu s':>9}"
        f" {'wall ratio (1 by 1 / pool)':>27}"
    )
    try:
        for round_no in range(1, args.rounds + 1):
            walls = []
            for parallel in (1, args.parallel):
                data = work / f"data-{round_no}-{parallel}"
                emulator_before = cpu_seconds(emulator.pid)
                wall, cpu = one_run(url, data, values, args.chunk, parallel)
                emulator_cpu = cpu_seconds(emulator.pid) - emulator_before
                shutil.rmtree(data, ignore_errors=True)
                walls.append(wall)
                label = "1 by 1" if parallel == 1 else f"pool {parallel}"
                ratio = f"{walls[0] / walls[1]:.2f}" if len(walls) == 2 else ""
                print(
                    f"{round_no:>5} {label:>8} {wall:>7.1f} {cpu:>6.1f} {emulator_cpu:>9.1f}"
                    f" {ratio:>27}"
                )
    finally:
        emulator.terminate()
        emulator.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
