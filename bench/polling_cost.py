"""Print billed requests and export-notice delay of our poll schedule vs a fixed 3 s poller.

Runs against the emulator over real HTTP, on two profiles: ``realistic`` (a
constant 11.5 numbers/s after a 20 s queue, 10 s to export: the vendor's own
example) and ``variable`` (a busy shared service: per task a queue wait of 2 s to
45 minutes, a rate changing every 1-5 minutes between stalls and 35 numbers/s, 5 to
120 s to export, drawn from ``MOCK_SEED``). Instead of waiting, the bench moves the
emulator's clock with ``POST /_mock/clock/advance`` by exactly the delay each
poller asks for (the emulator runs at a time scale of 1e-6), so a task of an hour
takes a fraction of a second and every figure is in emulator time.

For each seed the emulator is reset and one task is followed to its export by our
schedule (the engine's ``PollSchedule`` with the settings' bounds and
``FBCHECK_TARGET_EXPORT_DELAY``), then the same task again by a poller every 3 s.
Printed: the median, 90th percentile and worst of billed requests (the create and
every poll) and of lateness (the poll that saw ``exported`` minus the moment of the
export, the exported answer's ``updated_at``).

On the variable profile the schedule runs twice per seed: **cold**, each task alone
(a vendor never seen: no pace history), and **warm**, in the order tasks of one
vendor come in real use: one after another, each starting from the pace history
the earlier ones left (``PaceHistory``, as the runner keeps it in the store), after
``--warmup`` tasks on seeds of their own (``--first-seed`` + 1,000,000 on) that are
not counted.

Usage: ``python bench/polling_cost.py [--seeds 100] [--first-seed 0] [--numbers 20000]
[--target 60] [--warmup 20] [--sizes 1000,5000,20000,100000] [--skip-fixed]``

Targets (issue 12): on the variable profile, 20,000 numbers in at most 10 billed
requests, export noticed within 60 s median and 120 s worst; on the constant profile
at most 6 billed requests.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

from addin.config import Settings
from addin.upstream.client import VendorClient
from addin.upstream.models import TaskStatus
from addin.upstream.polling import PaceHistory, PollSchedule
from mock_server import create_app as create_emulator
from mock_server.server import BackgroundServer

KEY = "bench"
FIXED_INTERVAL = 3.0
#: The warm-up tasks draw their pace from seeds this far from the measured ones.
WARMUP_SEEDS = 1_000_000

NextDelay = Callable[[float, TaskStatus], float]


@dataclass(frozen=True)
class Run:
    """One task followed to its export."""

    billed: int
    lateness: float
    learned: PaceHistory | None = None  # the pace history after this task (our schedule)


def run_task(
    url: str, size: int, next_delay: NextDelay, learned: Callable[[], PaceHistory | None]
) -> Run:
    """Create one task of ``size`` numbers and poll it to export."""
    requests.post(url + "/_mock/reset", timeout=10).raise_for_status()
    numbers = [f"+4179{n:07d}" for n in range(size)]
    session = requests.Session()
    with VendorClient(base_url=url, api_key=KEY) as client:
        status = client.create_task(numbers)
        now = 0.0
        while not status.is_exported:
            delay = next_delay(now, status)
            response = session.post(
                url + "/_mock/clock/advance", json={"seconds": delay}, timeout=10
            )
            response.raise_for_status()
            now += delay
            status = client.get_task(status.task_id)
        billed = client.billed_requests
    session.close()
    # The exported answer's updated_at is the moment of export, in emulator time.
    lateness = now - (status.updated_at - status.created_at).total_seconds()
    return Run(billed, lateness, learned())


def adaptive(
    settings: Settings, size: int, history: PaceHistory | None
) -> tuple[NextDelay, Callable[[], PaceHistory | None]]:
    """Return a poller driven by the engine's schedule, and what it learned of the pace."""
    schedule = PollSchedule(
        expected_numbers=size,
        min_interval=settings.poll_min_interval,
        max_interval=settings.poll_max_interval,
        target_delay=settings.target_export_delay,
        history=history,
    )

    def next_delay(now: float, status: TaskStatus) -> float:
        """Feed the schedule and ask it for the next delay."""
        schedule.observe(now, status)
        return schedule.next_delay(now)

    return next_delay, lambda: schedule.learned


def fixed(now: float, status: TaskStatus) -> float:
    """Poll every 3 seconds."""
    return FIXED_INTERVAL


