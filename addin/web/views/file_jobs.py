"""Jobs of files read elsewhere: the routes behind ``fbcheck check --server URL INPUT``.

The command line reads the file where it is and sends only its distinct valid
numbers (``addin.web.file_numbers``), then follows the job through
``GET /api/jobs/<id>`` like the task pane, and writes the output file itself:

1. ``POST /api/file-jobs`` with the input's fingerprint: an unfinished job of the same
   input (a run interrupted, or one whose uploads wait for the user's word) is
   answered at once, ``{"job_id", "continued": true}``, so running the same command
   again follows that job and never starts (or pays for) a second one; otherwise an
   upload session opens, ``{"upload_id"}``;
2. ``PUT /api/file-jobs/uploads/<upload_id>/chunks/<i>``: the numbers, in chunks;
3. ``POST /api/file-jobs/uploads/<upload_id>/plan``: the estimate, nothing billed; the
   plan waits 15 minutes (``POST /api/plans/<plan_id>/discard`` drops it);
4. ``POST /api/file-jobs/plans/<plan_id>/start``: planned again and started (v1: not
   when the balance clearly cannot pay, 402 ``balance_too_low``);
5. ``GET /api/file-jobs/<job_id>/answers?after=&limit=``: the answers, by number.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ConfigDict, Field

from addin.engine.checker import input_fingerprint
from addin.engine.planning import balance_shortfall
from addin.web.engine_host import desk_of, host_of
from addin.web.file_numbers import (
    E164Text,
    FileHeader,
    NumbersChunk,
    OpenFileJob,
    checked_chunk,
)
from addin.web.json_api import ApiError, parse_body, parse_query, reply
from addin.web.team import own_job, started_by
from addin.web.xlwings_glue import SelectionError

bp = Blueprint("file_jobs", __name__, url_prefix="/api/file-jobs")

#: Answers in one page of ``GET /api/file-jobs/<job_id>/answers``.
DEFAULT_ANSWERS_PAGE = 50_000
MAX_ANSWERS_PAGE = 200_000
#: The job kind of a file checked from the command line, local or on a server.
FILE_JOB_KIND = "cli"


class PlanFileJob(BaseModel):
    """``POST .../plan``: the input's rows and invalid rows (for the estimate), its name."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    rows: int = Field(ge=0, le=10_000_000)
    invalid: int = Field(ge=0, le=10_000_000)
    label: str = Field(default="", max_length=300)


class StartFileJob(BaseModel):
    """``POST .../start``: nothing, or ``{}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AnswersQuery(BaseModel):
    """``GET .../answers?after=+41...&limit=N``: the page after a number, in number order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: E164Text | None = None
    limit: int = Field(default=DEFAULT_ANSWERS_PAGE, ge=1, le=MAX_ANSWERS_PAGE)


@bp.post("")
def open_file_job() -> Response:
    """Answer the unfinished job of the same input, or open an upload for its numbers."""
    body = parse_body(OpenFileJob)
    host = host_of(current_app)
    if not body.refresh:
        with host.checker() as checker:
            existing = checker.open_job(body.fingerprint, started_by=started_by())
        if existing is not None:
            return reply(job_id=existing, continued=True, upload_id=None)
    upload_id = desk_of(current_app).file_uploads.open(
        FileHeader(body.fingerprint, body.refresh), body.chunks
    )
    return reply(job_id=None, continued=False, upload_id=upload_id, chunks=body.chunks)


@bp.put("/uploads/<upload_id>/chunks/<index>")
def put_numbers(upload_id: str, index: str) -> Response:
    """Keep one chunk of numbers; the same chunk sent again is taken once."""
    body = parse_body(NumbersChunk, code="bad_upload", shape_code="bad_upload")
    uploads = desk_of(current_app).file_uploads
    _, expected = uploads.header(upload_id)
    if not index.isdigit() or not index.isascii():
        raise SelectionError(
            "bad_upload", f"the chunk index must be 0 to {expected - 1}, not {index[:20]!r}"
        )
    chunk = checked_chunk(body)
    size = request.content_length or 0
    received = uploads.put(upload_id, int(index), chunk, size)
    return reply(upload_id=upload_id, index=int(index), received=received, chunks=expected)


