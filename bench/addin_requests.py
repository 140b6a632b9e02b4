"""Print what the add-in costs in backend requests, upstream tasks and time.

1. ``=FBCHECK`` recalculation: 10,000 cells over 5,000 distinct numbers. Excel
   invokes the function for each cell; our JavaScript queues calls and sends one
   ``POST /api/lookups`` per ~100 ms batch, then polls ``/api/lookups/poll``
   every 2 s for the numbers still pending. Printed: backend requests, upstream
   tasks (from the demo emulator's ledger), billed requests, time to the last
   answer; then a recalculation of every cell (must bill nothing).
2. Ribbon "Check selection" of 100,000 rows (a header and 100,000 distinct
   numbers as Excel number cells): wall time from sending the payload to
   having the actions that write the plan back, above the confirmation
   threshold (nothing billed) and below it (the job is stored and started).

The backend runs in this process under cheroot over plain HTTP on loopback (the
TLS layer is not what is measured), with the demo emulator in its ``demo``
profile (500 numbers/s), as a user without an API key sees it.

Usage: ``python bench/addin_requests.py [--cells-per-second 10000] [--region CH]``
Targets (issue 4): one upstream task and at most 100 backend requests; the
100,000-row plan written back within 5 s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from addin.config import Settings
from addin.engine import phones
from addin.web import close_app, create_app
from addin.web.engine_host import host_of
from addin.web.flask_config import EMULATOR_CONFIG_KEY, PORT_KEY, SETTINGS_KEY
from addin.web.security import CLIENT_HEADER
from mock_server.server import BackgroundServer

FIRST = 41798000000
BATCH_SECONDS = 0.1
POLL_SECONDS = 2.0


class Backend:
    """The add-in backend over HTTP, counting the requests sent to it."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        """Start the app under cheroot on a free loopback port."""
        values: dict[str, Any] = {"data_dir": data_dir, "api_key": None, **settings}
        self.app = create_app(
            {
                SETTINGS_KEY: Settings(_env_file=None, **values),  # type: ignore[call-arg]
                EMULATOR_CONFIG_KEY: {"MOCK_PROFILE": "demo"},
            }
        )
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


def fbcheck_cells(root: Path, cells_per_second: float) -> None:
    """Recalculate 10,000 =FBCHECK cells over 5,000 distinct numbers, then again."""
    backend = Backend(root / "lookups")
    try:
        cells = [float(FIRST + i % 5000) for i in range(10_000)]
        per_batch = max(1, int(cells_per_second * BATCH_SECONDS))
        started = time.perf_counter()
        pending: set[str] = set()
        for start in range(0, len(cells), per_batch):
            batch = cells[start : start + per_batch]
            answer = backend.post("/api/lookups", {"items": [{"value": v} for v in batch]})
            pending |= {r["e164"] for r in answer["results"] if r["status"] == "pending"}
            time.sleep(BATCH_SECONDS)
        lookups = backend.requests
        while pending:
            time.sleep(POLL_SECONDS)
            results = backend.post("/api/lookups/poll", {"numbers": sorted(pending)})["results"]
            pending = {n for n, r in results.items() if r["status"] == "pending"}
        elapsed = time.perf_counter() - started
        first = backend.ledger()
        print("=FBCHECK: 10,000 cells over 5,000 distinct numbers (demo emulator)")
        print(f"  lookup batches of {per_batch:,} cells ({cells_per_second:,.0f} cells/s)")
        print(f"  backend requests:      {backend.requests}  ({lookups} lookups + polls)")
        print(f"  upstream tasks:        {first['tasks_created']}")
        print(f"  numbers uploaded:      {first['numbers_uploaded']:,}")
        print(f"  billed requests:       {first['billed_total']}")
        print(f"  time to last answer:   {elapsed:.1f} s")
        before = backend.requests
        for start in range(0, len(cells), per_batch):
            batch = cells[start : start + per_batch]
            backend.post("/api/lookups", {"items": [{"value": v} for v in batch]})
        again = backend.ledger()
        print(
            f"  recalculation:         {backend.requests - before} requests,"
            f" {again['tasks_created'] - first['tasks_created']} new tasks,"
            f" {again['billed_total'] - first['billed_total']} billed"
        )
    finally:
        backend.close()


def selection_payload(rows: int, region: str) -> dict[str, Any]:
    """Return the payload of A1:A<rows+1>: a header and ``rows`` distinct number cells."""
    values: list[list[Any]] = [["phone"], *([float(FIRST + i)] for i in range(rows))]
    address = f"A1:A{rows + 1}"
    return {
        "client": "Office.js",
        "version": "0.37.8",
        "book": {"name": "Book1.xlsx", "active_sheet_index": 0, "selection": address},
        "names": [],
        "sheets": [{"name": "Sheet1", "values": values, "pictures": [], "tables": []}],
        "fbcheck": {"region": region, "areas": [address]},
    }


def selection_check(root: Path, region: str, rows: int = 100_000) -> None:
    """Time the ribbon check of ``rows`` rows, asking first and starting at once."""
    body = json.dumps(selection_payload(rows, region)).encode()
    print(f"Check selection: {rows:,} rows, region {region}, payload {len(body) / 1e6:.1f} MB")
    for label, confirm_above in (("confirmation asked", 1000), ("job started", 10**7)):
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
    parser.add_argument("--cells-per-second", type=float, default=10_000.0)
    parser.add_argument("--region", default="CH", help="region of the selection check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fbcheck-bench-") as tmp:
        root = Path(tmp)
        fbcheck_cells(root, args.cells_per_second)
        selection_check(root, args.region)


if __name__ == "__main__":
    main()
