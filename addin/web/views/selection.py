"""The ribbon's "Check selection": plan and start a check, confirm it, write the results back.

``POST /xlwings/check-selection`` reads the selection (in the body, or from an
upload session filled in chunks by ``/xlwings/uploads``), plans its numbers and
answers with xlwings actions that fill the answer column at once, or, when the
answer column holds the user's data, with the question where the answers should
go (nothing planned, nothing billed); ``POST /api/plans/<plan_id>/confirm`` or
``/discard`` settles a plan that waits (above the confirmation threshold, or
held until the pane has written its placeholders); ``POST
/xlwings/write-results/<job_id>`` writes a job's answers next to the cells that
still hold their numbers, never over the user's data.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from addin.engine.planning import Plan
from addin.web.answer_columns import (
    OUR_TEXTS,
    PENDING,
    UNCONFIRMED,
    check_column,
    conflict_examples,
    foreign_cells,
    keep_foreign,
    read_areas,
    result_column,
)
from addin.web.collection_pause import collection_paused
from addin.web.engine_host import Desk, desk_of, host_of
from addin.web.json_api import ApiError, NoBody, parse_body, reply
from addin.web.team import own_job, started_by
from addin.web.xlwings_glue import (
    ChunkBody,
    Selection,
    SelectionBody,
    SelectionError,
    UploadHeader,
    answer_ranges,
    column_actions,
    read_chunk,
    read_header,
    read_selection,
)

bp = Blueprint("selection", __name__)

#: What a cell says when its number was not sent: too few new numbers for one task.
HELD = "not sent: too few"
#: What a cell says when the v1 balance clearly cannot pay for the check.
NO_BALANCE = "not sent: balance"


@bp.post("/xlwings/uploads")
def open_upload() -> Response:
    """Open an upload session for a selection sent in chunks."""
    body = parse_body(UploadHeader, code="bad_payload", shape_code="bad_payload")
    header = read_header(body.sheet, body.region, body.areas)
    upload_id = desk_of(current_app).uploads.open(header, body.chunks)
    return reply(upload_id=upload_id, chunks=body.chunks, rows=header.rows, label=header.label)


@bp.put("/xlwings/uploads/<upload_id>/chunks/<index>")
@collection_paused()
def put_chunk(upload_id: str, index: str) -> Response:
    """Keep one chunk of an upload; the same chunk sent again is taken once."""
    body = parse_body(
        ChunkBody,
        code="bad_payload",
        shape_code="bad_payload",
        max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
    )
    desk = desk_of(current_app)
    header, expected = desk.uploads.header(upload_id)
    if not index.isdigit() or not index.isascii():
        raise SelectionError(
            "bad_upload", f"the chunk index must be 0 to {expected - 1}, not {index[:20]!r}"
        )
    chunk = read_chunk(header, body)
    received = desk.uploads.put(upload_id, int(index), chunk, request.content_length or 0)
    return reply(upload_id=upload_id, index=int(index), received=received, chunks=expected)


@bp.delete("/xlwings/uploads/<upload_id>")
def drop_upload(upload_id: str) -> Response:
    """Forget an upload the user cancelled."""
    parse_body(NoBody)
    if not desk_of(current_app).uploads.drop(upload_id):
        raise ApiError(404, "upload_not_found", f"upload {upload_id!r} is unknown or expired")
    return reply(upload_id=upload_id, dropped=True)


@bp.post("/xlwings/check-selection")
@collection_paused()
def check_selection() -> Response:
    """Plan the selection, start the check (or ask first) and fill the answer column."""
    body = _body()
    host = host_of(current_app)
    desk = desk_of(current_app)
    overwrite, start = body.overwrite, body.start
    selection = _selection(desk, body)
    conflict = None if overwrite else _conflict(selection)
    if conflict is not None:
        # The user's data is in the way: ask before anything is planned or billed.
        return reply(
            job_id=None,
            plan_id=None,
            needs_confirmation=False,
            needs_choice=True,
            conflict=conflict,
            plan=None,
            message=conflict["message"],
            sheet=selection.sheet_name,
            areas=[area.address for area in selection.areas],
            label=selection.label,
            format_ranges=[],
            actions=[],
        )
    region = selection.region_or(host.settings.region)
    areas = read_areas(selection.cells, region, normalize_cells=host.normalizer.normalize)
    numbers = list(dict.fromkeys(n for area in areas for n in area.numbers))
    rows = sum(area.filled for area in areas)
    invalid = sum(area.invalid for area in areas)
    job_id = plan_id = None
    refusal: str | None = None
    with host.checker() as checker:
        demo = checker.demo
        plan = checker.plan(numbers, rows=rows, invalid=invalid, user=started_by())
        summary = plan.summary()
        needs_confirmation = plan.needs_confirmation(host.settings.confirm_above)
        if needs_confirmation and plan.tasks and checker.has_vendor_balance:
            # The pane shows this plan to a person: the one moment v1's (possibly
            # billed) balance route is worth asking.
            balance = checker.vendor_balance()
            summary["balance"] = balance
            if balance is not None and balance < plan.billed_minimum:
                needs_confirmation = False
                refusal = (
                    f"stopped before billing: the balance of {balance:,.0f} is below the"
                    f" {plan.billed_minimum:,} requests this check is certain to be billed;"
                    " top up the balance and check again"
                )
        if refusal is None and (needs_confirmation or (numbers and not start)):
            plan_id = desk.plans.add(
                plan, numbers=numbers, label=selection.label, generation=host.generation
            )
        elif numbers and refusal is None:
            job_id = checker.submit(
                plan, kind="selection", label=selection.label, started_by=started_by()
            )
    placeholder = UNCONFIRMED if needs_confirmation else (HELD if plan.held else PENDING)
    if refusal is not None:
        placeholder = NO_BALANCE
    columns = [
        keep_foreign(
            check_column(area, hits=plan.hits, placeholder=placeholder, demo=demo),
            target,
            overwrite=overwrite,
        )[0]
        for area, target in zip(areas, selection.targets, strict=True)
    ]
    return reply(
        job_id=job_id,
        plan_id=plan_id,
        needs_confirmation=needs_confirmation,
        needs_choice=False,
        conflict=None,
        plan=summary,
        message=refusal
        or _plan_message(plan, numbers_found=bool(numbers), confirm=needs_confirmation),
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
    pending = desk_of(current_app).plans.take(plan_id)
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
        plan = checker.plan(
            pending.numbers,
            rows=pending.rows,
            invalid=pending.invalid,
            user=started_by(),
        )
        job_id = checker.submit(
            plan, kind="selection", label=pending.label, started_by=started_by()
        )
    return reply(job_id=job_id, plan=plan.summary())


@bp.post("/api/plans/<plan_id>/discard")
def discard_plan(plan_id: str) -> Response:
    """Forget a plan the user declined; nothing was billed."""
    parse_body(NoBody)
    if desk_of(current_app).plans.take(plan_id) is None:
        raise ApiError(404, "plan_not_found", _PLAN_GONE)
    return reply(plan_id=plan_id, discarded=True)


@bp.post("/xlwings/write-results/<job_id>")
@collection_paused()
def write_results(job_id: str) -> Response:
    """Write a job's answers next to the cells that still hold the numbers it checked."""
    host = host_of(current_app)
    with host.checker() as checker:
        progress = own_job(checker, job_id)
        selection = _selection(desk_of(current_app), _body())
        region = selection.region_or(host.settings.region)
        areas = read_areas(selection.cells, region, normalize_cells=host.normalizer.normalize)
        answers = checker.answers(job_id)
        others = {n for area in areas for n in area.numbers if n not in answers}
        cached = checker.cached_answers_for_job(job_id, others)
    outcomes = [result_column(area, answers=answers, cached=cached) for area in areas]
    # Cells the user filled meanwhile (a note typed over "pending") keep what they hold.
    planned = [
        keep_foreign(o.column, target, overwrite=False)
        for o, target in zip(outcomes, selection.targets, strict=True)
    ]
    kept = sum(k for _, k in planned)
    written = sum(o.written for o in outcomes) - kept
    skipped = sum(o.skipped for o in outcomes)
    message = f"{written:,} answers written"
    if skipped:
        rows = "row" if skipped == 1 else "rows"
        message += f"; {skipped:,} {rows} skipped: the number changed and has no answer yet"
    if kept:
        cells = "cell holds" if kept == 1 else "cells hold"
        message += f"; {kept:,} not written: the answer {cells} other data now"
    return reply(
        job_id=job_id,
        state=progress.state,
        finished=progress.finished,
        written=written,
        skipped=skipped,
        kept=kept,
        message=message,
        sheet=selection.sheet_name,
        areas=[area.address for area in selection.areas],
        format_ranges=answer_ranges(selection, [len(o.column) for o in outcomes]),
        actions=column_actions(selection, [column for column, _ in planned]),
    )


