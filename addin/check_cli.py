"""``fbcheck check``: the whole job on a text, CSV or xlsx file.

Exit codes:

- 0: every row answered (yes, no, ban or invalid)
- 1: finished, but some rows are ``error`` (the reason column says why)
- 2: bad usage (such as ``-o`` naming the input file) or an unreadable input file;
  nothing was billed
- 3: more numbers to upload than ``--max-upload`` and no ``--yes``; nothing was billed
- 4: the vendor refused the job (API key, balance) or the job failed
- 5: the output file could not be written (answers are cached: run again)
- 6: some numbers wait for your word: an upload's outcome is unknown (the vendor may
  have billed it); ``fbcheck jobs resend JOB`` or ``fbcheck jobs abandon JOB`` decides
- 7: paused: paid tasks stay open at the vendor but it does not answer for them now
  (balance, key, or still unfinished after FBCHECK_MAX_WAIT); run again to resume
- 8: the store could not be written (disk full, read-only, damaged); task ids the
  vendor returned are kept in the create journal and the next run pays nothing for them
- 130: interrupted (Ctrl-C or SIGTERM); the message says what was created, what was
  never sent and what is uncertain
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pydantic import ValidationError

from addin.config import Settings
from addin.engine.checker import Checker, JobProgress, input_fingerprint
from addin.engine.phones import normalize, validate_region
from addin.engine.sinks import (
    ANSWER_COLUMNS,
    OUTPUT_COLUMNS,
    XLSX_MAX_COLUMNS,
    XLSX_MAX_ROWS,
    write_output,
)
from addin.engine.sources import InputError, InputTable, read_input
from addin.engine.store import StoreError
from addin.formats import utc_timestamp
from addin.vendor import open_checker

EXIT_OK = 0
EXIT_SOME_ERRORS = 1
EXIT_USAGE = 2
EXIT_NEEDS_CONFIRMATION = 3
EXIT_FAILED = 4
EXIT_UNWRITABLE = 5
EXIT_WAITING_FOR_USER = 6
EXIT_PAUSED = 7
EXIT_STORE = 8
EXIT_INTERRUPTED = 130
PENDING = "pending"

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
    parser.add_argument(
        "--answers-only",
        action="store_true",
        help="write only the checked value and the answer columns, not the input's own columns",
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
    if same_file(args.input, output):
        print(
            f"error: the output {str(output)!r} is the input file; results never replace "
            "the input: give another name with -o",
            file=err,
        )
        return EXIT_USAGE
    try:
        rows, table, width = _read_rows(args.input, args.column, args.sheet, region)
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    header = table.header
    keep_columns = not args.answers_only and args.input.suffix.lower() != ".txt"
    columns = (*table.column_names(width), *ANSWER_COLUMNS) if keep_columns else OUTPUT_COLUMNS
    if output.suffix.lower() == ".xlsx" and (
        len(rows) > XLSX_MAX_ROWS or len(columns) > XLSX_MAX_COLUMNS
    ):
        print(
            f"error: {len(rows):,} rows of {len(columns):,} columns do not fit an .xlsx sheet "
            f"({XLSX_MAX_ROWS:,} rows below the header, {XLSX_MAX_COLUMNS:,} columns); "
            "write a .csv instead (or --answers-only)",
            file=err,
        )
        return EXIT_USAGE

    invalid = sum(1 for _, e164, _ in rows if e164 is None)
    numbers = [e164 for _, e164, _ in rows if e164 is not None]
    fingerprint = input_fingerprint("cli", numbers)
    try:
        checker = open_checker(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_STORE
    job_id: str | None = None
    clean_close = True
    try:
        with interruptible():
            if checker.demo:
                print(
                    "DEMO: no FBCHECK_API_KEY is set; answers come from the bundled emulator "
                    "and are not real.",
                    file=out,
                )
            job_id = None if args.refresh else checker.open_job(fingerprint)
            if job_id is not None:
                print(
                    f"continuing job {job_id}, which an earlier run of this input left unfinished"
                    " (nothing it uploaded is uploaded again)",
                    file=out,
                )
            else:
                plan = checker.plan(numbers, refresh=args.refresh, rows=len(rows), invalid=invalid)
                _print_plan(plan.summary(), header, out)
                limit = settings.confirm_above if args.max_upload is None else args.max_upload
                if plan.to_upload > limit and not args.yes:
                    print(
                        f"stopped before billing: {plan.to_upload:,} numbers to upload is above "
                        f"--max-upload {limit:,}; run again with --yes to go ahead",
                        file=out,
                    )
                    return EXIT_NEEDS_CONFIRMATION
                job_id = checker.submit(
                    plan, kind="cli", label=args.input.name, fingerprint=fingerprint
                )
            before = checker.progress(job_id)
            assert before is not None
            final = follow(checker, job_id, err)
            answers = checker.answers(job_id)
            fatal = checker.fatal
    except KeyboardInterrupt:
        clean_close = False
        return interrupted(checker, job_id, settings, err)
    finally:
        checker.close(wait=clean_close)
    if fatal:
        print(f"error: {fatal}", file=err)
        return EXIT_STORE
    demo = checker.demo
    try:
        written, counts = _write(
            output,
            rows,
            answers,
            demo,
            final,
            table=table if keep_columns else None,
            columns=columns,
        )
    except (OSError, ValueError, InputError) as exc:
        print(
            f"error: could not write {output}: {exc}. If it is open in Excel, close it. "
            "The answers are saved: run the same command again (answered from the cache).",
            file=err,
        )
        return EXIT_UNWRITABLE
    _print_summary(out, output, written, counts, before, final, demo)
    if args.preview > 0:
        # The first rows, plus a few invalid ones further down so their reasons show.
        later_invalid = [row for row in rows[args.preview :] if row[1] is None][:3]
        _print_preview(out, rows[: args.preview] + later_invalid, answers)
    return exit_code(final, counts, written)


def same_file(first: Path, second: Path) -> bool:
    """Return True when two paths name one file: the same after links, or the same inode."""
    try:
        if first.resolve() == second.resolve():
            return True
        return second.exists() and first.exists() and first.samefile(second)
    except OSError:
        return False


def _read_rows(
    path: Path, column: str | None, sheet: str | None, region: str
) -> tuple[list[Row], InputTable, int]:
    """Read and normalise every input cell, keeping input order; return the widest row too."""
    table = read_input(path, column=column, sheet=sheet, region=region)
    rows: list[Row] = []
    width = table.column_index + 1
    for cell in table:
        width = max(width, len(cell.cells))
        result = normalize(cell.value, region)
        rows.append((_shown(cell.value), result.e164, result.reason))
    return rows, table, width


def _shown(value: object) -> object:
    """Return a cell as the output shows it: a whole float (an Excel number) as an int."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return int(value)
    return value


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


