"""``fbcheck check``: the whole job on a text, CSV or xlsx file.

Exit codes:

- 0: every row answered (yes, no, ban or invalid)
- 1: finished, but some rows are ``error`` (the reason column says why)
- 2: bad usage (such as ``-o`` naming the input file), an unreadable input file, or
  one over a limit (the message names the limit and its FBCHECK_ setting); nothing
  was billed
- 3: more numbers to upload than ``--max-upload`` and no ``--yes``; nothing was billed
- 4: the vendor refused the job (API key, balance) or the job failed; also stopped
  before billing when the v1 balance clearly cannot pay for the uploads
- 5: the output file could not be written (answers are cached: run again)
- 6: some numbers wait for your word: an upload's outcome is unknown (the vendor may
  have billed it); ``fbcheck jobs resend JOB`` or ``fbcheck jobs abandon JOB`` decides
- 7: paused: paid tasks stay open at the vendor but it does not answer for them now
  (balance, key, or still unfinished after FBCHECK_MAX_WAIT); run again to resume
- 8: the store could not be used: damaged, truncated, not a file, not readable by
  you, locked by another program for longer than FBCHECK_STORE_LOCK_TIMEOUT, read-only
  or on a full disk; the message names the file and what to do. Task ids the vendor
  returned are kept in the create journal and the next run pays nothing for them
- 9: fewer new numbers than the vendor's minimum per task (v1: 100): they were not
  uploaded and nothing was billed for them (their rows say ``pending`` with why); cached
  answers are still written. Check them together with more numbers.
- 10 (``--server``): sign in again: the team server refused the token (wrong or
  revoked), or there is none (FBCHECK_TOKEN unset and no terminal to ask on)
- 11 (``--server``): the team server could not be reached, or answered with something
  other than its JSON, for FBCHECK_SERVER_RETRY_SECONDS; a job it runs goes on there
- 130: interrupted (Ctrl-C or SIGTERM); the message says what was created, what was
  never sent and what is uncertain

With ``--server URL`` a team server checks the numbers with its own vendor key and
store: the input is read here, nothing of this computer's store is opened, and the
same command run again continues the server's unfinished job of the same input.

With ``--json`` standard output carries one JSON document (the README lists its keys,
also when the command fails) and every message for people goes to standard error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from pydantic import ValidationError

from addin.cli_output import (
    EXIT_INTERRUPTED,
    Column,
    CommandError,
    Grid,
    Output,
    facts_grid,
)
from addin.config import Settings
from addin.engine.checker import Checker, JobProgress, input_fingerprint
from addin.engine.distinct_cells import POOL_FROM, DistinctCells
from addin.engine.phones import validate_region
from addin.engine.planning import balance_shortfall, shown_balance
from addin.engine.sinks import (
    ANSWER_COLUMNS,
    OUTPUT_COLUMNS,
    XLSX_MAX_COLUMNS,
    XLSX_MAX_ROWS,
    IndexedRows,
    write_output,
)
from addin.engine.sources import InputError, InputLimits, InputTable, read_input
from addin.engine.store import Store, StoreError
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
EXIT_BELOW_MINIMUM = 9
PENDING = "pending"
#: The answers counted in the summary, in the order it names them.
ANSWER_KINDS = ("yes", "no", "ban", "invalid", "error", PENDING)
#: The keys of ``fbcheck check --json`` besides exit_code, error and warnings (README).
CHECK_DOCUMENT: dict[str, Any] = {
    "job_id": None,
    "continued": False,
    "state": None,
    "demo": None,
    "input": None,
    "output": None,
    "rows": None,
    "counts": None,
    "billed": None,
    "possibly_billed": None,
    "estimate": None,
    "held": 0,
    "balance": None,
}

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
    add_server_option(parser)
    add_json_flag(parser)
    parser.set_defaults(func=run)


def add_server_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--server URL``: run on a team server instead of this computer's store and key."""
    parser.add_argument(
        "--server",
        metavar="URL",
        help=(
            "a team server (https://...): it checks the numbers with its vendor key and store;"
            " token from FBCHECK_TOKEN or asked for"
        ),
    )


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``: one JSON document on standard output, messages on standard error."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable summary on standard output (messages go to stderr)",
    )


