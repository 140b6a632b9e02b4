"""``fbcheck serve`` and ``fbcheck manifest``, through the sub-command module."""

from __future__ import annotations

import gc
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from addin.web.cli import run
from addin.web.manifest import render_manifest
from addin.web.security import CLIENT_HEADER

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME and the data folder at ``tmp_path`` and drop any API key."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FBCHECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FBCHECK_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    return tmp_path


def test_manifest_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["manifest"]) == 0
    assert capsys.readouterr().out == render_manifest()


def test_manifest_to_file_with_base_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "m.xml"
    assert run(["manifest", "--base-url", "https://localhost:9443/", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_manifest("https://localhost:9443")
    assert "Wrote" in capsys.readouterr().out


def test_manifest_bad_base_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["manifest", "--base-url", "http://localhost:8443"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "must start with https://" in captured.err


def test_manifest_unwritable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["manifest", "-o", str(tmp_path / "missing" / "m.xml")]) == 1
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])  # noqa: S104
def test_serve_refuses_non_loopback_host(
    host: str, isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["serve", "--host", host]) == 2
    assert "this computer only" in capsys.readouterr().err
    assert not (isolated_env / "data").exists()  # refused before doing anything


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_serve_rejects_bad_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["serve", "--port", port])
    assert exit_info.value.code == 2
    assert "port" in capsys.readouterr().err


# cheroot 11 leaks the socket of a failed bind (Server.bind creates it before
# binding and drops it on error); collect it here so the warning stays here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_serve_port_in_use(isolated_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run(["serve", "--port", str(port)]) == 1
    gc.collect()
    assert f"cannot listen on 127.0.0.1 port {port}" in capsys.readouterr().err


def test_serve_invalid_settings(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FBCHECK_CACHE_TTL_DAYS", "-3")
    assert run(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "invalid settings" in err
    assert "cache_ttl_days" in err


def test_serve_certificate_folder_unusable(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = isolated_env / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FBCHECK_DATA_DIR", str(blocker))
    assert run(["serve", "--port", "0"]) == 1
    assert "cannot prepare the TLS certificate" in capsys.readouterr().err


@pytest.fixture
def served(isolated_env: Path) -> Iterator[tuple[list[str], Path]]:
    """Run ``serve --port 0`` in a child process; yield its start-up lines and CA file."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO),
    }
    code = "import sys; from addin.web.cli import run; sys.exit(run(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=isolated_env,
    )
    try:
        lines = read_until(process, "Excel on the web")
        yield lines, isolated_env / "data" / "certs" / "ca.crt"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 30) -> list[str]:
    """Return stdout lines up to the one containing ``marker``."""
    stdout = process.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    # A thread, because a buffered pipe can hold several lines that select() no longer sees.
    def pump() -> None:
        """Move stdout lines into the queue until the pipe closes."""
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line.rstrip("\n"))
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} in the output of serve: {seen}")


def test_serve_end_to_end(served: tuple[list[str], Path]) -> None:
    lines, ca_file = served
    first = lines[0]
    assert first.startswith("FBCheck backend on https://localhost:")
    base = first.split()[3]
    port = int(base.rsplit(":", 1)[1])
    assert port > 0
    assert any(line.startswith("DEMO MODE") for line in lines)
    assert (
        f"Add-in manifest: {base}/manifest.xml  (or: fbcheck manifest --base-url {base} -o"
        in "\n".join(lines)
    )
    assert "trust it once" in "\n".join(lines)
    assert ca_file.is_file()

    health = requests.get(
        f"{base}/api/health", headers={CLIENT_HEADER: "t"}, verify=str(ca_file), timeout=5
    )
    assert health.json()["demo"] is True
    manifest = requests.get(f"{base}/manifest.xml", verify=str(ca_file), timeout=5)
    assert manifest.text == render_manifest(base)
    refused = requests.get(f"{base}/api/health", verify=str(ca_file), timeout=5)
    assert refused.status_code == 403
