"""The team server (``fbcheck serve --team``) over real HTTPS: tokens, people, jobs, the key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from addin.engine.checker import input_fingerprint
from addin.engine.connection import key_fingerprint
from addin.engine.store import Store
from addin.http_server import BackgroundServer
from addin.web import close_app, create_app
from addin.web.certs import ServerCertificate
from addin.web.engine_host import host_of
from addin.web.flask_config import (
    EMULATOR_CONFIG_KEY,
    LOOKUP_MAX_WAIT_KEY,
    LOOKUP_QUIET_KEY,
    PORT_KEY,
    PUBLIC_URL_KEY,
    SETTINGS_KEY,
    START_RUNNER_KEY,
)
from addin.web.team import TEAM_KEY, TeamMode
from tests.conftest import Emulator, Emulators
from tests.web.conftest import SECRET_KEY
from tests.web.engine_app import fast_settings, number, payload, wait_for
from tests.web.test_secrets import every_request

CHECK = "/xlwings/check-selection"


class Team:
    """A team server on a free loopback port (TLS with the test CA) and its people."""

    def __init__(self, app: Flask, server: BackgroundServer, ca: str) -> None:
        """Keep the app, the server and the CA file to verify it with."""
        self.app = app
        self.server = server
        self.base = f"https://localhost:{server.port}"
        self.ca = ca
        settings = app.config[SETTINGS_KEY]
        self.store = Store(settings.store_location)  # the server's own: SQLite or PostgreSQL
        self.session = requests.Session()

    def add(self, name: str, *, admin: bool = False) -> str:
        """Create a user; return the token."""
        return self.store.add_user(name, admin=admin)

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send one request over HTTPS, with ``Authorization: Bearer token`` when given."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(
            method, self.base + path, headers=headers, verify=self.ca, timeout=30, **kwargs
        )

    def ok(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        """Send a request that must answer 200; return its JSON object."""
        response = self.call(method, path, token, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@contextmanager
def team_server(
    tmp_path: Path, certificate: ServerCertificate, *, runner: bool = True, **settings: Any
) -> Iterator[Team]:
    """Yield a team server (the instant demo emulator unless ``settings`` say) over TLS.

    ``runner=False``: no vendor I/O in the server (``serve --team --no-runner``).
    """
    app = create_app(
        {
            SETTINGS_KEY: fast_settings(tmp_path, **settings),
            PORT_KEY: 8443,
            TEAM_KEY: TeamMode(),
            EMULATOR_CONFIG_KEY: {"MOCK_PROFILE": "instant"},
            LOOKUP_QUIET_KEY: 0.2,
            LOOKUP_MAX_WAIT_KEY: 1.0,
            START_RUNNER_KEY: runner,
        }
    )
    server = BackgroundServer(app, certfile=certificate.certfile, keyfile=certificate.keyfile)
    app.config[PORT_KEY] = server.port
    # As `serve --team` on loopback without --public-url: its own address.
    app.config.setdefault(PUBLIC_URL_KEY, f"https://localhost:{server.port}")
    team = Team(app, server.start(), str(certificate.ca_file))
    try:
        yield team
    finally:
        team.session.close()
        server.stop()
        close_app(app)
        team.store.close()


@pytest.fixture
def team(tmp_path: Path, certificate: ServerCertificate) -> Iterator[Team]:
    """A demo team server over TLS."""
    with team_server(tmp_path, certificate) as running:
        yield running


def error_of(response: requests.Response, status: int) -> str:
    """Assert a JSON error with ``status``; return its code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"]
    return str(body["error"])


# -- who may call what ---------------------------------------------------------


def test_health_and_the_public_files_need_no_token(team: Team) -> None:
    health = team.call("GET", "/api/health")
    assert health.status_code == 200
    assert health.json()["team"] is True
    for path in (
        "/taskpane.html",
        "/taskpane.js",
        "/taskpane.css",
        "/functions.json",
        "/manifest.xml",
        "/icons/icon-32.png",
    ):
        assert team.call("GET", path).status_code == 200, path
    # The manifest names the server's configured address (here its loopback one).
    assert (
        f"https://localhost:{team.server.port}/taskpane.html"
        in team.call("GET", "/manifest.xml").text
    )


@pytest.mark.parametrize("forged", ["evil.example", "evil.example:443", "localhost:1"])
def test_the_manifest_names_the_public_url_never_the_host_header(team: Team, forged: str) -> None:
    team.app.config[PUBLIC_URL_KEY] = "https://fbcheck.example.com"
    # A client sets any Host it likes (and a cache in between may keep what it got).
    response = team.call("GET", "/manifest.xml", headers={"Host": forged})
    assert response.status_code == 200, response.text
    text = response.text
    assert "https://fbcheck.example.com/taskpane.html" in text
    assert "evil" not in text
    assert f"localhost:{team.server.port}" not in text
    assert "localhost:1/" not in text


