"""``fbcheck check`` end to end: real subprocesses, the emulator over HTTP, kill -9 and resume."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from addin import check_cli
from addin.engine.checker import JobProgress
from addin.engine.sinks import ANSWER_COLUMNS
from addin.engine.sources import InputError
from tests.cli_runs import (
    LOCAL_KEY,
    Terminal,
    env_for,
    fbcheck,
    read_output,
    start,
    swiss,
    write_input,
)
from tests.conftest import Emulator, Emulators, wait_for_stored_tasks
from tests.engine import phonenumbers_probe as probe

KEY = LOCAL_KEY


@pytest.fixture
def emulator(emulators: Emulators[Emulator]) -> Emulator:
    """The emulator on the demo profile (about 500 numbers/s after a 1 s queue)."""
    return emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 1_000_000})


def test_demo_run_writes_one_row_per_input_in_order(tmp_path: Path) -> None:
    values = ["+41 79 000 00 01", "0041790000002", "abc", "+41790000001", "079 000 00 03", "12"]
    source = write_input(tmp_path / "in.csv", values)
    out = tmp_path / "out.csv"
    env = env_for(tmp_path, None)
    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(out), "--preview", "2")
    assert result.returncode == 0, result.stderr
    assert "DEMO" in result.stdout
    # The preview shows the first two rows and, further down, invalid rows with reasons.
    assert "contains letters" in result.stdout
    rows = read_output(out)
    assert [r["phone"] for r in rows] == values
    assert [r["e164"] for r in rows] == [
        "+41790000001",
        "+41790000002",
        "",
        "+41790000001",
        "+41790000003",
        "",
    ]
    assert "too short" in rows[5]["reason"]
    assert [r["facebook"] for r in rows][2] == "invalid"
    assert rows[2]["reason"]
    assert rows[5]["facebook"] == "invalid"
    assert rows[0]["facebook"] == rows[3]["facebook"] in {"yes", "no", "ban"}
    assert {r["source"] for r in rows if r["e164"]} == {"demo"}
    assert all(r["checked_at"].endswith("Z") for r in rows if r["e164"])


def test_worker_processes_write_the_same_file(tmp_path: Path) -> None:
    """Normalising in two worker processes gives the output of doing it here, byte for byte."""
    cells = [v if isinstance(v, str) else repr(v) for v, _ in probe.sample()][:2500]
    rows = [*cells, "", *cells[:500]]
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "name"])
        writer.writerows([value, f"person {number}"] for number, value in enumerate(rows))
    outputs = []
    for workers, parallel_from in (("0", "30000"), ("2", "0")):
        env = env_for(
            tmp_path,
            None,
            FBCHECK_NORMALIZE_WORKERS=workers,
            FBCHECK_NORMALIZE_PARALLEL_FROM=parallel_from,
        )
        out = tmp_path / f"out-{workers}.csv"
        args = ("check", str(source), "-o", str(out), "--region", "US", "--yes")
        result = fbcheck(tmp_path, env, *args)
        assert result.returncode in (0, 1), result.stderr
        # The estimate's rows, invalid and distinct (the second run is answered from the cache).
        estimate = result.stdout.splitlines()[1].split(" distinct numbers")[0]
        outputs.append((out.read_bytes(), estimate))
    assert outputs[0] == outputs[1]
    written = read_output(tmp_path / "out-2.csv")
    # One row per input row, in order (values Excel would run as formulas get a "'").
    assert [row["phone"].removeprefix("'") for row in written] == rows
    assert len({row["e164"] for row in written if row["e164"]}) > 1000


def test_second_run_is_answered_from_the_cache(tmp_path: Path, emulator: Emulator) -> None:
    source = write_input(tmp_path / "in.csv", swiss(30))
    env = env_for(tmp_path, emulator)
    first = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "a.csv"))
    assert first.returncode == 0, first.stderr
    billed = emulator.ledger()["billed_total"]
    second = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "b.csv"))
    assert second.returncode == 0, second.stderr
    assert emulator.ledger()["billed_total"] == billed
    assert "0 billed requests were made for job" in second.stdout
    assert "while this run followed it; the job in all: 0 billed" in second.stdout
    assert {r["source"] for r in read_output(tmp_path / "b.csv")} == {"cache"}
    answers_a = [r["facebook"] for r in read_output(tmp_path / "a.csv")]
    answers_b = [r["facebook"] for r in read_output(tmp_path / "b.csv")]
    assert answers_a == answers_b


def test_max_upload_stops_before_billing(tmp_path: Path, emulator: Emulator) -> None:
    source = write_input(tmp_path / "in.csv", swiss(20))
    env = env_for(tmp_path, emulator)
    result = fbcheck(tmp_path, env, "check", str(source), "--max-upload", "10")
    assert result.returncode == 3
    assert "stopped before billing" in result.stdout
    assert emulator.ledger()["billed_total"] == 0
    assert not (tmp_path / "in.csv.results.csv").exists()
    result = fbcheck(tmp_path, env, "check", str(source), "--max-upload", "10", "--yes")
    assert result.returncode == 0, result.stderr
    assert len(read_output(tmp_path / "in.csv.results.csv")) == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "missing.csv"),
        (["in.csv", "--region", "XX"], "XX"),
        (["in.csv", "--column", "nope"], "nope"),
        (["in.csv", "-o", "out.json"], "out.json"),
    ],
)
def test_bad_usage_exits_2_with_a_clear_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    write_input(tmp_path / "in.csv", swiss(2))
    result = fbcheck(tmp_path, env_for(tmp_path, None), "check", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_key_exits_4(tmp_path: Path, emulator: Emulator) -> None:
    source = write_input(tmp_path / "in.csv", swiss(3))
    env = env_for(tmp_path, emulator, FBCHECK_API_KEY="wrong")
    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 4
    rows = read_output(tmp_path / "o.csv")
    assert {r["facebook"] for r in rows} == {"error"}
    assert all("401" in r["reason"] for r in rows)


def _wait_for_creates(server: Emulator, count: int, proc: subprocess.Popen[str]) -> None:
    """Wait until the emulator has seen ``count`` task creations."""
    deadline = time.monotonic() + 60
    while server.ledger()["tasks_created"] < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the CLI created no task in time"
        time.sleep(0.05)


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_without_new_creates(
    tmp_path: Path, emulator: Emulator, stop_signal: signal.Signals
) -> None:
    values = swiss(600)
    source = write_input(tmp_path / "in.csv", values)
    out = tmp_path / "out.csv"
    env = env_for(
        tmp_path, emulator, FBCHECK_MAX_NUMBERS_PER_TASK="100", FBCHECK_MAX_CONCURRENT_TASKS="2"
    )
    # The first tasks wait in the vendor's queue until the test moves its clock: with two
    # tasks at once, no third create can start before the stop, however loaded the machine.
    assert emulator.configure(queue_delay=3600).status_code == 200
    proc = start(tmp_path, env, "check", str(source), "-o", str(out), "--yes")
    _wait_for_creates(emulator, 2, proc)
    wait_for_stored_tasks(tmp_path / "data", 2, proc)
    proc.send_signal(stop_signal)
    _, stderr = proc.communicate(timeout=30)
    if stop_signal == signal.SIGINT:
        assert proc.returncode == 130
        assert "created at the vendor and stored: run the same command again" in stderr
    assert not out.exists()
    created_before = emulator.ledger()["tasks_created"]
    assert emulator.configure(queue_delay=1).status_code == 200  # the demo profile's
    emulator.advance(7200)  # the two queued tasks finish meanwhile

    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(out), "--yes")
    assert result.returncode == 0, result.stderr
    assert created_before >= 2  # a third may start as the stop comes; none is sent twice
    # Every chunk was stored before the kill: the new run continues that job and uploads
    # only the chunks that were never sent.
    assert "continuing job" in result.stdout
    final = emulator.ledger()
    assert final["tasks_created"] == 6  # 600 numbers in tasks of 100: none created twice
    assert final["numbers_uploaded"] == 600
    tasks = emulator.tasks(with_numbers=True)
    uploaded = Counter(n for task in tasks for n in task["uploaded_numbers"])
    assert set(uploaded.values()) == {1}
    rows = read_output(out)
    assert [r["e164"] for r in rows] == values
    assert {r["facebook"] for r in rows} <= {"yes", "no", "ban"}


def test_ctrl_c_while_reading_a_large_input_exits_130_without_a_traceback(
    tmp_path: Path, emulator: Emulator
) -> None:
    """SIGINT while the input is still being read: before any job, so nothing is billed."""
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8") as handle:
        handle.write("phone\n")
        for n in range(600_000):
            handle.write(f"+4179{n:07d}\n")
    env = env_for(tmp_path, emulator)
    proc = start(tmp_path, env, "check", str(source), "-o", str(tmp_path / "o.csv"), "--yes")
    fds = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + 60
    while not any(_links_to(fd, source) for fd in _entries(fds)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the CLI never opened its input"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert emulator.ledger()["tasks_created"] == 0
    assert not (tmp_path / "o.csv").exists()


def _entries(folder: Path) -> list[Path]:
    """Return the entries of a /proc folder, or none once the process is gone."""
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _links_to(link: Path, target: Path) -> bool:
    """Return whether the /proc fd ``link`` points at ``target``."""
    try:
        return Path(os.readlink(link)) == target
    except OSError:
        return False


def test_unwritable_output_exits_5_and_keeps_the_answers(
    tmp_path: Path, emulator: Emulator
) -> None:
    source = write_input(tmp_path / "in.csv", swiss(4))
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    env = env_for(tmp_path, emulator)
    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "blocker/o.csv"))
    assert result.returncode == 5
    assert "could not write" in result.stderr
    billed = emulator.ledger()["billed_total"]
    again = fbcheck(tmp_path, env, "check", str(source), "-o", str(tmp_path / "o.csv"))
    assert again.returncode == 0, again.stderr
    assert emulator.ledger()["billed_total"] == billed
    assert {r["source"] for r in read_output(tmp_path / "o.csv")} == {"cache"}


def test_headerless_contact_list_checks_every_row(tmp_path: Path) -> None:
    """'Mobile Shop AG' in row 1 makes it no header: all three numbers are checked."""
    source = tmp_path / "contacts.csv"
    source.write_text(
        "Mobile Shop AG,+41791111111\nMeier GmbH,+41791111112\nMüller,079 111 11 13\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = fbcheck(tmp_path, env_for(tmp_path, None), "check", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = read_output(out)
    assert [r["e164"] for r in rows] == ["+41791111111", "+41791111112", "+41791111113"]
    assert {r["facebook"] for r in rows} <= {"yes", "no", "ban"}


@pytest.mark.parametrize("link", ["same", "relative", "symlink", "hardlink"])
def test_output_naming_the_input_is_refused_before_billing(
    tmp_path: Path, emulator: Emulator, link: str
) -> None:
    """-o naming the input (as written, relatively, by a link or by inode) is exit 2."""
    source = write_input(tmp_path / "in.csv", swiss(3))
    before = source.read_bytes()
    target = {"same": source, "relative": Path("sub/../in.csv")}.get(link)
    (tmp_path / "sub").mkdir()
    if link == "symlink":
        target = tmp_path / "link.csv"
        target.symlink_to(source)
    elif link == "hardlink":
        target = tmp_path / "hard.csv"
        target.hardlink_to(source)
    assert target is not None
    result = fbcheck(tmp_path, env_for(tmp_path, emulator), "check", "in.csv", "-o", str(target))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is the input file" in result.stderr
    assert "Traceback" not in result.stderr
    assert source.read_bytes() == before
    assert emulator.ledger()["billed_total"] == 0
    assert emulator.ledger()["tasks_created"] == 0


def test_output_is_renamed_into_place_and_leaves_no_temporary(
    tmp_path: Path, emulator: Emulator
) -> None:
    """The result replaces an old one in one rename: no half file, no temporary left over."""
    source = write_input(tmp_path / "in.csv", swiss(5))
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"an older result")
    inode = out.stat().st_ino
    result = fbcheck(tmp_path, env_for(tmp_path, emulator), "check", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_ino != inode
    assert out.read_bytes().startswith(b"PK")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


CONTACTS = (
    "Name,Company,Phone,Notes\n"
    "Alice Muster,Acme AG,+41 79 000 00 01,=HYPERLINK(1)\n"
    "Bob Beispiel,,079 000 00 02\n"
    "Carol,Foo,not a number,x\n"
)


def test_output_keeps_every_input_column_then_the_answers(tmp_path: Path) -> None:
    """A contact list comes back with its names, companies and notes, then the answers."""
    source = tmp_path / "contacts.csv"
    source.write_text(CONTACTS, encoding="utf-8")
    out = tmp_path / "out.csv"
    result = fbcheck(tmp_path, env_for(tmp_path, None), "check", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == [
        "Name", "Company", "Phone", "Notes", "e164", "facebook", "reason", "source", "checked_at"
    ]  # fmt: skip
    assert [row[:4] for row in table[1:]] == [
        ["Alice Muster", "Acme AG", "+41 79 000 00 01", "'=HYPERLINK(1)"],
        ["Bob Beispiel", "", "079 000 00 02", ""],
        ["Carol", "Foo", "not a number", "x"],
    ]
    assert [row[4] for row in table[1:]] == ["+41790000001", "+41790000002", ""]
    assert table[3][5] == "invalid"


def test_answers_only_gives_the_compact_form(tmp_path: Path) -> None:
    """--answers-only writes the checked value and the answer columns only."""
    source = tmp_path / "contacts.csv"
    source.write_text(CONTACTS, encoding="utf-8")
    out = tmp_path / "out.csv"
    env = env_for(tmp_path, None)
    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(out), "--answers-only")
    assert result.returncode == 0, result.stderr
    rows = read_output(out)
    assert list(rows[0]) == ["input", "e164", "facebook", "reason", "source", "checked_at"]
    assert [r["input"] for r in rows] == ["+41 79 000 00 01", "079 000 00 02", "not a number"]


def test_headerless_input_columns_are_named_by_their_letters(tmp_path: Path) -> None:
    """Without a header row, the kept columns are called A, B, ... as in Excel."""
    source = tmp_path / "in.csv"
    source.write_text("Alice,+41790000001\nBob,+41790000002\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = fbcheck(tmp_path, env_for(tmp_path, None), "check", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = read_output(out)
    assert [(r["A"], r["B"], r["e164"]) for r in rows] == [
        ("Alice", "+41790000001", "+41790000001"),
        ("Bob", "+41790000002", "+41790000002"),
    ]


def test_xlsx_in_xlsx_out_keeps_the_sheet_colours_answers_and_adds_a_summary(
    tmp_path: Path,
) -> None:
    """Every column of the chosen sheet, a frozen filtered header, colours and a bar chart."""
    source = tmp_path / "contacts.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Phone", "Since"])
    sheet.append(["Alice", "+41790000001", 2019])
    sheet.append(["Bob", 41790000002, 2020])
    sheet.append(["Carol", "abc", 2021])
    book.save(source)
    out = tmp_path / "out.xlsx"
    result = fbcheck(tmp_path, env_for(tmp_path, None), "check", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    written = openpyxl.load_workbook(out)
    assert written.sheetnames == ["Results", "Summary"]
    results = written["Results"]
    values = [[cell.value for cell in row] for row in results.iter_rows()]
    assert values[0] == [
        "Name", "Phone", "Since", "e164", "facebook", "reason", "source", "checked_at"
    ]  # fmt: skip
    assert [row[:4] for row in values[1:]] == [
        ["Alice", "+41790000001", "2019", "+41790000001"],
        ["Bob", "41790000002", "2020", "+41790000002"],
        ["Carol", "abc", "2021", None],
    ]
    assert results.freeze_panes == "A2"
    assert results.auto_filter.ref == "A1:H4"
    (target, rules), *_ = results.conditional_formatting._cf_rules.items()
    assert str(target.sqref) == "E2:E4"
    colours = {rule.formula[0].strip('"'): rule.dxf.fill.bgColor.rgb for rule in rules}
    assert colours == {
        "yes": "FFC6EFCE",
        "no": "FFEDEDED",
        "ban": "FFFFC7CE",
        "invalid": "FFFFE0B2",
        "error": "FFFFE0B2",
    }
    summary = written["Summary"]
    counts = {row[0].value: row[1].value for row in summary.iter_rows(min_row=2)}
    answers = Counter(row[4] for row in values[1:])
    assert counts == {
        **{name: answers.get(name, 0) for name in ("yes", "no", "ban", "invalid", "error")},
        "total": 3,
    }
    assert [type(chart).__name__ for chart in summary._charts] == ["BarChart"]


# -- presentation: rich on a terminal, plain periodic lines otherwise, --json ----------------

ANSI_ESCAPE = "\x1b"
_PROGRESS_LINE = re.compile(r"^progress: ([\d,]+)/([\d,]+) numbers \(\d+%\) · .*/s")


def progress_lines(stderr: str) -> list[tuple[int, int]]:
    """Return (done, total) of each plain progress line."""
    found = []
    for line in stderr.splitlines():
        match = _PROGRESS_LINE.match(line)
        if match:
            found.append((int(match[1].replace(",", "")), int(match[2].replace(",", ""))))
    return found


def test_piped_output_has_no_ansi_codes_and_one_progress_line_per_interval(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Not a terminal: aligned plain text, and a progress line every FBCHECK_PROGRESS_INTERVAL."""
    source = write_input(tmp_path / "in.csv", [*swiss(600), "abc"])
    env = env_for(tmp_path, emulator, FBCHECK_PROGRESS_INTERVAL="0.2")
    # The demo profile takes more than 2 s for 600 numbers (1 s queued, 500/s, 1 s export).
    result = fbcheck(tmp_path, env, "check", str(source), "--yes", "--preview", "2")
    assert result.returncode == 0, result.stderr
    assert ANSI_ESCAPE not in result.stdout + result.stderr
    assert "\r" not in result.stdout + result.stderr
    lines = progress_lines(result.stderr)
    assert len(lines) >= 3, result.stderr
    assert {total for _, total in lines} == {600}
    assert [done for done, _ in lines] == sorted(done for done, _ in lines)
    assert lines[-1][0] == 600
    # The estimate is a table of labelled values; the preview has a header row.
    out = result.stdout.splitlines()
    assert "estimate (column 'phone'), before anything is billed:" in out
    assert re.search(r"^to upload +600$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^estimated cost +at least 2 billed requests", result.stdout, re.MULTILINE)
    header = next(line for line in out if line.startswith("input "))
    assert header.split() == ["input", "e164", "facebook", "reason"]
    invalid = next(line for line in out if line.startswith("abc "))
    assert invalid.index("invalid") == header.index("facebook")

    # The same job again with a long interval: only the first and the last line.
    env["FBCHECK_PROGRESS_INTERVAL"] = "600"
    again = fbcheck(tmp_path, env, "check", str(source), "--yes", "--refresh")
    assert again.returncode == 0, again.stderr
    assert len(progress_lines(again.stderr)) == 2, again.stderr


