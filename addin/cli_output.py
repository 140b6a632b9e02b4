"""What the ``fbcheck`` commands show: rich on a terminal, plain text otherwise, JSON on demand.

One :class:`Output` per command run. Human text goes to standard output, or to
standard error with ``--json``, where standard output carries one JSON document
(written by :meth:`Output.finish`, whatever the exit code). Tables and the live
progress of a job are drawn with ``rich`` only when their stream is a terminal;
otherwise tables are plain aligned text and progress is one line every few seconds
(``FBCHECK_PROGRESS_INTERVAL``), so logs of CI and cron jobs stay readable and
carry no ANSI escape codes.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from addin.engine.checker import JobProgress

#: How the ``facebook`` answers are coloured on a terminal (as the task pane does).
ANSWER_STYLES = {
    "yes": "green",
    "no": "bright_black",
    "ban": "red",
    "invalid": "dark_orange",
    "error": "dark_orange",
    "pending": "yellow",
}
#: Seconds of progress samples the shown rate is measured over.
RATE_WINDOW = 30.0


#: The exit code of an interrupted command (Ctrl-C or SIGTERM), as a shell reports SIGINT.
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """Stop a command with a documented exit code and one message for the user."""

    def __init__(self, code: int, message: str) -> None:
        """Keep the exit code and the message."""
        super().__init__(message)
        self.code = code
        self.message = message


def is_terminal(stream: TextIO) -> bool:
    """Return True when ``stream`` is an interactive terminal (rich output goes there)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-less stream
        return False


@dataclass(frozen=True)
class Column:
    """One column of a :class:`Grid`: its header and whether its values align right."""

    header: str
    numeric: bool = False
    #: Colour the cells as answers (``yes`` green, ``ban`` red, ...) on a terminal.
    answers: bool = False


@dataclass
class Grid:
    """A table of text cells, drawn by rich on a terminal and as aligned text otherwise."""

    columns: Sequence[Column]
    rows: list[Sequence[str]] = field(default_factory=list)
    title: str | None = None
    #: False for labelled values (the first column names each row).
    show_header: bool = True

    def add(self, *cells: str) -> None:
        """Append one row."""
        self.rows.append(cells)

    def plain_lines(self) -> list[str]:
        """Return the table as aligned lines: the title and the header (if any), then the rows."""
        header = [tuple(c.header for c in self.columns)] if self.show_header else []
        table = [*header, *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.columns))]
        lines = [] if self.title is None else [f"{self.title}:"]
        for row in table:
            cells = [
                cell.rjust(width) if column.numeric else cell.ljust(width)
                for cell, width, column in zip(row, widths, self.columns, strict=True)
            ]
            lines.append("  ".join(cells).rstrip())
        return lines

    def rich_table(self) -> Table:
        """Return the rich table; every cell is literal text, never markup."""
        table = Table(
            title=self.title,
            box=box.SIMPLE_HEAD,
            title_justify="left",
            show_header=self.show_header,
        )
        for column in self.columns:
            table.add_column(column.header, justify="right" if column.numeric else "left")
        for row in self.rows:
            cells = []
            for cell, column in zip(row, self.columns, strict=True):
                style = ANSWER_STYLES.get(cell, "") if column.answers else ""
                cells.append(Text(cell, style=style))
            table.add_row(*cells)
        return table


def facts_grid(title: str, facts: Sequence[tuple[str, str]]) -> Grid:
    """Return a two-column table of labelled values (an estimate, one job)."""
    grid = Grid([Column("what"), Column("value")], title=title, show_header=False)
    for label, value in facts:
        grid.add(label, value)
    return grid


