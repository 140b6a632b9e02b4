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

:class:`UploadSessions` keeps them in memory: the local backend's one process, the
fast path for a selection of a million rows (a restarted backend forgets its
sessions and the pane, or the command line, sends them again). The team server
keeps them in the store (``addin.web.stored_unfinished``), so chunk 0 may reach
one instance and chunk 1 another, and an instance that dies loses none; both are
an :class:`UploadBook` and follow the same rules.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

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
R_co = TypeVar("R_co", covariant=True)
C_contra = TypeVar("C_contra", contravariant=True)

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


class UploadBook(Protocol[H, C_contra, R_co]):
    """Upload sessions by unguessable id: opened, filled chunk by chunk, taken once."""

    ttl: float
    max_open: int
    max_bytes: int

    def open(self, header: H, chunks: int) -> str:
        """Open a session for ``chunks`` chunks of ``header`` and return its id."""
        ...

    def header(self, upload_id: str) -> tuple[H, int]:
        """Return the header of a session and how many chunks it expects."""
        ...

    def put(self, upload_id: str, index: int, chunk: C_contra, size: int) -> int:
        """Keep chunk ``index`` (``size`` bytes as sent); return how many chunks arrived."""
        ...

    def take(self, upload_id: str) -> R_co:
        """Return the assembled whole and close the session; refuse while chunks are missing."""
        ...

    def drop(self, upload_id: str) -> bool:
        """Forget a session (the user cancelled); return False when it was unknown."""
        ...

    def clear(self) -> None:
        """Drop every session."""
        ...

    def __len__(self) -> int:
        """Return how many sessions are open (expired ones excluded)."""
        ...


def check_chunk_count(chunks: int) -> None:
    """Refuse a session of fewer than 1 or more than ``MAX_CHUNKS`` chunks."""
    if not 1 <= chunks <= MAX_CHUNKS:
        raise SelectionError(
            "bad_upload", f"'chunks' must be a whole number from 1 to {MAX_CHUNKS:,}"
        )


def too_many(open_now: int, ttl: float) -> TooManyUploadsError:
    """Return the refusal of one more session when ``open_now`` are open."""
    return TooManyUploadsError(
        f"{open_now} uploads are open already; finish or cancel one,"
        f" or wait {ttl / 60:.0f} minutes for it to expire"
    )


def outside(index: int, expected: int) -> SelectionError:
    """Return the refusal of a chunk index outside a session's chunks."""
    return SelectionError(
        "bad_upload",
        f"chunk {index} is outside this upload's {expected} chunks (0 to {expected - 1})",
    )


def conflict(index: int) -> ChunkConflictError:
    """Return the refusal of a chunk index sent again with other content."""
    return ChunkConflictError(
        f"chunk {index} arrived already with other content; open a new upload"
        " to send a changed selection"
    )


def too_large(max_bytes: int) -> UploadTooLargeError:
    """Return the refusal of a chunk that takes a session past ``max_bytes``."""
    return UploadTooLargeError(
        f"the upload exceeds {max_bytes // (1024 * 1024)} MiB; select fewer rows"
    )


def incomplete(expected: int, missing: list[int]) -> UploadIncompleteError:
    """Return the refusal of a session named while ``missing`` chunks have not arrived."""
    shown = ", ".join(str(i) for i in missing[:10])
    shown += ", …" if len(missing) > 10 else ""
    return UploadIncompleteError(
        f"{len(missing)} of the upload's {expected} chunks have not arrived"
        f" (chunk {shown}); send them, then ask again"
    )


def unknown(upload_id: str, ttl: float) -> UnknownUploadError:
    """Return the refusal of a session that is unknown, used already or expired."""
    return UnknownUploadError(
        f"upload {upload_id!r} is unknown, used already or expired (uploads wait"
        f" {ttl / 60:.0f} minutes); check the selection again"
    )


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
        check_chunk_count(chunks)
        with self._lock:
            self._expire()
            if len(self._sessions) >= self.max_open:
                raise too_many(len(self._sessions), self.ttl)
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
                raise outside(index, session.expected)
            known = session.chunks.get(index)
            if known is not None:
                if known != chunk:
                    raise conflict(index)
                return len(session.chunks)
            if session.size + size > self.max_bytes:
                raise too_large(self.max_bytes)
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
                raise incomplete(session.expected, missing)
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
            raise unknown(upload_id, self.ttl)
        return session

    def _expire(self) -> None:
        """Drop sessions idle longer than the TTL (called with the lock held)."""
        oldest = self._clock() - self.ttl
        for upload_id in [k for k, v in self._sessions.items() if v.touched < oldest]:
            del self._sessions[upload_id]


#: The task pane's selections sent in chunks.
SelectionUploads = UploadBook[SelectionHeader, Chunk, Selection]


def selection_uploads() -> SelectionUploads:
    """Return empty upload sessions for the task pane's selections, in memory."""
    return UploadSessions[SelectionHeader, Chunk, Selection](assemble)