def load_settings(given: Settings | None = None) -> Settings:
    """Return ``given`` or the settings of the environment; a bad setting stops with exit 2."""
    try:
        return given or Settings()
    except ValidationError as exc:
        raise CommandError(EXIT_USAGE, f"bad FBCHECK_ setting: {exc}") from None


@contextmanager
def store_failures() -> Iterator[None]:
    """Turn a store that cannot be used into exit 8: a ``CommandError`` saying why."""
    try:
        yield
    except StoreError as exc:
        raise CommandError(EXIT_STORE, str(exc)) from None


def open_store(settings: Settings) -> Store:
    """Open the store of ``settings``; a store that cannot be used stops with exit 8."""
    with store_failures():
        return Store(settings.store_location, lock_timeout=settings.store_lock_timeout)


def start_checker(settings: Settings) -> Checker:
    """Open the store and the vendor connection; a store that cannot be used stops with exit 8."""
    with store_failures():
        return open_checker(settings)


def run_plain(command: str, body: Callable[[], int]) -> int:
    """Run a command that prints plain lines (no ``--json`` document) and return its code.

    A bad setting, a store that cannot be used (exit 8) or another ``CommandError``
    ends it with one line on standard error, ``COMMAND: why``.
    """
    try:
        with store_failures():
            return body()
    except CommandError as exc:
        print(f"{command}: {exc.message}", file=sys.stderr)
        return exc.code


def run(
    args: argparse.Namespace, *, out: TextIO | None = None, settings: Settings | None = None
) -> int:
    """Run ``fbcheck check`` and return its exit code."""
    ui = Output(
        json_mode=args.json, stdout=out, document={**CHECK_DOCUMENT, "input": str(args.input)}
    )
    return ui.run(lambda: _check(args, ui, settings))


@dataclass
class PreparedInput:
    """An input file read and normalised, and where its results go (local or --server)."""

    output: Path
    cells: DistinctCells
    table: InputTable
    columns: tuple[str, ...]
    keep_columns: bool
    rows: int
    invalid: int
    #: The distinct valid numbers, in E.164.
    numbers: list[str]
    #: What a run of the same input finds its unfinished job by.
    fingerprint: str


def prepare_input(args: argparse.Namespace, settings: Settings) -> PreparedInput:
    """Check the options, read the input once; raise ``CommandError`` (exit 2) when unusable."""
    try:
        region = validate_region(args.region or settings.region)
    except ValueError as exc:
        raise CommandError(EXIT_USAGE, str(exc)) from None
    output: Path = args.output or args.input.with_name(args.input.name + ".results.csv")
    if output.suffix.lower() not in (".csv", ".xlsx"):
        raise CommandError(EXIT_USAGE, f"the output must end in .csv or .xlsx, not {output.name!r}")
    if same_file(args.input, output):
        raise CommandError(
            EXIT_USAGE,
            f"the output {str(output)!r} is the input file; results never replace "
            "the input: give another name with -o",
        )
    try:
        cells, table, width = _read_rows(
            args.input,
            args.column,
            args.sheet,
            region,
            workers=settings.normalize_workers,
            parallel_from=settings.normalize_parallel_from,
            limits=InputLimits.from_settings(settings),
        )
    except InputError as exc:
        raise CommandError(EXIT_USAGE, str(exc)) from None
    rows = len(cells.rows)
    keep_columns = not args.answers_only and args.input.suffix.lower() != ".txt"
    columns = (*table.column_names(width), *ANSWER_COLUMNS) if keep_columns else OUTPUT_COLUMNS
    if output.suffix.lower() == ".xlsx" and (
        rows > XLSX_MAX_ROWS or len(columns) > XLSX_MAX_COLUMNS
    ):
        raise CommandError(
            EXIT_USAGE,
            f"{rows:,} rows of {len(columns):,} columns do not fit an .xlsx sheet "
            f"({XLSX_MAX_ROWS:,} rows below the header, {XLSX_MAX_COLUMNS:,} columns); "
            "write a .csv instead (or --answers-only)",
        )
    numbers = cells.numbers()
    return PreparedInput(
        output=output,
        cells=cells,
        table=table,
        columns=columns,
        keep_columns=keep_columns,
        rows=rows,
        invalid=cells.invalid_rows(),
        numbers=numbers,
        fingerprint=input_fingerprint("cli", numbers),
    )


