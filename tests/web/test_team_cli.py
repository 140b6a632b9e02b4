"""``fbcheck serve --team`` and ``fbcheck users``: refusals, tokens shown once, a real server."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from addin.cli import main
from addin.engine.connection import key_fingerprint
from addin.web.certs import ServerCertificate
from addin.web.cli import run
from tests.cli_runs import (
    fbcheck,
    job_of,
    laptop_env,
    read_output,
    swiss,
    uploads,
    write_input,
)
from tests.conftest import Emulator, Emulators
from tests.web.conftest import SECRET_KEY
from tests.web.test_cli import REPO, read_until


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME and the data folder at ``tmp_path`` and drop any API key."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FBCHECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FBCHECK_API_KEY", raising=False)
    monkeypatch.delenv("FBCHECK_API_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    return tmp_path


# -- fbcheck users ---------------------------------------------------------------


def test_users_add_prints_the_token_once_and_stores_only_its_hash(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["users", "add", "alice", "--admin"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("fbct_")
    assert len(token) > 40
    assert "shown this once" in err
    assert token.encode() not in (env / "data" / "fbcheck.sqlite3").read_bytes()
    assert main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "alice" in listing
    assert "yes" in listing
    assert token not in listing
    assert main(["users", "list", "--json"]) == 0
    (alice,) = json.loads(capsys.readouterr().out)["users"]
    assert alice["name"] == "alice"
    assert alice["admin"] is True
    assert alice["last_seen"] is None
    assert alice["revoked_at"] is None
    assert token not in json.dumps(alice)


def test_users_refusals_say_why(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "add", "alice"]) == 0
    capsys.readouterr()
    assert main(["users", "add", "alice"]) == 2
    assert "exists already" in capsys.readouterr().err
    for bad in ("two words", "_under", ".dot", "x" * 65, "semi;colon", "tab\tname"):
        assert main(["users", "add", bad]) == 2, bad
        assert "a user name is" in capsys.readouterr().err
    assert main(["users", "revoke", "nobody"]) == 2
    assert "no user named nobody" in capsys.readouterr().err
    assert main(["users", "revoke", "alice"]) == 0
    capsys.readouterr()
    assert main(["users", "revoke", "alice"]) == 2
    assert "revoked already" in capsys.readouterr().err
    # A revoked user may be given a new token: their jobs stay theirs.
    assert main(["users", "add", "alice"]) == 0
    assert capsys.readouterr().out.startswith("fbct_")


def test_users_on_an_unusable_store_exit_8(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "data").mkdir()
    (env / "data" / "fbcheck.sqlite3").mkdir()
    assert main(["users", "list"]) == 8
    assert "folder" in capsys.readouterr().err


# -- fbcheck serve --team refusals -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--team", "--host", "0.0.0.0"], "refusing plain HTTP on 0.0.0.0"),  # noqa: S104
        (["--team", "--host", "192.168.1.10"], "--trust-proxy ADDRESS"),
        (["--team", "--host", "fbcheck.example.com"], "must be an IP address"),
        (["--team", "--cert", "c.pem"], "both --cert and --key"),
        (["--team", "--cert", "c.pem", "--key", "k.pem"], "no such file: c.pem"),
        (["--team", "--trust-proxy", "proxy.example"], "--trust-proxy takes IP addresses"),
        (["--cert", "c.pem", "--key", "k.pem"], "--cert, --key only with --team"),
        (["--trust-proxy", "10.0.0.5"], "--trust-proxy only with --team"),
        (["--no-runner"], "--no-runner only with --team"),
        (["--public-url", "https://fbcheck.example.com"], "--public-url only with --team"),
        (["--team", "--public-url", "http://fbcheck.example.com"], "must start with https://"),
        (["--team", "--public-url", "https://u:p@fbcheck.example.com"], "credentials"),
    ],
)
def test_serve_team_refusals(
    env: Path, argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["serve", *argv]) == 2
    assert says in capsys.readouterr().err


def test_serve_team_refuses_tls_and_a_proxy_together(
    env: Path, certificate: ServerCertificate, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--cert", str(certificate.certfile), "--key", str(certificate.keyfile)]
    assert run(["serve", "--team", *argv, "--trust-proxy", "10.0.0.5"]) == 2
    assert "not both" in capsys.readouterr().err


def test_serve_team_refuses_a_key_that_is_not_the_certificates(
    env: Path, certificate: ServerCertificate, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = env / "wrong.pem"
    wrong.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    argv = ["--cert", str(certificate.certfile), "--key", str(wrong), "--port", "0"]
    assert run(["serve", "--team", *argv]) == 2
    assert "cannot be used" in capsys.readouterr().err


def test_an_unreadable_key_file_is_invalid_settings(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FBCHECK_API_KEY_FILE", str(env / "missing-key"))
    assert run(["serve", "--team"]) == 2
    err = capsys.readouterr().err
    assert "api_key_file: cannot read" in err
    assert "No such file" in err


# -- a real team server process ------------------------------------------------------


CODE = "import sys; from addin.cli import main; sys.exit(main(sys.argv[1:]))"


def add_user(env: Path, child_env: dict[str, str], name: str) -> str:
    """Run ``fbcheck users add NAME`` in a subprocess; return the token it printed."""
    added = subprocess.run(
        [sys.executable, "-c", CODE, "users", "add", name],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=env,
        check=True,
    )
    return added.stdout.strip()


@contextmanager
def serving_team(
    env: Path, certificate: ServerCertificate, **extra: str
) -> Iterator[tuple[list[str], dict[str, str], str]]:
    """Run ``serve --team`` (the test certificate, a key file, ``extra`` variables).

    Yields the lines up to the manifest's, the server's environment (for ``users add``)
    and the token of alice, added before the start.
    """
    key_file = env / "vendor-key"
    key_file.write_text(SECRET_KEY, encoding="utf-8")
    child_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO),
        "FBCHECK_API_KEY_FILE": str(key_file),
        "FBCHECK_API_URL": "http://127.0.0.1:9",  # never contacted unless ``extra`` says
        **extra,
    }
    # A user before the start: the server reports it has some.
    alice = add_user(env, child_env, "alice")
    argv = [
        "serve",
        "--team",
        "--port",
        "0",
        "--cert",
        str(certificate.certfile),
        "--key",
        str(certificate.keyfile),
    ]
    process = subprocess.Popen(
        [sys.executable, "-c", CODE, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env,
        cwd=env,
    )
    try:
        yield read_until(process, "Add-in manifest"), child_env, alice
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def port_of(lines: list[str]) -> int:
    """Return the port of the first line ``FBCheck team server on https://host:port``."""
    assert lines[0].startswith("FBCheck team server on https://127.0.0.1:"), lines
    return int(lines[0].split()[4].rsplit(":", 1)[1])


