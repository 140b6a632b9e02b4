"""No body, form or query makes any route of the backend or the emulator answer 5xx or hang.

Every route of both Flask apps (read from ``app.url_map``, so a new route is
covered, or this file fails until it gets a strategy in :data:`ROUTES`) gets
generated requests over real HTTP on loopback: random JSON of any type and
depth, near-valid bodies with one field mutated (a wrong type, a missing or
extra field, an absurd number, a huge list), documents nested 100,000 deep,
random bytes, random content types, random query strings. Each answer must come
within :data:`TIMEOUT` seconds, below 500, and a refusal must be a JSON error
in the app's shape; after each route the server still answers its health check.

Derandomised (the same examples on every run) and a fixed number per route, so
CI is stable; the whole file takes a few tens of seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3 import encode_multipart_formdata

from addin.http_server import BackgroundServer
from addin.web import close_app, create_app
from addin.web.flask_config import (
    EMULATOR_CONFIG_KEY,
    LOOKUP_MAX_WAIT_KEY,
    LOOKUP_QUIET_KEY,
    PORT_KEY,
    SETTINGS_KEY,
    UNFINISHED_IN_STORE_KEY,
)
from addin.web.security import CLIENT_HEADER
from mock_server import create_app as create_emulator
from tests.web.engine_app import fast_settings, number, payload

#: Seconds an answer may take before the request counts as a hang.
TIMEOUT = 15
#: Generated requests per route (derandomised).
EXAMPLES = 60
#: Routes that read no body: fewer examples, the same kinds.
EXAMPLES_NO_BODY = 20

BACKEND = "backend"
EMULATOR = "emulator"

#: Leaf tokens written into JSON text as they are: numbers JSON (or Python) cannot hold.
RAW_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e400", "-1", "1" + "0" * 5000)
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "text/plain",
    "text/html; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    None,
)


@dataclass(frozen=True)
class Route:
    """How to reach one (rule, method) and what a valid request to it looks like.

    ``paths`` are templates filled from :class:`Targets` (a real job, task or
    result link, and an unknown one); ``bodies`` are valid JSON bodies to
    mutate (none: the route reads no body); ``queries`` valid query strings;
    ``multipart``: the route reads a multipart form with a ``file``.
    """

    paths: tuple[str, ...]
    bodies: tuple[Any, ...] = ()
    queries: tuple[Mapping[str, str], ...] = ()
    multipart: bool = False
    #: Called after a 2xx answer to undo what the request changed.
    undo: Callable[[Targets], None] | None = None

    @property
    def examples(self) -> int:
        """Return how many requests to generate for this route."""
        return EXAMPLES if self.bodies or self.multipart or self.queries else EXAMPLES_NO_BODY


def _selection() -> dict[str, Any]:
    """Return a valid selection payload of two numbers and an empty cell."""
    return payload(("A1:A3", [number(1), number(2), None]), region="CH")


def _restore_backend_settings(targets: Targets) -> None:
    """Put the backend's run-time settings back to the start (demo, US, defaults)."""
    body = {"api_key": "", "region": "US", "cache_ttl_days": 30, "confirm_above": 1000}
    targets.backend_request("PUT", "/api/settings", json=body).raise_for_status()


def _reset_emulator(targets: Targets) -> None:
    """Give the emulator back its start settings, clock and ledger."""
    targets.emulator_request("POST", "/_mock/reset").raise_for_status()


