"""A large selection planned into cells: warm workers, a fast read, the same answers (issue 12).

``fbcheck serve`` keeps normalising workers warm and shares large selections with
them; the body's cells are checked as a whole and each distinct cell normalised once
for all areas. Every answer must be the one the cell-by-cell reading gives: compared
here on a seeded mix of every region's numbers in every notation, with junk.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pytest

from addin.engine.normalizer_pool import PARALLEL_FROM
from addin.engine.phones import normalize_once
from addin.web.answer_columns import is_header, read_areas
from addin.web.engine_host import host_of
from tests.engine import phonenumbers_probe as probe
from tests.web.conftest import AddinClient
from tests.web.engine_app import engine_app, number, ok, payload, post, refused

CHECK = "/xlwings/check-selection"
#: Cells of every JSON type a cell value takes, some of them equal in Python.
ODD_CELLS: list[Any] = [True, False, 1, 1.0, 0, 0.0, None, "", "  ", 41798284651, 41798284651.0]


@pytest.fixture(scope="module")
def cells() -> list[Any]:
    """The seeded global sample (as JSON carries it), odd cells, repeats, Swiss numbers."""
    sample: list[Any] = [value for value, _ in probe.sample()]
    swiss = [number(i) for i in range(PARALLEL_FROM - 10_000)]
    return ["Phone", *sample, *ODD_CELLS, *swiss, *reversed(sample), *ODD_CELLS]


def read_row_by_row(cells: Sequence[object], region: str) -> tuple[bool, list[Any]]:
    """Return the header flag and each row's outcome as the row-by-row reading made them."""
    header = bool(cells) and is_header(cells[0], region)
    rows: list[Any] = []
    seen: dict[Hashable, Any] = {}
    for position, value in enumerate(cells):
        if (position == 0 and header) or value is None or value == "":
            rows.append(None)
            continue
        key: Hashable = value if type(value) is str else (type(value), value)
        if key not in seen:
            seen[key] = normalize_once(value, region)
        rows.append(seen[key])
    return header, rows


def test_reading_all_areas_at_once_gives_each_row_its_own_reading(cells: list[Any]) -> None:
    """Three areas (one without a header, one empty) read in one batch, row for row."""
    areas = [cells[: len(cells) // 2], cells[len(cells) // 2 :], []]
    for region in ("US", "CH"):
        for area, read in zip(areas, read_areas(areas, region), strict=True):
            header, rows = read_row_by_row(area, region)
            assert (read.header, read.rows) == (header, rows)


def _check(client: AddinClient, cells: list[Any], target: list[Any] | None = None) -> Any:
    """Send the cells as column A (answers in B) and return the response."""
    area = (f"A1:A{len(cells)}", cells, target if target is not None else [""] * len(cells))
    return post(client, CHECK, {**payload(area, region="US"), "start": False})


def test_warm_workers_plan_and_write_what_the_backend_alone_does(
    tmp_path: Path, cells: list[Any]
) -> None:
    """The same plan, message and setValues actions with a warm worker as without one."""
    answers = []
    for workers in (1, 0):
        with engine_app(tmp_path / f"workers-{workers}", normalize_workers=workers) as app:
            answer = ok(_check(AddinClient(app), cells))
            answer.pop("plan_id")
            shared = host_of(app).normalizer.cells_shared
            assert shared > 0 if workers else shared == 0
            answers.append(answer)
    assert answers[0] == answers[1]
    assert answers[0]["plan"]["distinct"] > PARALLEL_FROM / 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("x" * 32_768, "areas[0].values: row {row} holds a text of 32,768 characters"),
        (10**21, "areas[0].values: row {row} holds an integer too large for a cell"),
        (-(10**21), "areas[0].values: row {row} holds an integer too large for a cell"),
        ([1], "areas[0].values: row {row} holds a list"),
        ({"spill": True}, "areas[0].values: row {row} holds an object"),
    ],
)
def test_one_bad_cell_among_many_is_named_by_its_row(
    client: AddinClient, cells: list[Any], bad: Any, message: str
) -> None:
    """A large body checked as a whole still names the first bad row, and plans nothing."""
    row = len(cells) - 3
    sent = [*cells[: row - 1], bad, *cells[row:]]
    body = refused(_check(client, sent), 400, "bad_payload")
    assert message.format(row=row) in body["message"]
    assert "each cell must be a cell value" in body["message"]


def test_cells_at_the_bounds_of_a_cell_value_are_taken(client: AddinClient) -> None:
    """The longest text, the largest integers and every other type: no refusal."""
    edge = ["x" * 32_767, 10**21 - 1, -(10**21) + 1, True, None, 1.5, ""]
    answer = ok(_check(client, [number(1), *edge]))
    assert answer["plan"]["invalid"] == 5


def test_a_bad_answer_cell_among_many_is_named_by_its_row(
    client: AddinClient, cells: list[Any]
) -> None:
    """The answer column too; a spill marker among many empty cells is a conflict, not an error."""
    target: list[Any] = [""] * len(cells)
    target[-2] = [1]
    body = refused(_check(client, cells, target), 400, "bad_payload")
    assert f"areas[0].target: row {len(cells) - 1} holds a list" in body["message"]
    target[-2] = {"spill": True}
    answer = ok(_check(client, cells, target))
    assert answer["needs_choice"] is True
    assert answer["conflict"]["cells"] == 1
