"""The JSON forms of Excel values that request bodies carry, as pydantic types.

A cell value is what Office.js reads from a cell and our JavaScript sends on:
text (at most Excel's 32,767 characters; an error cell reads as its text, such
as ``#N/A``), a number, true/false, or null for an empty cell: the basic types
of ``Range.values`` (https://learn.microsoft.com/javascript/api/excel/excel.rangevaluetype).
Anything else (a list, an object, an integer longer than a double can show) is
a caller's mistake, refused with a message naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

#: Excel's longest cell text (https://support.microsoft.com/office/excel-specifications-and-limits-1672b34d-7043-467e-8e27-269d656771c3).
MAX_CELL_TEXT = 32_767
#: JavaScript writes integers from 1e21 on in exponent form, so a longer one is no cell value.
MAX_CELL_INTEGER = 10**21
#: The longest region code we read: ISO 3166 alpha-2, with room for stray spaces.
MAX_REGION_TEXT = 16

CELL_VALUE_RULE = "must be a cell value (text, a number, true/false or null)"
REGION_RULE = "must be a region code such as 'CH', or null"


def describe_kind(value: Any) -> str:
    """Return what a refused value is, in a few words, without the value itself."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return f"a text of {len(value):,} characters"
    if isinstance(value, int) and not isinstance(value, bool):
        return "an integer too large for a cell"
    return type(value).__name__


def is_cell_value(value: Any) -> bool:
    """Return True for a value a cell can hold (see the module docstring)."""
    if value is None or isinstance(value, bool | float):
        return True
    if isinstance(value, int):
        return -MAX_CELL_INTEGER < value < MAX_CELL_INTEGER
    return isinstance(value, str) and len(value) <= MAX_CELL_TEXT


#: The exact types JSON decodes a cell value to.
_JSON_CELL_TYPES = frozenset({str, int, float, bool, type(None)})


def all_cell_values(values: list[Any]) -> bool:
    """Return True when :func:`is_cell_value` holds for every value, at C speed where it can.

    A True answer is certain; False only says "look at each value" (a type JSON does
    not decode to, a text or an integer near the bounds): callers then walk the list
    with :func:`is_cell_value` to find the first bad one, so every message stays the same.
    """
    kinds = set(map(type, values))
    if not kinds <= _JSON_CELL_TYPES:
        return False
    if str in kinds:
        texts = values if len(kinds) == 1 else [v for v in values if type(v) is str]
        if max(map(len, texts)) > MAX_CELL_TEXT:
            return False
    if int in kinds:
        whole = [v for v in values if type(v) is int]
        if not (min(whole) > -MAX_CELL_INTEGER and max(whole) < MAX_CELL_INTEGER):
            return False
    return True


def _cell_value(value: Any) -> Any:
    """Return ``value`` when a cell can hold it, else raise ``ValueError``."""
    if not is_cell_value(value):
        raise ValueError(f"{CELL_VALUE_RULE}, not {describe_kind(value)}")
    return value


def _region(value: Any) -> str | None:
    """Return a region code text (checked against the known codes later) or None."""
    if value is None or (isinstance(value, str) and len(value) <= MAX_REGION_TEXT):
        return value
    raise ValueError(REGION_RULE)


#: A cell value: ``str | int | float | bool | None`` within Excel's limits.
CellValue = Annotated[Any, BeforeValidator(_cell_value)]
#: A region code text or null (whether phonenumbers knows it is checked where it is used).
RegionText = Annotated[str | None, BeforeValidator(_region)]
