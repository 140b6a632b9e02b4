"""Fixtures for the upstream tests: a threaded pytest-httpserver and a raw socket server."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

#: The vendor's own example answer to a create, byte for byte.
CREATE_EXAMPLE = (
    '{"created_at": "2024-10-19T18:24:56.450567423Z",\n'
    ' "updated_at": "2024-10-19T18:24:56.450567423Z",\n'
    ' "task_id": "cs9viu7i61pkfs4oavvg", "user_id": "test",\n'
    ' "status": "pending", "total": 0, "success": 0, "failure": 0}'
)


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    """Replace the plugin's server: loopback only, threaded so a slow handler blocks nothing."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@dataclass(frozen=True)
class Upload:
    """What a multipart create request carried, copied out of werkzeug's request."""

    headers: dict[str, str]
    query: bytes
    filename: str | None
    mimetype: str
    content: bytes
    form: dict[str, str]


def read_upload(request: Request) -> Upload:
    """Copy the upload out of a request and close its spooled files.

    Werkzeug spools multipart parts into temporary files that are otherwise
    closed by garbage collection, which pytest reports as a ResourceWarning.
    """
    try:
        part = request.files["file"]
        return Upload(
            headers=dict(request.headers),
            query=request.query_string,
            filename=part.filename,
            mimetype=part.mimetype,
            content=part.read(),
            form=request.form.to_dict(),
        )
    finally:
        request.close()


@dataclass
class RawRequest:
    """One request as the raw server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Action = Callable[[socket.socket], None]


@dataclass
class RawServer:
    """A bare HTTP/1.1 server answering each request with the next scripted action.

    It exists for what a well-behaved server cannot do: close the connection
    without answering, or send fewer bytes than its Content-Length announces.
    """

    actions: list[Action] = field(default_factory=list)
    requests: list[RawRequest] = field(default_factory=list)
    url: str = ""

    def next_action(self) -> Action:
        """Pop the next scripted action; unscripted requests get a 500."""
        return self.actions.pop(0) if self.actions else respond(500, b"unscripted")


def _read_request(conn: socket.socket) -> RawRequest:
    """Read a request head and its Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" "), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawRequest(method, path, headers, body)


def respond(status: int, body: bytes, headers: dict[str, str | None] | None = None) -> Action:
    """Return an action sending a complete answer."""
    return send_raw(status, body, headers)


def close_without_answer() -> Action:
    """Return an action that closes the connection after reading the request."""
    return lambda conn: None


def send_raw(
    status: int,
    body: bytes,
    headers: dict[str, str | None] | None = None,
    *,
    length: int | None = None,
) -> Action:
    """Send ``body`` under a Content-Length of ``length`` (default: exact); None drops a header."""

    def act(conn: socket.socket) -> None:
        """Write the status line, headers and body, then let the caller close."""
        all_headers: dict[str, str | None] = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body) if length is None else length),
            "Connection": "close",
            **(headers or {}),
        }
        head = f"HTTP/1.1 {status} X\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in all_headers.items() if v is not None
        )
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)

    return act


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    """Start a RawServer on 127.0.0.1 for one test."""
    state = RawServer()

    class Handler(socketserver.BaseRequestHandler):
        """Read one request, record it, run the scripted action, close."""

        def handle(self) -> None:
            """Serve exactly one request on this connection."""
            conn: socket.socket = self.request
            state.requests.append(_read_request(conn))
            state.next_action()(conn)
            conn.shutdown(socket.SHUT_RDWR)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """Return a loopback URL on a port nobody listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
