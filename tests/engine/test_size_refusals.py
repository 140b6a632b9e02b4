"""A vendor that refuses a task as too large: its numbers go again in smaller tasks.

The vendor documents a 400 for an invalid row count and a 413 for a file too large,
but not its limit per task (upstream-api.md, "Not documented"). Nothing is created by
a refused upload, so the engine splits the task and sends the parts; every number is
still uploaded once, every row answered, and the refusal itself costs nothing. Jobs
run through the Checker and its runner against the emulator over real HTTP; the
wordings of other vendors go through ``smaller_size`` directly.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from addin.engine.states import TaskState
from addin.engine.steps import MAX_SPLIT, smaller_size
from addin.upstream.exceptions import BadRequestError, PayloadTooLargeError
from addin.vendor import open_checker
from tests.engine.test_checker import Emulator, make_settings, numbers, run_job


@pytest.mark.parametrize(
    ("message", "count", "minimum", "expected"),
    [
        ("more than 1000 numbers; the limit per task", 2541, 1, 1000),
        ("Too many rows: max 5,000 per task", 20_000, 100, 5_000),
        ("max 5 000 rows per task", 20_000, 1, 5_000),
        ("limit is 5000 rows, got 20000", 20_000, 100, 5_000),
        ("row count must be between 100 and 10,000", 20_000, 100, 10_000),
        ("Too many numbers", 20_000, 100, 10_000),  # no count named: half
        ("the file is over the limit of 600 bytes", 70, 1, 35),  # bytes are no count
        ("file exceeds 25 MiB", 20_000, 1, 10_000),
        # Not a size refusal, or nothing smaller allowed: None (the task stays refused).
        ("row count must be between 100 and 10,000,000", 20_000, 100, None),
        ("the file holds 150 rows; a facebook task holds 200 to 10,000,000 rows", 150, 100, None),
        ("too few rows: at least 100", 150, 100, None),
        ("invalid task_type", 20_000, 100, None),
        ("Too many numbers", 150, 100, None),  # half would be under the minimum
        ("more than 50 numbers", 120, 100, None),  # the limit is under the minimum
        ("daily limit of 5 tasks exceeded", 20_000, 1, None),  # the account, not the size
        ("rate limit: at most 10 uploads per minute", 20_000, 1, None),
        ("quota exceeded: 1000 numbers left", 20_000, 1, None),
    ],
)
def test_a_refusal_names_the_size_to_try(
    message: str, count: int, minimum: int, expected: int | None
) -> None:
    refusal = BadRequestError(message, method="POST", url="http://vendor/tasks", status=400)
    assert smaller_size(refusal, count, minimum) == expected


def test_a_413_halves_whatever_sizes_it_names() -> None:
    refusal = PayloadTooLargeError("a file of 30 MB is over 25 MB", status=413)
    assert smaller_size(refusal, 20_000, 100) == 10_000
    assert smaller_size(refusal, 150, 100) is None


def refusals(checker_store: object) -> list[str]:
    """Return the stored create requests the vendor answered with a 4xx (free)."""
    rows = checker_store.read(  # type: ignore[attr-defined]
        "SELECT billing, status FROM requests WHERE kind = 'create' AND status >= 400"
    )
    return [str(r[0]) for r in rows]


def uploaded_once(emulator: Emulator, items: list[str]) -> None:
    """Assert every number of ``items`` was uploaded exactly once."""
    counts = Counter(n for t in emulator.tasks(with_numbers=True) for n in t["uploaded_numbers"])
    assert sorted(counts) == sorted(items)
    assert set(counts.values()) == {1}


def test_a_task_over_the_vendors_limit_is_split_and_every_number_answered(
    tmp_path: Path,
) -> None:
    items = numbers(70)
    with Emulator(MOCK_MAX_NUMBERS=30) as emu:
        settings = make_settings(tmp_path, emu.url, max_numbers_per_task=100)
        with open_checker(settings) as checker:
            job_id = run_job(checker, items)
            answers = checker.answers(job_id)
            progress = checker.progress(job_id)
            tasks = checker.store.read("SELECT state, n_numbers, error FROM tasks ORDER BY ref")
            free = refusals(checker.store)
        ledger = emu.ledger()
        uploaded_once(emu, items)
    assert {a.answer for a in answers.values()} <= {"yes", "no", "ban"}
    assert set(answers) == set(items)
    first, *parts = tasks
    assert first[0] == TaskState.REFUSED
    assert "split into 3 tasks of 23 to 24 numbers" in first[2]
    assert "more than 30 numbers" in first[2]
    assert [(p[0], p[1]) for p in parts] == [("done", 24), ("done", 23), ("done", 23)]
    assert free == ["free"]  # the refusal was recorded, and not billed
    assert ledger["tasks_created"] == 3
    assert progress is not None
    assert progress.state == "done"
    assert progress.billed == ledger["billed_total"]


def test_later_tasks_over_a_refused_size_are_split_before_their_upload(tmp_path: Path) -> None:
    items = numbers(140)
    with Emulator(MOCK_MAX_NUMBERS=30) as emu:
        settings = make_settings(tmp_path, emu.url, max_numbers_per_task=70)
        with open_checker(settings) as checker:
            job_id = run_job(checker, items)
            answers = checker.answers(job_id)
            free = refusals(checker.store)
            errors = [r[0] for r in checker.store.read("SELECT error FROM tasks ORDER BY ref")]
        uploaded_once(emu, items)
    assert set(answers) == set(items)
    assert {a.answer for a in answers.values()} <= {"yes", "no", "ban"}
    assert free == ["free"]  # one refusal taught the size: the second task was not sent
    assert "not sent: the vendor refused tasks of more than 30 numbers" in errors[1]


def test_a_file_over_the_byte_limit_is_halved(tmp_path: Path) -> None:
    items = numbers(70)
    with Emulator(MOCK_MAX_FILE_BYTES=600) as emu:  # 13 bytes a line: 35 fit, 70 do not
        settings = make_settings(tmp_path, emu.url, max_numbers_per_task=100)
        with open_checker(settings) as checker:
            answers = checker.answers(run_job(checker, items))
            sizes = checker.store.read("SELECT state, n_numbers FROM tasks ORDER BY ref")
        uploaded_once(emu, items)
    assert set(answers) == set(items)
    assert [tuple(r) for r in sizes] == [("refused", 70), ("done", 35), ("done", 35)]


def test_a_split_into_more_tasks_than_the_estimate_asks_for_the_users_word(
    tmp_path: Path,
) -> None:
    items = numbers(70)
    limit = 70 // (MAX_SPLIT + 2)
    with Emulator(MOCK_MAX_NUMBERS=limit) as emu:
        settings = make_settings(tmp_path, emu.url, max_numbers_per_task=100)
        with open_checker(settings) as checker:
            answers = checker.answers(run_job(checker, items))
        assert emu.ledger()["tasks_created"] == 0
    assert {a.answer for a in answers.values()} == {"error"}
    reason = next(iter(answers.values())).reason or ""
    assert f"set FBCHECK_MAX_NUMBERS_PER_TASK={limit} and check again" in reason


def test_a_refusal_that_is_not_about_size_is_not_split(tmp_path: Path) -> None:
    items = numbers(150)
    with Emulator(MOCK_V1_MIN_NUMBERS=200) as emu:
        settings = make_settings(tmp_path, emu.url, api_dialect="v1", max_numbers_per_task=1_000)
        with open_checker(settings) as checker:
            answers = checker.answers(run_job(checker, items))
            tasks = checker.store.read("SELECT state FROM tasks")
        assert emu.ledger()["tasks_created"] == 0
    assert [r[0] for r in tasks] == ["refused"]
    assert {a.answer for a in answers.values()} == {"error"}
    assert "200 to" in (next(iter(answers.values())).reason or "")


def test_a_vendor_refusing_every_size_is_asked_a_bounded_number_of_times(
    tmp_path: Path,
) -> None:
    items = numbers(160)
    with Emulator(MOCK_MAX_FILE_BYTES=10) as emu:  # no upload fits, and no size is named
        settings = make_settings(tmp_path, emu.url, max_numbers_per_task=80)
        with open_checker(settings) as checker:
            answers = checker.answers(run_job(checker, items))
            free = refusals(checker.store)
            states = Counter(r[0] for r in checker.store.read("SELECT state FROM tasks"))
        assert emu.ledger()["tasks_created"] == 0
    # Two tasks of 80: the first refused and halved once (2 parts, refused again), the
    # second split before its upload by the size learned (2 parts, refused): 5 requests.
    assert len(free) == 5
    assert set(free) == {"free"}
    assert states == {"refused": 6}
    assert {a.answer for a in answers.values()} == {"error"}
    reasons = {a.reason or "" for a in answers.values()}
    assert all("set FBCHECK_MAX_NUMBERS_PER_TASK below 40" in r for r in reasons), reasons


def test_the_v1_dialect_splits_within_its_minimum(tmp_path: Path) -> None:
    items = numbers(400)
    with Emulator(MOCK_MAX_NUMBERS=150) as emu:
        settings = make_settings(tmp_path, emu.url, api_dialect="v1", max_numbers_per_task=1_000)
        with open_checker(settings) as checker:
            answers = checker.answers(run_job(checker, items))
            sizes = checker.store.read("SELECT state, n_numbers FROM tasks ORDER BY ref")
        uploaded_once(emu, items)
    assert set(answers) == set(items)
    assert {a.answer for a in answers.values()} <= {"yes", "no", "ban"}
    assert [tuple(r) for r in sizes] == [
        ("refused", 400),
        ("done", 134),
        ("done", 133),
        ("done", 133),
    ]