def _check(args: argparse.Namespace, ui: Output, given: Settings | None) -> int:
    """Check the input file, write the results and return the exit code."""
    settings = load_settings(given)
    if args.server is not None:
        # Imported here: a local run never loads the HTTP client of a team server.
        from addin.server_check import check_on_server

        return check_on_server(args, ui, settings)
    prepared = prepare_input(args, settings)
    rows, invalid, numbers = prepared.rows, prepared.invalid, prepared.numbers
    fingerprint = prepared.fingerprint
    header = prepared.table.header
    checker = start_checker(settings)
    ui.set(demo=checker.demo)
    job_id: str | None = None
    held_reason: str | None = None
    clean_close = True
    try:
        with interruptible():
            if checker.demo:
                ui.say(
                    "DEMO: no FBCHECK_API_KEY is set; answers come from the bundled emulator "
                    "and are not real."
                )
            job_id = None if args.refresh else checker.open_job(fingerprint)
            continued = job_id is not None
            if job_id is not None:
                ui.set(job_id=job_id, continued=True)
                ui.say(
                    f"continuing job {job_id}, which an earlier run of this input left unfinished"
                    " (nothing it uploaded is uploaded again)"
                )
            else:
                plan = checker.plan(numbers, refresh=args.refresh, rows=rows, invalid=invalid)
                print_plan(plan.summary(), header, ui)
                if plan.held:
                    held_reason = below_minimum_reason(plan.held, plan.min_size)
                    ui.set(held=plan.held)
                    ui.warn(f"not uploaded: {held_reason}")
                    if not (plan.hits or plan.in_flight):
                        return EXIT_BELOW_MINIMUM
                message = above_max_upload(plan.to_upload - plan.held, args, settings)
                if message is not None:
                    ui.set(error=message)
                    ui.say(message)
                    return EXIT_NEEDS_CONFIRMATION
                if plan.tasks and checker.has_vendor_balance:
                    refusal = check_balance(checker, plan.billed_minimum, ui)
                    if refusal is not None:
                        message = f"stopped before billing: {refusal}"
                        ui.set(error=message)
                        ui.say(message)
                        return EXIT_FAILED
                job_id = checker.submit(
                    plan, kind="cli", label=args.input.name, fingerprint=fingerprint
                )
                ui.set(job_id=job_id)
            # What this run's own requests are measured from. A job this run submitted
            # starts at nothing: its runner may bill a create before any snapshot here.
            before = (0, 0)
            if continued:
                snapshot = checker.progress(job_id)
                assert snapshot is not None
                before = (snapshot.billed, snapshot.possibly_billed)
            final = follow(checker, job_id, ui, interval=settings.progress_interval)
            answers = checker.answers(job_id)
            fatal = checker.fatal
    except KeyboardInterrupt:
        clean_close = False
        return interrupted(checker, job_id, settings, ui)
    except StoreError as exc:
        return ui.error(EXIT_STORE, str(exc))
    finally:
        close_quietly(checker, wait=clean_close, ui=ui)
    ui.set(state=final.state)
    if fatal:
        return ui.error(EXIT_STORE, fatal)
    return write_results(
        args, ui, prepared, answers, final, demo=checker.demo, before=before, held=held_reason
    )


def write_results(
    args: argparse.Namespace,
    ui: Output,
    prepared: PreparedInput,
    answers: dict[str, Any],
    final: JobProgress,
    *,
    demo: bool,
    before: tuple[int, int],
    held: str | None,
    server: str | None = None,
) -> int:
    """Write the output file, print the summary (and preview) and return the exit code."""
    output = prepared.output
    try:
        written, counts, preview = _write(
            output,
            prepared.cells,
            prepared.table,
            answers,
            demo,
            final,
            keep_columns=prepared.keep_columns,
            columns=prepared.columns,
            preview=args.preview,
            held_reason=held,
            server=server,
        )
    except (OSError, ValueError, InputError) as exc:
        return ui.error(
            EXIT_UNWRITABLE,
            f"could not write {output}: {exc}. If it is open in Excel, close it. "
            "The answers are saved: run the same command again (answered from the cache).",
        )
    _print_summary(ui, output, written, counts, before, final, demo, server=server)
    if args.preview > 0:
        _print_preview(ui, preview, answers)
    code = exit_code(final, counts, written)
    if held is not None and code in (EXIT_OK, EXIT_SOME_ERRORS):
        return EXIT_BELOW_MINIMUM
    return code