@bp.post("/uploads/<upload_id>/plan")
def plan_file_job(upload_id: str) -> Response:
    """Plan the uploaded numbers (nothing billed) and keep the plan for ``start``."""
    body = parse_body(PlanFileJob)
    host = host_of(current_app)
    desk = desk_of(current_app)
    sent = desk.file_uploads.take(upload_id)
    if input_fingerprint(FILE_JOB_KIND, sent.numbers) != sent.header.fingerprint:
        raise ApiError(
            400,
            "bad_upload",
            "the numbers sent do not match the fingerprint the upload was opened with;"
            " run the command again",
        )
    with host.checker() as checker:
        plan = checker.plan(
            sent.numbers,
            refresh=sent.header.refresh,
            rows=body.rows,
            invalid=body.invalid,
            user=started_by(),
        )
    plan_id = desk.plans.add(
        plan, numbers=sent.numbers, label=body.label, generation=host.generation
    )
    return reply(plan_id=plan_id, plan=plan.summary())


@bp.post("/plans/<plan_id>/start")
def start_file_job(plan_id: str) -> Response:
    """Start a planned file job, or answer the unfinished one of the same input."""
    parse_body(StartFileJob)
    host = host_of(current_app)
    pending = desk_of(current_app).plans.take(plan_id)
    if pending is None:
        raise ApiError(
            404,
            "plan_not_found",
            "this plan is unknown or expired (plans wait 15 minutes); run the command again",
        )
    if pending.generation != host.generation:
        raise ApiError(
            409,
            "settings_changed",
            "the server's vendor key changed since this plan was made; run the command again",
        )
    fingerprint = input_fingerprint(FILE_JOB_KIND, pending.numbers)
    refresh = pending.refresh
    with host.checker() as checker:
        # Another run of the same input may have started it meanwhile: follow that one.
        existing = None if refresh else checker.open_job(fingerprint, started_by=started_by())
        if existing is not None:
            return reply(job_id=existing, continued=True, plan=None, balance=None)
        # Planned again: numbers answered or started meanwhile are not uploaded twice.
        plan = checker.plan(
            pending.numbers,
            refresh=refresh,
            rows=pending.rows,
            invalid=pending.invalid,
            user=started_by(),
        )
        balance = None
        balance_error = None
        if plan.tasks and checker.has_vendor_balance:
            balance = checker.vendor_balance()
            balance_error = checker.balance_error if balance is None else None
            refusal = None if balance is None else balance_shortfall(balance, plan.billed_minimum)
            if refusal is not None:
                raise ApiError(402, "balance_too_low", f"stopped before billing: {refusal}")
        job_id = checker.submit(
            plan,
            kind=FILE_JOB_KIND,
            label=pending.label,
            fingerprint=fingerprint,
            started_by=started_by(),
        )
    return reply(
        job_id=job_id,
        continued=False,
        plan=plan.summary(),
        balance=balance,
        balance_error=balance_error,
    )


@bp.get("/<job_id>/answers")
def answers(job_id: str) -> Response:
    """Return a page of the job's answers in number order: ``[e164, answer, reason, ...]``."""
    query = parse_query(AnswersQuery)
    with host_of(current_app).checker() as checker:
        # Another user's job is unknown here (404), as on GET /api/jobs/<id>.
        own_job(checker, job_id)
        # One more than asked: whether a next page exists, without counting the rest.
        found = checker.answers_page(job_id, after=query.after, limit=query.limit + 1)
    page = found[: query.limit]
    rows = [[n, a.answer, a.reason, a.source, a.checked_at] for n, a in page]
    more = len(found) > query.limit
    return reply(job_id=job_id, answers=rows, next=page[-1][0] if more and page else None)
