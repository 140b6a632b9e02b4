"""A task's memo between steps: what it keeps of the vendor's pace survives JSON (a queued job)."""

from __future__ import annotations

from datetime import UTC, datetime

from addin.engine.steps import PaceLink, RunnerSettings, TaskMemo
from addin.upstream.models import TaskStatus
from addin.upstream.polling import PaceHistory

SETTINGS = RunnerSettings(
    realm="r",
    cache_realm="c",
    key_fp="k",
    source="upstream",
    poll_min_interval=1.0,
    poll_max_interval=900.0,
    max_wait=None,
    max_concurrent_tasks=1,
)


def status(done: int) -> TaskStatus:
    """A processing answer with ``done`` of 20,000 numbers finished."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return TaskStatus(
        task_id="t",
        user_id=None,
        status="processing",
        total=20_000,
        success=done,
        failure=0,
        created_at=now,
        updated_at=now,
    )


class Link:
    """A pace store in memory that counts its reads."""

    def __init__(self, history: PaceHistory | None) -> None:
        self.history = history
        self.reads = 0

    def read(self) -> PaceHistory | None:
        self.reads += 1
        return self.history

    def learned(self, history: PaceHistory) -> None:
        self.history = history

    def link(self) -> PaceLink:
        return PaceLink(read=self.read, learned=self.learned)


def test_a_rebuilt_schedule_starts_from_the_same_history_and_counts_the_task_once() -> None:
    store = Link(PaceHistory(top_rate=10.0, tasks=3))
    memo = TaskMemo()
    memo.restart()
    memo.observe(SETTINGS, 20_000, 0.0, status(0), store.link())
    memo.observe(SETTINGS, 20_000, 100.0, status(1_500), store.link())
    learned = store.history
    assert learned is not None
    assert learned.tasks == 4
    # The next step runs elsewhere: the memo comes back from JSON and its schedule is
    # rebuilt from the answers it kept, from the history it started with.
    again = TaskMemo.from_json(memo.to_json())
    assert again.pace_start == PaceHistory(top_rate=10.0, tasks=3)
    again.observe(SETTINGS, 20_000, 200.0, status(3_000), store.link())
    assert store.reads == 1  # read once per task, not once per step
    assert store.history is not None
    assert store.history.tasks == 4


def test_a_new_task_reads_the_history_again() -> None:
    store = Link(None)
    memo = TaskMemo()
    memo.restart()
    memo.schedule(SETTINGS, 20_000, store.link())
    memo.restart()
    memo.schedule(SETTINGS, 20_000, store.link())
    assert store.reads == 2


def test_a_malformed_pace_in_a_memo_starts_the_task_afresh() -> None:
    for bad in ("fast", [1.0], ["x", 2], [float("nan"), 2], [5.0, 0]):
        data = TaskMemo().to_json() | {"pace_start": bad, "answers": [[1.0, "pending", 0, 0, 0]]}
        assert TaskMemo.from_json(data) == TaskMemo()
