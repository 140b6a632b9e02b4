"""``fbcheck check`` end to end: real subprocesses, the emulator over HTTP, kill -9 and resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import Emulator, Emulators

KEY = "cli-key"


@pytest.fixture
def emulator(emulators: Emulators[Emulator]) -> Emulator:
    """The emulator on the demo profile (about 500 numbers/s after a 1 s queue)."""
    return emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 1_000_000})


def env_for(tmp_path: Path, server: Emulator | None, **extra: str) -> dict[str, str]:
    """Return the environment of a CLI run (live mode on the local emulator, or demo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")}
    env.update(
        FBCHECK_DATA_DIR=str(tmp_path / "data"),
        FBCHECK_POLL_MIN_INTERVAL="0.05",
        FBCHECK_POLL_MAX_INTERVAL="0.3",
        FBCHECK_REGION="CH",
    )
    if server is not None:
        env.update(FBCHECK_API_KEY=KEY, FBCHECK_API_URL=server.url)
    env.update(extra)
    return env


def fbcheck(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI to the end and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "addin.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_input(path: Path, values: list[str]) -> Path:
    """Write a one-column CSV with a header."""
    path.write_text("phone\n" + "\n".join(values) + "\n", encoding="utf-8")
    return path


def read_output(path: Path) -> list[dict[str, str]]:
    """Read the CLI's CSV output."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def swiss(count: int, start: int = 0) -> list[str]:
    """Return valid Swiss mobile numbers in E.164."""
    return [f"+4179{n:07d}" for n in range(start, start + count)]


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


def _start(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start the CLI in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "addin.cli", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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
    proc = _start(tmp_path, env, "check", str(source), "-o", str(out), "--yes")
    # With two tasks at once, a third create cannot start for about 2 s: a safe moment.
    _wait_for_creates(emulator, 2, proc)
    proc.send_signal(stop_signal)
    _, stderr = proc.communicate(timeout=30)
    if stop_signal == signal.SIGINT:
        assert proc.returncode == 130
        assert "created at the vendor and stored: run the same command again" in stderr
    assert not out.exists()
    created_before = emulator.ledger()["tasks_created"]

    result = fbcheck(tmp_path, env, "check", str(source), "-o", str(out), "--yes")
    assert result.returncode == 0, result.stderr
    assert created_before == 2
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
