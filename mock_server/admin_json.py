"""The size and nesting limits of the ``/_mock`` admin bodies (kept for older imports).

The reading itself is :mod:`mock_server.request_bodies` (``parse_json(Model)``),
on the shared rule of :mod:`addin.json_bodies`.
"""

from __future__ import annotations

from typing import Any

from mock_server.request_bodies import MAX_BODY_BYTES, MAX_DEPTH, nesting_depth, parse_json_bytes

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "nesting_depth", "parse_admin_body"]


def parse_admin_body(data: bytes) -> Any:
    """Return the JSON value of an admin body; raise BadRequest if too big, deep or not JSON."""
    return parse_json_bytes(data)
