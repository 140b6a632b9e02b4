"""The emulated vendor without HTTP: state machine, timing, outcomes, billing, faults."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from mock_server.clock import EmulatorClock
from mock_server.exceptions import (
    InvalidConfig,
    InvalidUserId,
    TooManyActiveTasks,
)
from mock_server.models import (
    TRANSITIONS,
    Emulator,
    Outcome,
    OutcomeOracle,
    TaskIdGenerator,
    TaskState,
)
from mock_server.settings import Shares, settings_from_config
from mock_server.upload import Upload
from tests.mock_server.conftest import numbers
from tests.mock_server.test_clock import FakeTime

SECOND = 1_000_000_000


def make_emulator(**config: object) -> tuple[Emulator, FakeTime]:
    """Return an emulator on a hand-moved clock."""
    fake = FakeTime()
    settings = settings_from_config(config)
    clock = EmulatorClock(
        time_scale=settings.time_scale, monotonic_ns=fake.monotonic_ns, wall_ns=fake.wall_ns
    )
    tokens = (f"token-{i}" for i in range(1000))
    return Emulator(settings, clock=clock, token_factory=lambda: next(tokens)), fake


def upload(count: int) -> Upload:
    """Return an upload of ``count`` distinct numbers."""
    return Upload(numbers=tuple(numbers(count)), size_bytes=13 * count)


def test_transitions_are_declared_in_lifecycle_order():
    assert [(t.source, t.target) for t in TRANSITIONS] == [
        (TaskState.PENDING, TaskState.PROCESSING),
        (TaskState.PROCESSING, TaskState.COMPLETED),
        (TaskState.COMPLETED, TaskState.EXPORTED),
        (TaskState.PROCESSING, TaskState.FAILED),
    ]
    assert [str(state) for state in TaskState] == [
        "pending",
        "processing",
        "completed",
        "exported",
        "failed",
    ]


def test_one_read_after_a_long_wait_walks_several_transitions():
    emulator, fake = make_emulator(MOCK_PROFILE="demo")
    task_id = emulator.create_task("demo", "", upload(10)).snapshot.task_id
    fake.monotonic += 3600 * SECOND
    snapshot = emulator.task_status("demo", task_id, None)
    assert snapshot.status is TaskState.EXPORTED
    assert snapshot.link is not None
    assert snapshot.link.token == "token-0"


def test_demo_profile_exports_a_thousand_numbers_within_a_few_seconds():
    emulator, fake = make_emulator(MOCK_PROFILE="demo")
    task_id = emulator.create_task("demo", "", upload(1000)).snapshot.task_id
    fake.monotonic += 3 * SECOND
    assert emulator.task_status("demo", task_id, None).status is TaskState.COMPLETED
    fake.monotonic += 1 * SECOND
    assert emulator.task_status("demo", task_id, None).status is TaskState.EXPORTED


def test_realistic_profile_takes_about_29_minutes_for_20000_numbers():
    emulator, fake = make_emulator(MOCK_PROFILE="realistic")
    task_id = emulator.create_task("demo", "", upload(20_000)).snapshot.task_id
    fake.monotonic += 10 * SECOND
    assert emulator.task_status("demo", task_id, None).status is TaskState.PENDING
    fake.monotonic += (8 * 60 + 26 - 10) * SECOND  # the vendor's 18:33:22 sample
    midway = emulator.task_status("demo", task_id, None)
    assert midway.status is TaskState.PROCESSING
    assert 5_500 <= midway.success <= 6_800
    fake.monotonic += (28 * 60 - 8 * 60 - 26) * SECOND
    assert emulator.task_status("demo", task_id, None).status is TaskState.PROCESSING
    fake.monotonic += 3 * 60 * SECOND
    assert emulator.task_status("demo", task_id, None).status is TaskState.EXPORTED


def test_time_scale_speeds_the_lifecycle_up():
    emulator, fake = make_emulator(MOCK_PROFILE="realistic", MOCK_TIME_SCALE=100.0)
    task_id = emulator.create_task("demo", "", upload(20_000)).snapshot.task_id
    fake.monotonic += 18 * SECOND  # 30 emulator minutes
    assert emulator.task_status("demo", task_id, None).status is TaskState.EXPORTED


def test_counters_split_processed_numbers_into_success_and_failure():
    fixtures = {number: "fail" for number in numbers(10)[::2]}
    emulator, fake = make_emulator(
        MOCK_QUEUE_DELAY=0.0, MOCK_RATE=1.0, MOCK_EXPORT_DELAY=0.0, MOCK_FIXTURES=fixtures
    )
    task_id = emulator.create_task("demo", "", upload(10)).snapshot.task_id
    fake.monotonic += 3 * SECOND + 1  # numbers 0, 1, 2 done; 0 and 2 failed
    snapshot = emulator.task_status("demo", task_id, None)
    assert (snapshot.total, snapshot.success, snapshot.failure) == (10, 1, 2)


def test_a_stuck_task_freezes_at_half_its_numbers():
    emulator, fake = make_emulator(MOCK_STUCK=True)
    task_id = emulator.create_task("demo", "", upload(9)).snapshot.task_id
    fake.monotonic += 10**6 * SECOND
    snapshot = emulator.task_status("demo", task_id, None)
    assert (snapshot.status, snapshot.success + snapshot.failure) == (TaskState.PROCESSING, 4)


def test_outcomes_depend_only_on_seed_and_number():
    shares = Shares(yes=0.4, no=0.55, ban=0.05)
    first = OutcomeOracle(seed=3, shares=shares, failure_rate=0.1, fixtures={})
    again = OutcomeOracle(seed=3, shares=shares, failure_rate=0.1, fixtures={})
    sample = numbers(500)
    assert [first.outcome(n) for n in sample] == [again.outcome(n) for n in sample]
    assert [first.outcome(n) for n in reversed(sample)] == [
        first.outcome(n) for n in reversed(sample)
    ]


def test_outcomes_follow_the_shares():
    oracle = OutcomeOracle(
        seed=0, shares=Shares(yes=0.4, no=0.55, ban=0.05), failure_rate=0.1, fixtures={}
    )
    counts = Counter(oracle.outcome(n) for n in numbers(4000))
    assert 0.07 <= counts[Outcome.FAIL] / 4000 <= 0.13
    answered = 4000 - counts[Outcome.FAIL]
    assert 0.36 <= counts[Outcome.YES] / answered <= 0.44
    assert 0.02 <= counts[Outcome.BAN] / answered <= 0.08


def test_a_zero_share_never_appears():
    oracle = OutcomeOracle(
        seed=0, shares=Shares(yes=0.5, no=0.5, ban=0.0), failure_rate=0, fixtures={}
    )
    assert Outcome.BAN not in {oracle.outcome(n) for n in numbers(2000)}


def test_fixtures_win_over_shares_and_failures():
    oracle = OutcomeOracle(
        seed=0, shares=Shares(yes=1, no=0, ban=0), failure_rate=1.0, fixtures={"+1": "ban"}
    )
    assert oracle.outcome("+1") is Outcome.BAN
    assert oracle.outcome("+2") is Outcome.FAIL


def test_task_ids_order_by_second_then_counter():
    generator = TaskIdGenerator()
    ids = [generator.next_id(100), generator.next_id(100), generator.next_id(101)]
    assert ids == sorted(ids)
    assert all(len(task_id) == 20 for task_id in ids)


def test_two_generators_do_not_collide():
    assert TaskIdGenerator().next_id(100) != TaskIdGenerator().next_id(100)


def test_retry_after_is_in_real_seconds():
    emulator, _ = make_emulator(MOCK_MAX_ACTIVE_TASKS=1, MOCK_TIME_SCALE=10.0)
    emulator.create_task("demo", "", upload(500))  # exported 1 + 1 + 1 = 3 s later
    with pytest.raises(TooManyActiveTasks) as caught:
        emulator.create_task("demo", "", upload(1))
    assert caught.value.headers == {"Retry-After": "1"}


def test_retry_after_for_stuck_tasks_is_a_minute():
    emulator, _ = make_emulator(MOCK_MAX_ACTIVE_TASKS=1, MOCK_STUCK=True)
    emulator.create_task("demo", "", upload(1))
    with pytest.raises(TooManyActiveTasks) as caught:
        emulator.create_task("demo", "", upload(1))
    assert caught.value.headers == {"Retry-After": "60"}


def test_a_user_id_over_256_characters_is_refused():
    emulator, _ = make_emulator()
    emulator.create_task("demo", "x" * 256, upload(1))
    with pytest.raises(InvalidUserId):
        emulator.create_task("demo", "x" * 257, upload(1))


def test_a_bad_runtime_setting_is_invalid_config():
    emulator, _ = make_emulator()
    with pytest.raises(InvalidConfig, match="failure_rate"):
        emulator.update_settings({"failure_rate": -1})
    assert emulator.settings.failure_rate == 0


def test_fault_draws_repeat_under_the_same_seed():
    def draws(seed: int) -> list[tuple[float, bool, bool]]:
        emulator, _ = make_emulator(
            MOCK_SEED=seed, MOCK_LATENCY_JITTER_MS=100.0, MOCK_DROP_RATE=0.3, MOCK_ERROR_RATE=0.3
        )
        return [
            (d.delay_seconds, d.drop_connection, d.server_error)
            for d in (emulator.draw_api_faults() for _ in range(50))
        ]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    flags = draws(1)
    assert any(drop for _, drop, _ in flags)
    assert any(error for _, _, error in flags)
    assert not any(drop and error for _, drop, error in flags)


def test_concurrent_creates_and_polls_are_billed_exactly():
    emulator, _ = make_emulator()

    def client() -> None:
        for _ in range(25):
            task_id = emulator.create_task("demo", "", upload(2)).snapshot.task_id
            emulator.task_status("demo", task_id, None)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger = emulator.ledger()["keys"]["demo"]
    assert (ledger["tasks_created"], ledger["status_polls"], ledger["billed_total"]) == (
        200,
        200,
        400,
    )
    assert len({task["task_id"] for task in emulator.list_tasks()}) == 200


def test_an_upload_is_refused_with_429_before_it_is_read():
    emulator, _ = make_emulator(MOCK_MAX_ACTIVE_TASKS=1)
    emulator.admit_upload("demo")
    emulator.create_task("demo", "", upload(1))
    with pytest.raises(TooManyActiveTasks):
        emulator.admit_upload("demo")