#: Every route of both apps: (app, rule, method) -> how to exercise it.
ROUTES: dict[tuple[str, str, str], Route] = {
    (BACKEND, "/api/health", "GET"): Route(("/api/health",)),
    (BACKEND, "/api/whoami", "GET"): Route(("/api/whoami",)),
    (BACKEND, "/manifest.xml", "GET"): Route(("/manifest.xml",)),
    (BACKEND, "/xlwings/check-selection", "POST"): Route(
        ("/xlwings/check-selection",), bodies=(_selection(),)
    ),
    (BACKEND, "/xlwings/uploads", "POST"): Route(
        ("/xlwings/uploads",),
        bodies=({"sheet": "Sheet1", "region": None, "areas": [{"address": "Z1:Z3"}], "chunks": 2},),
    ),
    (BACKEND, "/xlwings/uploads/<upload_id>/chunks/<index>", "PUT"): Route(
        ("/xlwings/uploads/nope/chunks/0", "/xlwings/uploads/nope/chunks/x"),
        bodies=({"area": 0, "offset": 0, "values": [number(1)], "target": [""]},),
    ),
    (BACKEND, "/xlwings/uploads/<upload_id>", "DELETE"): Route(("/xlwings/uploads/nope",)),
    (BACKEND, "/api/plans/<plan_id>/confirm", "POST"): Route(
        ("/api/plans/nope/confirm",), bodies=({},)
    ),
    (BACKEND, "/api/plans/<plan_id>/discard", "POST"): Route(
        ("/api/plans/nope/discard",), bodies=({},)
    ),
    (BACKEND, "/xlwings/write-results/<job_id>", "POST"): Route(
        ("/xlwings/write-results/{job_id}", "/xlwings/write-results/nope"),
        bodies=(_selection(),),
    ),
    (BACKEND, "/api/lookups", "POST"): Route(
        ("/api/lookups",),
        bodies=(
            {"items": [{"value": number(3), "region": "CH"}, {"value": 41798000004}]},
            {"items": [{"value": None}, {"value": True, "region": None}]},
            {"items": [{"value": number(4), "refresh": True}]},
        ),
    ),
    (BACKEND, "/api/lookups/poll", "POST"): Route(
        ("/api/lookups/poll",), bodies=({"numbers": [number(3), number(5)]},)
    ),
    (BACKEND, "/api/lookups/held", "GET"): Route(("/api/lookups/held",)),
    (BACKEND, "/api/lookups/held/<batch_id>/confirm", "POST"): Route(
        ("/api/lookups/held/nope/confirm",), bodies=({"version": 1},)
    ),
    (BACKEND, "/api/lookups/held/<batch_id>/cancel", "POST"): Route(
        ("/api/lookups/held/nope/cancel",), bodies=({},)
    ),
    (BACKEND, "/api/lookups/below-minimum", "GET"): Route(("/api/lookups/below-minimum",)),
    (BACKEND, "/api/lookups/below-minimum/drop", "POST"): Route(
        ("/api/lookups/below-minimum/drop",), bodies=({},)
    ),
    (BACKEND, "/api/jobs", "GET"): Route(("/api/jobs",), queries=({"limit": "5"},)),
    (BACKEND, "/api/jobs/<job_id>", "GET"): Route(("/api/jobs/{job_id}", "/api/jobs/nope")),
    (BACKEND, "/api/jobs/<job_id>/cancel", "POST"): Route(
        ("/api/jobs/{job_id}/cancel", "/api/jobs/nope/cancel"), bodies=({},)
    ),
    (BACKEND, "/api/jobs/<job_id>/resend", "POST"): Route(
        ("/api/jobs/{job_id}/resend",), bodies=({},)
    ),
    (BACKEND, "/api/jobs/<job_id>/abandon", "POST"): Route(
        ("/api/jobs/{job_id}/abandon",), bodies=({},)
    ),
    (BACKEND, "/api/file-jobs", "POST"): Route(
        ("/api/file-jobs",), bodies=({"fingerprint": "0" * 32, "chunks": 1, "refresh": False},)
    ),
    (BACKEND, "/api/file-jobs/uploads/<upload_id>/chunks/<index>", "PUT"): Route(
        ("/api/file-jobs/uploads/nope/chunks/0", "/api/file-jobs/uploads/nope/chunks/x"),
        bodies=({"numbers": [number(1), number(2)]},),
    ),
    (BACKEND, "/api/file-jobs/uploads/<upload_id>/plan", "POST"): Route(
        ("/api/file-jobs/uploads/nope/plan",),
        bodies=({"rows": 3, "invalid": 1, "label": "in.csv"},),
    ),
    (BACKEND, "/api/file-jobs/plans/<plan_id>/start", "POST"): Route(
        ("/api/file-jobs/plans/nope/start",), bodies=({},)
    ),
    (BACKEND, "/api/file-jobs/<job_id>/answers", "GET"): Route(
        ("/api/file-jobs/{job_id}/answers", "/api/file-jobs/nope/answers"),
        queries=({"limit": "5", "after": number(1)},),
    ),
    (BACKEND, "/api/settings", "GET"): Route(("/api/settings",)),
    (BACKEND, "/api/settings", "PUT"): Route(
        ("/api/settings",),
        bodies=(
            {"region": "CH", "cache_ttl_days": 7, "confirm_above": 10},
            {"api_key": None},
        ),
        undo=_restore_backend_settings,
    ),
    (BACKEND, "/api/account", "GET"): Route(("/api/account",)),
    (BACKEND, "/api/cache/clear", "POST"): Route(("/api/cache/clear",), bodies=({},)),
    (BACKEND, "/", "GET"): Route(("/",)),
    (BACKEND, "/icons/<name>.png", "GET"): Route(("/icons/icon-32.png", "/icons/nope.png")),
    (BACKEND, "/<name>", "GET"): Route(("/taskpane.html", "/functions.json", "/nope.js")),
    (EMULATOR, "/static/<path:filename>", "GET"): Route(("/static/nope.css",)),
    (EMULATOR, "/fb/api/simple/tasks", "POST"): Route(("/fb/api/simple/tasks",), multipart=True),
    (EMULATOR, "/fb/api/simple/tasks/<task_id>", "GET"): Route(
        ("/fb/api/simple/tasks/{task_id}", "/fb/api/simple/tasks/nope"),
        queries=({"user_id": "fuzz"},),
    ),
    (EMULATOR, "/v1/tasks", "POST"): Route(("/v1/tasks",), multipart=True),
    (EMULATOR, "/v1/gettasks", "POST"): Route(("/v1/gettasks",), multipart=True),
    (EMULATOR, "/v1/balance", "GET"): Route(("/v1/balance",), queries=({"x": "1"},)),
    (EMULATOR, "/_mock/results/<token>/<filename>", "GET"): Route(
        ("{result_path}", "/_mock/results/nope/results.xlsx")
    ),
    (EMULATOR, "/_mock/clock", "GET"): Route(("/_mock/clock",)),
    (EMULATOR, "/_mock/clock/advance", "POST"): Route(
        ("/_mock/clock/advance",), bodies=({"seconds": 1},), undo=_reset_emulator
    ),
    (EMULATOR, "/_mock/ledger", "GET"): Route(("/_mock/ledger",)),
    (EMULATOR, "/_mock/received", "GET"): Route(("/_mock/received",)),
    (EMULATOR, "/_mock/tasks", "GET"): Route(("/_mock/tasks",), queries=({"numbers": "1"},)),
    (EMULATOR, "/_mock/reset", "POST"): Route(("/_mock/reset",), bodies=({},)),
    (EMULATOR, "/_mock/config", "GET"): Route(("/_mock/config",)),
    (EMULATOR, "/_mock/config", "PUT"): Route(
        ("/_mock/config",),
        bodies=(
            {"error_rate": 0.0, "latency_ms": 0, "shares": {"yes": 1, "no": 1, "ban": 0}},
            {"rate": None, "create_fault": "none", "create_fault_count": -1},
            {"queue_delay": 1.5, "result_format": "zip", "stuck": False},
        ),
        undo=_reset_emulator,
    ),
}