def above_max_upload(to_upload: int, args: argparse.Namespace, settings: Settings) -> str | None:
    """Return why the run stops before billing: more to upload than --max-upload; else None."""
    limit = settings.confirm_above if args.max_upload is None else args.max_upload
    if to_upload <= limit or args.yes:
        return None
    return (
        f"stopped before billing: {to_upload:,} numbers to upload is above "
        f"--max-upload {limit:,}; run again with --yes to go ahead"
    )


def below_minimum_reason(held: int, minimum: int) -> str:
    """Return why new numbers were not uploaded: fewer than the vendor's minimum per task."""
    return (
        f"{held:,} new number(s), fewer than the vendor's minimum of {minimum:,} per task;"
        " nothing was billed for them and nothing is added to make up the difference:"
        " check them together with more numbers"
    )


def check_balance(checker: Checker, needed: int, ui: Output) -> str | None:
    """Print the v1 balance (a possibly billed request); return a refusal when it cannot pay.

    The balance's unit is not documented (requests or money), so only a balance
    below the requests that are certain to be billed (one create and one poll per
    task) clearly cannot pay: the job stops before anything is billed.
    """
    balance = checker.vendor_balance()
    ui.set(balance=balance)
    if balance is None:
        why = checker.balance_error or "no answer"
        ui.say(f"balance: unknown ({why}); the vendor refuses what it cannot bill")
        return None
    ui.say(
        f"balance: {shown_balance(balance)} (read from the vendor now; this request may be billed)"
    )
    return balance_shortfall(balance, needed)


def close_quietly(checker: Checker, *, wait: bool, ui: Output) -> None:
    """Close the checker; a store that fails while closing is said, never raised."""
    try:
        checker.close(wait=wait)
    except StoreError as exc:
        ui.tell(f"error while closing: {exc}")


def same_file(first: Path, second: Path) -> bool:
    """Return True when two paths name one file: the same after links, or the same inode."""
    try:
        if first.resolve() == second.resolve():
            return True
        return second.exists() and first.exists() and first.samefile(second)
    except OSError:
        return False


def _read_rows(
    path: Path,
    column: str | None,
    sheet: str | None,
    region: str,
    *,
    workers: int | None = None,
    parallel_from: int = POOL_FROM,
    limits: InputLimits | None = None,
) -> tuple[DistinctCells, InputTable, int]:
    """Read the input once, normalising each distinct cell once; return the widest row too.

    Rows are not held: the result knows which distinct cell each row held, and the
    output is written from it (see ``_write``).
    """
    table = read_input(path, column=column, sheet=sheet, region=region, limits=limits)
    width = table.column_index + 1
    with DistinctCells(region, workers=workers, pool_from=parallel_from) as cells:
        for cell in table:
            if len(cell.cells) > width:
                width = len(cell.cells)
            cells.add(cell.value)
        cells.finish()
    return cells, table, width


def _shown(value: object) -> object:
    """Return a cell as the output shows it: a whole float (an Excel number) as an int."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return int(value)
    return value


def print_plan(plan: dict[str, Any], header: str | None, ui: Output) -> None:
    """Print the cost estimate before anything is billed, as a table."""
    column = f" (column {header!r})" if header else ""
    if plan["tasks"]:
        cost = (
            f"at least {plan['billed_minimum']:,} billed requests, "
            f"typically about {plan['billed_typical']:,}"
        )
    else:
        cost = "no new task, nothing to upload"
    facts = [
        ("rows", f"{plan['rows']:,}"),
        ("invalid", f"{plan['invalid']:,}"),
        ("distinct numbers", f"{plan['distinct']:,}"),
        ("cached", f"{plan['cache_hits']:,}"),
        ("already in an open task", f"{plan['in_flight']:,}"),
        *_paid_by_colleagues(plan),
        ("to upload", f"{plan['to_upload'] - plan.get('held', 0):,}"),
        ("tasks", f"{plan['tasks']:,}"),
        ("estimated cost", cost),
    ]
    if plan.get("held"):
        facts.insert(
            -2,
            (
                "held (under the minimum per task)",
                f"{plan['held']:,} (minimum {plan['min_task_numbers']:,})",
            ),
        )
    ui.set(estimate=plan)
    ui.table(facts_grid(f"estimate{column}, before anything is billed", facts))


def _paid_by_colleagues(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the estimate's row of numbers other users paid for (a team server's plan only)."""
    if "paid_by_colleagues" not in plan:
        return []  # local mode: nobody else pays into this store
    return [
        (
            "paid for by colleagues",
            f"{plan['paid_by_colleagues']:,} (of the cached and open-task ones; reused,"
            " not billed again)",
        )
    ]


