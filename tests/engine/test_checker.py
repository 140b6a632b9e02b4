"""Whole jobs through the Checker, its runner and the real client, on the emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from addin.config import Settings
from addin.engine.checker import Account, Checker, JobProgress
from addin.engine.connection import cache_realm_of
from addin.engine.errors import UnknownJobError
from addin.engine.states import TaskState
from addin.engine.store import Store
from addin.vendor import open_checker
from tests.conftest import Emulator as SharedEmulator

KEY = "test-key"


def numbers(count: int, start: int = 0) -> list[str]:
    """Return ``count`` valid Swiss mobile numbers."""
    return [f"+4179{n:07d}" for n in range(start, start + count)]


class Emulator(SharedEmulator):
    """An instant emulator over real HTTP that knows ``KEY``."""

    defaults: ClassVar[Mapping[str, Any]] = {
        "MOCK_PROFILE": "instant",
        "MOCK_API_KEYS": {KEY: 1_000_000},
    }


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """An instant emulator."""
    with Emulator() as emu:
        yield emu


def make_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    """Live-mode settings aimed at the local emulator, with fast polling."""
    values: dict[str, Any] = {
        "api_key": KEY,
        "api_url": url,
        "data_dir": tmp_path / "data",
        "poll_min_interval": 0.05,
        "poll_max_interval": 0.3,
        "max_numbers_per_task": 20,
        "max_retries": 4,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def run_job(checker: Checker, items: list[str], **kw: Any) -> str:
    """Plan, submit and wait for a job; return its id."""
    job_id = checker.submit(checker.plan(items, **kw))
    progress = checker.wait(job_id, timeout=60)
    assert progress.finished, progress
    return job_id


def test_job_answers_every_number_in_few_tasks(tmp_path: Path, emulator: Emulator) -> None:
    items = numbers(50)
    with open_checker(make_settings(tmp_path, emulator.url)) as checker:
        job_id = run_job(checker, items + items[:10])
        answers = checker.answers(job_id)
        progress = checker.progress(job_id)
    assert set(answers) == set(items)
    assert {a.answer for a in answers.values()} <= {"yes", "no", "ban"}
    assert {a.source for a in answers.values()} == {"upstream"}
    ledger = emulator.ledger()
    assert ledger["tasks_created"] == 3  # 50 distinct numbers in chunks of 20
    assert ledger["numbers_uploaded"] == 50
    assert progress is not None
    assert progress.state == "done"
    assert progress.billed == ledger["billed_total"]
    uploaded = [n for task in emulator.tasks(with_numbers=True) for n in task["uploaded_numbers"]]
    assert sorted(uploaded) == sorted(items)


def test_answers_match_the_emulators_fixtures(tmp_path: Path) -> None:
    fixtures = {"+41790000001": "ban", "+41790000002": "yes", "+41790000003": "no"}
    with Emulator(MOCK_FIXTURES=fixtures) as emu:
        with open_checker(make_settings(tmp_path, emu.url)) as checker:
            job_id = run_job(checker, list(fixtures))
            got = {n: a.answer for n, a in checker.answers(job_id).items()}
        assert got == fixtures


def test_same_input_again_costs_nothing(tmp_path: Path, emulator: Emulator) -> None:
    items = numbers(30)
    settings = make_settings(tmp_path, emulator.url)
    with open_checker(settings) as checker:
        first = checker.answers(run_job(checker, items))
    billed = emulator.ledger()["billed_total"]
    with open_checker(settings) as checker:
        plan = checker.plan(items)
        assert (plan.cache_hits, plan.to_upload, plan.tasks) == (30, 0, 0)
        job_id = checker.submit(plan)
        again = checker.answers(job_id)
        assert checker.progress(job_id).state == "done"  # type: ignore[union-attr]
    assert emulator.ledger()["billed_total"] == billed
    assert {n: a.answer for n, a in again.items()} == {n: a.answer for n, a in first.items()}
    assert {a.source for a in again.values()} == {"cache"}


def test_refresh_uploads_again(tmp_path: Path, emulator: Emulator) -> None:
    items = numbers(5)
    with open_checker(make_settings(tmp_path, emulator.url)) as checker:
        run_job(checker, items)
        plan = checker.plan(items, refresh=True)
        assert plan.to_upload == 5
        run_job(checker, items, refresh=True)
    assert emulator.ledger()["tasks_created"] == 2


def test_two_jobs_share_one_upload(tmp_path: Path) -> None:
    with Emulator(MOCK_PROFILE="demo") as emu:
        with open_checker(make_settings(tmp_path, emu.url)) as checker:
            first = checker.submit(checker.plan(numbers(10)))
            second_plan = checker.plan(numbers(15))
            assert second_plan.joined == 10
            assert second_plan.to_upload == 5
            second = checker.submit(second_plan)
            checker.wait(first, timeout=30)
            checker.wait(second, timeout=30)
            assert len(checker.answers(second)) == 15
        ledger = emu.ledger()
        assert ledger["numbers_uploaded"] == 15
        assert ledger["tasks_created"] == 2


def test_failed_numbers_become_errors_with_a_reason(tmp_path: Path) -> None:
    with Emulator(MOCK_FAILURE_RATE=0.5, MOCK_SEED=3) as emu:
        with open_checker(make_settings(tmp_path, emu.url)) as checker:
            job_id = run_job(checker, numbers(40))
            answers = checker.answers(job_id)
            cached = checker.store.cached(checker.cache_realm, numbers(40), max_age=3600)
        errors = [a for a in answers.values() if a.answer == "error"]
        assert 0 < len(errors) < 40
        assert all("missing from the vendor's result file" in (a.reason or "") for a in errors)
        assert len(cached) == 40 - len(errors)  # errors are never cached


def test_faults_still_give_every_answer_right(tmp_path: Path) -> None:
    items = numbers(60)
    with (
        Emulator(MOCK_SEED=4) as clean,
        open_checker(make_settings(tmp_path / "clean", clean.url)) as checker,
    ):
        expected = {n: a.answer for n, a in checker.answers(run_job(checker, items)).items()}
    faults = {
        "MOCK_ERROR_RATE": 0.2,
        "MOCK_RETRY_AFTER": 0,
        "MOCK_DROP_RATE": 0.1,
        "MOCK_DOWNLOAD_EXPIRE_ONCE": True,
    }
    with Emulator(MOCK_SEED=4, **faults) as faulty:
        # One task at a time: the runner's requests come in a fixed order, so the
        # seeded faults fall on the same requests in every run.
        settings = make_settings(
            tmp_path / "faulty",
            faulty.url,
            max_retries=8,
            max_concurrent_tasks=1,
            ambiguous_retry_delay=0.05,
            # Opted in: dropped uploads are sent again without asking (bounded).
            uncertain_creates="resend",
            max_uncertain_resends=10,
        )
        with open_checker(settings) as checker:
            job_id = run_job(checker, items)
            got = {n: a.answer for n, a in checker.answers(job_id).items()}
            progress = checker.progress(job_id)
        assert got == expected
        assert progress is not None
        # Dropped uploads were sent again and counted as possible duplicates; the
        # emulator drops before handling, so it created each task once.
        assert progress.uncertain_creates >= 1
        assert faulty.ledger()["tasks_created"] == 3


def test_expired_download_asks_the_task_again(tmp_path: Path) -> None:
    with Emulator(MOCK_DOWNLOAD_EXPIRE_ONCE=True) as emu:
        with open_checker(make_settings(tmp_path, emu.url, max_numbers_per_task=100)) as checker:
            answers = checker.answers(run_job(checker, numbers(10)))
        assert {a.answer for a in answers.values()} <= {"yes", "no", "ban"}
        ledger = emu.ledger()
        assert ledger["downloads"] >= 1
        assert ledger["status_polls"] >= 2  # the second poll fetched a fresh result_url


def test_stuck_task_is_paused_not_given_up_after_max_wait(tmp_path: Path) -> None:
    with (
        Emulator(MOCK_STUCK=True, MOCK_PROFILE="demo") as emu,
        open_checker(make_settings(tmp_path, emu.url, max_wait=1.0)) as checker,
    ):
        job_id = checker.submit(checker.plan(numbers(3)))
        progress = checker.wait(job_id, timeout=30)
        answers = checker.answers(job_id)
    # A paid task is never given up by us: it stays open and says why.
    assert answers == {}
    assert progress.settled
    assert not progress.finished
    assert progress.paused_tasks == 1
    assert "not finished after" in (progress.error or "")


def test_unknown_key_fails_the_job_with_the_reason(tmp_path: Path, emulator: Emulator) -> None:
    settings = make_settings(tmp_path, emulator.url, api_key="wrong")
    with open_checker(settings) as checker:
        answers = checker.answers(run_job(checker, numbers(3)))
    assert {a.answer for a in answers.values()} == {"error"}
    assert all("401" in (a.reason or "") for a in answers.values())
    assert emulator.ledger()["tasks_created"] == 0


def test_spent_balance_pauses_the_paid_task(tmp_path: Path) -> None:
    with Emulator(MOCK_API_KEYS={KEY: 1}, MOCK_PROFILE="demo") as emu:
        with open_checker(make_settings(tmp_path, emu.url, max_numbers_per_task=100)) as checker:
            job_id = checker.submit(checker.plan(numbers(3)))
            progress = checker.wait(job_id, timeout=30)
            answers = checker.answers(job_id)
        assert answers == {}  # nothing is marked failed: the task is paid and open
        assert progress.settled
        assert progress.paused_tasks == 1
        assert "402" in (progress.error or "")
        assert progress.billed == 1  # the create; the poll answered 402 and was not billed
        assert emu.ledger()["billed_total"] == 1


def test_cancel_stops_polling_and_reports_billing(tmp_path: Path) -> None:
    with Emulator(MOCK_PROFILE="realistic") as emu:
        with open_checker(make_settings(tmp_path, emu.url, max_numbers_per_task=100)) as checker:
            job_id = checker.submit(checker.plan(numbers(5)))
            deadline = 100
            while checker.progress(job_id).billed == 0 and deadline:  # type: ignore[union-attr]
                checker.wait(job_id, timeout=0.1)
                deadline -= 1
            report = checker.cancel(job_id)
            polls_at_cancel = emu.ledger()["status_polls"]
            checker.wait(job_id, timeout=1)
            progress = checker.progress(job_id)
            checker.wait(job_id, timeout=1)
        assert report.tasks_stopped == 1
        assert report.billed >= 1
        assert progress is not None
        assert progress.state == "cancelled"
        assert progress.counts == {"error": 5}
        assert emu.ledger()["status_polls"] <= polls_at_cancel + 1


def test_demo_mode_runs_on_the_bundled_emulator(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", poll_min_interval=0.05, poll_max_interval=0.3
    )
    assert settings.demo
    with open_checker(settings) as checker:
        assert checker.demo
        assert checker.base_url.startswith("http://127.0.0.1:")
        job_id = checker.submit(checker.plan(numbers(5)))
        progress = checker.wait(job_id, timeout=30)
        answers = checker.answers(job_id)
    assert progress.state == "done"
    assert {a.source for a in answers.values()} == {"demo"}


# -- the front door for callers (web, CLI) --


def progress_with(processing: int, processed: int, state: str = "running") -> JobProgress:
    """Return a job's progress with the given open-task counts."""
    return JobProgress(
        job_id="j",
        state=state,
        kind="check",
        label="",
        created_at=0.0,
        distinct=processing,
        answered=0,
        counts={},
        tasks=1,
        tasks_open=1,
        processing=processing,
        processed=processed,
        billed=0,
        eta_seconds=None,
        error=None,
    )


