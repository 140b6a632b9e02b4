"""Each route's body is read into its typed model: a wrong field is a 400 that names it.

Representative cases of every class of mistake (a wrong JSON type, a missing or
extra field, an absurd number, a huge list, a deep document, bytes that are not
UTF-8 JSON, a wrong content type), with the exact field path in the message;
``tests/test_route_bodies.py`` throws generated bodies at every route.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import AddinClient
from tests.web.engine_app import ok, payload, post, refused

LOOKUPS = "/api/lookups"
POLL = "/api/lookups/poll"
CHECK = "/xlwings/check-selection"
JSON = {"Content-Type": "application/json"}


def _selection(**changes: Any) -> dict[str, Any]:
    """Return a valid one-cell selection payload with ``changes`` (``a.b`` paths) applied."""
    sent = payload(("A1:A1", ["+41798284651"]))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target: Any = sent
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return sent


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            LOOKUPS,
            {"items": [{"value": "+41798284651", "region": ["CH"]}]},
            "items[0].region must be a region code such as 'CH', or null",
        ),
        (
            LOOKUPS,
            {"items": [{"value": "+41798284651"}, {"value": 1, "region": {"CH": 1}}]},
            "items[1].region must be a region code such as 'CH', or null",
        ),
        (
            LOOKUPS,
            {"items": [{"value": {"a": 1}}]},
            "items[0].value must be a cell value (text, a number, true/false or null),"
            " not an object",
        ),
        (
            LOOKUPS,
            {"items": [{"value": 10**30}]},
            "items[0].value must be a cell value (text, a number, true/false or null),"
            " not an integer too large for a cell",
        ),
        (LOOKUPS, {"items": [{"region": "CH"}]}, "items[0].value is missing"),
        (LOOKUPS, {"items": [{"value": 1, "colour": "red"}]}, "items[0].colour is not accepted"),
        (LOOKUPS, {"items": "A1"}, "items: input should be a valid list"),
        (LOOKUPS, {}, "items is missing"),
        (LOOKUPS, {"items": [], "extra": 1}, "extra is not accepted here; accepted: items"),
        (POLL, {"numbers": [41798284651]}, "numbers[0]: input should be a valid string"),
        (POLL, {"numbers": ["+4179" + "1" * 100]}, "numbers[0]: string should have at most 64"),
        (
            "/api/jobs/nope/cancel",
            {"force": True},
            "force is not accepted here; accepted: nothing (send no body, or {})",
        ),
        ("/api/plans/nope/confirm", [], "the body must be a JSON object"),
        # Beyond the store's 32-bit column (a 500 of the team server's store once).
        (
            "/api/lookups/held/nope/confirm",
            {"version": 2**63},
            "version: input should be less than or equal to 2147483647",
        ),
        (
            "/api/lookups/held/nope/confirm",
            {"version": 0},
            "version: input should be greater than or equal to 1",
        ),
    ],
)
def test_a_wrong_field_is_a_400_naming_it(
    client: AddinClient, path: str, body: Any, message: str
) -> None:
    assert refused(post(client, path, body), 400, "bad_request")["message"].startswith(message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"region": ["CH"]}, "region must be text such as 'CH' or 'US'"),
        ({"region": {"code": "CH"}}, "region must be text such as 'CH' or 'US'"),
        ({"confirm_above": "5"}, "confirm_above: input should be a valid integer"),
        ({"confirm_above": 10**30}, "confirm_above: input should be less than or equal to"),
        ({"confirm_above": 1e308}, "confirm_above: input should be a valid integer"),
        ({"cache_ttl_days": 1e308}, "cache_ttl_days: input should be less than or equal to 3650"),
        ({"cache_ttl_days": -1}, "cache_ttl_days: input should be greater than or equal to 0"),
        ({"colour": "red"}, "cannot change colour here; settable: api_key, region"),
    ],
)
def test_a_wrong_setting_is_a_400_naming_it(
    client: AddinClient, body: dict[str, Any], message: str
) -> None:
    response = client.request("PUT", "/api/settings", json=body)
    assert refused(response, 400, "bad_setting")["message"].startswith(message)
    assert ok(client.get("/api/settings"))["region"] == "US"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_selection(sheet=5), "sheet: input should be a valid string"),
        (_selection(sheet="x" * 32), "sheet: string should have at most 31"),
        (
            _selection(areas__0__values=[{"v": 1}]),
            "areas[0].values: row 1 holds an object; each cell must be a cell value",
        ),
        (
            _selection(areas__0__target=[["x"]]),
            "areas[0].target: row 1 holds a list; each answer cell must be a cell value",
        ),
        (_selection(areas__0__address=["A1"]), "areas[0].address: input should be a valid string"),
        (
            _selection(areas__0__target_column="C" * 9),
            "areas[0].target_column: string should have at most 8",
        ),
        (_selection(region=["CH"]), "region must be a region code such as 'CH', or null"),
        (_selection(areas__0__colour="red"), "areas[0].colour is not accepted here"),
        (_selection(overwrite=1), "overwrite: input should be a valid boolean"),
        (
            _selection(areas=[{"address": "A1", "values": [], "target": []}] * 700),
            "areas: list should have at most",
        ),
        (_selection(macro="run"), "macro is not accepted here; accepted: sheet, region, areas"),
    ],
)
def test_a_wrong_payload_field_is_a_400_naming_it(
    client: AddinClient, body: dict[str, Any], message: str
) -> None:
    assert refused(post(client, CHECK, body), 400, "bad_payload")["message"].startswith(message)


def test_a_selection_payload_of_the_right_types_still_checks(client: AddinClient) -> None:
    # Ints, floats, booleans and nulls are cell values: read, not refused.
    sent = payload(("A1:A4", ["+41798284651", 41798284652, True, None]), region="CH")
    assert ok(post(client, CHECK, sent))["plan"]["to_upload"] == 2


@pytest.mark.parametrize("path", [LOOKUPS, POLL, CHECK, "/api/settings", "/api/cache/clear"])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"items": [{"value": ' + b"[" * 17 + b"]" * 17 + b"}]}",
    ],
    ids=["100k-unclosed", "100k-closed", "17-inside-a-field"],
)
def test_a_deep_document_is_refused_before_it_is_parsed(
    client: AddinClient, path: str, body: bytes
) -> None:
    method = "PUT" if path == "/api/settings" else "POST"
    response = client.request(method, path, data=body, headers=JSON)
    message = refused(response, 400, "bad_json")["message"]
    assert "at most 16 levels of arrays and objects" in message


@pytest.mark.parametrize(
    ("body", "headers", "words"),
    [
        (b'{"items": [{"value": NaN}]}', JSON, "NaN is not a JSON number"),
        (b'{"items": [{"value": -Infinity}]}', JSON, "-Infinity is not a JSON number"),
        (b'{"items": [{"value": 1e400}]}', JSON, "the number 1e400 is too large"),
        (b'{"items": [{"value": 1' + b"0" * 5000 + b"}]}", JSON, "more than 4,300 digits"),
        (b'{"items": [{"value": "\xff"}]}', JSON, "not UTF-8 text (byte 22)"),
        (b'\xef\xbb\xbf{"items": []}', JSON, "not valid JSON"),
        (
            b'{"items": []}',
            {"Content-Type": "text/plain"},
            "application/json (UTF-8), not text/plain",
        ),
        (b'{"items": []}', {}, "application/json (UTF-8), not no Content-Type"),
        (
            '{"items": []}'.encode("utf-16"),
            {"Content-Type": "application/json; charset=utf-16"},
            "not application/json; charset=utf-16",
        ),
        (b"{", JSON, "not valid JSON: Expecting property name"),
    ],
)
def test_bytes_that_are_no_utf8_json_are_bad_json(
    client: AddinClient, body: bytes, headers: dict[str, str], words: str
) -> None:
    response = client.request("POST", LOOKUPS, data=body, headers=headers)
    assert words in refused(response, 400, "bad_json")["message"]


def test_routes_without_a_body_take_none_or_an_empty_object(client: AddinClient) -> None:
    assert ok(client.request("POST", "/api/cache/clear"))["cleared"] == 0
    assert ok(post(client, "/api/cache/clear", {}))["cleared"] == 0
    refused(post(client, "/api/cache/clear", {"all": True}), 400, "bad_request")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=abc", "limit: input should be a valid integer"),
        ("limit=1e308", "limit: input should be a valid integer"),
        ("limit=-1", "limit: input should be greater than or equal to 1"),
        ("limit=5&limit=6", "give limit once, not repeated"),
        ("limit=5&order=asc", "order is not accepted here; accepted: limit"),
    ],
)
def test_a_wrong_query_parameter_is_a_400_naming_it(
    client: AddinClient, query: str, message: str
) -> None:
    response = client.get(f"/api/jobs?{query}")
    assert refused(response, 400, "bad_request")["message"].startswith(message)


def test_a_body_over_its_route_limit_is_413_before_it_is_parsed(client: AddinClient) -> None:
    body = b'{"region": "' + b"C" * (5 * 1024 * 1024) + b'"}'
    response = client.request("PUT", "/api/settings", data=body, headers=JSON)
    assert "at most 4,194,304 bytes" in refused(response, 413, "body_too_large")["message"]
    # Look-ups allow the backend's whole body limit: long cell texts are refused one by one.
    items = [{"value": "x" * 30_000}] * 200
    answer = ok(post(client, LOOKUPS, {"items": items}))
    assert {result["status"] for result in answer["results"]} == {"invalid"}