class JobSource(Protocol):
    """Where a followed job's progress comes from: this computer's Checker or a team server."""

    @property
    def demo(self) -> bool:
        """Return True when the answers come from the bundled emulator."""
        ...

    @property
    def fatal(self) -> str | None:
        """Return why the source can no longer move the job, if it cannot."""
        ...

    def progress(self, job_id: str) -> JobProgress | None:
        """Return the job's progress now."""
        ...


def follow(
    source: JobSource,
    job_id: str,
    ui: Output,
    *,
    interval: float,
    min_pause: float = 0.2,
) -> JobProgress:
    """Show live progress until the job ends or settles; return its last state.

    ``interval``: seconds between plain progress lines; ``min_pause``: the shortest
    pause between two readings.
    """
    display = ui.progress(demo=source.demo, interval=interval)
    with display:
        while True:
            asked = time.monotonic()
            progress = source.progress(job_id)
            assert progress is not None
            # Counting a million-number job takes a while: leave the runner the most time.
            pause = max(min_pause, 4 * (time.monotonic() - asked))
            done = progress.finished or progress.settled or bool(source.fatal)
            display.update(progress, final=done)
            if done:
                return progress
            time.sleep(pause)


def _write(
    output: Path,
    cells: DistinctCells,
    table: InputTable,
    answers: dict[str, Any],
    demo: bool,
    final: JobProgress,
    *,
    keep_columns: bool,
    columns: tuple[str, ...] = OUTPUT_COLUMNS,
    preview: int = 0,
    held_reason: str | None = None,
    server: str | None = None,
) -> tuple[int, Counter[str], list[Row]]:
    """Write one output row per input row, in input order; return rows, counts and a preview.

    With ``keep_columns`` each row starts with its own ``columns``, else with the checked
    value. When every row is told by its distinct cell alone (the checked value, or a
    one-column input) and the input is byte for byte the one the first reading read,
    the rows are written from that reading: one line per distinct cell, joined in row
    order. Otherwise the input is read again, and a row that no longer holds the cell
    the first reading found (the file changed meanwhile) stops the writing with
    ``InputError`` and leaves no output. The preview is the first ``preview`` rows plus
    up to three invalid ones further down, so their reasons show.
    """
    # A job that left numbers out for the minimum answers all the others.
    waiting = f"not uploaded: {held_reason}" if held_reason else waiting_reason(final, server)
    width = len(columns) - len(ANSWER_COLUMNS)
    # A task's answers share one check time: format each once.
    times: dict[float, str] = {}
    # The answer columns of each distinct cell, built once.
    built: dict[int, list[object]] = {}

    def answer_cells(index: int) -> list[object]:
        """Return the answer columns of distinct cell ``index`` (built once)."""
        found = built.get(index)
        if found is not None:
            return found
        e164, reason = cells.outcome(index)
        answer = answers.get(e164) if e164 else None
        if answer is not None and answer.source and answer.answer:
            checked_at = times.get(answer.checked_at)
            if checked_at is None:
                checked_at = times[answer.checked_at] = utc_timestamp(answer.checked_at)
            source = "demo" if demo else answer.source
            found = [e164, answer.answer, answer.reason or "", source, checked_at]
        else:
            outcome = row_outcome(e164, reason, answer, waiting)
            source = ("demo" if demo else outcome.source) if outcome.source else ""
            found = [e164 or "", outcome.facebook, outcome.reason, source, outcome.checked_at]
        built[index] = found
        return found

    output.parent.mkdir(parents=True, exist_ok=True)
    written_columns = columns if keep_columns else OUTPUT_COLUMNS
    if (width == 1 or not keep_columns) and table.unchanged_since_read():

        def row_of(index: int) -> list[object]:
            """Return the output row of every row that held distinct cell ``index``."""
            return [_shown(cells.value(index)), *answer_cells(index)]

        written = write_output(output, IndexedRows(row_of, cells.rows), columns=written_columns)
        counts: Counter[str] = Counter()
        for index in range(len(cells)):
            found = built.get(index) or answer_cells(index)
            counts[str(found[1])] += cells.count(index)
        return written, counts, _preview(cells, preview)
    return _write_read_again(
        output, cells, table, answer_cells, keep_columns, written_columns, preview
    )