def test_a_team_server_without_a_public_url_serves_no_manifest(team: Team) -> None:
    team.app.config[PUBLIC_URL_KEY] = None
    response = team.call("GET", "/manifest.xml", headers={"Host": "evil.example"})
    assert error_of(response, 404) == "public_url_unset"
    assert "--public-url" in response.json()["message"]
    assert "evil" not in response.text


def test_every_api_route_needs_a_token(team: Team) -> None:
    sent = [(m, p) for m, p in every_request(team.app) if p.startswith(("/api/", "/xlwings/"))]
    assert len(sent) > 15
    for method, path in sent:
        if path == "/api/health":
            continue
        response = team.call(method, path, json={})
        assert error_of(response, 401) == "token_required", (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_or_revoked_token_is_refused_and_says_sign_in_again(team: Team) -> None:
    token = team.add("alice")
    assert team.ok("GET", "/api/whoami", token) == {
        "demo": True,
        "team": True,
        "user": "alice",
        "admin": False,
    }
    assert error_of(team.call("GET", "/api/jobs", token + "x"), 401) == "token_refused"
    assert error_of(team.call("GET", "/api/jobs", "fbct_made-up"), 401) == "token_refused"
    basic = team.call("GET", "/api/jobs", headers={"Authorization": f"Basic {token}"})
    assert error_of(basic, 401) == "token_required"
    team.store.revoke_user("alice")
    refused = team.call("GET", "/api/jobs", token)
    assert error_of(refused, 401) == "token_refused"
    assert "Sign in again" in refused.json()["message"]


def test_a_token_in_the_url_is_refused_even_with_a_good_header(team: Team) -> None:
    token = team.add("alice")
    for query in (
        f"?token={token}",
        f"?access_token={token}",
        f"?limit=5&x={token}",
        "?Authorization=abc",
    ):
        response = team.call("GET", "/api/jobs" + query, token)
        assert error_of(response, 400) == "token_in_url", query
        assert token not in response.text
    # Also on the open routes and the static files: the URL is logged either way.
    assert error_of(team.call("GET", f"/taskpane.html?token={token}"), 400) == "token_in_url"
    assert error_of(team.call("GET", f"/api/health?t={token}"), 400) == "token_in_url"


def test_a_foreign_origin_and_a_preflight_are_refused(team: Team) -> None:
    token = team.add("alice")
    foreign = team.call("GET", "/api/jobs", token, headers={"Origin": "https://evil.example"})
    assert error_of(foreign, 403) == "foreign_origin"
    own = team.call("GET", "/api/jobs", token, headers={"Origin": team.base})
    assert own.status_code == 200
    assert error_of(team.call("OPTIONS", "/api/jobs"), 403) == "preflight_refused"


def test_the_last_seen_time_follows_the_token(team: Team) -> None:
    token = team.add("alice")
    assert [u.last_seen for u in team.store.users()] == [None]
    team.ok("GET", "/api/whoami", token)
    (alice,) = team.store.users()
    assert alice.last_seen is not None


# -- people and their jobs -----------------------------------------------------


def check(team: Team, token: str, first: int, count: int = 3) -> str:
    """Start a ribbon check of ``count`` numbers as the token's user; return the job id."""
    cells = [number(first + i) for i in range(count)]
    body = team.ok("POST", CHECK, token, json=payload((f"A1:A{count}", cells)))
    assert body["job_id"], body
    return str(body["job_id"])


def test_each_user_sees_and_acts_on_their_own_jobs_an_admin_on_all(team: Team) -> None:
    alice, bob, admin = team.add("alice"), team.add("bob"), team.add("root", admin=True)
    alices = check(team, alice, 0)
    bobs = check(team, bob, 100)

    def history(token: str) -> dict[str, str | None]:
        """Return {job_id: started_by} of the history the token's user sees."""
        return {j["job_id"]: j["started_by"] for j in team.ok("GET", "/api/jobs", token)["jobs"]}

    assert history(alice) == {alices: "alice"}
    assert history(bob) == {bobs: "bob"}
    assert history(admin) == {alices: "alice", bobs: "bob"}
    assert team.ok("GET", f"/api/jobs/{alices}", alice)["started_by"] == "alice"
    # Another user's job is unknown to bob, for reading and for every action on it.
    assert error_of(team.call("GET", f"/api/jobs/{alices}", bob), 404) == "job_not_found"
    for action in ("cancel", "resend", "abandon"):
        response = team.call("POST", f"/api/jobs/{alices}/{action}", bob, json={})
        assert error_of(response, 404) == "job_not_found", action
    write = team.call(
        "POST", f"/xlwings/write-results/{alices}", bob, json=payload(("A1:A3", [number(0)] * 3))
    )
    assert error_of(write, 404) == "job_not_found"
    # The admin may act on anyone's job.
    wait_for(lambda: team.ok("GET", f"/api/jobs/{alices}", admin)["finished"])
    written = team.ok(
        "POST",
        f"/xlwings/write-results/{alices}",
        admin,
        json=payload(("A1:A3", [number(i) for i in range(3)])),
    )
    assert written["written"] == 3


def test_look_ups_are_attributed_to_the_user_whose_cells_asked(team: Team) -> None:
    alice, bob = team.add("alice"), team.add("bob")
    items = [{"value": number(500 + i)} for i in range(2)]
    first = team.ok("POST", "/api/lookups", alice, json={"items": items})
    assert {r["status"] for r in first["results"]} == {"pending"}

    def alices_lookup_jobs() -> list[dict[str, Any]]:
        """Return alice's look-up jobs once the coalescer submitted them."""
        jobs = team.ok("GET", "/api/jobs", alice)["jobs"]
        return [j for j in jobs if j["kind"] == "lookups"]

    (job,) = wait_for(alices_lookup_jobs)
    assert job["started_by"] == "alice"
    assert team.ok("GET", "/api/jobs", bob)["jobs"] == []
    # Bob's cells asking for the same numbers get his own job, answered from the cache
    # or joined: nothing is uploaded twice.
    team.ok("POST", "/api/lookups", bob, json={"items": items})
    (bobs,) = wait_for(
        lambda: [j for j in team.ok("GET", "/api/jobs", bob)["jobs"] if j["kind"] == "lookups"]
    )
    assert bobs["started_by"] == "bob"
    assert bobs["plan"]["to_upload"] == 0


def test_a_held_look_up_batch_is_only_its_users(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with team_server(tmp_path, certificate, confirm_above=1) as team:
        alice, bob = team.add("alice"), team.add("bob")
        items = [{"value": number(700 + i)} for i in range(5)]
        team.ok("POST", "/api/lookups", alice, json={"items": items})
        held = wait_for(lambda: team.ok("GET", "/api/lookups/held", alice)["held"])
        assert team.ok("GET", "/api/lookups/held", bob)["held"] is None
        steal = team.call(
            "POST",
            f"/api/lookups/held/{held['batch_id']}/confirm",
            bob,
            json={"version": held["version"]},
        )
        assert error_of(steal, 404) == "batch_not_found"
        assert team.ok("GET", "/api/lookups/held", alice)["held"]["batch_id"] == held["batch_id"]


# -- the vendor key and the settings -------------------------------------------


@pytest.fixture
def keyed(
    tmp_path: Path, certificate: ServerCertificate, emulators: Emulators[Emulator]
) -> Iterator[Team]:
    """A team server with a live key, its vendor the emulator, the key in a secrets file."""
    emulator = emulators.start(MOCK_API_KEYS={SECRET_KEY: 1000})
    key_file = tmp_path / "vendor-key"
    key_file.write_text(SECRET_KEY + "\n", encoding="utf-8")
    with team_server(tmp_path, certificate, api_key_file=key_file, api_url=emulator.url) as team:
        yield team


def test_the_key_is_in_no_response_and_only_its_fingerprint_shows(keyed: Team) -> None:
    token = keyed.add("root", admin=True)
    user = keyed.add("alice")
    settings = keyed.ok("GET", "/api/settings", user)
    assert settings["demo"] is False
    assert settings["api_key"] is None
    assert settings["key_fingerprint"] == key_fingerprint(SECRET_KEY)
    check(keyed, user, 0)
    checked = 0
    for method, path in every_request(keyed.app):
        for who in (token, user, None, "fbct_wrong"):
            response = keyed.call(method, path, who, json={"api_key": "?"})
            assert SECRET_KEY not in response.text, (method, path)
            assert SECRET_KEY not in str(response.headers), (method, path)
            checked += 1
    assert checked > 60


def test_the_pane_cannot_set_the_key_and_only_an_admin_changes_settings(keyed: Team) -> None:
    admin, user = keyed.add("root", admin=True), keyed.add("alice")
    for who in (admin, user):
        response = keyed.call("PUT", "/api/settings", who, json={"api_key": "sk-another-key-1"})
        assert error_of(response, 403) == "key_on_server"
    assert error_of(keyed.call("PUT", "/api/settings", user, json={"region": "CH"}), 403) == (
        "admin_only"
    )
    assert error_of(keyed.call("POST", "/api/cache/clear", user, json={}), 403) == "admin_only"
    assert keyed.ok("PUT", "/api/settings", admin, json={"region": "CH"})["region"] == "CH"
    assert keyed.ok("GET", "/api/settings", user)["key_fingerprint"] == key_fingerprint(SECRET_KEY)


def test_without_the_runner_the_server_does_no_vendor_io(
    tmp_path: Path, certificate: ServerCertificate
) -> None:
    with team_server(tmp_path, certificate, runner=False) as team:
        token = team.add("alice")
        job_id = check(team, token, 0)
        job = team.ok("GET", f"/api/jobs/{job_id}", token)
        # Planned and queued for a worker; this process uploads nothing.
        assert job["task_states"] == {"queued": 1}
        assert job["billed"] == 0
        with host_of(team.app).checker() as checker:
            assert not checker.runner.alive
            assert checker.runner.owner  # it still names itself for the leases


# -- file jobs (fbcheck check --server) per user ---------------------------------


def plan_file_job(team: Team, token: str, numbers: list[str]) -> tuple[str, dict[str, Any]]:
    """Send ``numbers`` as the token's user's file job and plan it; return the plan's id and
    the estimate (what ``fbcheck check --server`` prints)."""
    fingerprint = input_fingerprint("cli", numbers)
    opened = team.ok(
        "POST", "/api/file-jobs", token, json={"fingerprint": fingerprint, "chunks": 1}
    )
    assert opened["continued"] is False, opened
    upload = opened["upload_id"]
    team.ok("PUT", f"/api/file-jobs/uploads/{upload}/chunks/0", token, json={"numbers": numbers})
    planned = team.ok(
        "POST",
        f"/api/file-jobs/uploads/{upload}/plan",
        token,
        json={"rows": len(numbers), "invalid": 0, "label": "in.csv"},
    )
    estimate: dict[str, Any] = planned["plan"]
    return str(planned["plan_id"]), estimate


def start_file_job(team: Team, token: str, numbers: list[str]) -> dict[str, Any]:
    """Open, send, plan and start a file job of ``numbers`` as the token's user."""
    plan_id, _ = plan_file_job(team, token, numbers)
    return team.ok("POST", f"/api/file-jobs/plans/{plan_id}/start", token, json={})


def test_file_jobs_are_their_users_own(tmp_path: Path, certificate: ServerCertificate) -> None:
    # No runner: the job stays unfinished, so the same input could be continued.
    with team_server(tmp_path, certificate, runner=False) as team:
        alice, bob, admin = team.add("alice"), team.add("bob"), team.add("root", admin=True)
        numbers = [number(i) for i in range(4)]
        fingerprint = input_fingerprint("cli", numbers)
        started = start_file_job(team, alice, numbers)
        job_id = started["job_id"]
        assert team.ok("GET", f"/api/jobs/{job_id}", alice)["started_by"] == "alice"
        # Alice running the same command again continues her job.
        again = team.ok(
            "POST", "/api/file-jobs", alice, json={"fingerprint": fingerprint, "chunks": 1}
        )
        assert (again["continued"], again["job_id"]) == (True, job_id)
        # Bob's run of the same input learns nothing of it: he gets his own upload.
        bobs = team.ok(
            "POST", "/api/file-jobs", bob, json={"fingerprint": fingerprint, "chunks": 1}
        )
        assert (bobs["continued"], bobs["job_id"]) == (False, None)
        assert bobs["upload_id"]
        # Upload sessions and plans are per user: Bob's upload is unknown to Alice.
        chunk = f"/api/file-jobs/uploads/{bobs['upload_id']}/chunks/0"
        response = team.call("PUT", chunk, alice, json={"numbers": numbers})
        assert response.status_code == 404, response.text
        team.ok("PUT", chunk, bob, json={"numbers": numbers})
        # Another user's job and its answers are unknown (404); an admin sees them.
        for path in (f"/api/jobs/{job_id}", f"/api/file-jobs/{job_id}/answers"):
            assert error_of(team.call("GET", path, bob), 404) == "job_not_found"
            team.ok("GET", path, admin)
        assert team.ok("GET", f"/api/file-jobs/{job_id}/answers", alice)["answers"] == []
        # Bob's own job of the same input is a second job, his.
        bobs_plan = team.ok(
            "POST",
            f"/api/file-jobs/uploads/{bobs['upload_id']}/plan",
            bob,
            json={"rows": 4, "invalid": 0},
        )
        plan_path = f"/api/file-jobs/plans/{bobs_plan['plan_id']}/start"
        assert error_of(team.call("POST", plan_path, alice, json={}), 404) == "plan_not_found"
        his = team.ok("POST", plan_path, bob, json={})
        assert his["continued"] is False
        assert his["job_id"] != job_id
        assert team.ok("GET", f"/api/jobs/{his['job_id']}", bob)["started_by"] == "bob"