# -- the servers -------------------------------------------------------------------


@dataclass
class Targets:
    """The running backend and emulator, and real ids to put into paths."""

    backend: BackgroundServer
    emulator: BackgroundServer
    ids: dict[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, app: str) -> str:
        """Return the base URL of ``app``."""
        return (self.backend if app == BACKEND else self.emulator).url

    def send(self, app: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request with the headers the app needs to look at the body at all."""
        headers = {CLIENT_HEADER: "tests"} if app == BACKEND else {"X-API-Key": "demo"}
        headers.update(kwargs.pop("headers", {}))
        return self.session.request(
            method, self.url(app) + path, headers=headers, timeout=TIMEOUT, **kwargs
        )

    def backend_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request to the backend."""
        return self.send(BACKEND, method, path, **kwargs)

    def emulator_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request to the emulator."""
        return self.send(EMULATOR, method, path, **kwargs)

    def healthy(self, app: str) -> bool:
        """Return True when ``app`` answers its health check."""
        path = "/api/health" if app == BACKEND else "/_mock/clock"
        return self.send(app, "GET", path).status_code == 200


def _no_wait(seconds: float) -> None:
    """Skip the emulator's injected real waits: a fuzzed latency must not stall the run."""


@pytest.fixture(scope="module")
def emulator_app() -> Flask:
    """The emulator app, instant, its injected waits skipped."""
    return create_emulator({"MOCK_PROFILE": "instant", "MOCK_SLEEP": _no_wait})


@pytest.fixture(scope="module", params=["memory", "store"])
def backend_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The backend app in demo mode on the instant emulator (closed after the module).

    Twice: uploads, plans and held batches in memory (the local backend), then in the
    store (as the team server keeps them), so hostile bodies reach both keepers.
    """
    app = create_app(
        {
            UNFINISHED_IN_STORE_KEY: request.param == "store",
            SETTINGS_KEY: fast_settings(
                tmp_path_factory.mktemp("bodies"), api_url="http://127.0.0.1:9"
            ),
            EMULATOR_CONFIG_KEY: {"MOCK_PROFILE": "instant"},
            LOOKUP_QUIET_KEY: 0.05,
            LOOKUP_MAX_WAIT_KEY: 0.5,
        }
    )
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def targets(backend_app: Flask, emulator_app: Flask) -> Iterator[Targets]:
    """Both apps served on loopback, with a real job, task and result link to aim at."""
    backend = BackgroundServer(backend_app, threads=8)
    backend_app.config[PORT_KEY] = backend.port
    emulator = BackgroundServer(emulator_app, threads=8)
    with backend.start(), emulator.start():
        found = Targets(backend=backend, emulator=emulator)
        check = found.backend_request("POST", "/xlwings/check-selection", json=_selection())
        assert check.status_code == 200, check.text
        found.ids["job_id"] = check.json()["job_id"]
        files = {"file": ("input.txt", f"{number(7)}\n".encode(), "text/plain")}
        created = found.emulator_request("POST", "/fb/api/simple/tasks", files=files)
        assert created.status_code == 200, created.text
        found.ids["task_id"] = created.json()["task_id"]
        status = found.emulator_request("GET", f"/fb/api/simple/tasks/{found.ids['task_id']}")
        found.ids["result_path"] = "/" + status.json()["result_url"].split("/", 3)[3]
        yield found
        found.session.close()


def _rules(app: Flask) -> set[tuple[str, str]]:
    """Return every (rule, method) the app routes, HEAD and OPTIONS aside."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_has_a_strategy(backend_app: Flask, emulator_app: Flask) -> None:
    registered = {(BACKEND, *pair) for pair in _rules(backend_app)} | {
        (EMULATOR, *pair) for pair in _rules(emulator_app)
    }
    assert registered - set(ROUTES) == set(), "add these routes to ROUTES"
    assert set(ROUTES) - registered == set(), "these routes are gone: remove them from ROUTES"


# -- what is sent ------------------------------------------------------------------

_PLACEHOLDER = "\x00raw\x00"
#: What a header value may hold on the wire (printable ASCII).
_header_texts = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([10**30, -(10**30), 1e308, "+41798000001", "CH", "", "A1:A2"])
)
any_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path of every value inside ``value`` (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


#: Numbers a well-typed body may carry that no field should accept without a bound.
absurd_numbers = (
    st.sampled_from([-1, -1.5, 0, 0.5, 1e-300, 1e308, -1e308, 2**63, -(2**63), 10**30, 10**400])
    | st.integers()
    | st.floats()
)
#: Values of the wrong JSON type for most fields.
wrong_types = st.sampled_from(["5", "", "CH", [], {}, [1], {"a": 1}, True, False, None])


@st.composite
def near_valid(draw: st.DrawFn, bodies: tuple[Any, ...]) -> bytes:
    """Return a valid body with one thing changed, as JSON text (raw tokens allowed)."""
    body = json.loads(json.dumps(draw(st.sampled_from(bodies))))
    inside = _paths(body)[1:]
    if not inside or draw(st.integers(0, 9)) == 0:
        return json.dumps(draw(any_json | wrong_types), allow_nan=True).encode()
    *parents, last = draw(st.sampled_from(inside))
    parent = body
    for part in parents:
        parent = parent[part]
    mutation = draw(
        st.sampled_from(
            ["number", "number", "type", "any", "raw", "delete", "extra", "wrap", "huge"]
        )
    )
    if mutation == "number":
        parent[last] = draw(absurd_numbers)
    elif mutation == "type":
        parent[last] = draw(wrong_types)
    elif mutation == "any":
        parent[last] = draw(any_json)
    elif mutation == "raw":
        parent[last] = _PLACEHOLDER
    elif mutation == "delete":
        del parent[last]
    elif mutation == "extra" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=10))] = draw(any_json)
    elif mutation == "wrap":
        parent[last] = [parent[last]] if draw(st.booleans()) else {"value": parent[last]}
    elif isinstance(parent[last], list) and parent[last]:
        parent[last] = parent[last][:1] * draw(st.sampled_from([1_000, 10_001, 20_000]))
    else:
        parent[last] = draw(wrong_types)
    text = json.dumps(body, allow_nan=True)
    if _PLACEHOLDER in json.dumps(body):
        token = draw(st.sampled_from(RAW_NUMBERS))
        text = text.replace(json.dumps(_PLACEHOLDER), token)
    return text.encode()