def test_a_bad_progress_interval_is_a_usage_error(tmp_path: Path) -> None:
    write_input(tmp_path / "in.csv", swiss(2))
    env = env_for(tmp_path, None, FBCHECK_PROGRESS_INTERVAL="0")
    result = fbcheck(tmp_path, env, "check", "in.csv")
    assert result.returncode == 2
    assert "progress_interval" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_terminal_gets_the_rich_bar_and_tables(tmp_path: Path) -> None:
    """On a terminal: the DEMO label, a bar, done/total, rate, tasks, requests; rich tables."""
    source = write_input(tmp_path / "in.csv", [*swiss(3), "abc"])
    env = env_for(tmp_path, None, FBCHECK_PROGRESS_INTERVAL="0.1")
    terminal = Terminal(tmp_path, env, "check", str(source), "--preview", "4")
    assert terminal.finish() == 0, terminal.text
    shown = terminal.text
    assert ANSI_ESCAPE + "[" in shown
    assert "━" in shown  # the bar
    assert " DEMO " in shown
    assert re.search(r"3/3\S* +\S*100%", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown))
    assert "/s" in shown
    assert "tasks open" in shown
    assert "requests" in shown
    assert "─" in shown  # the rule under the preview's header
    assert "progress:" not in shown  # no plain lines on a terminal
    assert len(read_output(tmp_path / "in.csv.results.csv")) == 4


