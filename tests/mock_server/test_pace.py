"""The variable pace: seeded per-task timing, its distributions and the task lifecycle on it."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from mock_server.models import Emulator, TaskSnapshot, TaskState
from mock_server.pace import (
    EXPORT_DELAY,
    QUEUE_WAIT,
    RATE,
    Progress,
    draw_variable_timing,
)
from mock_server.settings import settings_from_config
from tests.mock_server.conftest import parse_time
from tests.mock_server.test_clock import FakeTime
from tests.mock_server.test_models import SECOND, make_emulator, upload


def walk(
    emulator: Emulator, fake: FakeTime, task_id: str, step: float = 5.0
) -> list[tuple[float, TaskSnapshot]]:
    """Poll a task every ``step`` emulator seconds until exported; return (time, snapshot)."""
    seen: list[tuple[float, TaskSnapshot]] = []
    elapsed = 0.0
    while True:
        snapshot = emulator.task_status("demo", task_id, None)
        seen.append((elapsed, snapshot))
        if snapshot.status is TaskState.EXPORTED:
            return seen
        fake.monotonic += int(step * SECOND)
        elapsed += step
        assert elapsed < 10 * 3600, "the task never exported"


def test_the_variable_profile_sets_the_variable_pace():
    assert settings_from_config({"MOCK_PROFILE": "variable"}).pace == "variable"
    assert settings_from_config({"MOCK_PROFILE": "realistic"}).pace == "constant"
    explicit = settings_from_config({"MOCK_PROFILE": "variable", "MOCK_PACE": "constant"})
    assert (explicit.pace, explicit.rate) == ("constant", 11.5)


def test_a_task_walks_the_lifecycle_with_counters_that_never_go_back():
    emulator, fake = make_emulator(MOCK_PROFILE="variable", MOCK_SEED=7)
    task_id = emulator.create_task("demo", "", upload(2_000)).snapshot.task_id
    seen = walk(emulator, fake, task_id)
    states = [snapshot.status for _, snapshot in seen]
    # Statuses appear in lifecycle order, each at least once except the short ones.
    order = [TaskState.PENDING, TaskState.PROCESSING, TaskState.COMPLETED, TaskState.EXPORTED]
    assert [order.index(s) for s in states] == sorted(order.index(s) for s in states)
    done = [s.success + s.failure for _, s in seen]
    assert done == sorted(done)
    assert done[-1] == 2_000
    assert all(s.total == (0 if s.status is TaskState.PENDING else 2_000) for _, s in seen)
    processing = [s for _, s in seen if s.status is TaskState.PROCESSING]
    # updated_at of a processing answer never runs ahead of the poll that reports it.
    stamps = [parse_time(s.updated_at) for s in processing]
    assert stamps == sorted(stamps)


def test_the_same_seed_draws_the_same_tasks_and_another_seed_others():
    def timings(seed: int) -> list[str]:
        emulator, fake = make_emulator(MOCK_PROFILE="variable", MOCK_SEED=seed)
        ids = [emulator.create_task("demo", "", upload(500)).snapshot.task_id for _ in range(3)]
        exported = []
        for task_id in ids:
            seen = walk(emulator, fake, task_id, step=10.0)
            exported.append(seen[-1][1].updated_at)
        return exported

    assert timings(3) == timings(3)
    assert timings(3) != timings(4)


def test_reset_starts_the_sequence_of_drawn_tasks_again():
    emulator, fake = make_emulator(MOCK_PROFILE="variable", MOCK_SEED=11)
    first = emulator.create_task("demo", "", upload(100)).snapshot.task_id
    first_walk = [(t, s.status, s.success) for t, s in walk(emulator, fake, first)]
    emulator.reset()
    again = emulator.create_task("demo", "", upload(100)).snapshot.task_id
    assert [(t, s.status, s.success) for t, s in walk(emulator, fake, again)] == first_walk


def test_a_stuck_task_on_the_variable_pace_freezes_at_half():
    emulator, fake = make_emulator(MOCK_PROFILE="variable", MOCK_STUCK=True)
    task_id = emulator.create_task("demo", "", upload(9)).snapshot.task_id
    fake.monotonic += 10**6 * SECOND
    snapshot = emulator.task_status("demo", task_id, None)
    assert (snapshot.status, snapshot.success + snapshot.failure) == (TaskState.PROCESSING, 4)


def test_pace_can_change_at_run_time_for_later_tasks():
    emulator, _ = make_emulator(MOCK_PROFILE="realistic")
    emulator.update_settings({"pace": "variable"})
    assert emulator.settings.pace == "variable"


def test_the_drawn_distributions_match_the_documented_ones():
    rng = random.Random("test")
    draws = [draw_variable_timing(rng, 20_000) for _ in range(400)]
    queues = [d.queue_delay for d in draws]
    exports = [d.export_delay for d in draws]
    assert all(QUEUE_WAIT[0] <= q <= QUEUE_WAIT[1] for q in queues)
    assert all(EXPORT_DELAY[0] <= e <= EXPORT_DELAY[1] for e in exports)
    # Log-uniform from 2 s to 45 min: median ~73 s, ~21% over 10 minutes.
    assert 50 <= statistics.median(queues) <= 110
    assert 0.14 <= sum(q > 600 for q in queues) / len(queues) <= 0.28
    minutes = [d.progress.duration / 60 for d in draws if d.progress is not None]
    assert 18 <= statistics.median(minutes) <= 27
    assert min(minutes) >= 20_000 / RATE[1] / 60
    for draw in draws:
        assert draw.progress is not None
        rates = [
            (d1 - d0) / (t1 - t0) for (t0, d0), (t1, d1) in itertools.pairwise(draw.progress.points)
        ]
        assert all(rate == 0 or RATE[0] <= rate <= RATE[1] + 1e-9 for rate in rates)
        assert rates[-1] > 0  # the last number is done while the task moves


def test_progress_interpolates_and_inverts():
    progress = Progress(((0.0, 0.0), (100.0, 1_000.0), (200.0, 1_000.0), (250.0, 2_000.0)))
    assert progress.done_at(-1) == 0
    assert progress.done_at(50) == pytest.approx(500)
    assert progress.done_at(150) == pytest.approx(1_000)  # a stall
    assert progress.done_at(225) == pytest.approx(1_500)
    assert progress.done_at(10**6) == 2_000
    assert progress.time_of(500) == pytest.approx(50)
    assert progress.time_of(1_000) == pytest.approx(100)  # the earliest moment, before the stall
    assert progress.time_of(1_500) == pytest.approx(225)
    assert progress.time_of(0) == 0
    assert progress.duration == 250
    for done in range(0, 2_001, 50):
        assert progress.done_at(progress.time_of(done)) == pytest.approx(done)
    assert math.isfinite(progress.time_of(2_000))