def follow(checker: Checker, job_id: str, err: TextIO) -> JobProgress:
    """Show live progress until the job ends or settles; return its last state."""
    tty = err.isatty()
    last_line = ""
    last_print = 0.0
    while True:
        progress = checker.progress(job_id)
        assert progress is not None
        done = progress.finished or progress.settled or bool(checker.fatal)
        line = _progress_line(progress)
        now = time.monotonic()
        if tty:
            err.write("\r" + line.ljust(len(last_line)))
            err.flush()
            last_line = line
        elif line != last_line and (now - last_print >= 5 or done):
            print(line, file=err)
            last_line, last_print = line, now
        if done:
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
    possibly = f" (+{p.possibly_billed} possibly)" if p.possibly_billed else ""
    eta = ""
    if p.eta_seconds is not None and not p.finished:
        eta = f" · ETA {_duration(p.eta_seconds)}"
    return (
        f"[{bar:<24}] {share:4.0%} {done:,}/{p.distinct:,} numbers · "
        f"{p.tasks_open} of {p.tasks} task(s) open · {p.billed} billed{possibly}{eta}"
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
    output: Path,
    rows: list[Row],
    answers: dict[str, Any],
    demo: bool,
    final: JobProgress,
    *,
    table: InputTable | None = None,
    columns: tuple[str, ...] = OUTPUT_COLUMNS,
) -> tuple[int, Counter[str]]:
    """Write one output row per input row, in input order; return rows and answer counts.

    With ``table`` each row starts with the input's own ``columns``, read from the file
    again (so no row is held twice in memory); without it, with the checked value.
    """
    counts: Counter[str] = Counter()
    waiting = waiting_reason(final)
    width = len(columns) - len(ANSWER_COLUMNS)

    def answer_cells(e164: str | None, reason: str | None) -> list[object]:
        """Return the answer columns of one row and count its answer."""
        outcome = row_outcome(e164, reason, answers.get(e164) if e164 else None, waiting)
        counts[outcome.facebook] += 1
        source = ("demo" if demo else outcome.source) if outcome.source else ""
        return [e164 or "", outcome.facebook, outcome.reason, source, outcome.checked_at]

    def compact() -> Iterator[list[object]]:
        """Yield the checked value, then the answer, per row."""
        for value, e164, reason in rows:
            yield [value, *answer_cells(e164, reason)]

    def with_user_columns(table: InputTable) -> Iterator[list[object]]:
        """Yield the input's own row, padded to a common width, then the answer."""
        cells = iter(table)
        for number, (value, e164, reason) in enumerate(rows, 1):
            cell = next(cells, None)
            if cell is None or _shown(cell.value) != value:
                raise InputError(
                    f"{table.path.name} changed while it was checked (row {number} differs)"
                )
            own = [_shown(item) for item in cell.cells][:width]
            own.extend([""] * (width - len(own)))
            yield [*own, *answer_cells(e164, reason)]

    output.parent.mkdir(parents=True, exist_ok=True)
    if table is None:
        return write_output(output, compact()), counts
    return write_output(output, with_user_columns(table), columns=columns), counts