def test_ctrl_c_on_a_terminal_exits_130_and_the_job_resumes(
    tmp_path: Path, emulators: Emulators[Emulator]
) -> None:
    """SIGINT (what Ctrl-C sends) while the bar is drawn: exit 130, the rerun creates nothing."""
    slow = emulators.start(MOCK_PROFILE="demo", MOCK_RATE=5, MOCK_API_KEYS={KEY: 1_000_000})
    source = write_input(tmp_path / "in.csv", swiss(300))
    env = env_for(tmp_path, slow)
    terminal = Terminal(tmp_path, env, "check", str(source), "--yes")
    terminal.wait_for("━")
    deadline = time.monotonic() + 60
    while slow.ledger()["tasks_created"] < 1:
        assert time.monotonic() < deadline, terminal.text
        time.sleep(0.05)
    time.sleep(0.3)  # the task id is stored right after the answer
    terminal.proc.send_signal(signal.SIGINT)
    assert terminal.finish() == 130, terminal.text
    assert "created at the vendor and stored: run the same command again" in terminal.text
    assert "Traceback" not in terminal.text
    slow.advance(3600)  # the task finishes at the vendor meanwhile
    again = fbcheck(tmp_path, env, "check", str(source), "--yes")
    assert again.returncode == 0, again.stderr
    assert "continuing job" in again.stdout
    assert slow.ledger()["tasks_created"] == 1


