"""Constants the add-in's JavaScript and the Python backend must agree on, read from the source.

Each pair is one rule written twice because the two languages cannot import each
other; this test reads the ``const NAME = ...`` lines of ``addin/static/*.js`` and
fails as soon as one side changes without the other.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from addin.engine.states import JobState
from addin.formats import OUTCOMES, column_letters
from addin.web import answer_columns, coalescer, security, team, xlwings_glue
from addin.web.views import lookups

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "addin" / "static"

_CONST = re.compile(r"^(?:export\s+)?const\s+([A-Z][A-Z0-9_]*)\s*=\s*", re.MULTILINE)
_SET = re.compile(r"new\s+Set\((.*)\)", re.DOTALL)
_ARITHMETIC = re.compile(r"[0-9\s*+\-()]+")
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_$][A-Za-z0-9_$]*)\s*:")
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


def _expression_end(source: str, start: int) -> int:
    """Return the index of the ``;`` ending the expression at ``start`` (outside strings)."""
    depth = 0
    quote: str | None = None
    index = start
    while index < len(source):
        char = source[index]
        if quote is not None:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ";" and depth == 0:
            return index
        index += 1
    raise ValueError(f"no ';' ends the expression at offset {start}")


def _arithmetic(text: str) -> int:
    """Evaluate integer arithmetic such as ``4 * 1024 * 1024`` without eval."""
    operators: dict[type[ast.operator], Callable[[int, int], int]] = {
        ast.Mult: lambda a, b: a * b,
        ast.Add: lambda a, b: a + b,
        ast.Sub: lambda a, b: a - b,
    }

    def value(node: ast.expr) -> int:
        """Return the value of one node of the expression."""
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in operators:
            return operators[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"not integer arithmetic: {text!r}")

    return value(ast.parse(text.strip(), mode="eval").body)


def js_literal(text: str) -> object:
    """Return the Python value of a JavaScript literal: string, number, array, object, Set."""
    text = text.strip()
    if match := _SET.fullmatch(text):
        items = js_literal(match[1])
        assert isinstance(items, list), text
        return frozenset(items)
    if _ARITHMETIC.fullmatch(text):
        return _arithmetic(text)
    return json.loads(_TRAILING_COMMA.sub(r"\1", _BARE_KEY.sub(r'\1"\2":', text)))


def js_constants(name: str, folder: Path = STATIC) -> dict[str, object]:
    """Return every upper-case ``const`` of the script ``folder/name`` with its value."""
    source = (folder / name).read_text(encoding="utf-8")
    constants: dict[str, object] = {}
    for match in _CONST.finditer(source):
        end = _expression_end(source, match.end())
        constants[match[1]] = js_literal(source[match.end() : end])
    return constants


def js_constant(name: str, constant: str) -> object:
    """Return one constant of one script, failing clearly when it is gone."""
    constants = js_constants(name)
    assert constant in constants, f"{name} no longer defines {constant} (found {sorted(constants)})"
    return constants[constant]


# -- the reader itself -----------------------------------------------------------------


def test_reader_parses_every_kind_of_literal(tmp_path: Path) -> None:
    (tmp_path / "x.js").write_text(
        'export const A = "a;b";\nconst B = 4 * 1024 * 1024;\nexport const C = [\n'
        '  { text: "yes", fill: "#C6EFCE" },\n];\nconst D = new Set(["x", "y"]);\n'
        "const lower = 1;\n",
        encoding="utf-8",
    )
    assert js_constants("x.js", tmp_path) == {
        "A": "a;b",
        "B": 4 * 1024 * 1024,
        "C": [{"text": "yes", "fill": "#C6EFCE"}],
        "D": frozenset({"x", "y"}),
    }


def test_every_script_constant_is_readable() -> None:
    """A constant the reader cannot parse would hide drift: every script must parse."""
    scripts = sorted(path.name for path in STATIC.glob("*.js"))
    assert scripts
    read = {name: js_constants(name) for name in scripts}
    assert sum(len(constants) for constants in read.values()) >= 10


# -- the contract ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "constant", "python"),
    [
        ("lookup-batcher.js", "MAX_ITEMS", lookups.MAX_ITEMS),
        ("lookup-batcher.js", "AWAITING_CONFIRMATION_TEXT", lookups.AWAITING_CONFIRMATION_TEXT),
        ("selection-check.js", "PENDING", answer_columns.PENDING),
        ("selection-check.js", "UNCONFIRMED", answer_columns.UNCONFIRMED),
        ("backend-client.js", "CLIENT_HEADER", security.CLIENT_HEADER),
        ("sign-in.js", "SIGN_IN_CODES", list(team.SIGN_IN_CODES)),
        ("excel-payload.js", "MAX_SELECTED_ROWS", xlwings_glue.MAX_SELECTION_ROWS),
        # One documented figure: writes go in blocks of at most 20,000 rows.
        ("excel-actions.js", "WRITE_BLOCK_ROWS", xlwings_glue.MAX_ROWS_PER_ACTION),
    ],
)
def test_javascript_mirrors_python(script: str, constant: str, python: object) -> None:
    assert js_constant(script, constant) == python, f"{script} {constant} != the backend's"


def test_the_page_hands_a_trickle_over_before_the_backend_ends_its_batch() -> None:
    # The page sends a batch at least every MAX_HOLD_MS while Excel keeps calling; the
    # backend ends a batch after DEFAULT_QUIET seconds without a new number, so the
    # page's batches of one slow recalculation must come closer than that.
    hold_ms = js_constant("lookup-batcher.js", "MAX_HOLD_MS")
    delay_ms = js_constant("lookup-batcher.js", "BATCH_DELAY_MS")
    assert isinstance(hold_ms, int)
    assert isinstance(delay_ms, int)
    assert delay_ms <= hold_ms < coalescer.DEFAULT_QUIET * 1000


def test_answer_colours_cover_every_outcome_once() -> None:
    colours = js_constant("excel-actions.js", "ANSWER_COLOURS")
    assert isinstance(colours, list)
    texts = [entry["text"] for entry in colours]
    assert sorted(texts) == sorted({*OUTCOMES, answer_columns.CANCELLED})
    colour_values = [entry[key] for entry in colours for key in ("fill", "font")]
    assert all(re.fullmatch(r"#[0-9A-F]{6}", value) for value in colour_values)


def test_the_page_stops_following_a_job_the_engine_has_finished() -> None:
    """Every job state but running ends the job; the page must stop polling on each."""
    final = js_constant("selection-check.js", "FINAL_STATES")
    assert isinstance(final, frozenset)
    assert {state.value for state in JobState if state is not JobState.RUNNING} <= final
    assert JobState.RUNNING.value not in final


def test_xlwings_payload_version_is_the_pinned_minimum() -> None:
    """The book the actions are written through claims the version pyproject pins."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [dep for dep in project["project"]["dependencies"] if dep.startswith("xlwings")]
    assert pins == [f"xlwings>={xlwings_glue.XLWINGS_PAYLOAD_VERSION}"]


def test_the_spill_marker_is_the_backends() -> None:
    """A spilled answer cell is sent as the marker the backend's rule knows is not ours."""
    assert js_constant("excel-payload.js", "SPILL_CELL") == answer_columns.SPILL
    assert not answer_columns.is_free(answer_columns.SPILL)


def test_requests_stay_under_excel_on_the_webs_five_megabytes() -> None:
    chunk = js_constant("selection-upload.js", "CHUNK_BYTES")
    limit = js_constant("selection-upload.js", "MAX_REQUEST_BYTES")
    assert isinstance(chunk, int)
    assert isinstance(limit, int)
    assert chunk < limit <= 5 * 1000 * 1000


def test_javascript_column_letters_match_python() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript column letters were not compared")
    indexes = [*range(0, 800), 16_383]
    script = (
        "import { columnLetters } from './addin/static/excel-payload.js';\n"
        f"console.log(JSON.stringify({json.dumps(indexes)}.map(columnLetters)));\n"
    )
    completed = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == [column_letters(index) for index in indexes]
