"""Uploads, plans and held look-up batches in the store: the team server's instances share them.

Behind a load balancer without session affinity chunk 0 of an upload reaches one
instance and chunk 1 another, a plan made on one is confirmed on another, and an
instance may die between two requests (issue 13: "several instances behind a load
balancer share nothing but the database"). So on the team server each user's
unfinished business lives in the store's tables of revision 0005
(``addin.engine.store.unfinished``), under the same rules as the memory
implementations of the local backend (:mod:`addin.web.uploads`,
:mod:`addin.web.pending_plans`, :mod:`addin.web.held_lookups`): used once, the same
times to live, chunk conflicts, open sessions per user, bytes per session, a changed
vendor key voids plans and batches. Of two instances taking the same upload, plan or
batch at once, the database lets exactly one have it.

A chunk is kept as the JSON text of the rows it carried, checked when it arrived and
read back when the upload is taken; the same index sent again with the same content
is recognised by the digest of that text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from addin.engine.planning import Plan
from addin.engine.store import Store
from addin.engine.store.unfinished import IncompleteUpload, SettledLookup
from addin.web.coalescer import Lookup
from addin.web.file_numbers import FileHeader, FileNumbers, assemble_numbers
from addin.web.held_lookups import (
    HeldBatch,
    HeldBatchChangedError,
    HeldBatchGoneError,
    joined_numbers,
    new_batch_id,
)
from addin.web.pending_plans import PLAN_TTL, PendingPlan
from addin.web.uploads import (
    MAX_OPEN_UPLOADS,
    MAX_UPLOAD_BYTES,
    UPLOAD_TTL,
    check_chunk_count,
    conflict,
    incomplete,
    outside,
    too_large,
    too_many,
    unknown,
)
from addin.web.xlwings_glue import Area, Chunk, Selection, SelectionHeader, assemble

H = TypeVar("H")
C = TypeVar("C")
R = TypeVar("R")

#: A held batch nobody confirmed, cancelled or joined for this long is deleted (its
#: cells, still polling, queue their numbers again).
HELD_TTL = 60 * 60.0
#: Attempts to hold or join a batch that other instances keep changing meanwhile.
HOLD_ATTEMPTS = 50


def _text(value: Any) -> str:
    """Return ``value`` as compact JSON text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Codec(Generic[H, C]):
    """How a header and a chunk become JSON values, and back."""

    header_out: Callable[[H], Any]
    header_in: Callable[[Any], H]
    chunk_out: Callable[[C], Any]
    chunk_in: Callable[[Any], C]


class _StoredBook:
    """One user's rows in the store ``store()`` opens, each living ``ttl`` seconds of ``clock``."""

    def __init__(
        self, store: Callable[[], Store], owner: str | None, ttl: float, clock: Callable[[], float]
    ) -> None:
        """Keep ``owner``'s (None: the local user's) rows."""
        self._store = store
        self.owner = owner or ""
        self.ttl = ttl
        self._clock = clock

    def _oldest(self) -> float:
        """Return the oldest time a row still alive may have been used."""
        return self._clock() - self.ttl