def waiting_reason(final: JobProgress) -> str:
    """Return what an unanswered number of a settled job is waiting for."""
    if final.uncertain_tasks:
        return (
            f"waiting for your word: an upload's outcome is unknown; run `fbcheck jobs resend "
            f"{final.job_id}` or `fbcheck jobs abandon {final.job_id}`"
        )
    if final.error:
        return f"waiting: {final.error}"
    return "no answer yet; run the same command again"


@dataclass(frozen=True)
class RowOutcome:
    """What one output row says: the facebook column, its reason, source and time."""

    facebook: str
    reason: str
    source: str
    checked_at: str


def row_outcome(
    e164: str | None, invalid_reason: str | None, answer: Any, waiting: str
) -> RowOutcome:
    """Return the outcome of one input row: invalid, pending (with why), or its answer."""
    if e164 is None:
        return RowOutcome("invalid", invalid_reason or "", "", "")
    if answer is None:
        return RowOutcome(PENDING, waiting, "", "")
    return RowOutcome(
        answer.answer, answer.reason or "", answer.source, utc_timestamp(answer.checked_at)
    )


def _print_preview(out: TextIO, rows: list[Row], answers: dict[str, Any]) -> None:
    """Print the first result rows as an aligned table."""
    table = [("input", "e164", "facebook", "reason")]
    for value, e164, reason in rows:
        outcome = row_outcome(e164, reason, answers.get(e164) if e164 else None, "no answer yet")
        table.append((str(value), e164 or "", outcome.facebook, outcome.reason))
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
    before: JobProgress,
    final: JobProgress,
    demo: bool,
) -> None:
    """Print the answer counts, what was billed while this run followed the job and in all."""
    kinds = ("yes", "no", "ban", "invalid", "error", PENDING)
    parts = ", ".join(f"{counts.get(k, 0):,} {k}" for k in kinds if k != PENDING or counts.get(k))
    print(f"wrote {written:,} rows to {output}: {parts}", file=out)
    # Two runs can follow one job (a second one resumes it): say whose requests these are.
    money = "emulator requests (not billed)" if demo else "billed requests"
    run_billed = final.billed - before.billed
    run_possibly = final.possibly_billed - before.possibly_billed
    line = f"{run_billed:,} {money} were made for job {final.job_id} while this run followed it"
    if run_possibly:
        line += f", and {run_possibly:,} that may have been billed (no answer came back)"
    print(
        f"{line}; the job in all: {final.billed:,} billed, {final.possibly_billed:,} possibly"
        f" billed; it is {final.state}",
        file=out,
    )
    if final.uncertain_creates:
        print(
            f"note: {final.uncertain_creates} upload(s) of this job had an unknown outcome; the"
            " vendor may have billed a task for each that we never heard of",
            file=out,
        )
    print_waiting(out, final)


