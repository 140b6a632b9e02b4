"""The create journal: task ids kept where a full disk cannot lose them."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from addin.engine.journal import RECORD, SLOTS, CreateJournal, JournalEntry


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where the journal lives."""
    return tmp_path / "fbcheck.journal"


def test_the_file_is_allocated_in_full_at_once(path: Path) -> None:
    journal = CreateJournal(path)
    assert path.stat().st_size == SLOTS * RECORD
    assert journal.entries() == []
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_entries_clear(path: Path) -> None:
    journal = CreateJournal(path)
    first = journal.write(7, "cs9viu7i61pkfs4oavvg")
    second = journal.write(8, "cs9viu7i61pkfs4oavv0")
    assert (first, second) == (0, 1)
    assert journal.entries() == [
        JournalEntry(0, 7, "cs9viu7i61pkfs4oavvg"),
        JournalEntry(1, 8, "cs9viu7i61pkfs4oavv0"),
    ]
    journal.clear(first)
    assert journal.entries() == [JournalEntry(1, 8, "cs9viu7i61pkfs4oavv0")]
    assert journal.write(9, "t9") == 0  # the freed slot is used again
    journal.clear(None)  # nothing was written: nothing to clear
    assert path.stat().st_size == SLOTS * RECORD


def test_records_survive_reopen(path: Path) -> None:
    CreateJournal(path).write(3, "t3")
    assert CreateJournal(path).entries() == [JournalEntry(0, 3, "t3")]
    assert path.stat().st_size == SLOTS * RECORD


def test_a_short_file_is_extended_and_keeps_its_records(path: Path) -> None:
    CreateJournal(path).write(4, "t4")
    path.write_bytes(path.read_bytes()[:RECORD])
    journal = CreateJournal(path)
    assert path.stat().st_size == SLOTS * RECORD
    assert journal.entries() == [JournalEntry(0, 4, "t4")]


def test_a_full_journal_returns_none(path: Path) -> None:
    journal = CreateJournal(path)
    for ref in range(SLOTS):
        assert journal.write(ref, f"t{ref}") == ref
    assert journal.write(SLOTS, "one-too-many") is None
    assert len(journal.entries()) == SLOTS


def test_a_journal_that_cannot_be_written_returns_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = CreateJournal(tmp_path / "missing" / "fbcheck.journal")
    with caplog.at_level(logging.ERROR):
        assert journal.write(1, "t1") is None
    assert "could not be written" in caplog.text
    assert journal.entries() == []


def test_garbage_records_are_ignored(path: Path) -> None:
    journal = CreateJournal(path)
    with open(path, "r+b") as handle:
        handle.write(b"something else entirely".ljust(RECORD - 1) + b"\n")
    assert journal.entries() == []
    assert journal.write(5, "t5") == 1  # the slot holding garbage is not free


def test_a_long_task_id_is_cut_to_the_record(path: Path) -> None:
    journal = CreateJournal(path)
    journal.write(1, "x" * 500)
    (entry,) = journal.entries()
    assert entry.ref == 1
    assert len(entry.task_id) < RECORD
    assert path.stat().st_size == SLOTS * RECORD