class Output:
    """Where one command's words go: human text, tables, live progress and the JSON summary."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        document: dict[str, Any] | None = None,
    ) -> None:
        """Write to ``stdout`` and ``stderr`` (the process's own by default).

        ``document`` holds the keys of the JSON summary with their defaults, so
        each key is present whatever the outcome.
        """
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.json_mode = json_mode
        #: Human text: standard error when standard output carries the JSON document.
        self.human = self.stderr if json_mode else self.stdout
        self.document: dict[str, Any] = {
            "exit_code": None,
            "error": None,
            "warnings": [],
            **(document or {}),
        }
        self._consoles: dict[int, Console] = {}

    # -- text ------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        """Print a line of human text."""
        self._write(self.human, text)

    def tell(self, text: str = "") -> None:
        """Print a line on standard error (interruptions and other side remarks)."""
        self._write(self.stderr, text)

    def warn(self, text: str, *, to_stderr: bool = False) -> None:
        """Print a line that needs the user's attention and record it in the JSON warnings."""
        self.document["warnings"].append(text)
        self._write(self.stderr if to_stderr else self.human, text)

    def error(self, code: int, message: str) -> int:
        """Print ``error: message`` on standard error, record it, and return ``code``."""
        self.document["error"] = message
        self._write(self.stderr, f"error: {message}")
        return code

    def set(self, **fields: Any) -> None:
        """Record fields of the JSON summary."""
        self.document.update(fields)

    def table(self, grid: Grid, *, to_stderr: bool = False) -> None:
        """Print a table: rich on a terminal, aligned plain text otherwise."""
        stream = self.stderr if to_stderr else self.human
        if is_terminal(stream):
            self._console(stream).print(grid.rich_table())
            return
        for line in grid.plain_lines():
            self._write(stream, line)

    # -- the end ----------------------------------------------------------------

    def run(self, body: Callable[[], int]) -> int:
        """Run a command's ``body``, turn a :class:`CommandError` into its message, then finish."""
        try:
            code = body()
        except CommandError as exc:
            code = self.error(exc.code, exc.message)
        except KeyboardInterrupt:
            # Outside a job's own block (reading a large input, writing the output):
            # the job block reports what it created itself, so here nothing was sent.
            code = self.error(
                EXIT_INTERRUPTED,
                "interrupted before anything was sent to the vendor for this step; "
                "answers already received are kept: run the same command again",
            )
        return self.finish(code)

    def finish(self, code: int) -> int:
        """Write the JSON summary (with ``--json``) and return ``code``."""
        if self.json_mode:
            self.document["exit_code"] = code
            self.stdout.write(json.dumps(self.document, indent=2, ensure_ascii=False) + "\n")
            self.stdout.flush()
        return code

    # -- progress ---------------------------------------------------------------

    def progress(self, *, demo: bool, interval: float) -> JobProgressDisplay:
        """Return the live display of one job's progress, on standard error."""
        stream = self.stderr
        console = self._console(stream) if is_terminal(stream) else None
        return JobProgressDisplay(stream, console=console, demo=demo, interval=interval)

    def _console(self, stream: TextIO) -> Console:
        """Return the rich console of a terminal stream (one per stream)."""
        console = self._consoles.get(id(stream))
        if console is None:
            console = Console(file=stream, force_terminal=True, highlight=False)
            self._consoles[id(stream)] = console
        return console

    @staticmethod
    def _write(stream: TextIO, text: str) -> None:
        """Write one line and flush it, so logs and pipes see it at once."""
        stream.write(text + "\n")
        stream.flush()


class _DetailColumn(ProgressColumn):
    """The rate, ETA, tasks and billed requests, from the task's ``detail`` field."""

    def render(self, task: Task) -> Text:
        """Return the detail text of the task."""
        return Text(str(task.fields.get("detail", "")))


class JobProgressDisplay:
    """Live progress of one job: a rich bar on a terminal, a plain line every few seconds else."""

    def __init__(
        self,
        stream: TextIO,
        *,
        console: Console | None,
        demo: bool,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Draw on ``console`` when given, else print plain lines on ``stream``."""
        self.stream = stream
        self.demo = demo
        self.interval = interval
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._last_line_at: float | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if console is not None:
            columns: list[ProgressColumn] = []
            if demo:
                columns.append(TextColumn("[bold black on yellow] DEMO [/]"))
            columns += [
                TextColumn("checking"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                _DetailColumn(),
            ]
            # Stray writes (warnings of the engine's threads) print above the bar.
            self._bar = Progress(*columns, console=console, refresh_per_second=4)

    def __enter__(self) -> JobProgressDisplay:
        """Start drawing the bar (on a terminal)."""
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the bar, leaving its last state on screen (also after Ctrl-C)."""
        if self._bar is not None:
            self._bar.stop()

    def update(self, progress: JobProgress, *, final: bool = False) -> None:
        """Show ``progress``: redraw the bar, or print a line when one is due (or ``final``)."""
        now = self.clock()
        total = progress.distinct
        done = min(progress.answered + progress.processed, total)
        rate = self._rate(now, done)
        detail = self._detail(progress, done, rate)
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("checking", total=max(total, 1), detail="")
            self._bar.update(self._task, total=max(total, 1), completed=done, detail=detail)
            if final:
                self._bar.refresh()
            return
        due = self._last_line_at is None or now - self._last_line_at >= self.interval
        if due or final:
            share = done / total if total else 1.0
            label = "DEMO " if self.demo else ""
            self.stream.write(
                f"{label}progress: {done:,}/{total:,} numbers ({share:.0%}) · {detail}\n"
            )
            self.stream.flush()
            self._last_line_at = now

    def _rate(self, now: float, done: int) -> float | None:
        """Return numbers per second over the last ``RATE_WINDOW`` seconds (None: not known)."""
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW:
            self._samples.popleft()
        first_at, first_done = self._samples[0]
        if now - first_at < 0.5:
            return None
        return max(done - first_done, 0) / (now - first_at)

    def _detail(self, p: JobProgress, done: int, rate: float | None) -> str:
        """Return rate, ETA, tasks and billed requests as one short text."""
        parts = ["…/s" if rate is None else f"{rate:,.0f}/s"]
        eta = p.eta_seconds
        if eta is None and rate:
            eta = (p.distinct - done) / rate
        if not p.finished and eta is not None:
            parts.append(f"ETA {duration(eta)}")
        parts.append(f"{p.tasks_open}/{p.tasks} tasks open")
        # The emulator bills nothing: say "requests" beside the DEMO label.
        billed = f"{p.billed:,} {'requests' if self.demo else 'billed'}"
        if p.possibly_billed:
            billed += f" (+{p.possibly_billed:,} possibly)"
        parts.append(billed)
        return " · ".join(parts)


def duration(seconds: float) -> str:
    """Format seconds as 1h02m, 3m05s or 12s."""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
