"""``make team-demo``: two people of a team check overlapping files through two servers.

DEMO: the vendor is the bundled emulator (nothing is billed). ``addin.local_team``
starts a throwaway PostgreSQL cluster, the emulator, two ``fbcheck serve --team``
instances and two ``fbcheck worker`` processes on 127.0.0.1; alice checks her file
through server 1 and bob his through server 2, both at once with ``fbcheck check
--server``. Their files overlap (by default 2,000 numbers each, 1,000 of them the
same), so whoever plans second gets the shared numbers from the other's task or from
the cache instead of paying for them again. The demo then prints, per user, what the
store says each was answered from and billed for, the emulator's ledger, and how many
numbers the emulator received more than once (from its own task list: 0).

Exit codes: 0 when every row is answered and no number was uploaded twice; 1 when
not (the figures say what); 2 when no local PostgreSQL can be started (the message
says what to install); 3 when a part of the team did not start; 130 after Ctrl-C
(everything it started is stopped first).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from addin.local_postgres import LocalCluster
from addin.local_team import FBCHECK, LaunchError, LocalTeam

#: Answers a row may end with once it is checked.
CHECKED = frozenset({"yes", "no", "ban"})
#: Seconds each ``fbcheck check --server`` may take.
CHECK_TIMEOUT = 600


def swiss_numbers(start: int, count: int) -> list[str]:
    """Return ``count`` valid Swiss mobile numbers in E.164 from offset ``start``."""
    return [f"+4179{n:07d}" for n in range(1_000_000 + start, 1_000_000 + start + count)]


def demo_inputs(numbers: int, shared: int) -> dict[str, list[str]]:
    """Return alice's and bob's numbers: ``numbers`` each, the first ``shared`` the same."""
    common = swiss_numbers(0, shared)
    own = numbers - shared
    return {
        "alice": [*common, *swiss_numbers(shared, own)],
        "bob": [*common, *swiss_numbers(shared + own, own)],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m addin.team_demo", description=__doc__)
    parser.add_argument("--numbers", type=int, default=2000, help="numbers per user (2,000)")
    parser.add_argument("--shared", type=int, default=1000, help="of them the same (1,000)")
    args = parser.parse_args(argv)
    if not 0 <= args.shared <= args.numbers or args.numbers < 1:
        parser.error("--shared must be between 0 and --numbers, and --numbers at least 1")
    reason = LocalCluster.why_not()
    if reason is not None:
        print(f"team-demo: cannot run without a local PostgreSQL: {reason}", file=sys.stderr)
        return 2
    print("DEMO: the vendor here is the bundled emulator; nothing is billed, answers are not real.")
    inputs = demo_inputs(args.numbers, args.shared)
    settings = {
        "FBCHECK_REGION": "CH",
        # The emulator's demo profile is fast and free: poll it often.
        "FBCHECK_POLL_MIN_INTERVAL": "0.5",
        "FBCHECK_POLL_MAX_INTERVAL": "3",
    }
    try:
        with LocalTeam(servers=2, workers=2, users=tuple(inputs), settings=settings) as team:
            print(
                f"started: PostgreSQL, the emulator ({team.emulator_url}), servers "
                f"{', '.join(team.server_urls)}, {len(team.workers)} workers"
            )
            return _run(team, inputs)
    except LaunchError as exc:
        print(f"team-demo: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(
            "team-demo: stopped (Ctrl-C); every process and the cluster are gone", file=sys.stderr
        )
        return 130


def _run(team: LocalTeam, inputs: dict[str, list[str]]) -> int:
    """Check both users' files at once, each through its own server; print the figures."""
    running: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    for index, (user, numbers) in enumerate(inputs.items()):
        source = team.root / f"{user}.csv"
        source.write_text("phone\n" + "\n".join(numbers) + "\n", encoding="utf-8")
        output = team.root / f"{user}-results.csv"
        server = team.server_urls[index % len(team.server_urls)]
        print(f"{user}: fbcheck check --server {server} {source.name} ({len(numbers):,} rows)")
        argv = [*FBCHECK, "check", "--server", server, str(source), "-o", str(output), "--yes"]
        argv += ["--region", "CH"]
        running[user] = (
            subprocess.Popen(
                [sys.executable, *argv],
                env=team.laptop_env(user),
                cwd=team.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
            output,
        )
    answered: dict[str, int] = {}
    failed = False
    for user, (process, output) in running.items():
        try:
            said, _ = process.communicate(timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            said, _ = process.communicate()
        if process.returncode != 0:
            failed = True
            print(f"{user}'s check ended with exit {process.returncode}:\n{said[-1500:]}")
        answered[user] = _answered_rows(output)
    figures = team.user_figures()
    ledger = team.vendor_ledger()
    uploads = team.vendor_uploads()
    twice = sum(1 for times in uploads.values() if times > 1)
    print()
    print("DEMO results (the emulator's answers), per user:")
    for user, numbers in inputs.items():
        mine = figures.get(user)
        if mine is None:
            print(f"  {user}: no job reached the server")
            failed = True
            continue
        print(
            f"  {user}: rows {len(numbers):,}, answered {answered[user]:,};"
            f" numbers uploaded for {user} {mine.uploaded_for_them:,} in"
            f" {mine.tasks_created} task(s), billed requests {mine.billed:,}"
            f" (possibly billed {mine.possibly_billed}); answered from colleagues' work"
            f" {mine.from_cache + mine.joined:,} (cache {mine.from_cache:,},"
            f" joined a colleague's task {mine.joined:,})"
        )
        failed = failed or answered[user] != len(numbers)
    print(
        "emulator ledger: billed requests {billed_total:,} (creates {tasks_created:,}, status"
        " polls {status_polls:,}), numbers uploaded {numbers_uploaded:,}, result downloads"
        " {downloads:,}".format(**ledger)
    )
    distinct = len({n for numbers in inputs.values() for n in numbers})
    print(f"distinct numbers of both users: {distinct:,}")
    print(f"numbers uploaded more than once: {twice}")
    return 1 if failed or twice else 0


def _answered_rows(output: Path) -> int:
    """Return how many rows of an output file carry a checked answer."""
    try:
        with output.open(encoding="utf-8-sig", newline="") as handle:
            return sum(1 for row in csv.DictReader(handle) if row.get("facebook") in CHECKED)
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
