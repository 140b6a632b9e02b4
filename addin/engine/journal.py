"""The create journal: a small file beside the store that keeps task ids the store could not.

When a create returns, the vendor's task id is written here first, then into
the store, then cleared here. If the store cannot be written (the disk filled
up during the upload, the file turned read-only) or the process dies between
the two, the next run finds the id here and resumes the task by polling: it
pays nothing for it again.

The file is allocated in full when the store opens (``SLOTS`` fixed-size
records of spaces), so writing a record later overwrites bytes that already
exist: it does not need free space on a full disk.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SLOTS = 256
RECORD = 128
_MAGIC = "fbcheck-create"


@dataclass(frozen=True)
class JournalEntry:
    """A task id the vendor returned for a local task ref."""

    slot: int
    ref: int
    task_id: str


class CreateJournal:
    """Fixed-size records of ``ref task_id``; blank records are free."""

    def __init__(self, path: Path) -> None:
        """Use ``path``, allocating it now if it is missing (best effort)."""
        self.path = path
        if not path.exists() or path.stat().st_size < SLOTS * RECORD:
            try:
                self._allocate()
            except OSError as exc:
                log.warning("the create journal %s could not be allocated: %s", path, exc)

    def _allocate(self) -> None:
        """Write the file full of blank records, keeping records already there."""
        old = self.path.read_bytes() if self.path.exists() else b""
        blank = (b" " * (RECORD - 1) + b"\n") * SLOTS
        data = old[: SLOTS * RECORD] + blank[len(old) :]
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def write(self, ref: int, task_id: str) -> int | None:
        """Record a task id in a free slot and sync it; return the slot (None if impossible)."""
        line = f"{_MAGIC} {ref} {task_id}".encode("ascii", "replace")[: RECORD - 1]
        record = line.ljust(RECORD - 1) + b"\n"
        try:
            with open(self.path, "r+b") as handle:
                data = handle.read(SLOTS * RECORD)
                for slot in range(len(data) // RECORD):
                    if data[slot * RECORD : slot * RECORD + 1] == b" ":
                        handle.seek(slot * RECORD)
                        handle.write(record)
                        handle.flush()
                        os.fsync(handle.fileno())
                        return slot
        except OSError as exc:
            log.error("the create journal %s could not be written: %s", self.path, exc)
        return None

    def clear(self, slot: int | None) -> None:
        """Blank a slot once the store holds its task id."""
        if slot is None:
            return
        try:
            with open(self.path, "r+b") as handle:
                handle.seek(slot * RECORD)
                handle.write(b" " * (RECORD - 1) + b"\n")
        except OSError as exc:
            log.warning("the create journal %s could not be cleared: %s", self.path, exc)

    def entries(self) -> list[JournalEntry]:
        """Return every recorded task id."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return []
        found: list[JournalEntry] = []
        for slot in range(len(data) // RECORD):
            parts = data[slot * RECORD : (slot + 1) * RECORD].decode("ascii", "replace").split()
            if len(parts) == 3 and parts[0] == _MAGIC and parts[1].isdigit():
                found.append(JournalEntry(slot, int(parts[1]), parts[2]))
        return found