def quantile(values: Sequence[float], share: float) -> float:
    """Return the ``share`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def spread(values: Sequence[float], unit: str = "") -> str:
    """Return "median / p90 / worst" of ``values``."""
    figures = (statistics.median(values), quantile(values, 0.9), max(values))
    return " / ".join(f"{v:,.0f}{unit}" for v in figures)


def profile_runs(
    profile: str,
    seeds: Sequence[int],
    size: int,
    settings: Settings,
    *,
    fixed_too: bool = True,
    history: PaceHistory | None = None,
    carry: bool = False,
) -> tuple[list[Run], list[Run]]:
    """Return (adaptive runs, fixed runs) of one task per seed on ``profile``.

    Our schedule starts from ``history``; with ``carry`` each task starts from the
    history the one before it left (tasks of one vendor one after another).
    """
    ours: list[Run] = []
    theirs: list[Run] = []
    for seed in seeds:
        config = {
            "MOCK_PROFILE": profile,
            "MOCK_SEED": seed,
            "MOCK_API_KEYS": {KEY: 10**9},
            # A tiny time scale: only the advances move the clock, not the bench's run time.
            "MOCK_TIME_SCALE": 1e-6,
            "MOCK_MAX_NUMBERS": max(size, 100_000),
        }
        with BackgroundServer(create_emulator(config)) as server:
            ours.append(run_task(server.url, size, *adaptive(settings, size, history)))
            if carry:
                history = ours[-1].learned or history
            if fixed_too:
                theirs.append(run_task(server.url, size, fixed, lambda: None))
    return ours, theirs


def print_row(label: str, ours: Sequence[Run], theirs: Sequence[Run]) -> None:
    """Print one profile's distributions, ours beside the fixed poller's."""
    print(
        f"{label:<26} | {spread([r.billed for r in ours]):>18}"
        f" {spread([r.lateness for r in ours], ' s'):>20} |"
        + (
            f" {spread([r.billed for r in theirs]):>20}"
            f" {spread([r.lateness for r in theirs], ' s'):>14}"
            if theirs
            else " (not run)"
        )
    )


def print_targets(ours: Sequence[Run]) -> None:
    """Print the variable profile's targets against ``ours``."""
    over = sum(r.billed > 10 for r in ours)
    late = sum(r.lateness > 120 for r in ours)
    median = statistics.median(r.lateness for r in ours)
    worst = max(r.lateness for r in ours)
    print(
        f"  targets: billed <= 10 in every task ({over} over, worst {max(r.billed for r in ours)}),"
        f" lateness median {median:.0f} s <= 60 s, worst {worst:.0f} s <= 120 s ({late} over)"
    )


def main() -> None:
    """Print the distributions on both profiles, then billed requests per task size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds of the variable profile")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--target", type=float, help="FBCHECK_TARGET_EXPORT_DELAY to use")
    parser.add_argument(
        "--warmup", type=int, default=20, help="tasks before the warm run's first (not counted)"
    )
    parser.add_argument("--sizes", default="1000,5000,20000,100000")
    parser.add_argument(
        "--skip-fixed", action="store_true", help="leave out the fixed 3 s poller (faster)"
    )
    args = parser.parse_args()
    overrides = {} if args.target is None else {"target_export_delay": args.target}
    settings = Settings(_env_file=None, **overrides)  # type: ignore[call-arg]
    print(
        f"poll bounds {settings.poll_min_interval:g} s / {settings.poll_max_interval:g} s,"
        f" target export delay {settings.target_export_delay:g} s"
        " (FBCHECK_POLL_MIN_INTERVAL / _MAX_INTERVAL, FBCHECK_TARGET_EXPORT_DELAY)"
    )
    print(f"{args.numbers:,} numbers per task; median / 90th percentile / worst")
    print(
        f"{'profile':<26} | {'adaptive: billed':>18} {'noticed after':>20} |"
        f" {'fixed 3 s: billed':>20} {'noticed after':>14}"
    )
    fixed_too = not args.skip_fixed
    # The constant profile is the same for every seed: one run says it all.
    ours, theirs = profile_runs("realistic", [0], args.numbers, settings, fixed_too=fixed_too)
    print_row("realistic (1 seed)", ours, theirs)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    ours, theirs = profile_runs("variable", seeds, args.numbers, settings, fixed_too=fixed_too)
    print_row(f"variable, cold ({len(seeds)} seeds)", ours, theirs)
    print_targets(ours)
    # Warm: what earlier tasks of the vendor showed, carried from task to task.
    first_warmup = args.first_seed + WARMUP_SEEDS
    warmup = list(range(first_warmup, first_warmup + args.warmup))
    done, _ = profile_runs("variable", warmup, args.numbers, settings, fixed_too=False, carry=True)
    history = next((r.learned for r in reversed(done) if r.learned), None)
    ours, _ = profile_runs(
        "variable", seeds, args.numbers, settings, fixed_too=False, history=history, carry=True
    )
    print_row(f"variable, warm ({len(seeds)} seeds)", ours, theirs)
    print_targets(ours)
    final = next((r.learned for r in reversed(ours) if r.learned), None)
    last_warmup = first_warmup + len(warmup) - 1
    print(
        f"  warm: {len(warmup)} warm-up tasks (seeds {first_warmup:,}-{last_warmup:,},"
        f" not counted) preceded the first; the pace history's top rate was"
        f" {history.top_rate if history else 0:.1f} numbers/s then,"
        f" {final.top_rate if final else 0:.1f} after the last"
    )
    print()
    print("realistic profile by task size (one task each):")
    print(
        f"{'numbers':>8} | {'adaptive: billed':>16} {'noticed after':>14} |"
        f" {'fixed 3 s: billed':>17}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        ours, theirs = profile_runs("realistic", [0], size, settings, fixed_too=fixed_too)
        fixed_billed = f"{theirs[0].billed:>17,}" if theirs else f"{'(not run)':>17}"
        print(f"{size:>8,} | {ours[0].billed:>16,} {ours[0].lateness:>12.0f} s | {fixed_billed}")


if __name__ == "__main__":
    main()