def _body() -> SelectionBody:
    """Return the request's selection body, checked; up to the backend's body limit."""
    return parse_body(
        SelectionBody,
        code="bad_payload",
        shape_code="bad_payload",
        max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
    )


def _selection(desk: Desk, body: SelectionBody) -> Selection:
    """Return the selection in ``body``, or the one its ``upload_id`` names (used once)."""
    if body.upload_id is not None:
        if body.sheet is not None or body.areas is not None:
            raise SelectionError(
                "bad_payload", "send either the selection or an upload_id, not both"
            )
        return desk.uploads.take(body.upload_id)
    return read_selection(body)


def _conflict(selection: Selection) -> dict[str, Any] | None:
    """Return what stands in the answer columns when any cell there holds the user's data."""
    areas: list[dict[str, Any]] = []
    for area, target in zip(selection.areas, selection.targets, strict=True):
        offsets = foreign_cells(target)
        if offsets:
            areas.append(
                {
                    "address": area.address,
                    "target_column": area.target_letters,
                    "cells": len(offsets),
                    "examples": conflict_examples(
                        area.first_row, area.target_column, offsets, target
                    ),
                }
            )
    if not areas:
        return None
    cells = sum(a["cells"] for a in areas)
    columns = ", ".join(dict.fromkeys(a["target_column"] for a in areas))
    examples = "; ".join(e for a in areas for e in a["examples"][:2])
    noun = "column" if len(areas) == 1 else "columns"
    held = "cell" if cells == 1 else "cells"
    message = (
        f"the answer {noun} {columns} {'holds' if len(areas) == 1 else 'hold'} other data in"
        f" {cells:,} {held} ({examples}): write into the first free column to the right,"
        " overwrite, or cancel; nothing was billed"
    )
    return {"cells": cells, "areas": areas, "free_texts": sorted(OUR_TEXTS), "message": message}


_PLAN_GONE = "this plan is unknown or expired (plans wait 15 minutes); check the selection again"


def _plan_message(plan: Plan, *, numbers_found: bool, confirm: bool) -> str:
    """Return one line describing the plan for the task pane."""
    if not numbers_found:
        return "nothing to check: no valid phone number in the selection" + (
            f" ({plan.invalid:,} invalid)" if plan.invalid else ""
        )
    tasks = f"{plan.tasks:,} task" + ("s" if plan.tasks != 1 else "")
    parts = [f"{plan.to_upload - plan.held:,} numbers to check in {tasks}"]
    if plan.held:
        parts.append(
            f"{plan.held:,} not sent: fewer new numbers than the vendor's minimum of"
            f" {plan.min_size:,} per task (nothing billed, nothing added); select more"
            " numbers and check again"
        )
    if plan.cache_hits:
        parts.append(f"{plan.cache_hits:,} answered from the cache")
    if plan.joined:
        parts.append(f"{plan.joined:,} already being checked")
    if plan.invalid:
        parts.append(f"{plan.invalid:,} invalid")
    if confirm:
        parts.append("confirm to start")
    return "; ".join(parts)
