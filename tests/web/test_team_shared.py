"""Team server instances share nothing but the database: any request may reach any instance.

Issue 13: "several instances behind a load balancer share nothing but the database",
and "kill a worker or a server instance mid-job and lose nothing". Real processes on
loopback: two ``fbcheck serve --team`` instances (A and B) over TLS on one throwaway
PostgreSQL database, one ``fbcheck worker``, the vendor emulator. A client sends its
requests to A and B in turn, as a round-robin load balancer without session affinity
does: the pane's chunked selection (opened on one, chunks on both, checked on one,
confirmed on the other), a held ``=FBCHECK`` batch confirmed through the instance that
did not hold it (and one cancelled so, which stays cancelled on both), and
``fbcheck check --server`` through a round-robin TLS relay, with A killed (SIGKILL)
after it received some of the file's chunks. Each number is uploaded to the vendor
once (the emulator's ledger); another user neither takes nor sees alice's upload,
plan or batch.
"""

from __future__ import annotations

import http.client
import itertools
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from addin.engine.store import Store
from addin.web.certs import ServerCertificate
from tests.cli_runs import laptop_env, read_output, start, swiss, uploads, write_input
from tests.conftest import Emulator, Emulators
from tests.web import test_team_kill as kill
from tests.web.conftest import SECRET_KEY
from tests.web.test_team_kill import Instance, alice_token, wait_for

pytestmark = pytest.mark.slow

# The fixtures of the kill tests: the database, both instances, one worker.
queue_url = kill.queue_url
team = kill.team
workers = kill.workers

#: Plans of more than this many numbers wait for the user's word.
CONFIRM_ABOVE = "10"
UPLOADS = "/xlwings/uploads"


@pytest.fixture
def vendor(emulators: Emulators[Emulator]) -> Emulator:
    """The emulator answering at once (nothing here waits on the vendor's pace)."""
    return emulators.start(MOCK_PROFILE="instant", MOCK_API_KEYS={SECRET_KEY: 1_000_000})


def raw(instance: Instance, method: str, path: str, token: str, **kwargs: Any) -> Any:
    """Send one API request with the bearer token; return the response, whatever its status."""
    return requests.request(
        method,
        instance.url + path,
        headers={"Authorization": f"Bearer {token}"},
        verify=instance.ca,
        timeout=60,
        **kwargs,
    )


def refused(response: Any, status: int, error: str) -> None:
    """Assert a JSON refusal."""
    assert (response.status_code, response.json()["error"]) == (status, error), response.text


