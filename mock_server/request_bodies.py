"""Request bodies, form fields and query strings read into typed models: one call per route.

Every emulator view that reads input calls one of these once, first, with its
route's pydantic model, and then uses only the model's typed fields:

- :func:`parse_json` for a JSON body (the ``/_mock`` admin routes);
- :func:`parse_form` for the text fields of a form, multipart or urlencoded
  (the vendor's creates; uploaded files stay in ``request.files``);
- :func:`parse_query` for the query string.

A new route follows the same pattern::

    class TaskLookup(BaseModel):
        model_config = ConfigDict(extra="ignore", frozen=True)
        task_id: str = Field(min_length=1, max_length=64)

    @vendor.post("/v1/gettasks")
    def get_task() -> Response:
        form = parse_form(TaskLookup)

Every refusal is a :class:`mock_server.exceptions.MockApiError`, so it is
answered in the vendor's error shape (``{"error": {"code", "type",
"message"}}``); ``error`` picks the class (and so the ``type``) of a wrong
field, and the message names the field by its path (``shares.yes must
be ...``). The bytes of a JSON body are read by the shared rule of
:mod:`addin.json_bodies` (UTF-8, nesting measured before parsing, finite
numbers). Vendor routes keep extra fields (``extra="ignore"``): the vendor
documents none it refuses; admin routes forbid them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError

from addin.json_bodies import UNKNOWN_FIELD, BodyError, describe_errors, load_json, nesting_depth
from mock_server.exceptions import BadRequest

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "NoBody",
    "nesting_depth",
    "parse_form",
    "parse_json",
    "parse_json_bytes",
    "parse_query",
    "validate",
]

#: Largest JSON body: a settings object is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024

#: Deepest nesting of arrays and objects: settings nest two levels at most (``shares``).
MAX_DEPTH = 16

#: Media types a JSON body may be sent with: also none at all, or the form type that
#: ``curl --data`` sends (``requests.post(data=b"...")`` sends none).
JSON_TYPES = frozenset({"application/json", "", "application/x-www-form-urlencoded"})

M = TypeVar("M", bound=BaseModel)


class NoBody(BaseModel):
    """The body of a route that takes none: nothing at all, or ``{}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_json_bytes(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Return the JSON value of ``data`` (at most ``MAX_BODY_BYTES``), or raise BadRequest."""
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(f"a JSON body is at most {MAX_BODY_BYTES} bytes")
    try:
        return load_json(data, max_depth=max_depth)
    except BodyError as exc:
        raise BadRequest(str(exc)) from None


def parse_json(
    model: type[M],
    *,
    error: type[BadRequest] = BadRequest,
    unknown_field: str = UNKNOWN_FIELD,
    accepted: Iterable[str] | None = None,
) -> M:
    """Return the request's JSON object checked into ``model``, or raise a 400 ``MockApiError``.

    The body may come as ``application/json`` or without a content type; a
    model without fields (:class:`NoBody`) also takes an empty body. Bytes that
    are not JSON are ``BadRequest``; a body that is not an object, or a wrong
    field, is ``error`` with a message naming the field (``unknown_field``
    words an extra one with ``{name}`` and ``{accepted}``, default the
    model's fields).
    """
    if request.mimetype not in JSON_TYPES:
        raise BadRequest(f"send the body as application/json, not {request.mimetype[:80]}")
    # One byte over the limit is enough to refuse a body without reading all of it.
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if not data and not model.model_fields:
        return model.model_validate({})
    value = parse_json_bytes(data)
    if not isinstance(value, dict):
        raise error("the body must be a JSON object")
    return validate(model, value, error=error, unknown_field=unknown_field, accepted=accepted)


def parse_form(model: type[M], *, error: type[BadRequest] = BadRequest) -> M:
    """Return the request's form fields (each once; files aside) checked into ``model``."""
    return validate(model, _single_values(request.form.lists()), error=error)


def parse_query(model: type[M], *, error: type[BadRequest] = BadRequest) -> M:
    """Return the query string (each parameter once) checked into ``model``."""
    return validate(model, _single_values(request.args.lists()), error=error)


def validate(
    model: type[M],
    data: Any,
    *,
    error: type[BadRequest] = BadRequest,
    unknown_field: str = UNKNOWN_FIELD,
    accepted: Iterable[str] | None = None,
) -> M:
    """Return ``data`` checked into ``model``, or raise ``error`` naming the wrong fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        names = model.model_fields if accepted is None else accepted
        raise error(describe_errors(exc, unknown_field=unknown_field, accepted=names)) from None


def _single_values(pairs: Iterable[tuple[str, list[str]]]) -> dict[str, str]:
    """Return each field's value; a field given twice is refused (which one would count?)."""
    values: dict[str, str] = {}
    for name, given in pairs:
        if len(given) > 1:
            raise BadRequest(f"{name[:80]} is given {len(given)} times; give it once")
        values[name] = given[0]
    return values
