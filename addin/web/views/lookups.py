"""``=FBCHECK`` look-ups: answer from the cache at once, queue the rest, report progress.

``POST /api/lookups`` takes a batch of cell values (the JavaScript sends what
Excel called until it paused for 100 ms, at most every 500 ms) and answers every
item at once: ``done`` from the cache, ``invalid`` with a reason, or ``pending``
after queueing the number in the coalescer, which submits one job for the numbers
that keep arriving (``addin.web.coalescer``).
An answer older than the cache lifetime is ``done`` with ``stale: true``, not
bought again, unless the item asks for ``refresh``.
``POST /api/lookups/poll`` reports, for the numbers a page still waits for,
their answers or the progress of the job checking them. No request waits for
the vendor.

A batch that would upload more than ``confirm_above`` numbers is held (its
numbers report ``awaiting confirmation``) until the task pane confirms it:
``GET /api/lookups/held`` shows it with its estimate, ``POST
/api/lookups/held/<batch_id>/confirm`` (naming the ``version`` shown) starts it,
``POST /api/lookups/held/<batch_id>/cancel`` drops it, nothing billed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from flask import Blueprint, Response, current_app
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
)

from addin.engine.checker import Checker, NumberStatus
from addin.engine.phones import normalize, validate_region
from addin.web.coalescer import BELOW_MINIMUM, Lookup, LookupCoalescer
from addin.web.engine_host import (
    BalanceTooLowError,
    Desk,
    SettingsChangedError,
    desk_of,
    host_of,
)
from addin.web.excel_values import CellValue, RegionText
from addin.web.held_lookups import HeldBatchChangedError, HeldBatchGoneError
from addin.web.json_api import ApiError, NoBody, parse_body, reply

bp = Blueprint("lookups", __name__, url_prefix="/api/lookups")

#: The most items or numbers in one request (the JavaScript sends fewer).
MAX_ITEMS = 10_000
QUEUED_TEXT = "queued"
#: Longer than any E.164 number (16 characters) with room for stray spaces.
MAX_NUMBER_TEXT = 64


def _at_most_max_items(value: Any, info: ValidationInfo) -> Any:
    """Answer 413 for a list of more than ``MAX_ITEMS`` before checking each element.

    ``ApiError`` is not a ``ValueError``, so pydantic lets it through to the
    error handler: a too-long list is the client's batching bug, not a bad field.
    """
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise ApiError(
            413,
            "too_many_items",
            f"send at most {MAX_ITEMS:,} {info.field_name} per request, not {len(value):,}",
        )
    return value


class LookupItem(BaseModel):
    """One ``=FBCHECK`` call: the cell value and the region it names, if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: CellValue
    region: RegionText = None
    #: Buy the answer again although one past the cache lifetime is known.
    refresh: StrictBool = False