def _preview(cells: DistinctCells, preview: int) -> list[Row]:
    """Return the first ``preview`` rows, then up to three invalid rows further down."""
    if preview <= 0:
        return []
    shown: list[Row] = []
    later_invalid = 0
    for number, index in enumerate(cells.rows, 1):
        e164, reason = cells.outcome(index)
        if number <= preview:
            shown.append((_shown(cells.value(index)), e164, reason))
        elif e164 is None:
            shown.append((_shown(cells.value(index)), e164, reason))
            later_invalid += 1
            if later_invalid == 3:
                break
    return shown


def _write_read_again(
    output: Path,
    cells: DistinctCells,
    table: InputTable,
    answer_cells: Callable[[int], list[object]],
    keep_columns: bool,
    columns: tuple[str, ...],
    preview: int,
) -> tuple[int, Counter[str], list[Row]]:
    """Write the output from a second reading of the input, row by row (see ``_write``)."""
    counts: Counter[str] = Counter()
    shown: list[Row] = []
    later_invalid = 0
    width = len(columns) - len(ANSWER_COLUMNS)

    def rows() -> Iterator[list[object]]:
        """Yield the output rows, checking each input row against the first reading."""
        nonlocal later_invalid
        expected = cells.rows
        number = 0
        for number, cell in enumerate(table, 1):
            if number > len(expected):
                break  # rows added at the end meanwhile were not checked: not written
            index = cells.index_of(cell.value)
            if index != expected[number - 1]:
                raise InputError(
                    f"{table.path.name} changed while it was checked (row {number} differs)"
                )
            e164, reason = cells.outcome(index)
            value = _shown(cell.value)
            if number <= preview:
                shown.append((value, e164, reason))
            elif e164 is None and later_invalid < 3 and preview:
                shown.append((value, e164, reason))
                later_invalid += 1
            answer = answer_cells(index)
            counts[str(answer[1])] += 1
            if keep_columns:
                own = [_shown(item) for item in cell.cells[:width]]
                if len(own) < width:
                    own.extend([""] * (width - len(own)))
                yield [*own, *answer]
            else:
                yield [value, *answer]
        if number < len(expected):
            raise InputError(f"{table.path.name} changed while it was checked (it is shorter)")

    written = write_output(output, rows(), columns=columns)
    return written, counts, shown


def jobs_command(action: str, job_id: str, server: str | None = None) -> str:
    """Return the ``fbcheck jobs ACTION`` command for a job, on its team server if any."""
    where = f" --server {server}" if server else ""
    return f"fbcheck jobs {action}{where} {job_id}"


