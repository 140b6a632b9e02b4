"""``python -m mock_server.walkthrough``: one task from creation to counted answers."""

from __future__ import annotations

import pytest

from mock_server.walkthrough import main, sample_numbers


def test_sample_numbers_are_distinct_e164():
    sample = sample_numbers(1000)
    assert len(set(sample)) == 1000
    assert sample[0] == "+41791000000"


def test_the_walkthrough_prints_each_state_and_the_counts(capsys: pytest.CaptureFixture[str]):
    assert main(["--profile", "instant", "--numbers", "40", "--poll-interval", "0.01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("emulator (instant profile) at http://127.0.0.1:")
    assert lines[1].startswith("created task ")
    assert "pending" in lines[2]
    assert "exported" in lines[3]
    assert lines[4].startswith("result file: 40 rows: yes ")
    assert lines[5] == "billed requests: 2 (1 create + 1 status polls); the download was free"


def test_a_demo_walk_prints_states_in_lifecycle_order(capsys: pytest.CaptureFixture[str]):
    assert main(["--numbers", "1000", "--poll-interval", "0.05"]) == 0
    lines = capsys.readouterr().out.splitlines()
    statuses = [line.split()[1] for line in lines if line.startswith("20")]
    lifecycle = ["pending", "processing", "completed", "exported"]
    # A loaded machine may sleep through a short state, never reorder them.
    assert statuses[0] == "pending"
    assert statuses[-1] == "exported"
    assert statuses == sorted(statuses, key=lifecycle.index)
    assert len(set(statuses)) == len(statuses)


def test_zero_numbers_is_a_usage_error():
    with pytest.raises(SystemExit) as caught:
        main(["--numbers", "0"])
    assert caught.value.code == 2