@pytest.fixture
def team_process(env: Path, certificate: ServerCertificate) -> Iterator[tuple[list[str], str]]:
    """Run ``serve --team`` with the test certificate and a key file; yield lines and a token."""
    with serving_team(env, certificate) as (lines, _, alice):
        yield lines, alice


def test_serve_team_end_to_end(
    team_process: tuple[list[str], str], certificate: ServerCertificate
) -> None:
    lines, token = team_process
    text = "\n".join(lines)
    assert lines[0].startswith("FBCheck team server on https://127.0.0.1:")
    port = int(lines[0].split()[4].rsplit(":", 1)[1])
    assert f"fingerprint {key_fingerprint(SECRET_KEY)}" in text
    assert SECRET_KEY not in text
    assert "No users yet" not in text
    base, ca = f"https://localhost:{port}", str(certificate.ca_file)
    assert requests.get(f"{base}/api/health", verify=ca, timeout=10).json()["team"] is True
    assert requests.get(f"{base}/api/jobs", verify=ca, timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    me = requests.get(f"{base}/api/whoami", headers=auth, verify=ca, timeout=10)
    assert me.json()["user"] == "alice"
    settings = requests.get(f"{base}/api/settings", headers=auth, verify=ca, timeout=10)
    assert settings.json()["key_fingerprint"] == key_fingerprint(SECRET_KEY)
    assert SECRET_KEY not in settings.text


@pytest.mark.parametrize(
    ("scheduler", "in_process"), [("inprocess", True), ("queue", False)], ids=["inprocess", "queue"]
)
def test_serve_team_in_queue_mode_starts_no_runner(
    env: Path, certificate: ServerCertificate, scheduler: str, in_process: bool
) -> None:
    # Queue mode: the `fbcheck worker` processes do the vendor I/O, never this one.
    with serving_team(env, certificate, FBCHECK_SCHEDULER=scheduler) as (lines, _, _alice):
        said = "No vendor I/O in this process: `fbcheck worker` processes do it." in lines
    assert said is not in_process, lines


def test_check_server_against_a_real_team_server_process(
    env: Path, certificate: ServerCertificate, emulators: Emulators[Emulator]
) -> None:
    vendor = emulators.start(MOCK_PROFILE="instant", MOCK_API_KEYS={SECRET_KEY: 1_000_000})
    settings = {
        "FBCHECK_API_URL": vendor.url,
        "FBCHECK_REGION": "CH",
        "FBCHECK_POLL_MIN_INTERVAL": "0.05",
        "FBCHECK_POLL_MAX_INTERVAL": "0.3",
    }
    with serving_team(env, certificate, **settings) as (lines, server_env, alice):
        bob = add_user(env, server_env, "bob")
        base, ca = f"https://localhost:{port_of(lines)}", str(certificate.ca_file)
        values = [*swiss(12), "abc"]
        source = write_input(env / "in.csv", values)
        out = env / "out.csv"
        laptop = laptop_env(env, FBCHECK_TOKEN=alice, REQUESTS_CA_BUNDLE=ca)
        result = fbcheck(env, laptop, "check", "--server", base, str(source), "-o", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        job = job_of(result.stdout)
        # The output is written here, with the server's answers.
        rows = read_output(out)
        assert [r["phone"] for r in rows] == values
        assert {r["facebook"] for r in rows[:12]} <= {"yes", "no", "ban"}
        assert rows[12]["facebook"] == "invalid"
        assert uploads(vendor) == Counter(swiss(12))
        assert not (env / "laptop").exists()

        def get(path: str, token: str) -> requests.Response:
            """GET ``path`` from the team server with ``token``."""
            headers = {"Authorization": f"Bearer {token}"}
            return requests.get(f"{base}{path}", headers=headers, verify=ca, timeout=30)

        # The file job is Alice's; Bob cannot see it, nor its answers, nor list it.
        mine = get(f"/api/jobs/{job}", alice)
        assert mine.status_code == 200, mine.text
        assert (mine.json()["started_by"], mine.json()["kind"]) == ("alice", "cli")
        for path in (f"/api/jobs/{job}", f"/api/file-jobs/{job}/answers"):
            refused = get(path, bob)
            assert refused.status_code == 404, refused.text
            assert refused.json()["error"] == "job_not_found"
        assert get("/api/jobs", bob).json()["jobs"] == []
        bobs = fbcheck(env, {**laptop, "FBCHECK_TOKEN": bob}, "jobs", "list", "--server", base)
        assert bobs.returncode == 0, bobs.stderr
        assert job not in bobs.stdout
        alices = fbcheck(env, laptop, "jobs", "list", "--server", base, "--json")
        assert [j["job_id"] for j in json.loads(alices.stdout)["jobs"]] == [job]
        # The table names who started each job, as the JSON does.
        table = fbcheck(env, laptop, "jobs", "list", "--server", base)
        assert table.returncode == 0, table.stderr
        header, row = table.stdout.splitlines()
        assert header.split()[:7] == ["job", "created", "(UTC)", "state", "kind", "started", "by"]
        assert row.startswith(job)
        assert row[header.index("started by") :].startswith("alice ")
        # Bob's overlapping input: the estimate says how many numbers Alice paid for, and
        # only the rest is uploaded (and billed).
        assert "paid for by colleagues" in result.stdout  # Alice's own estimate: 0 of them
        assert re.search(r"paid for by colleagues\s+0 ", result.stdout), result.stdout
        overlap = write_input(env / "bob.csv", [*swiss(4, 8), *swiss(3, 100)])
        bob_env = {**laptop, "FBCHECK_TOKEN": bob}
        # A user added from another process while the server holds its store (SQLite
        # here): the server's locks hold, so that process leaves the store's WAL alone
        # (tests/engine/store/test_store_locks.py has the mechanism).
        add_user(env, server_env, "carol")
        bobs_run = fbcheck(
            env, bob_env, "check", "--server", base, str(overlap), "-o", str(env / "b.csv")
        )
        assert bobs_run.returncode == 0, bobs_run.stdout + bobs_run.stderr
        assert re.search(r"paid for by colleagues\s+4 ", bobs_run.stdout), bobs_run.stdout
        assert uploads(vendor) == Counter([*swiss(12), *swiss(3, 100)])
        as_json = fbcheck(
            env,
            bob_env,
            "check",
            "--server",
            base,
            str(overlap),
            "-o",
            str(env / "c.csv"),
            "--json",
        )
        assert as_json.returncode == 0, as_json.stderr
        estimate = json.loads(as_json.stdout)["estimate"]
        # Now 3 of them are his own answers: 4 paid for by Alice, none uploaded.
        assert (estimate["cache_hits"], estimate["paid_by_colleagues"]) == (7, 4)
        assert estimate["to_upload"] == 0
        assert uploads(vendor) == Counter([*swiss(12), *swiss(3, 100)])
    with sqlite3.connect(f"file:{env / 'data' / 'fbcheck.sqlite3'}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
