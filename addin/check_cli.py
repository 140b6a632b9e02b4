"""``fbcheck check``: the whole job on a text, CSV or xlsx file.

Exit codes:

- 0: every row answered (yes, no, ban or invalid)
- 1: finished, but some rows are ``error`` (the reason column says why)
- 2: bad usage or an unreadable input file; nothing was billed
- 3: more numbers to upload than ``--max-upload`` and no ``--yes``; nothing was billed
- 4: the vendor refused the job (API key, balance) or the job failed
- 5: the output file could not be written (answers are cached: run again)
- 130: interrupted (Ctrl-C); run the same command again to finish without new billing
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from addin.config import Settings
from addin.engine.checker import Checker, JobProgress
from addin.engine.phones import normalize, validate_region
from addin.engine.sinks import write_output
from addin.engine.sources import InputError, read_input

EXIT_OK = 0
EXIT_SOME_ERRORS = 1
EXIT_USAGE = 2
EXIT_NEEDS_CONFIRMATION = 3
EXIT_FAILED = 4
EXIT_UNWRITABLE = 5
EXIT_INTERRUPTED = 130

Row = tuple[object, str | None, str | None]


def register(subparsers: Any) -> None:
    """Add the ``check`` sub-command."""
    parser = subparsers.add_parser(
        "check",
        help="check the phone numbers of a .txt, .csv or .xlsx file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="a .txt, .csv or .xlsx file")
    parser.add_argument(
        "-o", "--output", type=Path, help="result file, .csv or .xlsx (default: INPUT.results.csv)"
    )
    parser.add_argument("--column", help="column: header name, letter (B) or 1-based index")
    parser.add_argument("--sheet", help="worksheet name (xlsx; default: the first)")
    parser.add_argument("--region", help="region for national numbers, e.g. CH (default: setting)")
    parser.add_argument("--refresh", action="store_true", help="ignore cached answers")
    parser.add_argument("--yes", action="store_true", help="do not stop above --max-upload")
    parser.add_argument(
        "--max-upload",
        type=int,
        help="stop before billing when more numbers would be uploaded (default: setting)",
    )
    parser.add_argument(
        "--preview", type=int, default=0, metavar="N", help="print the first N result rows"
    )
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace, *, out: TextIO | None = None, settings: Settings | None = None
) -> int:
    """Run ``fbcheck check`` and return its exit code."""
    out = out or sys.stdout
    err = sys.stderr
    try:
        settings = settings or Settings()
    except ValidationError as exc:
        print(f"error: bad FBCHECK_ setting: {exc}", file=err)
        return EXIT_USAGE
    try:
        region = validate_region(args.region or settings.region)
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    output: Path = args.output or args.input.with_name(args.input.name + ".results.csv")
    if output.suffix.lower() not in (".csv", ".xlsx"):
        print(f"error: the output must end in .csv or .xlsx, not {output.name!r}", file=err)
        return EXIT_USAGE
    try:
        rows, header = _read_rows(args.input, args.column, args.sheet, region)
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE

    invalid = sum(1 for _, e164, _ in rows if e164 is None)
    with Checker(settings) as checker:
        if checker.demo:
            print(
                "DEMO: no FBCHECK_API_KEY is set; answers come from the bundled emulator "
                "and are not real.",
                file=out,
            )
        plan = checker.plan(
            (e164 for _, e164, _ in rows if e164 is not None),
            refresh=args.refresh,
            rows=len(rows),
            invalid=invalid,
        )
        _print_plan(plan.summary(), header, out)
        limit = settings.confirm_above if args.max_upload is None else args.max_upload
        if plan.to_upload > limit and not args.yes:
            print(
                f"stopped before billing: {plan.to_upload:,} numbers to upload is above "
                f"--max-upload {limit:,}; run again with --yes to go ahead",
                file=out,
            )
            return EXIT_NEEDS_CONFIRMATION
        billed_before = checker.client.billed_requests
        job_id = checker.submit(plan, kind="cli", label=args.input.name)
        try:
            final = _follow(checker, job_id, err)
        except KeyboardInterrupt:
            billed = checker.client.billed_requests - billed_before
            print(
                f"\ninterrupted after {billed:,} billed requests: tasks already created keep "
                "running at the vendor and are stored; run the same command again to collect "
                "them without new billing",
                file=err,
            )
            return EXIT_INTERRUPTED
        answers = checker.answers(job_id)
        billed = checker.client.billed_requests - billed_before
        demo = checker.demo

    try:
        written, counts = _write(output, rows, answers, demo)
    except OSError as exc:
        print(
            f"error: could not write {output}: {exc}. If it is open in Excel, close it. "
            "The answers are saved: run the same command again (answered from the cache).",
            file=err,
        )
        return EXIT_UNWRITABLE
    _print_summary(out, output, written, counts, billed, final, demo)
    if args.preview > 0:
        # The first rows, plus a few invalid ones further down so their reasons show.
        later_invalid = [row for row in rows[args.preview :] if row[1] is None][:3]
        _print_preview(out, rows[: args.preview] + later_invalid, answers)
    if final.state == "failed":
        return EXIT_FAILED
    if counts.get("error", 0) and counts.get("error", 0) == written - counts.get("invalid", 0):
        return EXIT_FAILED
    return EXIT_SOME_ERRORS if counts.get("error") else EXIT_OK


def _read_rows(
    path: Path, column: str | None, sheet: str | None, region: str
) -> tuple[list[Row], str | None]:
    """Read and normalise every input cell, keeping input order."""
    table = read_input(path, column=column, sheet=sheet)
    rows: list[Row] = []
    for cell in table:
        value = cell.value
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
            value = int(value)
        result = normalize(cell.value, region)
        rows.append((value, result.e164, result.reason))
    return rows, table.header


def _print_plan(plan: dict[str, Any], header: str | None, out: TextIO) -> None:
    """Print the cost estimate before anything is billed."""
    column = f" (column {header!r})" if header else ""
    print(
        f"{plan['rows']:,} rows{column}: {plan['invalid']:,} invalid, "
        f"{plan['distinct']:,} distinct numbers, {plan['cache_hits']:,} cached, "
        f"{plan['in_flight']:,} already in an open task (queued or running), "
        f"{plan['to_upload']:,} to upload in {plan['tasks']:,} task(s)",
        file=out,
    )
    if plan["tasks"]:
        print(
            f"estimated cost: at least {plan['billed_minimum']:,} billed requests, "
            f"typically about {plan['billed_typical']:,}",
            file=out,
        )
    else:
        print("estimated cost: no new task, nothing to upload", file=out)


def _follow(checker: Checker, job_id: str, err: TextIO) -> JobProgress:
    """Show live progress until the job ends; return its final state."""
    tty = err.isatty()
    last_line = ""
    last_print = 0.0
    while True:
        progress = checker.progress(job_id)
        assert progress is not None
        line = _progress_line(progress)
        now = time.monotonic()
        if tty:
            err.write("\r" + line.ljust(len(last_line)))
            err.flush()
            last_line = line
        elif line != last_line and (now - last_print >= 5 or progress.finished):
            print(line, file=err)
            last_line, last_print = line, now
        if progress.finished:
            if tty:
                err.write("\n")
            return progress
        time.sleep(0.2)


def _progress_line(p: JobProgress) -> str:
    """Return one line: a bar, counts, tasks, ETA and billed requests."""
    total = max(p.distinct, 1)
    done = p.answered + p.processed
    share = min(done / total, 1.0)
    bar = "#" * int(share * 24)
    eta = ""
    if p.eta_seconds is not None and not p.finished:
        eta = f" · ETA {_duration(p.eta_seconds)}"
    return (
        f"[{bar:<24}] {share:4.0%} {done:,}/{p.distinct:,} numbers · "
        f"{p.tasks_open} of {p.tasks} task(s) open · {p.billed} billed{eta}"
    )


def _duration(seconds: float) -> str:
    """Format seconds as 1h02m, 3m05s or 12s."""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _write(
    output: Path, rows: list[Row], answers: dict[str, Any], demo: bool
) -> tuple[int, Counter[str]]:
    """Write one output row per input row, in input order; return rows and answer counts."""
    counts: Counter[str] = Counter()

    def lines() -> Iterator[list[object]]:
        """Yield output rows while counting answers."""
        for value, e164, reason in rows:
            if e164 is None:
                counts["invalid"] += 1
                yield [value, "", "invalid", reason, "", ""]
                continue
            answer = answers.get(e164)
            if answer is None:
                counts["error"] += 1
                yield [value, e164, "error", "no answer was recorded for this number", "", ""]
                continue
            counts[answer.answer] += 1
            source = "demo" if demo else answer.source
            yield [value, e164, answer.answer, answer.reason or "", source, _iso(answer.checked_at)]

    output.parent.mkdir(parents=True, exist_ok=True)
    written = write_output(output, lines())
    return written, counts


def _iso(stamp: float | None) -> str:
    """Format a UNIX time as RFC 3339 UTC, or ''."""
    if stamp is None:
        return ""
    return (
        dt.datetime.fromtimestamp(stamp, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _print_preview(out: TextIO, rows: list[Row], answers: dict[str, Any]) -> None:
    """Print the first result rows as an aligned table."""
    table = [("input", "e164", "facebook", "reason")]
    for value, e164, reason in rows:
        answer = answers.get(e164) if e164 else None
        if e164 is None:
            table.append((str(value), "", "invalid", reason or ""))
        elif answer is None:
            table.append((str(value), e164, "error", "no answer was recorded"))
        else:
            table.append((str(value), e164, answer.answer, answer.reason or ""))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    print(file=out)
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)), file=out
        )


def _print_summary(
    out: TextIO,
    output: Path,
    written: int,
    counts: Counter[str],
    billed: int,
    final: JobProgress,
    demo: bool,
) -> None:
    """Print the answer counts and the billed requests this run used."""
    parts = ", ".join(f"{counts.get(k, 0):,} {k}" for k in ("yes", "no", "ban", "invalid", "error"))
    print(f"wrote {written:,} rows to {output}: {parts}", file=out)
    money = "emulator requests, not billed" if demo else "billed requests"
    print(f"this run used {billed:,} {money}; job {final.job_id} {final.state}", file=out)
    if final.uncertain_creates:
        print(
            f"note: {final.uncertain_creates} upload(s) had an unknown outcome and were sent "
            "again; the vendor may have billed a duplicate task for each",
            file=out,
        )
    if final.error and final.state != "done":
        print(f"last error: {final.error}", file=out)
