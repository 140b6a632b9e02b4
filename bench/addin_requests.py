"""Print what the add-in costs in backend requests, upstream tasks and time.

1. ``=FBCHECK`` cells as Excel delivers them, each case on a fresh backend:
   - **burst**: a fast recalculation of 10,000 cells over 5,000 distinct numbers;
   - **trickle**: 10,000 distinct cells arriving steadily over 30 s (a slow
     recalculation);
   - **steps**: 10,000 distinct cells in ten fill-down steps of 1,000, 3 s apart;
   - **single cells**: three cells typed alone, 5 s apart.
   Our JavaScript sends the calls queued so far once Excel pauses for 100 ms, at
   most every 500 ms while it keeps calling (``lookup-batcher.js``); the bench sends
   the same requests at the same moments, then polls ``/api/lookups/poll`` every 2 s
   for the numbers still pending, as the page does. Printed per case: backend
   requests, upstream tasks and billed requests (the demo emulator's ledger), how
   long the numbers waited in the backend for company before their job was
   submitted, and the time to the last answer; then, for the burst, a recalculation
   of every cell (must bill nothing). The confirmation threshold (``confirm_above``)
   is set above every case's size: a batch above it waits for the task pane's
   word (tests/web/engine/test_lookup_batching.py asks once for a whole held
   sheet), which is not what is measured here.
2. Ribbon "Check selection" of 100,000 rows (a header and 100,000 distinct
   numbers as Excel number cells): wall time from sending the payload to
   having the actions that write the plan back, above the confirmation
   threshold (nothing billed) and below it (the job is stored and started).

The backend runs in this process under cheroot over plain HTTP on loopback (the
TLS layer is not what is measured), with the demo emulator in its ``demo``
profile (500 numbers/s), as a user without an API key sees it.

Usage: ``python bench/addin_requests.py [--region CH] [--skip-selection]``
Targets (issue 12, item 5): the trickle in at most 2 upstream tasks; a single cell
held at most a couple of seconds for company. (Issue 4: the burst in one upstream
task and at most 100 backend requests; the 100,000-row plan written back within 5 s.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from addin.config import Settings
from addin.engine import phones
from addin.engine.normalizer_pool import server_workers
from addin.web import close_app, create_app
from addin.web.engine_host import host_of
from addin.web.flask_config import (
    EMULATOR_CONFIG_KEY,
    NORMALIZE_WORKERS_KEY,
    PORT_KEY,
    SETTINGS_KEY,
)
from addin.web.security import CLIENT_HEADER
from addin.web.views.lookups import AWAITING_CONFIRMATION_TEXT
from mock_server.server import BackgroundServer

FIRST = 41798000000
#: The page's timing (addin/static/lookup-batcher.js): a request at most every 500 ms.
PAGE_MAX_HOLD = 0.5
POLL_SECONDS = 2.0
#: Above every case's size: no =FBCHECK batch waits for the task pane's confirmation.
NEVER_ASK = 10**7


class Backend:
    """The add-in backend over HTTP, counting the requests sent to it."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        """Start the app under cheroot on a free loopback port, as ``fbcheck serve`` makes it."""
        values: dict[str, Any] = {"data_dir": data_dir, "api_key": None, **settings}
        typed = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        self.app = create_app(
            {
                SETTINGS_KEY: typed,
                EMULATOR_CONFIG_KEY: {"MOCK_PROFILE": "demo"},
                # fbcheck serve's warm normalising workers, warmed before the clock runs.
                NORMALIZE_WORKERS_KEY: server_workers(typed.normalize_workers),
            }
        )
        host_of(self.app).normalizer.wait_until_warm(60)
        self.server = BackgroundServer(self.app)
        self.app.config[PORT_KEY] = self.server.port
        self.server.start()
        self.session = requests.Session()
        self.session.headers[CLIENT_HEADER] = "bench"
        self.requests = 0

    def post(self, path: str, body: Any) -> Any:
        """POST JSON and return the JSON answer."""
        self.requests += 1
        response = self.session.post(self.server.url + path, json=body, timeout=120)
        response.raise_for_status()
        return response.json()

    def ledger(self) -> dict[str, Any]:
        """Return the demo emulator's account of the demo key."""
        with host_of(self.app).checker() as checker:
            url = checker.base_url
        data: dict[str, Any] = requests.get(f"{url}/_mock/ledger", timeout=10).json()
        return data["keys"]["demo"]  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the server and the engine."""
        self.session.close()
        self.server.stop()
        close_app(self.app)


#: One page request: (seconds after the start, cell values).
Request = tuple[float, list[float]]


def trickle(cells: Sequence[float], seconds: float) -> list[Request]:
    """Return the page's requests for ``cells`` arriving steadily over ``seconds``."""
    count = max(1, round(seconds / PAGE_MAX_HOLD))
    size = -(-len(cells) // count)
    return [(i * PAGE_MAX_HOLD, list(cells[i * size : (i + 1) * size])) for i in range(count)]


@dataclass
class Figures:
    """What one case cost."""

    requests: int
    tasks: int
    billed: int
    held: list[float]
    last_answer: float


class SubmitWatch:
    """Notes, from a thread, when each request's numbers left the backend's queue."""

    def __init__(self, backend: Backend) -> None:
        """Watch ``backend``'s coalescer."""
        self.coalescer = host_of(backend.app).coalescer
        self.waiting: list[tuple[float, str]] = []
        self.held: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sent(self, at: float, e164: str) -> None:
        """Remember that ``e164`` was queued at ``at`` (perf_counter seconds)."""
        with self.lock:
            self.waiting.append((at, e164))

    def run(self) -> None:
        """Every 10 ms, record how long the numbers now submitted waited."""
        while not self.stop.wait(0.01):
            now = time.perf_counter()
            with self.lock:
                left = []
                for at, e164 in self.waiting:
                    lookup = self.coalescer.lookup(e164)
                    if lookup is not None and lookup.state != "queued":
                        self.held.append(now - at)
                    else:
                        left.append((at, e164))
                self.waiting = left

    def close(self) -> list[float]:
        """Stop watching; return the holds measured."""
        self.stop.set()
        self.thread.join()
        return self.held


def run_case(backend: Backend, requests_: list[Request]) -> Figures:
    """Send the page's requests at their moments, poll until answered; return the figures."""
    watch = SubmitWatch(backend)
    started = time.perf_counter()
    pending: set[str] = set()
    for offset, values in requests_:
        time.sleep(max(0.0, started + offset - time.perf_counter()))
        answer = backend.post("/api/lookups", {"items": [{"value": v} for v in values]})
        now = time.perf_counter()
        fresh = {r["e164"] for r in answer["results"] if r["status"] == "pending"}
        if fresh - pending:
            watch.sent(now, sorted(fresh - pending)[0])
        pending |= fresh
    while pending:
        time.sleep(POLL_SECONDS)
        results = backend.post("/api/lookups/poll", {"numbers": sorted(pending)})["results"]
        pending = {n for n, r in results.items() if r["status"] == "pending"}
        if any(results[n]["progress"] == AWAITING_CONFIRMATION_TEXT for n in pending):
            raise SystemExit("a look-up batch waits for confirmation: raise confirm_above")
    elapsed = time.perf_counter() - started
    held = watch.close()
    account = backend.ledger()
    return Figures(
        backend.requests, account["tasks_created"], account["billed_total"], held, elapsed
    )


def fbcheck_cells(root: Path) -> None:
    """Run every =FBCHECK case and print one line each."""
    distinct = [float(FIRST + i) for i in range(10_000)]
    burst_cells = [float(FIRST + i % 5000) for i in range(10_000)]
    cases: list[tuple[str, list[Request]]] = [
        ("burst: 10,000 cells at once", [(0.0, burst_cells)]),
        ("trickle: 10,000 over 30 s", trickle(distinct, 30.0)),
        (
            "steps: 10 x 1,000, 3 s apart",
            [(3.0 * i, distinct[i * 1000 : (i + 1) * 1000]) for i in range(10)],
        ),
        ("single cells, 5 s apart", [(5.0 * i, [distinct[i]]) for i in range(3)]),
    ]
    print("=FBCHECK on the demo emulator (page: a request at most every 0.5 s while Excel calls)")
    print(
        f"  {'case':<30} {'requests':>8} {'tasks':>6} {'billed':>7}"
        f" {'held for company (max)':>23} {'last answer':>12}"
    )
    for index, (label, requests_) in enumerate(cases):
        backend = Backend(root / f"lookups-{index}", confirm_above=NEVER_ASK)
        try:
            figures = run_case(backend, requests_)
            held = max(figures.held) if figures.held else float("nan")
            print(
                f"  {label:<30} {figures.requests:>8} {figures.tasks:>6} {figures.billed:>7}"
                f" {held:>21.1f} s {figures.last_answer:>10.1f} s"
            )
            if index == 0:
                before = backend.requests
                billed = figures.billed
                backend.post("/api/lookups", {"items": [{"value": v} for v in burst_cells]})
                again = backend.ledger()
                print(
                    f"  {'  recalculated':<30} {backend.requests - before:>8}"
                    f" {again['tasks_created'] - figures.tasks:>6}"
                    f" {again['billed_total'] - billed:>7}"
                )
        finally:
            backend.close()
    print("  targets: trickle and steps in at most 2 tasks; a single cell held at most ~2 s")


def selection_payload(rows: int, region: str) -> dict[str, Any]:
    """Return the body of A1:A<rows+1>: a header and ``rows`` distinct number cells."""
    values: list[Any] = ["phone", *(float(FIRST + i) for i in range(rows))]
    return {
        "sheet": "Sheet1",
        "region": region,
        "areas": [{"address": f"A1:A{rows + 1}", "values": values, "target": [""] * len(values)}],
    }


def body_sizes(rows: int = 1_000_000) -> None:
    """Print what a selection of ``rows`` numbers in column A, J or Z takes on the wire.

    Beside it, in the same run, the xlwings payload shape the pane used to send (every
    row from column A, a null per column left of the selection).
    """
    print(f"Selection body: {rows:,} numbers and their (empty) answer column")
    cells = [f"+{FIRST + i}" for i in range(rows)]
    compact = sum(len(json.dumps(c)) + len('"",') + 1 for c in cells)
    for letters, left in (("A", 0), ("J", 9), ("Z", 25)):
        padded = sum(len(json.dumps([None] * left + [c], separators=(",", ":"))) + 1 for c in cells)
        print(
            f"  column {letters}: {compact / 2**20:5.1f} MiB now, sent in"
            f" {-(-compact // 4_000_000)} chunks of at most 5 MB;"
            f" padded from column A as before: {padded / 2**20:5.1f} MiB in one request"
        )


def selection_check(root: Path, region: str, rows: int = 100_000) -> None:
    """Time the ribbon check of ``rows`` rows, asking first and starting at once."""
    body = json.dumps(selection_payload(rows, region)).encode()
    print(f"Check selection: {rows:,} rows, region {region}, payload {len(body) / 1e6:.1f} MB")
    for label, confirm_above in (("confirmation asked", 1000), ("job started", NEVER_ASK)):
        backend = Backend(root / f"selection-{confirm_above}", confirm_above=confirm_above)
        try:
            phones.cache_clear()  # a fresh backend has parsed no number yet
            started = time.perf_counter()
            response = backend.session.post(
                backend.server.url + "/xlwings/check-selection",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            answer = response.json()
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, answer
            size = len(response.content) / 1e6
            actions = len(answer["actions"])
            print(
                f"  {label + ':':20s} {elapsed:.2f} s  ({actions} setValues actions,"
                f" answer {size:.1f} MB, to upload {answer['plan']['to_upload']:,})"
            )
        finally:
            backend.close()
    phones.cache_clear()
    started = time.perf_counter()
    for i in range(rows):
        phones.normalize(float(FIRST + i), region)
    print(f"  of which normalising:  {time.perf_counter() - started:.2f} s (measured alone)")


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="CH", help="region of the selection check")
    parser.add_argument("--skip-selection", action="store_true", help="only the =FBCHECK cases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fbcheck-bench-") as tmp:
        root = Path(tmp)
        fbcheck_cells(root)
        if not args.skip_selection:
            selection_check(root, args.region)
    if not args.skip_selection:
        body_sizes()


if __name__ == "__main__":
    main()
