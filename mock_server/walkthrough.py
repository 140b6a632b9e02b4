"""Walk one task through the emulator: create, poll until exported, download, count.

``python -m mock_server.walkthrough`` starts the emulator in this process on a
free port, uploads about 1,000 numbers over real HTTP and prints a line at
every change of status, then the answers found in the result file.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import sys
import time
import zipfile
from collections.abc import Sequence
from typing import Any

import requests
from openpyxl import load_workbook

from mock_server import create_app
from mock_server.server import BackgroundServer
from mock_server.settings import PROFILES

API_KEY = "demo"

#: Give up when the task is not exported within this many real seconds.
DEADLINE_SECONDS = 120.0


def sample_numbers(count: int) -> list[str]:
    """Return ``count`` distinct Swiss mobile numbers in E.164."""
    return [f"+4179{1_000_000 + i:07d}" for i in range(count)]


def read_answers(content: bytes, url: str) -> list[str]:
    """Return the ``facebook`` column of an xlsx or zip/CSV result file."""
    if url.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            text = archive.read(archive.namelist()[0]).decode("utf-8")
        return [row["facebook"] for row in csv.DictReader(io.StringIO(text))]
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    rows = workbook.worksheets[0].iter_rows(min_row=2, values_only=True)
    answers = [str(row[1]) for row in rows]
    workbook.close()
    return answers


def status_line(task: dict[str, Any]) -> str:
    """Return one printed line describing a task."""
    return (
        f"{task['updated_at']}  {task['status']:<10}  total {task['total']:>6}"
        f"  success {task['success']:>6}  failure {task['failure']:>4}"
    )


def walk(base_url: str, numbers: list[str], poll_interval: float) -> int:
    """Create one task at ``base_url``, follow it to the result, print; return an exit code."""
    with requests.Session() as session:
        session.headers["X-API-Key"] = API_KEY
        tasks_url = f"{base_url}/fb/api/simple/tasks"
        body = ("\n".join(numbers) + "\n").encode("ascii")
        response = session.post(
            tasks_url,
            files={"file": ("input.txt", body, "text/plain")},
            data={"user_id": "walkthrough"},
            timeout=30,
        )
        response.raise_for_status()
        task = response.json()
        print(f"created task {task['task_id']} with {len(numbers)} numbers")
        print(status_line(task))
        shown_status = task["status"]
        deadline = time.monotonic() + DEADLINE_SECONDS
        while task["status"] != "exported":
            if time.monotonic() > deadline:
                print(f"gave up: not exported after {DEADLINE_SECONDS:g} s", file=sys.stderr)
                return 1
            time.sleep(poll_interval)
            response = session.get(f"{tasks_url}/{task['task_id']}", timeout=30)
            response.raise_for_status()
            task = response.json()
            if task["status"] != shown_status:
                print(status_line(task))
                shown_status = task["status"]
        download = session.get(task["result_url"], timeout=60)
        download.raise_for_status()
        counts = collections.Counter(read_answers(download.content, task["result_url"]))
        print(
            f"result file: {sum(counts.values())} rows: yes {counts['yes']},"
            f" no {counts['no']}, ban {counts['ban']}; failed {task['failure']}"
        )
        ledger = session.get(f"{base_url}/_mock/ledger", timeout=30).json()["keys"][API_KEY]
        print(
            f"billed requests: {ledger['billed_total']} (1 create + {ledger['status_polls']}"
            " status polls); the download was free"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator in-process and walk one task through it."""
    parser = argparse.ArgumentParser(
        prog="python -m mock_server.walkthrough", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--profile", choices=list(PROFILES), default="demo")
    parser.add_argument("--numbers", type=int, default=1000, help="numbers to upload (1000)")
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, metavar="SECONDS", help="between polls"
    )
    args = parser.parse_args(argv)
    if args.numbers < 1:
        parser.error("--numbers must be at least 1")
    app = create_app({"MOCK_PROFILE": args.profile})
    with BackgroundServer(app) as server:
        print(f"emulator ({args.profile} profile) at {server.url}")
        return walk(server.url, sample_numbers(args.numbers), args.poll_interval)


if __name__ == "__main__":
    sys.exit(main())
