"""Jobs for the task pane: history, one job's progress, cancel, and the user's word.

``resend`` and ``abandon`` are the pane's buttons for numbers that wait on an
upload whose outcome is unknown (the vendor may have billed it): only the user
may send such an upload again (it may bill twice) or give it up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app
from pydantic import BaseModel, ConfigDict, Field

from addin.engine.checker import Checker, JobProgress
from addin.web.engine_host import host_of
from addin.web.json_api import ApiError, NoBody, parse_body, parse_query, reply
from addin.web.team import own_job, sees_every_job, started_by

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")

DEFAULT_HISTORY = 50
MAX_HISTORY = 200


class HistoryQuery(BaseModel):
    """``GET /api/jobs?limit=N``: how many recent jobs (1 to ``MAX_HISTORY``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=DEFAULT_HISTORY, ge=1, le=MAX_HISTORY)


@bp.get("")
def history() -> Response:
    """Return recent jobs, newest first (``?limit=`` up to 200); on the team server, a
    user's own (an admin's: everyone's)."""
    query = parse_query(HistoryQuery)
    mine = None if sees_every_job() else started_by()
    with host_of(current_app).checker() as checker:
        jobs = checker.history(query.limit, started_by=mine)
    return reply(jobs=[job_json(progress) for progress in jobs])


@bp.get("/<job_id>")
def job(job_id: str) -> Response:
    """Return one job's progress."""
    with host_of(current_app).checker() as checker:
        progress = own_job(checker, job_id)
    return reply(**job_json(progress))


@bp.post("/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Stop a job's uploads and polls; say what was already billed."""
    parse_body(NoBody)
    with host_of(current_app).checker() as checker:
        own_job(checker, job_id)
        report = checker.cancel(job_id)
        progress = checker.progress(job_id)
    state = progress.state if progress is not None else "cancelled"
    return reply(
        job_id=report.job_id, tasks_stopped=report.tasks_stopped, billed=report.billed, state=state
    )


@bp.post("/<job_id>/resend")
def resend(job_id: str) -> Response:
    """The user's word: upload the job's uncertain tasks again (the vendor may bill twice)."""
    return _decide(job_id, "resent", Checker.resend)


@bp.post("/<job_id>/abandon")
def abandon(job_id: str) -> Response:
    """The user's word: give up the job's uncertain and paused tasks (their numbers say error)."""
    return _decide(job_id, "abandoned", Checker.abandon)


def _decide(job_id: str, done: str, decision: Callable[[Checker, str], int]) -> Response:
    """Carry out the user's word on a job's waiting tasks; 409 when nothing waits any more."""
    parse_body(NoBody)
    with host_of(current_app).checker() as checker:
        own_job(checker, job_id)
        count = decision(checker, job_id)
        if not count:
            raise ApiError(409, "nothing_waits", _NOTHING_WAITS.format(job_id=job_id))
        progress = checker.progress_of(job_id)
    return reply(job_id=job_id, job=job_json(progress), **{done: count})


_NOTHING_WAITS = (
    "nothing of job {job_id} waits for your word any more (it was sent again or given up)"
)


def job_json(progress: JobProgress) -> dict[str, Any]:
    """Return a job as JSON, with ``target`` (sheet and areas) for selection checks."""
    data = progress.as_dict()
    data["target"] = selection_target(progress.kind, progress.label)
    return data


def selection_target(kind: str, label: str) -> dict[str, Any] | None:
    """Return ``{"sheet", "areas"}`` parsed from a selection job's ``Sheet!A1:A9,C1:C3`` label."""
    if kind != "selection" or "!" not in label:
        return None
    sheet, areas = label.rsplit("!", 1)
    return {"sheet": sheet, "areas": [a for a in areas.split(",") if a]}