class StoredUploads(_StoredBook, Generic[H, C, R]):
    """One user's upload sessions of one ``kind`` in the store (an ``UploadBook``)."""

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        owner: str | None,
        kind: str,
        assemble: Callable[[H, list[C]], R],
        codec: Codec[H, C],
        ttl: float = UPLOAD_TTL,
        max_open: int = MAX_OPEN_UPLOADS,
        max_bytes: int = MAX_UPLOAD_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Keep ``owner``'s (None: the local user's) sessions in the store ``store()`` opens."""
        super().__init__(store, owner, ttl, clock)
        self.kind = kind
        self._assemble = assemble
        self._codec = codec
        self.max_open = max_open
        self.max_bytes = max_bytes

    def _where(self) -> dict[str, Any]:
        """Return the owner, kind and oldest time a session may have been used."""
        return {"owner": self.owner, "kind": self.kind, "oldest": self._oldest()}

    def open(self, header: H, chunks: int) -> str:
        """Open a session for ``chunks`` chunks of ``header`` and return its id."""
        check_chunk_count(chunks)
        upload_id = secrets.token_urlsafe(12)
        count = self._store().open_upload(
            upload_id=upload_id,
            header=_text(self._codec.header_out(header)),
            expected=chunks,
            now=self._clock(),
            max_open=self.max_open,
            **self._where(),
        )
        if count >= self.max_open:
            raise too_many(count, self.ttl)
        return upload_id

    def header(self, upload_id: str) -> tuple[H, int]:
        """Return the header of a session and how many chunks it expects."""
        found = self._store().upload_header(upload_id, **self._where())
        if found is None:
            raise unknown(upload_id, self.ttl)
        text, expected = found
        return self._codec.header_in(json.loads(text)), expected

    def put(self, upload_id: str, index: int, chunk: C, size: int) -> int:
        """Keep chunk ``index`` (``size`` bytes as sent); return how many chunks arrived."""
        body = _text(self._codec.chunk_out(chunk))
        outcome = self._store().put_upload_chunk(
            upload_id,
            index=index,
            digest=hashlib.sha256(body.encode("utf-8")).hexdigest(),
            body=body,
            size=size,
            now=self._clock(),
            max_bytes=self.max_bytes,
            **self._where(),
        )
        if outcome.status == "unknown":
            raise unknown(upload_id, self.ttl)
        if outcome.status == "outside":
            raise outside(index, outcome.expected)
        if outcome.status == "conflict":
            raise conflict(index)
        if outcome.status == "too_large":
            raise too_large(self.max_bytes)
        return outcome.received

    def take(self, upload_id: str) -> R:
        """Return the assembled whole and close the session; refuse while chunks are missing."""
        where = self._where()
        taken = self._store().take_upload(upload_id, now=self._clock(), **where)
        if taken is None:
            raise unknown(upload_id, self.ttl)
        if isinstance(taken, IncompleteUpload):
            raise incomplete(taken.expected, taken.missing)
        header = self._codec.header_in(json.loads(taken.header))
        chunks = [self._codec.chunk_in(json.loads(text)) for text in taken.chunks]
        return self._assemble(header, chunks)

    def drop(self, upload_id: str) -> bool:
        """Forget a session (the user cancelled); return False when it was unknown."""
        return self._store().drop_upload(upload_id, **self._where())

    def clear(self) -> None:
        """Drop every session of this user and kind."""
        self._store().clear_uploads(owner=self.owner, kind=self.kind)

    def __len__(self) -> int:
        """Return how many sessions are open (expired ones excluded)."""
        return self._store().open_uploads(**self._where())


def _selection_header_in(value: Any) -> SelectionHeader:
    """Return a selection's header from its JSON value."""
    return SelectionHeader(
        sheet_name=value["sheet"],
        areas=[Area(**area) for area in value["areas"]],
        region=value["region"],
    )


#: A task-pane selection's header and chunks.
SELECTION_CODEC = Codec[SelectionHeader, Chunk](
    header_out=lambda h: {
        "sheet": h.sheet_name,
        "areas": [dataclasses.asdict(a) for a in h.areas],
        "region": h.region,
    },
    header_in=_selection_header_in,
    chunk_out=lambda c: [c.area, c.offset, c.values, c.target],
    chunk_in=lambda v: Chunk(area=v[0], offset=v[1], values=v[2], target=v[3]),
)

#: The header and chunks of a file's numbers (``fbcheck check --server``).
FILE_CODEC = Codec[FileHeader, tuple[str, ...]](
    header_out=lambda h: {"fingerprint": h.fingerprint, "refresh": h.refresh},
    header_in=lambda v: FileHeader(v["fingerprint"], v["refresh"]),
    chunk_out=list,
    chunk_in=tuple,
)


def stored_selection_uploads(
    store: Callable[[], Store], owner: str | None
) -> StoredUploads[SelectionHeader, Chunk, Selection]:
    """Return ``owner``'s task-pane selections arriving in chunks, kept in the store."""
    return StoredUploads(
        store, owner=owner, kind="selection", assemble=assemble, codec=SELECTION_CODEC
    )


def stored_file_uploads(
    store: Callable[[], Store], owner: str | None
) -> StoredUploads[FileHeader, tuple[str, ...], FileNumbers]:
    """Return ``owner``'s files' numbers arriving in chunks, kept in the store."""
    return StoredUploads(
        store, owner=owner, kind="file", assemble=assemble_numbers, codec=FILE_CODEC
    )


