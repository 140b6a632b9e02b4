"""``=FBCHECK`` look-ups: answer from the cache at once, queue the rest, report progress.

``POST /api/lookups`` takes a batch of cell values (the JavaScript batches
calls for ~100 ms) and answers every item at once: ``done`` from the cache,
``invalid`` with a reason, or ``pending`` after queueing the number in the
coalescer, which submits one job for all numbers queued close together.
``POST /api/lookups/poll`` reports, for the numbers a page still waits for,
their answers or the progress of the job checking them. No request waits for
the vendor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from flask import Blueprint, Response, current_app
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationInfo

from addin.engine.checker import Checker, NumberStatus
from addin.engine.phones import normalize, validate_region
from addin.web.coalescer import Lookup, LookupCoalescer
from addin.web.engine_host import host_of
from addin.web.excel_values import CellValue, RegionText
from addin.web.json_api import ApiError, parse_body, reply

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


class LookupsBody(BaseModel):
    """``POST /api/lookups``: ``{"items": [{"value": ..., "region": "CH" | null}, ...]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: Annotated[list[LookupItem], BeforeValidator(_at_most_max_items)]


E164Text = Annotated[str, StringConstraints(strict=True, max_length=MAX_NUMBER_TEXT)]


class PollBody(BaseModel):
    """``POST /api/lookups/poll``: ``{"numbers": ["+41...", ...]}`` (E.164 texts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    numbers: Annotated[list[E164Text], BeforeValidator(_at_most_max_items)]


@bp.post("")
def lookups() -> Response:
    """Answer a batch of ``=FBCHECK`` calls; nothing here waits for the vendor."""
    host = host_of(current_app)
    # Up to the backend's body limit: 10,000 cells may hold long texts.
    body = parse_body(LookupsBody, max_bytes=current_app.config["MAX_CONTENT_LENGTH"])
    default_region = host.settings.region
    normalized = [_normalize_item(item, default_region) for item in body.items]
    numbers = list(dict.fromkeys(e164 for e164, _ in normalized if e164 is not None))
    with host.checker() as checker:
        cached = checker.cached_answers(numbers)
        waiting = [n for n in numbers if n not in cached]
        statuses = _job_statuses(checker, host.coalescer, waiting)
        host.coalescer.add(
            n for n in waiting if not _still_checking(host.coalescer.lookup(n), statuses.get(n))
        )
    results = []
    for e164, reason in normalized:
        if e164 is None:
            results.append(_result("invalid", None, reason=reason))
        elif e164 in cached:
            results.append(_result("done", e164, answer=cached[e164][0]))
        else:
            lookup = host.coalescer.lookup(e164)
            job_id = lookup.job_id if lookup is not None else None
            status = statuses.get(e164) if job_id else None
            results.append(_result("pending", e164, job_id=job_id, progress=_waiting_text(status)))
    return reply(results=results)


@bp.post("/poll")
def poll() -> Response:
    """Report answers and progress for numbers the page still waits for."""
    host = host_of(current_app)
    distinct = list(dict.fromkeys(parse_body(PollBody).numbers))
    answers: dict[str, dict[str, Any]] = {}
    with host.checker() as checker:
        cached = checker.cached_answers(distinct)
        statuses = _job_statuses(checker, host.coalescer, [n for n in distinct if n not in cached])
        lost: list[str] = []
        for number in distinct:
            lookup = host.coalescer.lookup(number)
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
        host.coalescer.add(lost)
    return reply(results=answers)


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
    """Return True when a number is queued here or waits in a job that still runs."""
    if lookup is None or lookup.state == "failed":
        return False
    if lookup.state == "queued" or lookup.job_id is None:
        return True
    return status is not None and status.still_checking


def _waiting_text(status: NumberStatus | None) -> str:
    """Return what a waiting cell shows: "queued" or its job's "checking… 40%"."""
    if status is None or status.progress is None:
        return QUEUED_TEXT
    return status.progress.checking_text


def _poll_answer(number: str, lookup: Lookup, status: NumberStatus | None) -> dict[str, Any]:
    """Return the poll answer for a number the coalescer knows."""
    if lookup.state == "failed":
        return _result("error", number, reason=lookup.reason)
    if lookup.state == "queued" or lookup.job_id is None or status is None:
        return _result("pending", number, progress=QUEUED_TEXT)
    if status.state == "answered":
        return _result("done", number, answer=status.answer, job_id=lookup.job_id)
    if status.state == "error":
        return _result("error", number, reason=status.reason, job_id=lookup.job_id)
    return _result("pending", number, job_id=lookup.job_id, progress=_waiting_text(status))


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
) -> dict[str, Any]:
    """Return one item's answer in the contract's shape."""
    return {
        "status": status,
        "e164": e164,
        "answer": answer,
        "reason": reason,
        "job_id": job_id,
        "progress": progress,
    }
