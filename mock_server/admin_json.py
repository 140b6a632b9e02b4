"""Reading the JSON bodies of the admin routes within a size and a nesting limit.

Python's ``json`` module recurses once per nesting level, so a body of 100,000
opening brackets raises RecursionError (a 500) instead of a clear 400. The admin
bodies are small flat objects; anything much bigger or deeper is refused before
it is parsed.
"""

from __future__ import annotations

import json
from typing import Any

from mock_server.exceptions import BadRequest

#: Largest admin body: a settings object is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024

#: Deepest nesting of arrays and objects: settings nest two levels at most (``shares``).
MAX_DEPTH = 16

_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")


def nesting_depth(data: bytes) -> int:
    """Return the deepest nesting of arrays and objects in ``data``, outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSERS:
            depth -= 1
    return deepest


def parse_admin_body(data: bytes) -> Any:
    """Return the JSON value of an admin body; raise BadRequest if too big, deep or not JSON."""
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(f"an admin body is at most {MAX_BODY_BYTES} bytes")
    if nesting_depth(data) > MAX_DEPTH:
        raise BadRequest(f"an admin body nests at most {MAX_DEPTH} levels of arrays and objects")
    try:
        # A number of more than 4,300 digits is a ValueError too.
        return json.loads(data)
    except (ValueError, RecursionError):
        raise BadRequest("the body must be a JSON object") from None
