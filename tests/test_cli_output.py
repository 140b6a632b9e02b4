"""``addin.cli_output``: aligned plain tables, the progress line cadence, the JSON document."""

from __future__ import annotations

import io
import json

from addin.cli_output import Column, CommandError, Grid, JobProgressDisplay, Output, facts_grid
from addin.engine.checker import JobProgress


def job(done: int, total: int = 100, **changes: object) -> JobProgress:
    """Return a running job's progress with ``done`` of ``total`` numbers answered."""
    fields: dict[str, object] = {
        "job_id": "j1",
        "state": "running",
        "kind": "cli",
        "label": "in.csv",
        "created_at": 0.0,
        "distinct": total,
        "answered": done,
        "counts": {},
        "tasks": 2,
        "tasks_open": 1,
        "processing": 0,
        "processed": 0,
        "billed": 3,
        "eta_seconds": None,
        "error": None,
        **changes,
    }
    return JobProgress(**fields)  # type: ignore[arg-type]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at 0."""
        self.now = 0.0

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


def test_plain_lines_come_once_per_interval_and_at_the_end() -> None:
    stream = io.StringIO()
    clock = Clock()
    display = JobProgressDisplay(stream, console=None, demo=False, interval=10.0, clock=clock)
    with display:
        for at, done in ((0, 0), (1, 5), (9.9, 40), (10.0, 50), (15, 60), (19.9, 70)):
            clock.now = at
            display.update(job(done))
        clock.now = 21
        display.update(job(100, state="done", tasks_open=0), final=True)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["0/100", "50/100", "100/100"]
    assert "ETA" not in lines[-1]  # a finished job has none
    assert lines[1] == (
        "progress: 50/100 numbers (50%) · 5/s · ETA 10s · 1/2 tasks open · 3 billed"
    )
    assert "\x1b" not in stream.getvalue()


def test_demo_lines_say_so_and_possibly_billed_requests_show() -> None:
    stream = io.StringIO()
    display = JobProgressDisplay(stream, console=None, demo=True, interval=5.0, clock=Clock())
    with display:
        display.update(job(0, possibly_billed=2, eta_seconds=3725.0))
    assert stream.getvalue() == (
        "DEMO progress: 0/100 numbers (0%) · …/s · ETA 1h02m · 1/2 tasks open"
        " · 3 requests (+2 possibly)\n"
    )


def test_plain_grid_aligns_columns_and_right_aligns_numbers() -> None:
    grid = Grid([Column("name"), Column("count", numeric=True)], title="t")
    grid.add("a", "1")
    grid.add("longer", "1,000")
    assert grid.plain_lines() == ["t:", "name    count", "a           1", "longer  1,000"]


def test_facts_have_no_header_and_markup_stays_literal() -> None:
    out = io.StringIO()
    Output(stdout=out).table(facts_grid("job x", [("label", "[red]not markup[/]")]))
    assert out.getvalue() == "job x:\nlabel  [red]not markup[/]\n"


def test_json_mode_sends_people_text_to_stderr_and_one_document_to_stdout() -> None:
    out, err = io.StringIO(), io.StringIO()
    ui = Output(json_mode=True, stdout=out, stderr=err, document={"job_id": None})

    def body() -> int:
        ui.say("hello")
        ui.warn("careful")
        raise CommandError(8, "the store is damaged")

    assert ui.run(body) == 8
    assert err.getvalue() == "hello\ncareful\nerror: the store is damaged\n"
    assert json.loads(out.getvalue()) == {
        "exit_code": 8,
        "error": "the store is damaged",
        "warnings": ["careful"],
        "job_id": None,
    }


def test_without_json_nothing_but_people_text_is_printed() -> None:
    out, err = io.StringIO(), io.StringIO()
    ui = Output(stdout=out, stderr=err)
    assert ui.run(lambda: ui.error(2, "bad")) == 2
    assert out.getvalue() == ""
    assert err.getvalue() == "error: bad\n"