def print_waiting(out: TextIO, final: JobProgress) -> None:
    """Say what a settled job still waits for and the exact commands that decide it."""
    if final.uncertain_tasks:
        print(
            f"WAITING FOR YOUR WORD: {final.uncertain_numbers:,} numbers in"
            f" {final.uncertain_tasks} upload(s) whose outcome is unknown (the vendor may have"
            " created and billed them; it offers no way to ask). Nothing is sent again"
            " without you:\n"
            f"  fbcheck jobs resend {final.job_id}    # upload them again (may bill twice)\n"
            f"  fbcheck jobs abandon {final.job_id}   # give them up (their rows say error)",
            file=out,
        )
    if final.paused_tasks:
        print(
            f"PAUSED: {final.paused_tasks} paid task(s) stay open at the vendor: {final.error}."
            " Run the same command again to resume them; nothing is uploaded again.",
            file=out,
        )
    for key_fp, count in final.other_key_tasks.items():
        print(
            f"OTHER KEY: {count} task(s) of this job were created with another API key"
            f" (fingerprint {key_fp}); set that key again to collect them: nothing is uploaded"
            " again with this one.",
            file=out,
        )


def exit_code(final: JobProgress, counts: Counter[str], written: int) -> int:
    """Return the documented exit code of a finished or settled job."""
    if final.uncertain_tasks:
        return EXIT_WAITING_FOR_USER
    if final.paused_tasks or final.other_key_tasks or not final.finished:
        return EXIT_PAUSED
    errors = counts.get("error", 0)
    if errors and errors == written - counts.get("invalid", 0):
        return EXIT_FAILED
    return EXIT_SOME_ERRORS if errors else EXIT_OK


def interrupted(checker: Checker, job_id: str | None, settings: Settings, err: TextIO) -> int:
    """Stop after Ctrl-C or SIGTERM, waiting for an upload in flight, and say what happened."""
    uploading = checker.uploading
    if uploading is not None:
        print(
            "\ninterrupted during an upload: waiting for its answer (at most"
            f" {settings.upload_timeout:.0f} s) so it is recorded; press Ctrl-C again to stop"
            " at once (its outcome will then be unknown)",
            file=err,
        )
    try:
        with interruptible():
            stopped = checker.stop_runner(settings.upload_timeout + settings.request_timeout + 5)
    except KeyboardInterrupt:
        stopped = False
    if not stopped:
        checker.mark_upload_interrupted("interrupted by the user during the upload")
    if job_id is None:
        print("\ninterrupted before anything was uploaded", file=err)
        return EXIT_INTERRUPTED
    progress = checker.progress(job_id)
    assert progress is not None
    print(f"\ninterrupted: {interruption_report(progress)}", file=err)
    print_waiting(err, progress)
    return EXIT_INTERRUPTED


def interruption_report(progress: JobProgress) -> str:
    """Return a true account of an interrupted job: billed, created, unsent and uncertain."""
    parts = [f"{progress.billed:,} billed requests so far"]
    if progress.possibly_billed:
        parts.append(f"{progress.possibly_billed:,} possibly billed")
    states = progress.task_states
    if states.get("running") or states.get("paused"):
        created = states.get("running", 0) + states.get("paused", 0)
        parts.append(
            f"{created} task(s) created at the vendor and stored: run the same command again"
            " to collect them without uploading again"
        )
    if states.get("queued"):
        parts.append(f"{states['queued']} task(s) never sent: the same command uploads them")
    if states.get("uncertain"):
        parts.append(f"{states['uncertain']} upload(s) with an unknown outcome (see below)")
    return "; ".join(parts)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt in the block, so both stop the same honest way."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        """Raise KeyboardInterrupt in the main thread."""
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (tests): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
