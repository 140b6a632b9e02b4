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

from typing import Any

from flask import Blueprint, Response, current_app

from addin.engine.checker import Checker, JobProgress
from addin.engine.phones import normalize, validate_region
from addin.engine.store import Answer
from addin.web.coalescer import Lookup
from addin.web.engine_state import EngineState, engine_of
from addin.web.replies import ApiError, reply, request_object

bp = Blueprint("lookups", __name__, url_prefix="/api/lookups")

#: The most items or numbers in one request (the JavaScript sends fewer).
MAX_ITEMS = 10_000
QUEUED_TEXT = "queued"


@bp.post("")
def lookups() -> Response:
    """Answer a batch of ``=FBCHECK`` calls; nothing here waits for the vendor."""
    state = engine_of(current_app)
    items = _list_field(request_object(), "items")
    default_region = state.settings.region
    normalized: list[tuple[str | None, str | None]] = []
    for position, item in enumerate(items):
        if not isinstance(item, dict) or "value" not in item:
            raise ApiError(
                400, "bad_request", f"items[{position}] must be an object with a 'value'"
            )
        normalized.append(_normalize_item(item, default_region))
    numbers = list(dict.fromkeys(e164 for e164, _ in normalized if e164 is not None))
    with state.checker() as checker:
        cached = checker.store.cached(checker.cache_realm, numbers, max_age=checker.max_age)
        jobs = _JobView(checker)
        queue = [n for n in numbers if n not in cached and not jobs.still_checking(state, n)]
        state.coalescer.add(queue)
        results = []
        for e164, reason in normalized:
            if e164 is None:
                results.append(_result("invalid", None, reason=reason))
            elif e164 in cached:
                results.append(_result("done", e164, answer=cached[e164][0]))
            else:
                lookup = state.coalescer.lookup(e164)
                job_id = lookup.job_id if lookup is not None else None
                progress = jobs.progress_text(job_id) if job_id else QUEUED_TEXT
                results.append(_result("pending", e164, job_id=job_id, progress=progress))
    return reply(results=results)


@bp.post("/poll")
def poll() -> Response:
    """Report answers and progress for numbers the page still waits for."""
    state = engine_of(current_app)
    numbers = _list_field(request_object(), "numbers")
    for position, number in enumerate(numbers):
        if not isinstance(number, str):
            raise ApiError(400, "bad_request", f"numbers[{position}] must be an E.164 text")
    distinct = list(dict.fromkeys(numbers))
    answers: dict[str, dict[str, Any]] = {}
    with state.checker() as checker:
        cached = checker.store.cached(checker.cache_realm, distinct, max_age=checker.max_age)
        jobs = _JobView(checker)
        lost: list[str] = []
        for number in distinct:
            lookup = state.coalescer.lookup(number)
            if number in cached:
                job_id = lookup.job_id if lookup is not None else None
                answers[number] = _result("done", number, answer=cached[number][0], job_id=job_id)
                continue
            if normalize(number).e164 != number:
                answers[number] = _result("invalid", None, reason="not an E.164 number")
                continue
            if lookup is None:
                # Unknown here (a restarted backend, a changed API key): queue it again.
                lost.append(number)
                answers[number] = _result("pending", number, progress=QUEUED_TEXT)
            else:
                answers[number] = jobs.status(number, lookup)
        state.coalescer.add(lost)
    return reply(results=answers)


class _JobView:
    """Per-request memo of the jobs that look-ups wait on."""

    def __init__(self, checker: Checker) -> None:
        """Start with nothing read."""
        self.checker = checker
        self._answers: dict[str, dict[str, Answer]] = {}
        self._progress: dict[str, JobProgress | None] = {}

    def answers(self, job_id: str) -> dict[str, Answer]:
        """Return the job's known answers (read once per request)."""
        if job_id not in self._answers:
            self._answers[job_id] = self.checker.answers(job_id)
        return self._answers[job_id]

    def progress(self, job_id: str) -> JobProgress | None:
        """Return the job's progress (read once per request)."""
        if job_id not in self._progress:
            self._progress[job_id] = self.checker.progress(job_id)
        return self._progress[job_id]

    def still_checking(self, state: EngineState, number: str) -> bool:
        """Return True when ``number`` is queued or waits in a running job."""
        lookup = state.coalescer.lookup(number)
        if lookup is None or lookup.state == "failed":
            return False
        if lookup.state == "queued" or lookup.job_id is None:
            return True
        progress = self.progress(lookup.job_id)
        return (
            progress is not None
            and not progress.finished
            and number not in self.answers(lookup.job_id)
        )

    def progress_text(self, job_id: str) -> str:
        """Return a short progress text for a cell: "checking… 40%"."""
        progress = self.progress(job_id)
        if progress is None:
            return QUEUED_TEXT
        if progress.processing:
            return f"checking… {100 * progress.processed // progress.processing}%"
        return "checking…"

    def status(self, number: str, lookup: Lookup) -> dict[str, Any]:
        """Return the poll answer for a number the coalescer knows."""
        if lookup.state == "failed":
            return _result("error", number, reason=lookup.reason)
        if lookup.state == "queued" or lookup.job_id is None:
            return _result("pending", number, progress=QUEUED_TEXT)
        answer = self.answers(lookup.job_id).get(number)
        if answer is None:
            return _result(
                "pending",
                number,
                job_id=lookup.job_id,
                progress=self.progress_text(lookup.job_id),
            )
        if answer.answer == "error":
            return _result("error", number, reason=answer.reason, job_id=lookup.job_id)
        return _result("done", number, answer=answer.answer, job_id=lookup.job_id)


def _normalize_item(item: dict[str, Any], default_region: str) -> tuple[str | None, str | None]:
    """Return (E.164, None) or (None, reason) for one look-up item."""
    region = item.get("region") or default_region
    try:
        region = validate_region(region)
    except ValueError as exc:
        return None, str(exc)
    result = normalize(item["value"], region)
    return result.e164, result.reason


def _list_field(body: dict[str, Any], name: str) -> list[Any]:
    """Return ``body[name]`` as a list of at most ``MAX_ITEMS``, or raise ``ApiError``."""
    value = body.get(name)
    if not isinstance(value, list):
        raise ApiError(400, "bad_request", f"'{name}' must be a list")
    if len(value) > MAX_ITEMS:
        raise ApiError(
            413,
            "too_many_items",
            f"send at most {MAX_ITEMS:,} {name} per request, not {len(value):,}",
        )
    return value


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