def test_progress_percent_and_checking_text() -> None:
    assert progress_with(200, 80).percent == 40
    assert progress_with(200, 80).checking_text == "checking… 40%"
    assert progress_with(3, 2).percent == 66  # rounded down: 100% only when all are done
    assert progress_with(0, 0).percent is None
    assert progress_with(0, 0).checking_text == "checking…"


def test_unknown_job_is_a_domain_error(tmp_path: Path, emulator: Emulator) -> None:
    with open_checker(make_settings(tmp_path, emulator.url)) as checker:
        with pytest.raises(UnknownJobError) as caught:
            checker.wait("nope", timeout=1)
        assert isinstance(caught.value, KeyError)  # older callers caught KeyError
        assert str(caught.value) == "there is no job 'nope'"
        with pytest.raises(UnknownJobError):
            checker.progress_of("nope")
        assert checker.cached_answers_for_job("nope", numbers(1)) == {}


def test_history_cache_and_number_statuses(tmp_path: Path, emulator: Emulator) -> None:
    items = numbers(3)
    with open_checker(make_settings(tmp_path, emulator.url)) as checker:
        first = run_job(checker, items[:2])
        second = run_job(checker, items)
        assert [p.job_id for p in checker.history(10)] == [second, first]
        assert [p.job_id for p in checker.history(1)] == [second]
        assert checker.progress_of(first).state == "done"
        answers = checker.answers(second)
        assert set(checker.cached_answers([*items, "+41790009999"])) == set(items)
        assert set(checker.cached_answers_for_job(first, items)) == set(items)
        statuses = checker.number_statuses(second, [items[0], "+41790009999"])
        assert statuses[items[0]].state == "answered"
        assert statuses[items[0]].answer == answers[items[0]].answer
        assert not statuses[items[0]].still_checking
        assert statuses["+41790009999"].state == "pending"
        assert not statuses["+41790009999"].still_checking  # the job has finished
        assert checker.clear_cache() == 3
        assert checker.cached_answers(items) == {}


