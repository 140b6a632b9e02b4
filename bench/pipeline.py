"""Print time and peak memory of ``fbcheck check`` for 10k, 100k and 1M input rows.

Each input has 30% duplicate rows and 5% invalid rows in mixed formats. The
emulator runs in its own process on the ``instant`` profile, so the figures are
the client's own cost: reading, normalising, planning, the SQLite store,
uploading, parsing the result files and writing the CSV.

Usage: ``python bench/pipeline.py [--sizes 10000,100000,1000000] [--keep DIR]``
Target (issue 3): 1,000,000 rows to CSV in at most 60 s and 1.5 GiB peak.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_emulator(profile: str, key: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m mock_server`` on a free port; return the process once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "mock_server", "--port", str(port), "--profile", profile]
    emulator = subprocess.Popen(
        [*cmd, "--api-key", key], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/_mock/ledger", timeout=1)
            return emulator, url
        except requests.ConnectionError:
            time.sleep(0.1)
    emulator.terminate()
    raise SystemExit("the emulator did not start")


def make_input(path: Path, rows: int, seed: int = 7) -> None:
    """Write ``rows`` CSV rows: 30% duplicates, 5% invalid, mixed formats."""
    rng = random.Random(seed)
    distinct = int(rows * 0.70)
    base = [f"79{n:07d}" for n in rng.sample(range(10_000_000), distinct)]
    formats = (
        lambda d: f"+41{d}",
        lambda d: f"0041 {d[:2]} {d[2:5]} {d[5:7]} {d[7:]}",
        lambda d: f"+41-{d[:2]}-{d[2:5]}-{d[5:]}",
        lambda d: f"41{d}.0",
    )
    with path.open("w", encoding="utf-8") as out:
        out.write("phone\n")
        for i in range(rows):
            roll = rng.random()
            if roll < 0.05:
                out.write(rng.choice(["n/a", "12", "call me", "+41 12"]) + "\n")
            elif i >= distinct or roll < 0.30:
                seen = base[rng.randrange(max(1, min(i, distinct)))]
                out.write(rng.choice(formats)(seen) + "\n")
            else:
                out.write(rng.choice(formats)(base[i]) + "\n")


def run_check(input_path: Path, output: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Run the CLI once; return wall seconds, peak RSS in MiB and its output."""
    cmd = [sys.executable, "-m", "addin.cli", "check", str(input_path), "-o", str(output), "--yes"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    text = proc.stdout.read().decode() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"fbcheck check failed:\n{text}")
    return elapsed, usage.ru_maxrss / 1024, text


def main() -> None:
    """Run the benchmark and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="fbcheck-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    emulator, url = start_emulator("instant", "bench:100000000")
    try:
        print(f"{'rows':>9} {'seconds':>8} {'peak MiB':>9}  summary")
        for size in (int(s) for s in args.sizes.split(",")):
            data = work / f"data-{size}"
            shutil.rmtree(data, ignore_errors=True)
            input_path = work / f"input-{size}.csv"
            if not input_path.exists():
                make_input(input_path, size)
            env = {
                **os.environ,
                "FBCHECK_API_KEY": "bench",
                "FBCHECK_API_URL": url,
                "FBCHECK_DATA_DIR": str(data),
                "FBCHECK_POLL_MIN_INTERVAL": "0.05",
                "FBCHECK_POLL_MAX_INTERVAL": "0.5",
                "FBCHECK_REGION": "CH",
            }
            seconds, peak, text = run_check(input_path, work / f"output-{size}.csv", env)
            summary = next((line for line in text.splitlines() if line.startswith("wrote")), "")
            print(f"{size:>9,} {seconds:>8.1f} {peak:>9.0f}  {summary}")
    finally:
        emulator.terminate()
        emulator.wait(10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
