"""The team server client (``addin.team_server``) and sign-in, over real HTTP (pytest-httpserver).

What a real team server in team mode answers (401 to a wrong or revoked token, a
proxy's HTML page, a 503 while instances restart) is played by pytest-httpserver;
the command line runs in a subprocess.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

from addin.engine.checker import JobProgress
from addin.team_server import (
    ServerRefused,
    ServerUnreachable,
    TeamServer,
    TokenRejected,
    server_url,
)
from addin.web.security import CLIENT_HEADER
from tests.cli_runs import TEAM_KEY as KEY
from tests.cli_runs import TOKEN, Terminal, fbcheck, laptop_env, read_output, swiss
from tests.conftest import Emulator, Emulators
from tests.test_server_check import LocalServer

UNAUTHORIZED = {"error": "unauthorized", "message": "this token was revoked", "demo": False}


def input_file(tmp_path: Path) -> Path:
    """Write a small input file."""
    path = tmp_path / "in.csv"
    path.write_text("phone\n" + "\n".join(swiss(3)) + "\n", encoding="utf-8")
    return path


def test_a_rejected_token_says_sign_in_again_with_exit_10(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/api/file-jobs", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json(UNAUTHORIZED, status=401)
    source = input_file(tmp_path)
    result = fbcheck(
        tmp_path, laptop_env(tmp_path), "check", "--server", httpserver.url_for(""), str(source)
    )
    assert result.returncode == 10, result.stderr
    assert "sign in again: the server refused the token (wrong or revoked)" in result.stderr
    assert "this token was revoked" in result.stderr
    assert "FBCHECK_TOKEN" in result.stderr
    httpserver.check_assertions()
    (request, _), *_ = httpserver.log
    assert request.headers[CLIENT_HEADER].startswith("fbcheck-cli/")
    assert TOKEN not in request.url
    assert not (tmp_path / "in.csv.results.csv").exists()


def test_jobs_with_a_rejected_token_exit_10(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/jobs", method="GET").respond_with_json(UNAUTHORIZED, status=401)
    result = fbcheck(
        tmp_path,
        laptop_env(tmp_path),
        "jobs",
        "list",
        "--server",
        httpserver.url_for("/"),
        "--json",
    )
    assert result.returncode == 10
    assert json.loads(result.stdout)["error"].startswith("sign in again")


def test_no_token_and_no_terminal_stops_before_any_request(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    env = laptop_env(tmp_path)
    del env["FBCHECK_TOKEN"]
    source = input_file(tmp_path)
    result = fbcheck(tmp_path, env, "check", "--server", httpserver.url_for(""), str(source))
    assert result.returncode == 10, result.stderr
    assert "no token for" in result.stderr
    assert "standard input is not a terminal" in result.stderr
    assert httpserver.log == []


@pytest.mark.parametrize("token", ["two words", "tab\there", "naïve"])
def test_a_token_that_cannot_be_one_is_refused_before_any_request(
    tmp_path: Path, httpserver: HTTPServer, token: str
) -> None:
    source = input_file(tmp_path)
    env = laptop_env(tmp_path, FBCHECK_TOKEN=token)
    result = fbcheck(tmp_path, env, "check", "--server", httpserver.url_for(""), str(source))
    assert result.returncode == 10, result.stderr
    assert "characters a token never has" in result.stderr
    assert httpserver.log == []


def test_a_page_that_is_not_json_is_no_fbcheck_server(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/api/file-jobs").respond_with_data(
        "<html>sign in to the proxy</html>", content_type="text/html"
    )
    source = input_file(tmp_path)
    result = fbcheck(
        tmp_path, laptop_env(tmp_path), "check", "--server", httpserver.url_for(""), str(source)
    )
    assert result.returncode == 11, result.stderr
    assert "without a JSON answer (text/html" in result.stderr
    assert "is this the address of an FBCheck server?" in result.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://fbcheck.example.com", "the token would cross the network unencrypted"),
        ("http://10.0.0.5:8443", "the token would cross the network unencrypted"),
        ("ftp://fbcheck.example.com", "takes a URL such as https://"),
        ("fbcheck.example.com", "takes a URL such as https://"),
        ("https://fbcheck.example.com/?token=x", "must not carry a query"),
        ("https://me:pw@fbcheck.example.com", "credentials"),
        ("https://fbcheck.example.com:99999", "invalid port"),
    ],
)
def test_a_server_url_that_is_not_https_or_loopback_is_refused(
    tmp_path: Path, url: str, said: str
) -> None:
    with pytest.raises(ValueError, match=said):
        server_url(url)
    source = input_file(tmp_path)
    result = fbcheck(tmp_path, laptop_env(tmp_path), "check", "--server", url, str(source))
    assert result.returncode == 2
    assert said in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://fbcheck.example.com/", "https://fbcheck.example.com"),
        (" https://fbcheck.example.com/team ", "https://fbcheck.example.com/team"),
        ("http://localhost:8443", "http://localhost:8443"),
        ("http://127.0.0.1:9", "http://127.0.0.1:9"),
        ("http://[::1]:9/", "http://[::1]:9"),
    ],
)
def test_https_anywhere_and_http_on_this_computer_are_accepted(url: str, expected: str) -> None:
    assert server_url(url) == expected


def client(httpserver: HTTPServer, notes: list[str], retry_for: float = 30.0) -> TeamServer:
    """Return a client of the test server that records its notices and never sleeps."""
    return TeamServer(
        base_url=httpserver.url_for(""),
        token=TOKEN,
        timeout=5,
        long_timeout=5,
        retry_for=retry_for,
        notice=notes.append,
        sleep=lambda seconds: None,
    )


def test_a_503_is_tried_again_with_a_growing_pause(httpserver: HTTPServer) -> None:
    for _ in range(3):
        httpserver.expect_ordered_request("/api/jobs/j1").respond_with_json(
            {"error": "shutting_down", "message": "restarting", "demo": False}, status=503
        )
    httpserver.expect_ordered_request("/api/jobs/j1").respond_with_json({"demo": True, "x": 1})
    notes: list[str] = []
    with client(httpserver, notes) as server:
        assert server.job("j1") == {"demo": True, "x": 1}
        assert server.demo is True
    assert [n.split("trying again in ")[1][:4] for n in notes] == ["1 s ", "2 s ", "4 s "]
    assert all("HTTP 503" in n for n in notes)
    httpserver.check_assertions()


def test_a_request_that_starts_a_job_is_never_sent_twice(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/file-jobs/plans/p/start").respond_with_json(
        {"error": "shutting_down", "message": "restarting", "demo": False}, status=503
    )
    notes: list[str] = []
    with client(httpserver, notes) as server, pytest.raises(ServerUnreachable, match="503"):
        server.request("POST", "/api/file-jobs/plans/p/start", body={})
    assert len(httpserver.log) == 1
    assert notes == []


def test_retries_stop_after_the_retry_time(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/jobs/j1").respond_with_response(Response("", status=502))
    notes: list[str] = []
    with client(httpserver, notes, retry_for=0) as server, pytest.raises(ServerUnreachable):
        server.job("j1")
    assert len(httpserver.log) == 1


def test_json_errors_carry_the_servers_code_and_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/jobs/j1").respond_with_json(
        {"error": "job_not_found", "message": "no such job", "demo": False}, status=404
    )
    httpserver.expect_request("/api/jobs/j2").respond_with_json(UNAUTHORIZED, status=401)
    with client(httpserver, []) as server:
        with pytest.raises(ServerRefused) as refused:
            server.job("j1")
        assert (refused.value.status, refused.value.error) == (404, "job_not_found")
        assert refused.value.message == "no such job"
        with pytest.raises(TokenRejected, match="sign in again"):
            server.job("j2")


def test_job_progress_survives_its_json() -> None:
    progress = JobProgress(
        job_id="j",
        state="running",
        kind="cli",
        label="in.csv",
        created_at=1.5,
        distinct=10,
        answered=4,
        counts={"yes": 4, "pending": 6},
        tasks=1,
        tasks_open=1,
        processing=6,
        processed=2,
        billed=3,
        eta_seconds=None,
        error=None,
        uncertain_tasks=1,
        other_key_tasks={"ab12": 1},
        task_states={"running": 1},
    )
    data = json.loads(json.dumps({**progress.as_dict(), "target": None}))
    assert JobProgress.from_dict(data) == progress
    del data["billed"]
    with pytest.raises(KeyError, match="billed"):
        JobProgress.from_dict(data)


def test_the_token_is_asked_for_on_a_terminal_and_never_shown(
    tmp_path: Path, emulators: Emulators[Emulator]
) -> None:
    vendor = emulators.start(MOCK_PROFILE="instant", MOCK_API_KEYS={KEY: 1_000})
    team = LocalServer(tmp_path, vendor)
    try:
        env = laptop_env(tmp_path)
        del env["FBCHECK_TOKEN"]
        source = input_file(tmp_path)
        terminal = Terminal(tmp_path, env, "check", "--server", team.url, str(source))
        terminal.wait_for("Personal token for")
        os.write(terminal.master, f"{TOKEN}\n".encode())
        assert terminal.finish() == 0, terminal.text
        assert TOKEN not in terminal.text
        assert {auth for _, _, auth in team.recorder.seen} == {f"Bearer {TOKEN}"}
        assert len(read_output(tmp_path / "in.csv.results.csv")) == 3
    finally:
        team.close()
