"""Selections that arrive in pieces: one upload session, many chunks, used once.

Excel on the web refuses requests over 5 MB, and a selection of 1,000,000 rows
is larger, so the task pane sends it in chunks (``docs/addin-api.md``, "Uploads"):
it opens a session with the selection's header (sheet, region, areas and how many
chunks follow), sends each chunk under its index, and names the session in
``check-selection`` or ``write-results``. A chunk sent twice under one index is
taken once (the same content) or refused (different content); a session whose
chunks have not all arrived is refused with the missing indexes, and stays open
so they can still come. Nothing is planned, started or billed before that.

The same sessions carry the numbers of a file that ``fbcheck check --server`` read
on a laptop (``addin.web.views.file_jobs``): :class:`UploadSessions` is generic in
what a header, a chunk and the assembled whole are, and is given the function that
assembles them.

Memory only, like the plans awaiting confirmation: a restarted backend forgets
its sessions and the pane (or the command line) sends them again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from addin.web.xlwings_glue import (
    MAX_CHUNKS,
    Chunk,
    Selection,
    SelectionError,
    SelectionHeader,
    assemble,
)

H = TypeVar("H")
C = TypeVar("C")
R = TypeVar("R")

#: A session not used within this many seconds of its last chunk is dropped.
UPLOAD_TTL = 10 * 60.0
#: At most this many sessions are open at once (one per check in progress).
MAX_OPEN_UPLOADS = 4
#: At most this many chunk bytes per session (1,000,000 phone numbers take ~25 MB).
MAX_UPLOAD_BYTES = 128 * 1024 * 1024


class UploadError(Exception):
    """A refused upload request; the subclasses name the HTTP answer (json_api maps them)."""


class UnknownUploadError(UploadError):
    """No such session: never opened, used already, or expired."""


class UploadIncompleteError(UploadError):
    """The session was named before all its chunks arrived."""


class ChunkConflictError(UploadError):
    """A chunk index came again with different content."""


class TooManyUploadsError(UploadError):
    """Too many sessions are open."""


class UploadTooLargeError(UploadError):
    """The session's chunks exceed :data:`MAX_UPLOAD_BYTES`."""


@dataclass
class _Session(Generic[H, C]):
    """One upload: its header, the chunks expected and those received."""

    header: H
    expected: int
    touched: float
    chunks: dict[int, C] = field(default_factory=dict)
    size: int = 0


class UploadSessions(Generic[H, C, R]):
    """Thread-safe upload sessions by unguessable id, dropped :data:`UPLOAD_TTL` after last use.

    ``assemble(header, chunks)`` builds the whole from a session's chunks in index order
    when it is taken (and raises what the whole's own rules refuse).
    """

    def __init__(
        self,
        assemble: Callable[[H, list[C]], R],
        *,
        ttl: float = UPLOAD_TTL,
        max_open: int = MAX_OPEN_UPLOADS,
        max_bytes: int = MAX_UPLOAD_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start empty."""
        self._assemble = assemble
        self.ttl = ttl
        self.max_open = max_open
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session[H, C]] = {}

    def open(self, header: H, chunks: int) -> str:
        """Open a session for ``chunks`` chunks of ``header``'s areas and return its id."""
        if not 1 <= chunks <= MAX_CHUNKS:
            raise SelectionError(
                "bad_upload", f"'chunks' must be a whole number from 1 to {MAX_CHUNKS:,}"
            )
        with self._lock:
            self._expire()
            if len(self._sessions) >= self.max_open:
                raise TooManyUploadsError(
                    f"{len(self._sessions)} uploads are open already; finish or cancel one,"
                    f" or wait {self.ttl / 60:.0f} minutes for it to expire"
                )
            upload_id = secrets.token_urlsafe(12)
            self._sessions[upload_id] = _Session[H, C](header, chunks, self._clock())
        return upload_id

    def header(self, upload_id: str) -> tuple[H, int]:
        """Return the header of a session and how many chunks it expects."""
        with self._lock:
            session = self._get(upload_id)
            return session.header, session.expected

    def put(self, upload_id: str, index: int, chunk: C, size: int) -> int:
        """Keep chunk ``index`` (``size`` bytes as sent); return how many chunks arrived."""
        with self._lock:
            session = self._get(upload_id)
            if not 0 <= index < session.expected:
                raise SelectionError(
                    "bad_upload",
                    f"chunk {index} is outside this upload's {session.expected} chunks"
                    f" (0 to {session.expected - 1})",
                )
            known = session.chunks.get(index)
            if known is not None:
                if known != chunk:
                    raise ChunkConflictError(
                        f"chunk {index} arrived already with other content; open a new upload"
                        " to send a changed selection"
                    )
                return len(session.chunks)
            if session.size + size > self.max_bytes:
                raise UploadTooLargeError(
                    f"the upload exceeds {self.max_bytes // (1024 * 1024)} MiB; select fewer rows"
                )
            session.chunks[index] = chunk
            session.size += size
            session.touched = self._clock()
            return len(session.chunks)

    def take(self, upload_id: str) -> R:
        """Return the assembled whole and close the session; refuse while chunks are missing."""
        with self._lock:
            session = self._get(upload_id)
            missing = [i for i in range(session.expected) if i not in session.chunks]
            if missing:
                session.touched = self._clock()
                shown = ", ".join(str(i) for i in missing[:10])
                shown += ", …" if len(missing) > 10 else ""
                raise UploadIncompleteError(
                    f"{len(missing)} of the upload's {session.expected} chunks have not arrived"
                    f" (chunk {shown}); send them, then ask again"
                )
            # Used once, whatever the outcome: chunks that do not tile the rows never will.
            del self._sessions[upload_id]
            chunks = [session.chunks[i] for i in range(session.expected)]
            return self._assemble(session.header, chunks)

    def drop(self, upload_id: str) -> bool:
        """Forget a session (the user cancelled); return False when it was unknown."""
        with self._lock:
            self._expire()
            return self._sessions.pop(upload_id, None) is not None

    def clear(self) -> None:
        """Drop every session."""
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        """Return how many sessions are open (expired ones excluded)."""
        with self._lock:
            self._expire()
            return len(self._sessions)

    def _get(self, upload_id: str) -> _Session[H, C]:
        """Return an open session (called with the lock held)."""
        self._expire()
        session = self._sessions.get(upload_id)
        if session is None:
            raise UnknownUploadError(
                f"upload {upload_id!r} is unknown, used already or expired (uploads wait"
                f" {self.ttl / 60:.0f} minutes); check the selection again"
            )
        return session

    def _expire(self) -> None:
        """Drop sessions idle longer than the TTL (called with the lock held)."""
        oldest = self._clock() - self.ttl
        for upload_id in [k for k, v in self._sessions.items() if v.touched < oldest]:
            del self._sessions[upload_id]


#: The task pane's selections sent in chunks.
SelectionUploads = UploadSessions[SelectionHeader, Chunk, Selection]


def selection_uploads() -> SelectionUploads:
    """Return empty upload sessions for the task pane's selections."""
    return SelectionUploads(assemble)
