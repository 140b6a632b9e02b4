"""Untrusted JSON documents read safely, and pydantic's complaints as one sentence.

The one rule for every JSON request body, used by the add-in backend
(:func:`addin.web.json_api.parse_body`) and by the emulator
(:mod:`mock_server.request_bodies`); no Flask in here.

:func:`load_json` turns bytes into a JSON value or raises :class:`BodyError`:

- the bytes must be UTF-8 text (JSON's only encoding on the wire, RFC 8259 §8.1);
- nesting is measured *before* parsing, at C speed, and refused beyond a
  bound: Python's ``json`` recurses once per level, so 100,000 ``[`` would
  otherwise end in RecursionError (or worse, a crash of a thread's stack);
- ``NaN``, ``Infinity`` and numbers that overflow a double (``1e400``) are
  refused: JSON has no such numbers and they poison arithmetic downstream.

:func:`describe_errors` turns a pydantic ``ValidationError`` into one sentence
that names each field by its path (``items[3].region``), never repeating the
rejected value (it may be an API key pasted by mistake). A validator that
raises ``ValueError("must be ...")`` reads as ``"<field> must be ..."``; any
other message is prefixed with the field's path unless it starts with it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Any

from pydantic import ValidationError

#: Deepest nesting of arrays and objects a body may have unless its reader says otherwise.
#: Every body of both apps nests a few levels; the selection payload nests four.
DEFAULT_MAX_DEPTH = 32

#: A JSON string, escapes included (the "unrolled loop" form: linear, no backtracking).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Outside strings, keep only brackets, and make ``{}`` look like ``[]``.
_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_A_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
#: ``[`` as 2 and ``]`` as 0: minus one, the change of depth at each bracket.
_STEPS = bytes.maketrans(b"[]", b"\x02\x00")
#: Innermost-pair passes before the remaining brackets are walked one by one.
_PASSES = 64


#: How :func:`describe_errors` words a field the model does not have.
UNKNOWN_FIELD = "{name} is not accepted here; accepted: {accepted}"


class BodyError(ValueError):
    """A body that is not a JSON document this reader accepts; the message says why."""


def nesting_depth(data: bytes, *, stop_after: int | None = None) -> int:
    """Return the deepest nesting of arrays and objects in ``data``, brackets in strings aside.

    Works on the bytes without parsing them and without recursion: strings are
    cut out and everything but brackets dropped, then each pass removes every
    innermost ``[]`` pair (a C-level scan), so the usual shallow document takes a
    few passes; past :data:`_PASSES` the rest is walked bracket by bracket.
    ``stop_after`` ends the count early once it is exceeded. Brackets that never
    close count as levels too: ``[[[`` has depth 3.
    """
    brackets = _STRING.sub(b"", data).translate(_BRACKETS_ONLY, _NOT_A_BRACKET)
    depth = 0
    while b"[]" in brackets:
        if stop_after is not None and depth > stop_after:
            return depth
        if depth == _PASSES:
            # What is left nests as deep as the document did, less the passes made.
            steps = accumulate(step - 1 for step in brackets.translate(_STEPS))
            return depth + max(0, *steps)
        brackets = brackets.replace(b"[]", b"")
        depth += 1
    # Only brackets that never match are left (``]]][[[``): count each opener as a level.
    return depth + brackets.count(b"[")


def _refuse_constant(name: str) -> Any:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity``, which Python's json accepts."""
    raise BodyError(f"{name} is not a JSON number; send a finite number")


def _finite_float(text: str) -> float:
    """Return a JSON number with a fraction or exponent as a float; refuse an overflow."""
    number = float(text)
    if not math.isfinite(number):
        raise BodyError(f"the number {text[:40]} is too large for a double")
    return number


def load_json(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Return the JSON value of ``data``, or raise ``BodyError`` saying what is wrong.

    ``data`` must be UTF-8 (a byte-order mark is refused, as RFC 8259 allows),
    nest at most ``max_depth`` arrays and objects and hold only finite numbers.
    An empty body is refused too: callers that allow none check for it first.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise BodyError("the body is empty; send a JSON document")
    # No document nests deeper than it has openers (those in strings too): a body with
    # few of them, such as a selection of a million cells, needs no closer look.
    if data.count(b"[") + data.count(b"{") > max_depth:
        depth = nesting_depth(data, stop_after=max_depth)
        if depth > max_depth:
            raise BodyError(_too_deep(max_depth))
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except BodyError:
        raise
    except RecursionError:  # not reached after the depth check; kept as a last guard
        raise BodyError(_too_deep(max_depth)) from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except ValueError:  # the only other one: an integer longer than Python converts
        raise BodyError(
            f"the body is not valid JSON here: a number of more than"
            f" {sys.get_int_max_str_digits():,} digits"
        ) from None


def _too_deep(max_depth: int) -> str:
    """Return the message for a body nested deeper than ``max_depth``."""
    return f"the body nests too deep: at most {max_depth} levels of arrays and objects are read"


def field_path(location: Sequence[int | str]) -> str:
    """Return a pydantic error location as people write it: ``items[3].region``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "the body"


def describe_errors(
    exc: ValidationError,
    *,
    unknown_field: str = UNKNOWN_FIELD,
    accepted: Iterable[str] = (),
    limit: int = 3,
) -> str:
    """Return pydantic's complaints as one sentence naming each field, without the values.

    ``unknown_field`` words an extra field of the top object (``{name}`` and
    ``{accepted}``, the names in ``accepted``); at most ``limit`` complaints are listed, then how
    many more there are.
    """
    names = ", ".join(accepted)
    parts: list[str] = []
    errors = exc.errors(include_input=False, include_url=False)
    for error in errors[:limit]:
        name = field_path(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden" and len(error["loc"]) > 1:
            parts.append(f"{name} is not accepted here")
        elif kind == "extra_forbidden":
            parts.append(unknown_field.format(name=name, accepted=names or _NOTHING))
        elif kind == "missing":
            parts.append(f"{name} is missing")
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
            if message.startswith("must "):
                parts.append(f"{name} {message}")
            elif message.startswith(name):
                parts.append(message)
            else:
                parts.append(f"{name}: {message}")
        else:
            parts.append(f"{name}: {_lower_first(error['msg'])}")
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


_NOTHING = "nothing (send no body, or {})"
#: pydantic names the model class in some messages; people need not see it.
_MODEL_CLASS = re.compile(r" or instance of \w+")


def _lower_first(text: str) -> str:
    """Return pydantic's message to follow a field name: lower-case start, no class names."""
    text = _MODEL_CLASS.sub("", text)
    return text[:1].lower() + text[1:]
