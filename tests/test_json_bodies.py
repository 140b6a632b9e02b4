"""The shared reading of untrusted JSON bodies: depth before parsing, UTF-8, finite numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from addin.json_bodies import BodyError, describe_errors, field_path, load_json, nesting_depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b"[[], [[]], []]", 3),
        (b'"[[[["', 0),
        (b'{"a": "\\"[[[", "b": [1]}', 2),
        (b'["\\\\", "]]]"]', 1),
        (b"[" * 100_000 + b"]" * 100_000, 100_000),
        (b"[[[", 3),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text: bytes, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_nesting_depth_stops_counting_past_the_bound() -> None:
    assert nesting_depth(b"[" * 100_000 + b"]" * 100_000, stop_after=16) == 17


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=25,
)


def _depth(value: Any) -> int:
    """Return the nesting of a parsed value, the slow obvious way."""
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_nesting_depth_agrees_with_the_parsed_document(value: Any) -> None:
    assert nesting_depth(json.dumps(value).encode()) == _depth(value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"\xff", "not UTF-8 text (byte 0)"),
        (b"[" * 33 + b"]" * 33, "at most 32 levels"),
        (b"[" * 100_000, "at most 32 levels"),
        (b"NaN", "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b'{"n": 1e400}', "the number 1e400 is too large for a double"),
        (b"1" + b"0" * 5000, "a number of more than 4,300 digits"),
        (b"{'a': 1}", "not valid JSON"),
        (b'\xef\xbb\xbf{"a": 1}', "not valid JSON"),
    ],
)
def test_load_json_refuses_with_a_reason(data: bytes, words: str) -> None:
    with pytest.raises(BodyError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_json(data)


def test_load_json_reads_finite_numbers_and_the_depth_bound_itself() -> None:
    assert load_json(b'{"a": [1e308, -0.5, 10]}') == {"a": [1e308, -0.5, 10]}
    assert load_json(b"[" * 32 + b"]" * 32) is not None


@pytest.mark.parametrize(
    ("location", "path"),
    [((), "the body"), (("items", 3, "region"), "items[3].region"), ((0, "a"), "[0].a")],
)
def test_field_path(location: tuple[Any, ...], path: str) -> None:
    assert field_path(location) == path


class Inner(BaseModel):
    """A nested object."""

    model_config = ConfigDict(extra="forbid", strict=True)

    secret: str
    count: int = Field(ge=0, le=10)

    @field_validator("secret")
    @classmethod
    def _short(cls, value: str) -> str:
        """Refuse long texts, in the 'must ...' form."""
        if len(value) > 5:
            raise ValueError("must be at most 5 characters")
        return value


class Outer(BaseModel):
    """A body."""

    model_config = ConfigDict(extra="forbid", strict=True)

    inner: list[Inner]


def _message(data: Any, **options: Any) -> str:
    """Return the description of validating ``data`` into ``Outer``."""
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(data)
    return describe_errors(caught.value, accepted=Outer.model_fields, **options)


def test_describe_errors_names_each_field_by_its_path_without_the_value() -> None:
    message = _message({"inner": [{"secret": "sk-LIVE-123456", "count": "7"}]})
    assert message == (
        "inner[0].secret must be at most 5 characters;"
        " inner[0].count: input should be a valid integer"
    )
    assert "sk-LIVE" not in message


def test_describe_errors_words_missing_and_extra_fields() -> None:
    assert _message({}) == "inner is missing"
    assert _message({"inner": [], "x": 1}) == "x is not accepted here; accepted: inner"
    assert _message({"inner": [{"secret": "a", "count": 1, "y": 2}]}) == (
        "inner[0].y is not accepted here"
    )
    custom = "cannot change {name}; settable: {accepted}"
    assert _message({"inner": [], "x": 1}, unknown_field=custom) == (
        "cannot change x; settable: inner"
    )


def test_describe_errors_lists_three_then_counts_the_rest() -> None:
    message = _message({"inner": [{"secret": 1, "count": -1}] * 3})
    assert message.endswith("; and 3 more")
    assert message.count(";") == 3


def test_describe_errors_hides_pydantic_class_names() -> None:
    assert _message({"inner": [5]}) == "inner[0]: input should be a valid dictionary"