class StoredPlans(_StoredBook):
    """One user's plans awaiting confirmation, in the store (a ``PlanBook``)."""

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        owner: str | None,
        ttl: float = PLAN_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Keep ``owner``'s (None: the local user's) plans in the store ``store()`` opens."""
        super().__init__(store, owner, ttl, clock)

    def add(self, plan: Plan, *, numbers: list[str], label: str, generation: str) -> str:
        """Keep what submitting ``plan`` needs later and return its new id."""
        plan_id = secrets.token_urlsafe(12)
        body = {
            "numbers": numbers,
            "label": label,
            "rows": plan.rows,
            "invalid": plan.invalid,
            "refresh": plan.refresh,
        }
        now = self._clock()
        self._store().add_pending_plan(
            plan_id,
            owner=self.owner,
            generation=generation,
            body=_text(body),
            now=now,
            oldest=now - self.ttl,
        )
        return plan_id

    def take(self, plan_id: str) -> PendingPlan | None:
        """Remove and return the plan, or None when unknown, taken already or expired."""
        found = self._store().take_pending_plan(plan_id, owner=self.owner, oldest=self._oldest())
        if found is None:
            return None
        body = json.loads(found.body)
        return PendingPlan(
            numbers=body["numbers"],
            label=body["label"],
            rows=body["rows"],
            invalid=body["invalid"],
            refresh=body["refresh"],
            generation=found.generation,
            created=found.created,
        )

    def clear(self) -> None:
        """Drop every plan of this user."""
        self._store().clear_pending_plans(owner=self.owner)

    def __len__(self) -> int:
        """Return how many plans wait (expired ones excluded)."""
        return self._store().pending_plans(owner=self.owner, oldest=self._oldest())


class StoredHeldLookups(_StoredBook):
    """One user's held ``=FBCHECK`` batch, in the store (a ``HeldBook``).

    Joining is optimistic: the batch is read, planned with the new numbers outside any
    transaction, and written back only if its version is still the one read (else read
    again); holding a first batch inserts a row whose key is the user, so two instances
    cannot each hold one.
    """

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        owner: str | None,
        ttl: float = HELD_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Keep ``owner``'s (None: the local user's) batch in the store ``store()`` opens."""
        super().__init__(store, owner, ttl, clock)

    def current(self) -> HeldBatch | None:
        """Return the held batch, or None."""
        found = self._store().held_batch(owner=self.owner, oldest=self._oldest())
        return None if found is None else _held(found)

    def hold_or_plan(
        self,
        numbers: list[str],
        plan: Callable[[list[str]], Plan],
        *,
        threshold: int,
        generation: str,
    ) -> Plan | None:
        """Return the plan to submit ``numbers`` now, or None when they are held.

        They are held when a batch is held already (they join it; numbers it holds
        already change nothing) or when their plan uploads more than ``threshold``.
        """
        store = self._store()
        for _ in range(HOLD_ATTEMPTS):
            held = self.current()
            if held is not None and held.generation != generation:
                # Held with another vendor key: void (its cells ask again).
                store.replace_batch(owner=self.owner, batch_id=held.batch_id)
                continue
            now = self._clock()
            if held is not None:
                merged = joined_numbers(held, numbers)
                if merged is None:
                    return None
                if store.grow_batch(
                    owner=self.owner,
                    batch_id=held.batch_id,
                    version=held.version,
                    numbers=_text(merged),
                    plan=_text(plan(merged).summary()),
                    now=now,
                ):
                    return None
                continue
            planned = plan(numbers)
            if not planned.needs_confirmation(threshold):
                return planned
            if store.hold_new_batch(
                owner=self.owner,
                batch_id=new_batch_id(),
                generation=generation,
                numbers=_text(numbers),
                plan=_text(planned.summary()),
                now=now,
                oldest=now - self.ttl,
            ):
                return None
        raise RuntimeError(
            f"the held look-up batch changed {HOLD_ATTEMPTS} times while these look-ups"
            " joined it; they are asked again"
        )

    def take(self, batch_id: str, version: int | None = None) -> HeldBatch:
        """Remove and return the batch; ``version`` must be the one the user saw.

        Raises ``HeldBatchGoneError`` for an unknown id and ``HeldBatchChangedError``
        (the batch stays held) when it has grown since.
        """
        found = self._store().take_batch(owner=self.owner, batch_id=batch_id, version=version)
        if found is None or (not isinstance(found, tuple) and found.touched < self._oldest()):
            raise HeldBatchGoneError(batch_id)
        if isinstance(found, tuple):
            raise HeldBatchChangedError(_held(found[1]))
        return _held(found)

    def clear(self) -> HeldBatch | None:
        """Drop the held batch and return it."""
        found = self._store().clear_held_batch(owner=self.owner)
        return None if found is None else _held(found)

    def record_outcome(self, numbers: Iterable[str], outcome: Lookup, *, generation: str) -> None:
        """Store what became of a taken batch's numbers, for every instance's cells."""
        now = self._clock()
        self._store().settle_lookups(
            owner=self.owner,
            numbers=list(numbers),
            outcome=SettledLookup(outcome.state, outcome.job_id, outcome.reason),
            generation=generation,
            now=now,
            oldest=now - self.ttl,
        )

    def outcomes(self, numbers: Iterable[str], *, generation: str) -> dict[str, Lookup]:
        """Return the stored outcome of each of ``numbers`` in ``generation`` (within the TTL)."""
        found = self._store().settled_lookups(
            owner=self.owner, numbers=list(numbers), generation=generation, oldest=self._oldest()
        )
        return {
            number: Lookup(settled.state, job_id=settled.job_id, reason=settled.reason)
            for number, settled in found.items()
        }

    def forget_outcomes(self, numbers: Iterable[str]) -> None:
        """Mark the stored outcomes of ``numbers`` asked again (a cell asked for them anew)."""
        self._store().ask_settled_lookups_again(
            owner=self.owner, numbers=list(numbers), now=self._clock()
        )


def _held(found: Any) -> HeldBatch:
    """Return a stored batch as a :class:`HeldBatch`."""
    return HeldBatch(
        found.batch_id,
        tuple(json.loads(found.numbers)),
        json.loads(found.plan),
        found.version,
        found.generation,
    )