def json_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """Return the one JSON document of standard output."""
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_json_summary_matches_the_output_file(tmp_path: Path, emulator: Emulator) -> None:
    """--json: one document on stdout whose counts are the file's; people's text on stderr."""
    values = [*swiss(20), "abc", "", *swiss(20, 20), "12"]
    source = write_input(tmp_path / "in.csv", values)
    out = tmp_path / "out.csv"
    env = env_for(tmp_path, emulator)
    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(out), "--yes", "--json")
    assert result.returncode == 0, result.stderr
    document = json_of(result)
    rows = read_output(out)
    answers = Counter(r["facebook"] for r in rows)
    kinds = ("yes", "no", "ban", "invalid", "error", "pending")
    assert document["counts"] == {kind: answers.get(kind, 0) for kind in kinds}
    assert document["counts"]["invalid"] == 3
    assert document["rows"] == len(rows) == len(values)
    assert document["exit_code"] == 0
    assert document["error"] is None
    assert document["warnings"] == []
    assert document["demo"] is False
    assert document["continued"] is False
    assert document["state"] == "done"
    assert document["output"] == str(out)
    assert document["input"] == str(source)
    billed = emulator.ledger()["billed_total"]
    assert billed > 0
    assert document["billed"] == {"run": billed, "job": billed}
    assert document["possibly_billed"] == {"run": 0, "job": 0}
    assert document["estimate"]["to_upload"] == 40
    assert document["estimate"]["invalid"] == 3
    assert f"wrote {len(values)} rows to {out}" in result.stderr
    assert "estimated cost" in result.stderr

    # A second run is answered from the cache: this run billed nothing.
    again = fbcheck(tmp_path, env, "check", str(source), "-o", str(out), "--json")
    assert again.returncode == 0, again.stderr
    second = json_of(again)
    assert second["billed"]["run"] == 0
    assert second["counts"] == document["counts"]
    assert second["job_id"] != document["job_id"]

    # jobs list and show --json describe the same jobs.
    listing = fbcheck(tmp_path, env, "jobs", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    jobs = json_of(listing)["jobs"]
    assert [job["job_id"] for job in jobs] == [second["job_id"], document["job_id"]]
    shown = fbcheck(tmp_path, env, "jobs", "show", document["job_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    job = json_of(shown)["job"]
    assert job["billed"] == billed
    assert job["counts"] == {k: answers[k] for k in ("yes", "no", "ban") if answers.get(k)}
    assert job["state"] == "done"


def test_jobs_list_and_show_are_aligned_text_when_piped(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.csv", swiss(3))
    env = env_for(tmp_path, None)
    first = fbcheck(tmp_path, env, "check", str(source), "--json")
    job_id = json_of(first)["job_id"]
    listing = fbcheck(tmp_path, env, "jobs", "list")
    assert listing.returncode == 0, listing.stderr
    header, row = listing.stdout.splitlines()
    assert header.split()[:5] == ["job", "created", "(UTC)", "state", "kind"]
    assert "started by" not in header  # local jobs have no user: no column for them
    assert row.startswith(job_id)
    assert row.index("done") == header.index("state")
    shown = fbcheck(tmp_path, env, "jobs", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"job {job_id}:"
    assert re.search(r"^answered +3 of 3 numbers$", shown.stdout, re.MULTILINE), shown.stdout
    assert ANSI_ESCAPE not in listing.stdout + shown.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["check", "missing.csv", "--json"], 2, "missing.csv"),
        (["check", "in.csv", "--region", "XX", "--json"], 2, "XX"),
        (["check", "in.csv", "--json", "--no-such-flag"], 2, "--no-such-flag"),
        (["check", "in.csv", "--json", "--max-upload", "1"], 3, "stopped before billing"),
        (["jobs", "show", "nope", "--json"], 2, "there is no job 'nope'"),
    ],
)
def test_json_errors_are_documents_too(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    """With --json a failure still prints one document: its exit code and the message."""
    write_input(tmp_path / "in.csv", swiss(2))
    result = fbcheck(tmp_path, env_for(tmp_path, None), *args)
    assert result.returncode == code, result.stderr
    document = json_of(result)
    assert document["exit_code"] == code
    assert message in document["error"]
    assert "Traceback" not in result.stderr


def test_json_after_ctrl_c_says_130_and_what_was_billed(
    tmp_path: Path, emulators: Emulators[Emulator]
) -> None:
    slow = emulators.start(MOCK_PROFILE="demo", MOCK_RATE=5, MOCK_API_KEYS={KEY: 1_000_000})
    source = write_input(tmp_path / "in.csv", swiss(300))
    proc = start(tmp_path, env_for(tmp_path, slow), "check", str(source), "--yes", "--json")
    _wait_for_creates(slow, 1, proc)
    time.sleep(0.3)  # the task id is stored right after the answer
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    document = json.loads(stdout)
    assert document["exit_code"] == 130
    assert document["error"].startswith("interrupted: ")
    assert document["job_id"]
    assert document["billed"]["job"] == slow.ledger()["billed_total"]
    assert "interrupted: " in stderr


@pytest.mark.parametrize("args", [["check", "in.csv"], ["jobs", "list"]])
def test_json_store_error_is_a_document_with_exit_8(tmp_path: Path, args: list[str]) -> None:
    """A store that is not a database: exit 8, and the document names the file."""
    write_input(tmp_path / "in.csv", swiss(2))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fbcheck.sqlite3").write_bytes(b"not a database, " * 400)
    result = fbcheck(tmp_path, env_for(tmp_path, None), *args, "--json")
    assert result.returncode == 8, result.stderr
    document = json_of(result)
    assert document["exit_code"] == 8
    assert "fbcheck.sqlite3" in document["error"]
    assert "Traceback" not in result.stderr


def test_json_of_an_uncertain_upload_warns_with_the_commands(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Exit 6: pending rows counted, the resend/abandon commands in warnings; abandon --json."""
    emulator.configure(create_fault="gateway_504", create_fault_count=1)
    source = write_input(tmp_path / "in.csv", swiss(20))
    env = env_for(tmp_path, emulator)
    result = fbcheck(tmp_path, env, "check", str(source), "--yes", "--json")
    assert result.returncode == 6, result.stderr
    document = json_of(result)
    job_id = document["job_id"]
    assert document["exit_code"] == 6
    assert document["counts"]["pending"] == 20
    assert document["possibly_billed"] == {"run": 1, "job": 1}
    (waiting,) = [w for w in document["warnings"] if w.startswith("WAITING FOR YOUR WORD")]
    assert f"fbcheck jobs resend {job_id}" in waiting
    assert f"fbcheck jobs abandon {job_id}" in waiting
    assert any(w.startswith("note: 1 upload(s)") for w in document["warnings"])

    gave_up = fbcheck(tmp_path, env, "jobs", "abandon", job_id, "--json")
    assert gave_up.returncode == 0, gave_up.stderr
    answer = json_of(gave_up)
    assert answer["abandoned"] == 1
    assert answer["job"]["counts"] == {"error": 20}
    assert answer["job"]["uncertain_tasks"] == 0
    assert "gave up 1 task(s)" in gave_up.stderr


def _settled_job() -> JobProgress:
    """Return the progress of a finished job that answered nothing (every row pending)."""
    return JobProgress(
        job_id="job",
        state="done",
        kind="cli",
        label="",
        created_at=0.0,
        distinct=0,
        answered=0,
        counts={},
        tasks=0,
        tasks_open=0,
        processing=0,
        processed=0,
        billed=0,
        eta_seconds=None,
        error=None,
    )


@pytest.mark.parametrize(
    ("second", "written"),
    [
        (["+41790000001", "+41790000009", "abc"], None),
        (["+41790000001", "+41790000002"], None),
        (["+41790000001", "+41790000002", "abc", "+41790000004"], 3),
    ],
    ids=["a-row-changed", "rows-removed", "rows-added-at-the-end"],
)
def test_an_input_that_changes_before_the_output_is_refused(
    tmp_path: Path, second: list[str], written: int | None
) -> None:
    """The output is written from a second reading: a changed row leaves no output file."""
    source = write_input(tmp_path / "in.csv", ["+41790000001", "+41790000002", "abc"])
    cells, table, _ = check_cli._read_rows(source, None, None, "CH", workers=0)
    write_input(source, second)
    out = tmp_path / "out.csv"
    final = _settled_job()
    if written is None:
        with pytest.raises(InputError, match="changed while it was checked"):
            check_cli._write(out, cells, table, {}, True, final, keep_columns=True)
        assert not out.exists()
        assert not list(tmp_path.glob(".out.csv*"))
    else:
        count, counts, _ = check_cli._write(out, cells, table, {}, True, final, keep_columns=True)
        assert count == written == len(read_output(out))
        assert counts == Counter({"pending": 2, "invalid": 1})


def _global_mix(rng_seed: int) -> list[str]:
    """Return a seeded mix of every region's numbers in every notation, junk, repeats, blanks."""
    import random

    rng = random.Random(rng_seed)
    cells = [v if isinstance(v, str) else repr(v) for v, _ in probe.sample()]
    rows = [*cells, *rng.choices(cells, k=len(cells) // 3)]
    rng.shuffle(rows)
    rows[10:10] = ["", "  ", ""]  # blank rows inside the data
    return rows


@pytest.mark.parametrize("keep_columns", [True, False], ids=["own-columns", "answers-only"])
def test_the_fast_output_is_the_output_of_reading_again(tmp_path: Path, keep_columns: bool) -> None:
    """Rows written from the first reading equal rows written from a second, and each row's
    e164 and reason are what normalising that row alone gives."""
    from addin.engine.phones import normalize
    from addin.engine.store.records import Answer

    rows = _global_mix(12)
    source = write_input(tmp_path / "in.csv", rows)
    cells, table, width = check_cli._read_rows(source, None, None, "US", workers=0)
    numbers = cells.numbers()
    # Answers for two numbers in three; the others stay pending. Reasons that need quoting.
    answers = {
        number: Answer(("ban", "yes", "no")[n % 3], 'say "x", then', "upstream", 1.7e9 + n % 5)
        for n, number in enumerate(numbers)
        if n % 3
    }
    columns = (*table.column_names(width), *ANSWER_COLUMNS)
    outputs = []
    for name in ("fast.csv", "again.csv"):
        if name == "again.csv":
            # Bytes that change no row (a trailing blank line): the input is read again.
            with source.open("a", encoding="utf-8") as handle:
                handle.write("\n")
            assert not table.unchanged_since_read()
        else:
            assert table.unchanged_since_read()
        out = tmp_path / name
        written, counts, shown = check_cli._write(
            out,
            cells,
            table,
            answers,
            False,
            _settled_job(),
            keep_columns=keep_columns,
            columns=columns,
            preview=5,
        )
        outputs.append((out.read_bytes(), written, counts, shown))
    assert outputs[0] == outputs[1]
    written_rows = read_output(tmp_path / "fast.csv")
    assert len(written_rows) == len(rows) == outputs[0][1]
    expected = [normalize(value, "US") for value in rows]
    assert [row["e164"] for row in written_rows] == [r.e164 or "" for r in expected]
    invalid = [row["reason"] for row, r in zip(written_rows, expected, strict=True) if not r.valid]
    assert invalid == [r.reason for r in expected if not r.valid]
    assert {row["reason"] for row in written_rows if row["facebook"] == "yes"} == {'say "x", then'}
    counts = outputs[0][2]
    assert counts["pending"]
    assert counts["yes"]
    assert counts["invalid"]


def test_a_two_column_input_is_written_from_a_second_reading(tmp_path: Path) -> None:
    """Rows whose other columns are needed come from reading again, the answers unchanged."""
    source = tmp_path / "in.csv"
    source.write_text("phone,name\n+41790000001,a\n+41790000001,b\nabc,c\n", encoding="utf-8")
    cells, table, width = check_cli._read_rows(source, None, None, "CH", workers=0)
    assert width == 2
    out = tmp_path / "out.csv"
    columns = (*table.column_names(width), *ANSWER_COLUMNS)
    check_cli._write(
        out, cells, table, {}, True, _settled_job(), keep_columns=True, columns=columns
    )
    assert [(row["name"], row["e164"]) for row in read_output(out)] == [
        ("a", "+41790000001"),
        ("b", "+41790000001"),
        ("c", ""),
    ]