def waiting_reason(final: JobProgress, server: str | None = None) -> str:
    """Return what an unanswered number of a settled job is waiting for."""
    if final.uncertain_tasks:
        return (
            "waiting for your word: an upload's outcome is unknown; run"
            f" `{jobs_command('resend', final.job_id, server)}` or"
            f" `{jobs_command('abandon', final.job_id, server)}`"
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


def _print_preview(ui: Output, rows: list[Row], answers: dict[str, Any]) -> None:
    """Print the first result rows as a table."""
    grid = Grid(
        [Column("input"), Column("e164"), Column("facebook", answers=True), Column("reason")]
    )
    for value, e164, reason in rows:
        outcome = row_outcome(e164, reason, answers.get(e164) if e164 else None, "no answer yet")
        grid.add(str(value), e164 or "", outcome.facebook, outcome.reason)
    ui.say()
    ui.table(grid)


def _print_summary(
    ui: Output,
    output: Path,
    written: int,
    counts: Counter[str],
    before: tuple[int, int],
    final: JobProgress,
    demo: bool,
    *,
    server: str | None = None,
) -> None:
    """Print the answer counts, what was billed while this run followed the job and in all."""
    parts = ", ".join(
        f"{counts.get(k, 0):,} {k}" for k in ANSWER_KINDS if k != PENDING or counts.get(k)
    )
    ui.say(f"wrote {written:,} rows to {output}: {parts}")
    # Two runs can follow one job (a second one resumes it): say whose requests these are.
    money = "emulator requests (not billed)" if demo else "billed requests"
    run_billed = final.billed - before[0]
    run_possibly = final.possibly_billed - before[1]
    ui.set(
        output=str(output),
        rows=written,
        counts={k: counts.get(k, 0) for k in ANSWER_KINDS},
        billed={"run": run_billed, "job": final.billed},
        possibly_billed={"run": run_possibly, "job": final.possibly_billed},
    )
    line = f"{run_billed:,} {money} were made for job {final.job_id} while this run followed it"
    if run_possibly:
        line += f", and {run_possibly:,} that may have been billed (no answer came back)"
    ui.say(
        f"{line}; the job in all: {final.billed:,} billed, {final.possibly_billed:,} possibly"
        f" billed; it is {final.state}"
    )
    if final.uncertain_creates:
        ui.warn(
            f"note: {final.uncertain_creates} upload(s) of this job had an unknown outcome; the"
            " vendor may have billed a task for each that we never heard of"
        )
    print_waiting(ui, final, server=server)


def print_waiting(
    ui: Output, final: JobProgress, *, to_stderr: bool = False, server: str | None = None
) -> None:
    """Say what a settled job still waits for and the exact commands that decide it."""
    if final.uncertain_tasks:
        resend = jobs_command("resend", final.job_id, server)
        abandon = jobs_command("abandon", final.job_id, server)
        width = max(len(resend), len(abandon)) + 3
        ui.warn(
            f"WAITING FOR YOUR WORD: {final.uncertain_numbers:,} numbers in"
            f" {final.uncertain_tasks} upload(s) whose outcome is unknown (the vendor may have"
            " created and billed them; it offers no way to ask). Nothing is sent again"
            " without you:\n"
            f"  {resend.ljust(width)}# upload them again (may bill twice)\n"
            f"  {abandon.ljust(width)}# give them up (their rows say error)",
            to_stderr=to_stderr,
        )
    if final.paused_tasks:
        ui.warn(
            f"PAUSED: {final.paused_tasks} paid task(s) stay open at the vendor: {final.error}."
            " Run the same command again to resume them; nothing is uploaded again.",
            to_stderr=to_stderr,
        )
    for key_fp, count in final.other_key_tasks.items():
        ui.warn(
            f"OTHER KEY: {count} task(s) of this job were created with another API key"
            f" (fingerprint {key_fp}); set that key again to collect them: nothing is uploaded"
            " again with this one.",
            to_stderr=to_stderr,
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


def interrupted(checker: Checker, job_id: str | None, settings: Settings, ui: Output) -> int:
    """Stop after Ctrl-C or SIGTERM, waiting for an upload in flight, and say what happened."""
    uploading = checker.uploading
    if uploading is not None:
        ui.tell(
            "\ninterrupted during an upload: waiting for its answer (at most"
            f" {settings.upload_timeout:.0f} s) so it is recorded; press Ctrl-C again to stop"
            " at once (its outcome will then be unknown)"
        )
    try:
        with interruptible():
            stopped = checker.stop_runner(settings.upload_timeout + settings.request_timeout + 5)
    except KeyboardInterrupt:
        stopped = False
    if not stopped:
        checker.mark_upload_interrupted("interrupted by the user during the upload")
    if job_id is None:
        ui.set(error="interrupted before anything was uploaded")
        ui.tell("\ninterrupted before anything was uploaded")
        return EXIT_INTERRUPTED
    progress = checker.progress(job_id)
    assert progress is not None
    report = f"interrupted: {interruption_report(progress)}"
    ui.set(
        error=report,
        state=progress.state,
        billed={"run": None, "job": progress.billed},
        possibly_billed={"run": None, "job": progress.possibly_billed},
    )
    ui.tell(f"\n{report}")
    print_waiting(ui, progress, to_stderr=True)
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