class RoundRobin:
    """Sends each request to the next instance in turn, as a load balancer without affinity."""

    def __init__(self, *instances: Instance) -> None:
        """Cycle over ``instances``."""
        self._next = itertools.cycle(instances)
        self.seen: list[str] = []

    def __call__(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request (it must answer 200) to the next instance."""
        instance = next(self._next)
        self.seen.append(instance.name)
        return instance.call(method, path, token, **kwargs)


def add_user(queue_url: str, name: str) -> str:
    """Add a user to the shared store; return their token."""
    with closing(Store(queue_url)) as store:
        return store.add_user(name)


def held_on(instance: Instance, token: str) -> dict[str, Any] | None:
    """Return the user's held look-up batch as ``instance`` shows it, or None."""
    batch: dict[str, Any] | None = instance.call("GET", "/api/lookups/held", token)["held"]
    return batch


def awaiting_on(instance: Instance, token: str, numbers: list[str]) -> bool:
    """Return True when every one of ``numbers`` awaits the confirmation, polled on ``instance``."""
    poll = {"numbers": numbers}
    results = instance.call("POST", "/api/lookups/poll", token, json=poll)["results"]
    return {r["progress"] for r in results.values()} == {"awaiting confirmation"}


def wait_job(call: RoundRobin, token: str, job_id: str) -> dict[str, Any]:
    """Wait until the job finished (asking A and B in turn); return it."""
    job: dict[str, Any] = {}

    def finished() -> bool:
        job.update(call("GET", f"/api/jobs/{job_id}", token))
        return bool(job["finished"])

    wait_for(finished, f"job {job_id} to finish", 90)
    return job


# -- the task pane: request by request to A, then B ---------------------------------------


def test_a_chunked_selection_is_sent_planned_and_confirmed_across_both_instances(
    queue_url: str,
    vendor: Emulator,
    team: Callable[..., tuple[Instance, Instance]],
    workers: list[Any],
) -> None:
    alice, bob = alice_token(queue_url), add_user(queue_url, "bob")
    a, b = team("queue", FBCHECK_CONFIRM_ABOVE=CONFIRM_ABOVE)
    call = RoundRobin(a, b)
    values = swiss(300, start=7000)
    opened = call(
        "POST",
        UPLOADS,
        alice,
        json={"sheet": "Sheet1", "areas": [{"address": "A1:A300"}], "chunks": 3},
    )
    upload_id = opened["upload_id"]
    for index in range(3):
        rows = values[100 * index : 100 * (index + 1)]
        chunk = {"area": 0, "offset": 100 * index, "values": rows, "target": [""] * 100}
        got = call("PUT", f"{UPLOADS}/{upload_id}/chunks/{index}", alice, json=chunk)
        assert got["received"] == index + 1
        # Bob, on either instance, neither sees nor fills alice's upload.
        for instance in (a, b):
            refused(
                raw(instance, "PUT", f"{UPLOADS}/{upload_id}/chunks/{index}", bob, json=chunk),
                404,
                "upload_not_found",
            )
    assert call.seen == ["a", "b", "a", "b"]
    checked = call("POST", "/xlwings/check-selection", alice, json={"upload_id": upload_id})
    assert checked["needs_confirmation"] is True
    assert (checked["job_id"], checked["plan"]["to_upload"]) == (None, 300)
    plan_id = checked["plan_id"]
    assert vendor.ledger().get("tasks_created", 0) == 0  # nothing billed before the word
    for instance in (a, b):
        refused(raw(instance, "POST", f"/api/plans/{plan_id}/confirm", bob), 404, "plan_not_found")
        refused(
            raw(instance, "POST", "/xlwings/check-selection", bob, json={"upload_id": upload_id}),
            404,
            "upload_not_found",
        )
    # Confirmed on the other instance than the one that planned it; used once.
    confirmed = call("POST", f"/api/plans/{plan_id}/confirm", alice)
    assert call.seen[-2:] == ["a", "b"]
    job_id = confirmed["job_id"]
    for instance in (a, b):
        refused(
            raw(instance, "POST", f"/api/plans/{plan_id}/confirm", alice), 404, "plan_not_found"
        )
    job = wait_job(call, alice, job_id)
    assert (job["state"], job["started_by"]) == ("done", "alice")
    assert uploads(vendor) == Counter(values)


def test_a_held_lookup_batch_is_confirmed_through_the_instance_that_did_not_hold_it(
    queue_url: str,
    vendor: Emulator,
    team: Callable[..., tuple[Instance, Instance]],
    workers: list[Any],
) -> None:
    alice, bob = alice_token(queue_url), add_user(queue_url, "bob")
    a, b = team("queue", FBCHECK_CONFIRM_ABOVE=CONFIRM_ABOVE)
    numbers = swiss(40, start=8000)
    asked = a.call("POST", "/api/lookups", alice, json={"items": [{"value": n} for n in numbers]})
    assert {r["status"] for r in asked["results"]} == {"pending"}
    wait_for(lambda: held_on(b, alice) is not None, "the batch A held to show on B", 30)
    batch = held_on(b, alice)
    assert batch is not None
    assert (batch["numbers"], batch["version"], batch["plan"]["to_upload"]) == (40, 1, 40)
    assert held_on(b, bob) is None
    refused(
        raw(b, "POST", f"/api/lookups/held/{batch['batch_id']}/confirm", bob, json={"version": 1}),
        404,
        "batch_not_found",
    )
    poll = {"numbers": numbers}
    wait_for(lambda: awaiting_on(a, alice, numbers), "A's cells to await the confirmation", 30)
    assert vendor.ledger().get("tasks_created", 0) == 0
    confirmed = b.call(
        "POST", f"/api/lookups/held/{batch['batch_id']}/confirm", alice, json={"version": 1}
    )
    assert confirmed["job_id"]
    refused(
        raw(
            a, "POST", f"/api/lookups/held/{batch['batch_id']}/confirm", alice, json={"version": 1}
        ),
        404,
        "batch_not_found",
    )
    # A held them; it hears of the confirmation from the store, not from B.
    call = RoundRobin(a, b)
    answers: dict[str, Any] = {}

    def all_done() -> bool:
        results = call("POST", "/api/lookups/poll", alice, json=poll)["results"]
        assert "awaiting confirmation" not in {r["progress"] for r in results.values()}
        answers.update(results)
        return {r["status"] for r in results.values()} == {"done"}

    wait_for(all_done, "every cell answered", 90)
    assert {r["answer"] for r in answers.values()} <= {"yes", "no", "ban"}
    assert uploads(vendor) == Counter(numbers)


def test_a_held_lookup_batch_cancelled_through_the_other_instance_stays_cancelled_on_both(
    queue_url: str,
    vendor: Emulator,
    team: Callable[..., tuple[Instance, Instance]],
    workers: list[Any],
) -> None:
    alice = alice_token(queue_url)
    a, b = team("queue", FBCHECK_CONFIRM_ABOVE=CONFIRM_ABOVE)
    numbers = swiss(40, start=8500)
    items = {"items": [{"value": n} for n in numbers]}
    a.call("POST", "/api/lookups", alice, json=items)
    poll = {"numbers": numbers}
    wait_for(lambda: held_on(b, alice) is not None, "the batch A held to show on B", 30)
    wait_for(lambda: awaiting_on(a, alice, numbers), "A's cells to await the confirmation", 30)
    batch = held_on(b, alice)
    assert batch is not None
    cancelled = b.call("POST", f"/api/lookups/held/{batch['batch_id']}/cancel", alice)
    assert cancelled["cancelled"] == 40
    # The cells poll A and B in turn for longer than a batch takes to be cut and held:
    # A (which held the batch) and B (which cancelled it) both say it was cancelled, and
    # no batch is held again for the user to be asked twice.
    call = RoundRobin(a, b)
    for _ in range(12):
        results = call("POST", "/api/lookups/poll", alice, json=poll)["results"]
        assert {r["status"] for r in results.values()} == {"error"}, results
        assert all("cancelled in the task pane" in r["reason"] for r in results.values())
        assert held_on(a, alice) is None
        assert held_on(b, alice) is None
        time.sleep(0.5)
    assert vendor.ledger().get("tasks_created", 0) == 0
    # Asked anew through A (the formula entered again): held again, and B, which
    # remembers the cancellation itself, learns from the store that it no longer holds.
    again = a.call("POST", "/api/lookups", alice, json=items)
    assert {r["status"] for r in again["results"]} == {"pending"}
    wait_for(
        lambda: (held_on(b, alice) or batch)["batch_id"] != batch["batch_id"], "a new batch", 30
    )
    wait_for(lambda: awaiting_on(b, alice, numbers), "B's cells to await the new confirmation", 30)
    assert vendor.ledger().get("tasks_created", 0) == 0


# -- the command line through a round-robin load balancer ---------------------------------


class Relay:
    """A TLS-terminating round-robin load balancer on loopback: each request to the next instance.

    Without session affinity: requests of one connection go to A and B in turn. An
    instance that refuses the connection (killed) is skipped, as a load balancer skips
    an upstream that fails its connect. ``before(instance, method, path)`` runs before
    each request is relayed.
    """

    def __init__(
        self,
        certificate: ServerCertificate,
        instances: list[Instance],
        before: Callable[[Instance, str, str], None] = lambda *_: None,
    ) -> None:
        """Listen on a free port of 127.0.0.1 with the test certificate."""
        self.instances = instances
        self.before = before
        self.seen: list[tuple[str, str, str]] = []
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._upstream = ssl.create_default_context(cafile=str(certificate.ca_file))
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Say nothing."""

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                status, headers, answer = relay.forward(
                    self.command, self.path, dict(self.headers.items()), body
                )
                self.send_response(status)
                hop_by_hop = ("connection", "keep-alive", "transfer-encoding", "content-length")
                for name, value in headers:
                    if name.lower() not in hop_by_hop:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(certificate.certfile), str(certificate.keyfile))
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request to the next live instance; return its status, headers and body."""
        with self._lock:
            first = next(self._turn)
        for step in range(len(self.instances)):
            instance = self.instances[(first + step) % len(self.instances)]
            self.before(instance, method, path)
            connection = http.client.HTTPSConnection(
                "localhost", instance.port, context=self._upstream, timeout=120
            )
            try:
                connection.connect()
            except OSError:
                connection.close()
                continue  # down: the next one
            try:
                with self._lock:
                    self.seen.append((instance.name, method, path))
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            finally:
                connection.close()
        return 502, [("Content-Type", "text/plain")], b"no instance answers"

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relay(certificate: ServerCertificate) -> Iterator[Callable[..., Relay]]:
    """Make relays (``relay(instances, before)``); each stops at teardown."""
    made: list[Relay] = []

    def make(
        instances: list[Instance], before: Callable[[Instance, str, str], None] = lambda *_: None
    ) -> Relay:
        made.append(Relay(certificate, instances, before))
        return made[-1]

    yield make
    for one in made:
        with suppress(Exception):
            one.close()


@pytest.mark.parametrize("killed", [False, True], ids=["both-alive", "a-killed-mid-upload"])
def test_a_file_sent_in_chunks_through_a_round_robin_load_balancer_is_checked_once(
    tmp_path: Path,
    queue_url: str,
    vendor: Emulator,
    team: Callable[..., tuple[Instance, Instance]],
    workers: list[Any],
    relay: Callable[..., Relay],
    killed: bool,
) -> None:
    alice = alice_token(queue_url)
    a, b = team("queue", FBCHECK_MAX_NUMBERS_PER_TASK="500")
    chunked: list[str] = []

    def before(instance: Instance, method: str, path: str) -> None:
        """Kill A (SIGKILL) once it has taken a chunk, before the next chunk is relayed."""
        if "/chunks/" not in path:
            return
        if killed and "a" in chunked and a.process.poll() is None:
            a.kill()
        chunked.append(instance.name)

    balancer = relay([a, b], before)
    values = swiss(1000, start=20_000)
    source = write_input(tmp_path / "in.csv", values)
    out = tmp_path / "out.csv"
    laptop = laptop_env(
        tmp_path,
        FBCHECK_TOKEN=alice,
        REQUESTS_CA_BUNDLE=a.ca,
        FBCHECK_SERVER_CHUNK_NUMBERS="250",  # four chunks
        FBCHECK_SERVER_RETRY_SECONDS="30",
    )
    run = start(tmp_path, laptop, "check", "--server", balancer.url, str(source), "-o", str(out))
    said, stderr = run.communicate(timeout=180)
    assert run.returncode == 0, said + stderr
    chunk_puts = [name for name, method, path in balancer.seen if "/chunks/" in path]
    assert len(chunk_puts) == 4
    if killed:
        # A took one chunk and died before the next; B took the rest, and planned and started.
        assert a.process.poll() is not None
        assert chunk_puts.count("a") == 1
        assert chunk_puts[chunk_puts.index("a") + 1 :] == ["b"] * (3 - chunk_puts.index("a"))
        assert all(name == "b" for name, _, path in balancer.seen if "/plan" in path)
    else:
        assert set(chunk_puts) == {"a", "b"}  # the chunks of one upload reached both
    rows = read_output(out)
    assert [r["phone"] for r in rows] == values
    assert {r["facebook"] for r in rows} <= {"yes", "no", "ban"}
    with closing(Store(queue_url)) as store:
        assert len(store.jobs()) == 1
    assert uploads(vendor) == Counter(values)  # each number uploaded once
    assert vendor.ledger()["tasks_created"] == 2