class LookupsBody(BaseModel):
    """``POST /api/lookups``: ``{"items": [{"value": ..., "region": "CH" | null}, ...]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: Annotated[list[LookupItem], BeforeValidator(_at_most_max_items)]


E164Text = Annotated[str, StringConstraints(strict=True, max_length=MAX_NUMBER_TEXT)]


class PollBody(BaseModel):
    """``POST /api/lookups/poll``: ``{"numbers": ["+41...", ...]}`` (E.164 texts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    numbers: Annotated[list[E164Text], BeforeValidator(_at_most_max_items)]


class ConfirmBody(BaseModel):
    """``POST /api/lookups/held/<batch_id>/confirm``: ``{"version": n}`` (the version shown)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A batch starts at version 1; the store keeps it as a 32-bit integer.
    version: StrictInt = Field(ge=1, le=2**31 - 1)


#: The reason of a number whose last task the vendor failed (billed): refresh to buy again.
FAILED_TEXT = (
    "the vendor's task failed ({message}); it was billed, so it is not sent again by"
    " itself: =FBCHECK(cell, , TRUE) checks it again"
)
#: What a number of a batch held for the user's confirmation reports (the cells show it).
AWAITING_CONFIRMATION_TEXT = "awaiting confirmation"
_HELD_GONE = (
    "this look-up batch is gone (confirmed or cancelled already, or the backend restarted);"
    " the cells ask again by themselves"
)


@bp.post("")
def lookups() -> Response:
    """Answer a batch of ``=FBCHECK`` calls; nothing here waits for the vendor."""
    host = host_of(current_app)
    desk = desk_of(current_app)
    # Up to the backend's body limit: 10,000 cells may hold long texts.
    body = parse_body(LookupsBody, max_bytes=current_app.config["MAX_CONTENT_LENGTH"])
    default_region = host.settings.region
    normalized = [_normalize_item(item, default_region) for item in body.items]
    refresh = {
        e164
        for item, (e164, _) in zip(body.items, normalized, strict=True)
        if e164 is not None and item.refresh
    }
    numbers = list(dict.fromkeys(e164 for e164, _ in normalized if e164 is not None))
    _release_settled_elsewhere(desk, numbers)
    with host.checker() as checker:
        cached = checker.cached_answers(numbers)
        # Past the cache lifetime: shown as stale, bought again only on request.
        old = checker.stale_answers(n for n in numbers if n not in cached)
        stale = {number: found for number, found in old.items() if number not in refresh}
        # In a task the vendor failed (and billed): not bought again without the
        # user's word (a refresh), however often Excel recalculates.
        unknown = [n for n in numbers if n not in cached and n not in stale and n not in refresh]
        failed = {
            number: FAILED_TEXT.format(message=message)
            for number, message in checker.failed_uploads(unknown).items()
            if not _still_checking(desk.coalescer.lookup(number), None)
        }
        waiting = [n for n in numbers if n not in cached and n not in stale and n not in failed]
        statuses = _job_statuses(checker, desk.coalescer, waiting)
        asked = [
            n for n in waiting if not _still_checking(desk.coalescer.lookup(n), statuses.get(n))
        ]
        if desk.shared and asked:
            # Asked anew: an outcome another instance recorded for them no longer holds.
            desk.held_lookups.forget_outcomes(asked)
        desk.coalescer.add(asked)
    results = []
    for e164, reason in normalized:
        if e164 is None:
            results.append(_result("invalid", None, reason=reason))
        elif e164 in cached:
            results.append(_result("done", e164, answer=cached[e164][0]))
        elif e164 in failed:
            results.append(_result("error", e164, reason=failed[e164]))
        elif e164 in stale:
            answer, checked_at = stale[e164]
            results.append(
                _result("done", e164, answer=answer, stale=True, checked_at=_iso(checked_at))
            )
        else:
            lookup = desk.coalescer.lookup(e164)
            job_id = lookup.job_id if lookup is not None else None
            status = statuses.get(e164) if job_id else None
            results.append(
                _result("pending", e164, job_id=job_id, progress=_waiting_text(lookup, status))
            )
    return reply(results=results)


@bp.get("/held")
def held() -> Response:
    """Show the look-up batch waiting for the user's confirmation, or null."""
    batch = desk_of(current_app).held_lookups.current()
    return reply(held=None if batch is None else batch.as_dict())


@bp.post("/held/<batch_id>/confirm")
def confirm_held(batch_id: str) -> Response:
    """Start the held batch the user confirmed, if it is still the one shown."""
    version = parse_body(ConfirmBody).version
    host = host_of(current_app)
    try:
        job_id, plan = host.confirm_lookups(batch_id, version, desk=desk_of(current_app))
    except HeldBatchGoneError:
        raise ApiError(404, "batch_not_found", _HELD_GONE) from None
    except HeldBatchChangedError as exc:
        raise ApiError(
            409,
            "batch_changed",
            f"more look-ups joined this batch: it now uploads {exc.batch.plan['to_upload']:,}"
            " numbers; check the new estimate and confirm again",
        ) from None
    except BalanceTooLowError as exc:
        raise ApiError(402, "balance_too_low", str(exc)) from None
    except SettingsChangedError:
        raise ApiError(
            409,
            "settings_changed",
            "the API key changed since this batch was held; the cells ask again by themselves",
        ) from None
    return reply(batch_id=batch_id, job_id=job_id, plan=plan.summary())


@bp.post("/held/<batch_id>/cancel")
def cancel_held(batch_id: str) -> Response:
    """Drop the held batch the user declined; nothing was billed."""
    parse_body(NoBody)
    try:
        batch = host_of(current_app).cancel_lookups(batch_id, desk=desk_of(current_app))
    except HeldBatchGoneError:
        raise ApiError(404, "batch_not_found", _HELD_GONE) from None
    return reply(batch_id=batch_id, cancelled=len(batch.numbers))


#: Said in the cells of numbers (too few for a task) the user gave up.
DROPPED_REASON = (
    "dropped on your word: fewer new numbers than the vendor's minimum per task;"
    " recalculate with more numbers to check them"
)


@bp.get("/below-minimum")
def below_minimum() -> Response:
    """Return how many look-ups wait because they are too few for one task, and why."""
    host = host_of(current_app)
    desk = desk_of(current_app)
    waiting, reason = desk.coalescer.below_minimum()
    return reply(waiting=waiting, reason=reason, minimum=host.settings.min_task_numbers)


@bp.post("/below-minimum/drop")
def drop_below_minimum() -> Response:
    """The user's word in the pane: give up those look-ups (their cells say why)."""
    parse_body(NoBody)
    return reply(dropped=desk_of(current_app).coalescer.drop_below_minimum(DROPPED_REASON))


@bp.post("/poll")
def poll() -> Response:
    """Report answers and progress for numbers the page still waits for."""
    host = host_of(current_app)
    desk = desk_of(current_app)
    distinct = list(dict.fromkeys(parse_body(PollBody).numbers))
    answers: dict[str, dict[str, Any]] = {}
    with host.checker() as checker:
        cached = checker.cached_answers(distinct)
        _learn_settled_elsewhere(desk, [n for n in distinct if n not in cached])
        statuses = _job_statuses(checker, desk.coalescer, [n for n in distinct if n not in cached])
        lost: list[str] = []
        for number in distinct:
            lookup = desk.coalescer.lookup(number)
            if number in cached:
                job_id = lookup.job_id if lookup is not None else None
                answers[number] = _result("done", number, answer=cached[number][0], job_id=job_id)
            elif normalize(number).e164 != number:
                answers[number] = _result("invalid", None, reason="not an E.164 number")
            elif lookup is None:
                # Unknown here (a restarted backend, a changed API key): queue it again.
                lost.append(number)
                answers[number] = _result("pending", number, progress=QUEUED_TEXT)
            else:
                answers[number] = _poll_answer(number, lookup, statuses.get(number))
        desk.coalescer.add(lost)
    return reply(results=answers)


def _release_settled_elsewhere(desk: Desk, numbers: list[str]) -> None:
    """Forget numbers held here whose batch another instance confirmed or cancelled.

    On the team server the held batch is in the store; a number this instance's
    coalescer holds "unconfirmed" but the stored batch no longer holds was settled
    through another instance: it is queued again (and joins what was started).
    """
    if not desk.shared:
        return
    unconfirmed = [n for n in numbers if _unconfirmed(desk.coalescer.lookup(n))]
    if not unconfirmed:
        return
    batch = desk.held_lookups.current()
    held = set(batch.numbers) if batch is not None else set()
    desk.coalescer.release(n for n in unconfirmed if n not in held)


def _learn_settled_elsewhere(desk: Desk, numbers: list[str]) -> None:
    """Bring what this instance knows of polled numbers up to what the store says.

    The team server's cells poll whichever instance answers. A number unknown here,
    or held here for a batch that is gone, or declined or failed here, may have been
    settled (or asked for again) through another instance: its stored outcome is
    taken (``Desk.settle`` records it), so a cancelled batch stays cancelled on every
    instance and a confirmed one is followed in its job rather than queued again. A
    number declined here but asked for again since is forgotten (the poll queues it).
    Unconfirmed numbers without an outcome (or asked again) are released as before.
    """
    if not desk.shared or not numbers:
        return
    known = map(desk.coalescer.lookup, numbers)
    asked = [
        n
        for n, lookup in zip(numbers, known, strict=True)
        if lookup is None or lookup.state in ("unconfirmed", "declined", "failed")
    ]
    if not asked:
        return
    settled = desk.take_outcomes(asked)
    _release_settled_elsewhere(desk, [n for n in asked if n not in settled])


def _unconfirmed(lookup: Lookup | None) -> bool:
    """Return True for a number held for the user's confirmation."""
    return lookup is not None and lookup.state == "unconfirmed"


def _job_statuses(
    checker: Checker, coalescer: LookupCoalescer, numbers: Iterable[str]
) -> dict[str, NumberStatus]:
    """Return where each number the coalescer submitted stands in its job (one read per job)."""
    by_job: dict[str, list[str]] = {}
    for number in numbers:
        lookup = coalescer.lookup(number)
        if lookup is not None and lookup.job_id is not None:
            by_job.setdefault(lookup.job_id, []).append(number)
    statuses: dict[str, NumberStatus] = {}
    for job_id, waiting in by_job.items():
        statuses.update(checker.number_statuses(job_id, waiting))
    return statuses


def _still_checking(lookup: Lookup | None, status: NumberStatus | None) -> bool:
    """Return True when a number is queued or held here, or waits in a job that still runs."""
    if lookup is None or lookup.state in ("failed", "declined"):
        return False
    if lookup.state in ("queued", "unconfirmed", BELOW_MINIMUM) or lookup.job_id is None:
        return True
    return status is not None and status.still_checking


def _waiting_text(lookup: Lookup | None, status: NumberStatus | None) -> str:
    """Return what a waiting cell shows: "queued", "awaiting confirmation" or "checking… 40%"."""
    if lookup is not None and lookup.state == "unconfirmed":
        return AWAITING_CONFIRMATION_TEXT
    if lookup is not None and lookup.state == BELOW_MINIMUM:
        return lookup.reason or BELOW_MINIMUM
    if status is None or status.progress is None:
        return QUEUED_TEXT
    return status.progress.checking_text


def _poll_answer(number: str, lookup: Lookup, status: NumberStatus | None) -> dict[str, Any]:
    """Return the poll answer for a number the coalescer knows."""
    if lookup.state in ("failed", "declined"):
        return _result("error", number, reason=lookup.reason)
    if lookup.state == "unconfirmed":
        return _result("pending", number, progress=AWAITING_CONFIRMATION_TEXT)
    if lookup.state == BELOW_MINIMUM:
        return _result("pending", number, progress=_waiting_text(lookup, status))
    if lookup.state == "queued" or lookup.job_id is None or status is None:
        return _result("pending", number, progress=QUEUED_TEXT)
    if status.state == "answered":
        return _result("done", number, answer=status.answer, job_id=lookup.job_id)
    if status.state == "error":
        return _result("error", number, reason=status.reason, job_id=lookup.job_id)
    return _result("pending", number, job_id=lookup.job_id, progress=_waiting_text(lookup, status))


def _normalize_item(item: LookupItem, default_region: str) -> tuple[str | None, str | None]:
    """Return (E.164, None) or (None, reason) for one item; an unknown region is its reason."""
    try:
        region = validate_region(item.region or default_region)
    except ValueError as exc:
        return None, str(exc)
    result = normalize(item.value, region)
    return result.e164, result.reason


def _result(
    status: str,
    e164: str | None,
    *,
    answer: str | None = None,
    reason: str | None = None,
    job_id: str | None = None,
    progress: str | None = None,
    stale: bool = False,
    checked_at: str | None = None,
) -> dict[str, Any]:
    """Return one item's answer in the contract's shape."""
    return {
        "status": status,
        "e164": e164,
        "answer": answer,
        "reason": reason,
        "job_id": job_id,
        "progress": progress,
        "stale": stale,
        "checked_at": checked_at,
    }


def _iso(timestamp: float) -> str:
    """Return a Unix time as an ISO 8601 UTC text."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
