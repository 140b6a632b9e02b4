"""The ribbon's "Check selection": plan and start a check, confirm it, write the results back.

``POST /xlwings/check-selection`` reads the selection payload, plans its
numbers and answers with xlwings actions that fill the answer column at once;
``POST /api/plans/<plan_id>/confirm`` or ``/discard`` settles a plan above the
confirmation threshold; ``POST /xlwings/write-results/<job_id>`` writes a job's
answers next to the cells that still hold their numbers.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from addin.engine.planning import Plan
from addin.web.answer_columns import (
    PENDING,
    UNCONFIRMED,
    check_column,
    read_area,
    result_column,
)
from addin.web.engine_host import host_of
from addin.web.json_api import ApiError, NoBody, parse_body, reply
from addin.web.xlwings_glue import (
    XlwingsPayload,
    answer_ranges,
    column_actions,
    read_selection,
)

bp = Blueprint("selection", __name__)


@bp.post("/xlwings/check-selection")
def check_selection() -> Response:
    """Plan the selection, start the check (or ask first) and fill the answer column."""
    host = host_of(current_app)
    selection = read_selection(_payload())
    region = selection.region_or(host.settings.region)
    areas = [read_area(cells, region) for cells in selection.cells]
    numbers = list(dict.fromkeys(n for area in areas for n in area.numbers))
    rows = sum(area.filled for area in areas)
    invalid = sum(area.invalid for area in areas)
    job_id = plan_id = None
    with host.checker() as checker:
        demo = checker.demo
        plan = checker.plan(numbers, rows=rows, invalid=invalid)
        needs_confirmation = plan.needs_confirmation(host.settings.confirm_above)
        if needs_confirmation:
            plan_id = host.plans.add(
                plan, numbers=numbers, label=selection.label, generation=host.generation
            )
        elif numbers:
            job_id = checker.submit(plan, kind="selection", label=selection.label)
    placeholder = UNCONFIRMED if needs_confirmation else PENDING
    columns = [
        check_column(area, hits=plan.hits, placeholder=placeholder, demo=demo) for area in areas
    ]
    return reply(
        job_id=job_id,
        plan_id=plan_id,
        needs_confirmation=needs_confirmation,
        plan=plan.summary(),
        message=_plan_message(plan, numbers_found=bool(numbers), confirm=needs_confirmation),
        sheet=selection.sheet_name,
        areas=[area.address for area in selection.areas],
        label=selection.label,
        format_ranges=answer_ranges(selection, [len(c) for c in columns]),
        actions=column_actions(selection, columns),
    )


@bp.post("/api/plans/<plan_id>/confirm")
def confirm_plan(plan_id: str) -> Response:
    """Start the check of a plan the user confirmed."""
    parse_body(NoBody)
    host = host_of(current_app)
    pending = host.plans.take(plan_id)
    if pending is None:
        raise ApiError(404, "plan_not_found", _PLAN_GONE)
    if pending.generation != host.generation:
        raise ApiError(
            409,
            "settings_changed",
            "the API key changed since this plan was made; check the selection again",
        )
    with host.checker() as checker:
        # Planned again: numbers answered or started meanwhile are not uploaded twice.
        plan = checker.plan(pending.numbers, rows=pending.plan.rows, invalid=pending.plan.invalid)
        job_id = checker.submit(plan, kind="selection", label=pending.label)
    return reply(job_id=job_id, plan=plan.summary())


@bp.post("/api/plans/<plan_id>/discard")
def discard_plan(plan_id: str) -> Response:
    """Forget a plan the user declined; nothing was billed."""
    parse_body(NoBody)
    if host_of(current_app).plans.take(plan_id) is None:
        raise ApiError(404, "plan_not_found", _PLAN_GONE)
    return reply(plan_id=plan_id, discarded=True)


@bp.post("/xlwings/write-results/<job_id>")
def write_results(job_id: str) -> Response:
    """Write a job's answers next to the cells that still hold the numbers it checked."""
    host = host_of(current_app)
    with host.checker() as checker:
        progress = checker.progress_of(job_id)
        selection = read_selection(_payload())
        region = selection.region_or(host.settings.region)
        areas = [read_area(cells, region) for cells in selection.cells]
        answers = checker.answers(job_id)
        others = {n for area in areas for n in area.numbers if n not in answers}
        cached = checker.cached_answers_for_job(job_id, others)
    outcomes = [result_column(area, answers=answers, cached=cached) for area in areas]
    written = sum(o.written for o in outcomes)
    skipped = sum(o.skipped for o in outcomes)
    message = f"{written:,} answers written"
    if skipped:
        rows = "row" if skipped == 1 else "rows"
        message += f"; {skipped:,} {rows} skipped: the number changed and has no answer yet"
    return reply(
        job_id=job_id,
        state=progress.state,
        finished=progress.finished,
        written=written,
        skipped=skipped,
        message=message,
        sheet=selection.sheet_name,
        areas=[area.address for area in selection.areas],
        format_ranges=answer_ranges(selection, [len(o.column) for o in outcomes]),
        actions=column_actions(selection, [o.column for o in outcomes]),
    )


def _payload() -> XlwingsPayload:
    """Return the request's xlwings payload, checked; up to the backend's body limit."""
    return parse_body(
        XlwingsPayload,
        code="bad_payload",
        shape_code="bad_payload",
        max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
    )


_PLAN_GONE = "this plan is unknown or expired (plans wait 15 minutes); check the selection again"


def _plan_message(plan: Plan, *, numbers_found: bool, confirm: bool) -> str:
    """Return one line describing the plan for the task pane."""
    if not numbers_found:
        return "nothing to check: no valid phone number in the selection" + (
            f" ({plan.invalid:,} invalid)" if plan.invalid else ""
        )
    tasks = f"{plan.tasks:,} task" + ("s" if plan.tasks != 1 else "")
    parts = [f"{plan.to_upload:,} numbers to check in {tasks}"]
    if plan.cache_hits:
        parts.append(f"{plan.cache_hits:,} answered from the cache")
    if plan.joined:
        parts.append(f"{plan.joined:,} already being checked")
    if plan.invalid:
        parts.append(f"{plan.invalid:,} invalid")
    if confirm:
        parts.append("confirm to start")
    return "; ".join(parts)