@st.composite
def deep_document(draw: st.DrawFn) -> bytes:
    """Return arrays or objects nested up to 100,000 deep, closed or not."""
    depth = draw(st.sampled_from([17, 33, 1_000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"items":[', "]}")]))
    closed = draw(st.booleans())
    return (opener * depth + "1" + (closer * depth if closed else "")).encode()


def _any_json_bytes(value: Any) -> bytes:
    """Return any JSON value as text, NaN and Infinity included."""
    return json.dumps(value, allow_nan=True).encode()


def json_bodies(route: Route) -> st.SearchStrategy[bytes]:
    """Return bodies for ``route``: near-valid when it has examples, else anything."""
    anything = (
        any_json.map(_any_json_bytes)
        | deep_document()
        | st.binary(max_size=300)
        | st.sampled_from([b"", b"\xff\xfe{}", b"\xef\xbb\xbf{}", '{"é": 1}'.encode("latin-1")])
    )
    if route.bodies:
        return st.one_of(near_valid(route.bodies), near_valid(route.bodies), anything)
    return anything


@st.composite
def multipart_forms(draw: st.DrawFn) -> tuple[bytes, str]:
    """Return a multipart create: a user_id of any text, a file of anything, extra fields."""
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["user_id"] = draw(st.text(max_size=300))
    if draw(st.booleans()):
        fields[draw(st.text(min_size=1, max_size=10))] = draw(st.text(max_size=20))
    content = draw(
        st.binary(max_size=200)
        | st.lists(st.sampled_from([number(8), "+1", "0791234567", "", " +41 79"]), max_size=5).map(
            lambda lines: "\n".join(lines).encode()
        )
    )
    name = draw(st.sampled_from(["file", "upload"]))
    fields[name] = ("input.txt", content, "text/plain")
    if draw(st.booleans()):
        fields["file2"] = draw(st.text(max_size=20))
    body, content_type = encode_multipart_formdata(fields)
    return body, content_type


@st.composite
def requests_for(draw: st.DrawFn, route: Route) -> dict[str, Any]:
    """Return the keyword arguments of one request to ``route``."""
    headers: dict[str, str] = {}
    content_type: str | None
    if route.multipart and draw(st.booleans()):
        data, content_type = draw(multipart_forms())
    else:
        data = draw(json_bodies(route))
        if bool(route.bodies) and draw(st.booleans()):
            content_type = "application/json"
        else:
            content_type = draw(st.sampled_from(CONTENT_TYPES) | _header_texts)
    if content_type is not None:
        headers["Content-Type"] = content_type
    query: dict[str, str] = {}
    if bool(route.queries) and draw(st.booleans()):
        query = dict(draw(st.sampled_from(route.queries)))
        name = draw(st.sampled_from([*query, "extra"]))
        query[name] = draw(
            st.text(max_size=20) | st.sampled_from(["-1", "0", "1e308", "NaN", "9" * 400, ""])
        )
    elif draw(st.booleans()):
        query = draw(st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3))
    return {"data": data, "headers": headers, "params": query}


def _check_answer(app: str, response: requests.Response, sent: Mapping[str, Any]) -> None:
    """Assert the answer is below 500 and, when a refusal, a JSON error in the app's shape."""
    shown = f"{response.status_code} {response.text[:300]!r} for {str(sent)[:300]}"
    assert response.status_code < 500, shown
    if response.status_code < 400:
        return
    error = response.json()
    if app == BACKEND:
        assert isinstance(error["error"], str), shown
        assert isinstance(error["message"], str), shown
        assert error["message"], shown
    else:
        assert error["error"]["code"] == response.status_code, shown
        assert isinstance(error["error"]["type"], str), shown
        assert error["error"]["message"], shown


def _route_id(key: tuple[str, str, str]) -> str:
    """Return a readable test id: ``backend-POST-/api/lookups``."""
    return f"{key[0]}-{key[2]}-{key[1]}"


@pytest.mark.slow
@pytest.mark.parametrize("key", list(ROUTES), ids=[_route_id(k) for k in ROUTES])
def test_no_request_makes_a_5xx_or_a_hang(targets: Targets, key: tuple[str, str, str]) -> None:
    app, _, method = key
    route = ROUTES[key]

    @settings(
        max_examples=route.examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(route.paths)).format(**targets.ids)
        sent = data.draw(requests_for(route))
        try:
            response = targets.send(app, method, path, **sent)
        except requests.Timeout:
            pytest.fail(f"no answer within {TIMEOUT} s to {method} {path} {str(sent)[:300]}")
        _check_answer(app, response, sent)
        if response.status_code < 300 and route.undo is not None:
            route.undo(targets)

    one_request()
    assert targets.healthy(app), f"{app} stopped answering its health check after {key}"
    # The other app is untouched, but a backend request may reach its own demo emulator.
    assert targets.healthy(BACKEND if app == EMULATOR else EMULATOR)
