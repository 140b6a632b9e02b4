"""``fbcheck check`` on both dialects of one emulator: the same answers and billing discipline."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.cli_runs import LOCAL_KEY as KEY
from tests.cli_runs import env_for, fbcheck, read_output, swiss, write_input
from tests.conftest import Emulator, Emulators

EXIT_FAILED = 4
EXIT_BELOW_MINIMUM = 9


@pytest.fixture
def emulator(emulators: Emulators[Emulator]) -> Emulator:
    """One emulator on the demo profile speaking both dialects."""
    return emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 1_000_000})


def run(tmp_path: Path, emulator: Emulator, dialect: str, source: Path, **extra: str):
    """Run ``fbcheck check`` in ``dialect`` with its own data folder; return result and rows."""
    folder = tmp_path / dialect
    folder.mkdir(exist_ok=True)
    env = env_for(folder, emulator, FBCHECK_API_DIALECT=dialect, **extra)
    out = folder / "out.csv"
    result = fbcheck(folder, env, "check", str(source), "-o", str(out), "--yes")
    rows = read_output(out) if out.exists() else []
    return result, rows


def test_both_dialects_give_the_same_answers_with_the_same_billing(tmp_path, emulator):
    source = write_input(tmp_path / "in.csv", [*swiss(250), "+41 79 000 00 01", "abc"])
    answers = {}
    for dialect in ("legacy", "v1"):
        before = emulator.ledger()
        result, rows = run(tmp_path, emulator, dialect, source, FBCHECK_MAX_NUMBERS_PER_TASK="200")
        assert result.returncode == 0, result.stdout + result.stderr
        after = emulator.ledger()
        tasks = [t for t in emulator.tasks(with_numbers=True) if t["dialect"] == dialect]
        # 250 numbers at a 200 maximum: two balanced tasks of 125, each number uploaded once.
        assert sorted(t["numbers"] for t in tasks) == [125, 125]
        uploaded = [n for t in tasks for n in t["uploaded_numbers"]]
        assert Counter(uploaded) == Counter(swiss(250))
        assert after["tasks_created"] - before["tasks_created"] == 2
        billed = after["billed_total"] - before["billed_total"]
        assert f"{billed:,} billed requests were made for job" in result.stdout
        answers[dialect] = [(r["e164"], r["facebook"]) for r in rows]
    assert answers["legacy"] == answers["v1"]
    assert {answer for _, answer in answers["v1"]} <= {"yes", "no", "ban", "invalid"}
    assert re.search(r"balance: 999,9\d\d \(read from the vendor now", result.stdout)


def test_v1_holds_fewer_new_numbers_than_the_minimum_and_bills_nothing(tmp_path, emulator):
    source = write_input(tmp_path / "in.csv", swiss(40))
    result, rows = run(tmp_path, emulator, "v1", source)
    assert result.returncode == EXIT_BELOW_MINIMUM, result.stdout + result.stderr
    assert "not uploaded: 40 new number(s), fewer than the vendor's minimum of 100" in result.stdout
    assert emulator.ledger()["billed_total"] == 0
    assert emulator.tasks() == []
    assert rows == []  # nothing else to answer, so nothing was written


def test_held_numbers_beside_cached_ones_are_pending_with_why(tmp_path, emulator):
    cached = swiss(150)
    first, _ = run(tmp_path, emulator, "v1", write_input(tmp_path / "a.csv", cached))
    assert first.returncode == 0, first.stdout + first.stderr
    billed = emulator.ledger()["billed_total"]
    source = write_input(tmp_path / "b.csv", cached + swiss(10, start=500))
    result, rows = run(tmp_path, emulator, "v1", source)
    assert result.returncode == EXIT_BELOW_MINIMUM, result.stdout + result.stderr
    assert emulator.ledger()["billed_total"] == billed  # nothing uploaded, nothing padded
    by_number = {r["e164"]: r for r in rows}
    assert {by_number[n]["source"] for n in cached} == {"cache"}
    held = [by_number[n] for n in swiss(10, start=500)]
    assert {r["facebook"] for r in held} == {"pending"}
    assert all("minimum of 100 per task" in r["reason"] for r in held)


def test_the_legacy_dialect_has_no_minimum(tmp_path, emulator):
    result, rows = run(tmp_path, emulator, "legacy", write_input(tmp_path / "in.csv", swiss(3)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rows) == 3
    assert "balance:" not in result.stdout  # the legacy API has no balance route


def test_a_balance_that_cannot_pay_stops_before_billing(tmp_path, emulators):
    poor = emulators.start(MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 5})
    source = write_input(tmp_path / "in.csv", swiss(450))
    # 450 numbers at a 200 maximum are 3 tasks: at least 6 billed requests, balance 5.
    result, rows = run(tmp_path, poor, "v1", source, FBCHECK_MAX_NUMBERS_PER_TASK="200")
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert "balance: 5 (read from the vendor now" in result.stdout
    assert "stopped before billing: the balance of 5 is below the 6 requests" in result.stdout
    assert rows == []
    assert poor.tasks() == []
    assert poor.ledger()["billed_total"] == 0
    assert poor.ledger()["balance_reads"] == 1


def test_failed_tasks_end_with_the_vendor_message_and_are_not_created_again(tmp_path, emulator):
    assert emulator.configure(task_failure_rate=1.0).status_code == 200
    source = write_input(tmp_path / "in.csv", swiss(120))
    result, rows = run(tmp_path, emulator, "v1", source)
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert {r["facebook"] for r in rows} == {"error"}
    assert all("could not be completed for this file" in r["reason"] for r in rows)
    assert all("not sent again by itself" in r["reason"] for r in rows)
    assert len(emulator.tasks()) == 1  # billed once, never re-created by the runner


def test_v1_zip_results(tmp_path, emulator):
    emulator.configure(result_format="zip")
    result, rows = run(tmp_path, emulator, "v1", write_input(tmp_path / "in.csv", swiss(100)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert {r["facebook"] for r in rows} <= {"yes", "no", "ban"}
    assert len(rows) == 100


def test_a_413_from_v1_refuses_the_task_without_retrying(tmp_path, emulators):
    small = emulators.start(
        MOCK_PROFILE="demo", MOCK_API_KEYS={KEY: 1_000_000}, MOCK_MAX_FILE_BYTES=1000
    )
    result, rows = run(tmp_path, small, "v1", write_input(tmp_path / "in.csv", swiss(150)))
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert {r["facebook"] for r in rows} == {"error"}
    assert all("413" in r["reason"] and "refused" in r["reason"] for r in rows)
    assert small.tasks() == []
    assert small.ledger()["billed_total"] == 0