def test_failed_number_status_carries_the_reason(tmp_path: Path) -> None:
    fixtures = {"+41790000001": "fail"}
    with (
        Emulator(MOCK_FIXTURES=fixtures) as emu,
        open_checker(make_settings(tmp_path, emu.url)) as ch,
    ):
        job_id = run_job(ch, ["+41790000001"])
        (status,) = ch.number_statuses(job_id, ["+41790000001"]).values()
    assert status.state == "error"
    assert status.reason


def test_cache_of_a_job_from_another_vendor_is_not_mixed_in(
    tmp_path: Path, emulator: Emulator
) -> None:
    items = numbers(2)
    with open_checker(make_settings(tmp_path, emulator.url)) as checker:
        job_id = run_job(checker, items)
    with Emulator() as other, open_checker(make_settings(tmp_path, other.url)) as checker:
        run_job(checker, items)
        assert set(checker.cached_answers(items)) == set(items)
        assert checker.cached_answers_for_job(job_id, items) == {}


def test_cache_realm_of_demo_tasks_is_the_demo_cache() -> None:
    assert cache_realm_of("demo:0123456789ab") == "demo"
    assert cache_realm_of("http://127.0.0.1:8765") == "http://127.0.0.1:8765"


def test_account_live_counts_billed_requests_here(tmp_path: Path, emulator: Emulator) -> None:
    with open_checker(make_settings(tmp_path, emulator.url)) as checker:
        assert checker.account() == Account("live", emulator.url, None, 0, None)
        run_job(checker, numbers(1))
        account = checker.account()
    assert account.billed == emulator.ledger()["billed_total"] >= 2
    assert account.as_dict()["mode"] == "live"


