"""Print billed requests and export-notice delay of our poll schedule vs a fixed 3 s poller.

Runs against the emulator's ``realistic`` profile (a queue wait, then about 11.5
numbers a second, then a delay before export: the vendor's own example) over
real HTTP. Instead of waiting, the bench moves the emulator's clock with
``POST /_mock/clock/advance`` by exactly the delay each poller asks for, so a
29-minute task takes a second and the figures are in emulator time.

Usage: ``python bench/polling_cost.py [--sizes 1000,5000,20000,100000]``
Target (issue 3): 20,000 numbers in at most 10 billed requests, export noticed
within 60 s; a fixed 3-second poller pays about 580.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import requests

from addin.config import Settings
from addin.upstream.client import VendorClient
from addin.upstream.models import TaskStatus
from addin.upstream.polling import PollSchedule
from mock_server import create_app as create_emulator
from mock_server.server import BackgroundServer

KEY = "bench"


def run_task(
    url: str, size: int, next_delay: Callable[[float, TaskStatus], float]
) -> tuple[int, float]:
    """Create one task of ``size`` numbers and poll it to export; return (billed, lateness s)."""
    requests.post(url + "/_mock/reset", timeout=10).raise_for_status()
    numbers = [f"+4179{n:07d}" for n in range(size)]
    with VendorClient(base_url=url, api_key=KEY) as client:
        status = client.create_task(numbers)
        now = 0.0
        while not status.is_exported:
            delay = next_delay(now, status)
            response = requests.post(
                url + "/_mock/clock/advance", json={"seconds": delay}, timeout=10
            )
            response.raise_for_status()
            now += delay
            status = client.get_task(status.task_id)
        billed = client.billed_requests
    # The exported answer's updated_at is the moment of export, in emulator time.
    lateness = now - (status.updated_at - status.created_at).total_seconds()
    return billed, lateness


def main() -> None:
    """Print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,20000,100000")
    args = parser.parse_args()
    settings = Settings()
    # A tiny time scale: only the advances move the clock, not the bench's own run time.
    config = {"MOCK_PROFILE": "realistic", "MOCK_API_KEYS": {KEY: 10**9}, "MOCK_TIME_SCALE": 1e-6}
    with BackgroundServer(create_emulator(config)) as server:
        print(
            f"poll bounds: min {settings.poll_min_interval:g} s, "
            f"max {settings.poll_max_interval:g} s"
            " (FBCHECK_POLL_MIN_INTERVAL / FBCHECK_POLL_MAX_INTERVAL)"
        )
        print(
            f"{'numbers':>8} | {'adaptive: billed':>16} {'noticed after':>14} | "
            f"{'fixed 3 s: billed':>17} {'noticed after':>14}"
        )
        for size in (int(s) for s in args.sizes.split(",")):
            schedule = PollSchedule(
                expected_numbers=size,
                min_interval=settings.poll_min_interval,
                max_interval=settings.poll_max_interval,
            )

            def adaptive(
                now: float, status: TaskStatus, schedule: PollSchedule = schedule
            ) -> float:
                """Feed the schedule and ask it for the next delay."""
                schedule.observe(now, status)
                return schedule.next_delay(now)

            billed, late = run_task(server.url, size, adaptive)
            fixed_billed, fixed_late = run_task(server.url, size, lambda now, status: 3.0)
            print(
                f"{size:>8,} | {billed:>16,} {late:>12.0f} s | "
                f"{fixed_billed:>17,} {fixed_late:>12.0f} s"
            )


if __name__ == "__main__":
    main()