def test_account_demo_reads_the_emulators_ledger(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", poll_min_interval=0.05, poll_max_interval=0.3)
    with open_checker(settings, emulator_config={"MOCK_PROFILE": "instant"}) as checker:
        assert checker.account() == Account("demo", None, 1_000_000, 0, None)
        checker.wait(checker.submit(checker.plan(numbers(1))), timeout=30)
        account = checker.account()
    assert account.billed >= 2
    assert account.balance == 1_000_000 - account.billed


def test_retire_ends_open_demo_tasks_with_the_reason(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", poll_min_interval=0.05, poll_max_interval=0.3)
    checker = open_checker(
        settings, emulator_config={"MOCK_PROFILE": "instant", "MOCK_STUCK": True}
    )
    job_id = checker.submit(checker.plan(numbers(1)))
    checker.retire("the key changed")
    with open_checker(settings, start_runner=False) as again:
        progress = again.progress_of(job_id)
        answers = again.answers(job_id)
    assert progress.finished
    assert [a.reason for a in answers.values()] == ["the key changed"]


def test_the_pace_a_task_showed_is_stored_for_the_next_task_of_the_vendor(tmp_path: Path) -> None:
    # 200 numbers/s from the create on: the polls (0.05 s apart at least) see the count move.
    with Emulator(
        MOCK_PROFILE="realistic", MOCK_QUEUE_DELAY=0, MOCK_RATE=200, MOCK_EXPORT_DELAY=0.5
    ) as emu:
        settings = make_settings(
            tmp_path, emu.url, max_numbers_per_task=1_000, target_export_delay=0.1
        )
        with open_checker(settings) as checker:
            run_job(checker, numbers(400))
            realm = checker.task_realm
        store = Store(settings.store_location)
        try:
            first = store.pace_history(realm)
            assert first is not None, "no pace history was written"
            assert first.tasks == 1
            # What the polls measured, between 0 and about the emulator's pace (its
            # clock and ours differ by the request times only).
            assert 0 < first.top_rate < 200 * 1.5
        finally:
            store.close()
        with open_checker(settings) as checker:
            run_job(checker, numbers(400, start=400))
        store = Store(settings.store_location)
        try:
            second = store.pace_history(realm)
            assert second is not None
            assert second.tasks == 2  # the second task started from the first's history
        finally:
            store.close()


def test_progress_counts_again_once_the_job_or_a_task_moves(
    tmp_path: Path, emulator: Emulator
) -> None:
    # Progress keeps the last counts while nothing moved; each move must show at once.
    settings = make_settings(tmp_path, emulator.url)
    with open_checker(settings, start_runner=False) as checker:
        job_id = checker.submit(checker.plan(numbers(30)))
        for _ in range(2):  # the second reading is the kept one
            progress = checker.progress(job_id)
            assert progress is not None
            assert progress.counts == {"pending": 30}
            assert progress.tasks_open == 2
        assert progress is not None
        progress.counts["pending"] = 0  # a reader's copy: the kept counts stay right
        assert checker.progress(job_id).counts == {"pending": 30}  # type: ignore[union-attr]
        tasks = checker.store.job_tasks(job_id)
        checker.store.end_task(tasks[0].ref, tasks[0].state, TaskState.CANCELLED, "gone")
        progress = checker.progress(job_id)
        assert progress is not None
        first = tasks[0].n_numbers
        assert progress.counts == {"error": first, "pending": 30 - first}
        checker.cancel(job_id)
        progress = checker.progress(job_id)
        assert progress is not None
        assert progress.state == "cancelled"
        assert progress.counts == {"error": 30}
        assert progress.counts == checker.store.job_counts(job_id)
