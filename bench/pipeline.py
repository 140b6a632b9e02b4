"""Print time and peak memory of ``fbcheck check``, beside a plain reference, per input size.

Two mixes of input, each with 30% repeated numbers (in any notation) and 5% junk:

* ``swiss`` (the default): Swiss mobile numbers in four notations (E.164, ``0041``
  with spaces, ``+41-`` with dashes, an Excel float ``41798284651.0``), region CH.
* ``global``: numbers of every region phonenumbers knows (its 245 regions and the
  non-geographic codes such as +800): for each region, the example number of each
  number type with its last four digits drawn at random. A tenth of the numbers are
  US numbers, so that national notation shows; the others are spread evenly over the
  regions. Notations: E.164, international (``+41 79 828 46 51``), ``00``, Excel float
  and, for US numbers, national (``(201) 555-0123``); region US.

For each size it runs, in its own process, ``fbcheck check`` to CSV against an
emulator on the ``instant`` profile (so the figures are the client's own cost:
reading, normalising, planning, the SQLite store, uploading, reading the result files,
writing the CSV), and ``bench/reference_parse.py`` on the same file:
``phonenumbers.parse`` and ``is_valid_number`` once per distinct cell with the pattern
cache, writing nothing. Then a 100,000-row selection of the same mix is planned into
cells through the real route (``POST /xlwings/check-selection`` on the Flask app in
this process, the demo emulator behind it, confirmation asked so nothing is billed).

``emu cpu`` is the CPU time the emulator (the vendor's stand-in, rendering every result
file as xlsx) used meanwhile on the same cores: it is in the wall time but not the
client's cost. ``--break-even`` only times normalising N distinct global cells in this
process and in two worker processes. ``--plain`` runs each check a second time with
the normaliser's shortcuts off (``bench/timed_check.py --plain``: every cell through
``phonenumbers.parse`` and its ``is_valid_number``), both runs in one process each
(``FBCHECK_NORMALIZE_WORKERS=0``), and says whether the two outputs give every row
the same E.164 and reason. ``--normaliser`` times only the reading of the distinct
cells in this process: with the shortcuts, without them, and the reference's
``phonenumbers.parse`` + ``is_valid_number``, one after the other.

Usage: ``python bench/pipeline.py [--mix swiss|global] [--sizes 10000,100000,1000000]
[--selection-rows 100000] [--keep DIR] [--break-even] [--plain] [--normaliser]``

Targets (issue 12): 1,000,000 global rows to CSV in at most 20 s wall and 1 GiB peak on
this 2-core machine, and no slower than the reference; a 100,000-row selection planned
into cells in at most 1 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPOSITORY = Path(__file__).resolve().parent.parent
MIX_REGION = {"swiss": "CH", "global": "US"}
JUNK = ("n/a", "12", "call me", "+41 12", "1-800-FLOWERS", "#N/A", "TBD", "", "x")
REPEATS = 0.30
JUNK_SHARE = 0.05
US_SHARE = 0.10
TARGET_SECONDS = 20.0
TARGET_MIB = 1024.0
TARGET_SELECTION_SECONDS = 1.0


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_emulator(profile: str, key: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m mock_server`` on a free port; return the process once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "mock_server", "--port", str(port), "--profile", profile]
    emulator = subprocess.Popen(
        [*cmd, "--api-key", key], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/_mock/ledger", timeout=1)
            return emulator, url
        except requests.ConnectionError:
            time.sleep(0.1)
    emulator.terminate()
    raise SystemExit("the emulator did not start")


# --- the mixes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """An example number of one region and type, whose last ``free`` digits are redrawn."""

    country_code: int
    nsn: str
    international: str
    national: str | None
    free: int

    def notations(self) -> int:
        """Return how many ways of writing this template's numbers there are."""
        return 4 if self.national is None else 5

    def write(self, tail: str, notation: int) -> str | float:
        """Return the number with last digits ``tail`` in one notation (a float: Excel)."""
        if notation == 0:
            return f"+{self.country_code}{self.nsn[: -self.free]}{tail}"
        if notation == 3:
            return float(f"{self.country_code}{self.nsn[: -self.free]}{tail}")
        if notation == 4 and self.national is not None:
            return _redraw(self.national, tail)
        international = _redraw(self.international, tail)
        return international if notation == 1 else "00" + international[1:]


class SwissTemplate(Template):
    """Swiss mobile numbers (79 and seven digits) in the four notations of the Swiss mix."""

    def write(self, tail: str, notation: int) -> str | float:
        """Return the number ``79<tail>`` in one notation."""
        d = "79" + tail
        if notation == 0:
            return f"+41{d}"
        if notation == 1:
            return f"0041 {d[:2]} {d[2:5]} {d[5:7]} {d[7:]}"
        if notation == 2:
            return f"+41-{d[:2]}-{d[2:5]}-{d[5:]}"
        return float(f"41{d}")


def global_templates() -> tuple[list[list[Template]], list[Template]]:
    """Return the templates of every region (US ones apart), from phonenumbers' examples."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    from addin.engine import pattern_cache

    pattern_cache.install()
    examples: list[tuple[str, Any]] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if kind != PhoneNumberType.UNKNOWN and number is not None:
                examples.append((region, number))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            examples.append((f"+{code}", number))
    by_region: dict[str, dict[str, Template]] = {}
    for region, number in examples:
        nsn = phonenumbers.national_significant_number(number)
        international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        national: str | None = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        if region != "US" or re.sub(r"\D", "", national or "") != nsn:
            national = None
        free = 4 if len(nsn) >= 8 else 2
        by_region.setdefault(region, {})[nsn] = Template(
            number.country_code, nsn, international, national, free
        )
    us = list(by_region.pop("US").values())
    return [list(templates.values()) for templates in by_region.values()], us


def _redraw(text: str, digits: str) -> str:
    """Return ``text`` with its last ``len(digits)`` digits replaced by ``digits``."""
    chars = list(text)
    position = len(digits)
    for index in range(len(chars) - 1, -1, -1):
        if position == 0:
            break
        if chars[index].isdigit():
            position -= 1
            chars[index] = digits[position]
    return "".join(chars)


def make_cells(mix: str, rows: int, seed: int = 7) -> list[str | float]:
    """Return ``rows`` cells of ``mix``: 30% repeats, 5% junk, a float for Excel cells."""
    rng = random.Random(seed)
    if mix == "global":
        regions, us = global_templates()
    else:
        swiss = SwissTemplate(41, "790000000", "", None, 7)
        pool = iter(rng.sample(range(10_000_000), rows))
    seen: list[tuple[Template, str]] = []
    cells: list[str | float] = []
    for _ in range(rows):
        roll = rng.random()
        if roll < JUNK_SHARE:
            cells.append(rng.choice(JUNK))
            continue
        if roll < JUNK_SHARE + REPEATS and seen:
            template, tail = seen[rng.randrange(len(seen))]
        elif mix == "global":
            template = rng.choice(us if rng.random() < US_SHARE else rng.choice(regions))
            tail = "".join(rng.choices("0123456789", k=template.free))
            seen.append((template, tail))
        else:
            template, tail = swiss, f"{next(pool):07d}"
            seen.append((template, tail))
        cells.append(template.write(tail, rng.randrange(template.notations())))
    return cells


def write_input(path: Path, cells: list[str | float]) -> None:
    """Write the cells as a one-column CSV (floats as Excel exports them: ``41798284651.0``)."""
    with path.open("w", encoding="utf-8") as out:
        out.write("phone\n")
        for cell in cells:
            out.write((repr(cell) if isinstance(cell, float) else cell) + "\n")


# --- the runs ------------------------------------------------------------------------


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; return wall seconds, peak RSS in MiB and its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{output}")
    return elapsed, usage.ru_maxrss / 1024, output


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds a process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def break_even(sizes: list[int]) -> None:
    """Print the time to normalise N distinct global cells here and in two workers."""
    from addin.engine.distinct_cells import DistinctCells

    cells = list(dict.fromkeys(make_cells("global", 3 * max(sizes), seed=5)))
    print(
        "break-even of the worker processes (distinct global cells, region US;"
        f" load average {os.getloadavg()[0]:.1f} at start):"
    )
    print(f"{'cells':>9} {'here s':>7} {'2 workers s':>12}")
    for size in sizes:
        times = []
        used = False
        for workers in (0, 2):
            started = time.perf_counter()
            with DistinctCells("US", workers=workers, pool_from=0) as distinct:
                for cell in cells[:size]:
                    distinct.add(cell)
                distinct.finish()
                used = distinct.used_workers
            times.append(time.perf_counter() - started)
        note = "" if used else "  (fewer cells to read than one chunk: no worker started)"
        print(f"{size:>9,} {times[0]:>7.2f} {times[1]:>12.2f}{note}")


def run_check(
    input_path: Path, output: Path, env: dict[str, str], region: str, plain: bool = False
) -> tuple[float, float, str, str]:
    """Run ``fbcheck check`` once; return wall seconds, peak RSS in MiB, summary and phases."""
    cmd = [sys.executable, str(REPOSITORY / "bench" / "timed_check.py")]
    cmd += ["--plain", "check"] if plain else ["check"]
    cmd += [str(input_path), "-o", str(output), "--yes", "--region", region]
    seconds, peak, text = run_measured(cmd, env)
    lines = text.splitlines()
    summary = next((line for line in lines if line.startswith("wrote")), "")
    phases = next((line for line in lines if line.startswith("phases: ")), "phases: ?")
    return seconds, peak, summary, phases.removeprefix("phases: ")


def normalised_columns(path: Path) -> list[tuple[str, str, str]]:
    """Return (phone, e164, reason) of every row of a check's CSV output."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.DictReader(handle)
        return [(row["phone"], row["e164"], row["reason"]) for row in rows]


def normaliser_figures(mix: str, rows: int) -> None:
    """Print the µs per distinct cell of reading with and without shortcuts, and the reference."""
    import phonenumbers

    from addin.engine import phones

    region = MIX_REGION[mix]
    cells = list(dict.fromkeys(make_cells(mix, rows)))
    texts = [repr(cell) if isinstance(cell, float) else cell for cell in cells]
    phones.normalize_many(texts[:5_000], region)  # metadata loaded, patterns compiled

    def shortcuts() -> int:
        """Read every cell as fbcheck does."""
        return sum(result.valid for result in phones.normalize_many(cells, region))

    def plain() -> int:
        """Read every cell by the same rules through phonenumbers alone."""
        valid = 0
        for cell in cells:
            clean = phones.cleaned(cell)
            if isinstance(clean, str):
                valid += phones.read_clean(clean, region, shortcuts=False).valid
        return valid

    def reference() -> int:
        """Parse and validate every cell as bench/reference_parse.py does."""
        valid = 0
        for text in texts:
            try:
                number = phonenumbers.parse(text, region)
            except phonenumbers.NumberParseException:
                continue
            valid += phonenumbers.is_valid_number(number)
        return valid

    print(
        f"reading {len(cells):,} distinct cells of {rows:,} {mix} rows in this process"
        f" (load average {os.getloadavg()[0]:.1f} at start), µs per distinct cell:"
    )
    for name, run in (("shortcuts", shortcuts), ("no shortcuts", plain), ("reference", reference)):
        started = time.process_time()
        valid = run()
        spent = time.process_time() - started
        print(
            f"  {name:<13} {spent / len(cells) * 1e6:6.1f} µs CPU ({spent:.2f} s), {valid:,} valid"
        )


def run_reference(input_path: Path, env: dict[str, str], region: str) -> tuple[float, float]:
    """Run the reference script; return wall seconds and peak RSS in MiB."""
    script = str(REPOSITORY / "bench" / "reference_parse.py")
    seconds, peak, _ = run_measured(
        [sys.executable, script, str(input_path), "--region", region], env
    )
    return seconds, peak


def selection_payload(cells: list[str | float], region: str) -> dict[str, Any]:
    """Return the selection of A1:A<n+1> as the pane reads it: a header, the cells, column B."""
    values: list[Any] = ["phone", *cells]
    address = f"A1:A{len(values)}"
    return {
        "sheet": "Sheet1",
        "region": region,
        "areas": [
            {
                "address": address,
                "target_column": "B",
                "values": values,
                "target": [""] * len(values),
            }
        ],
    }


@dataclass(frozen=True)
class PaneRequest:
    """One request the task pane sends, its body exactly as the pane encodes it."""

    method: str
    path: str
    body: bytes | None


def pane_requests(
    selection: dict[str, Any], work: Path, chunk_bytes: int | None = None
) -> list[PaneRequest]:
    """Return the requests the pane's own ``sendSelection`` makes for ``selection`` (in Node).

    ``bench/pane_requests.mjs`` runs ``addin/static/selection-upload.js`` on the selection:
    one request when it fits in the pane's request bound, else an upload session.
    ``chunk_bytes`` packs smaller chunks than the pane does (to time an upload session).
    """
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node not found: the selection figures replay the pane's requests")
    path = work / "selection.json"
    path.write_text(json.dumps(selection), encoding="utf-8")
    script = str(REPOSITORY / "bench" / "pane_requests.mjs")
    cmd = [node, script, str(path), *([str(chunk_bytes)] if chunk_bytes else [])]
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    requests_ = []
    for line in lines:
        record = json.loads(line)
        body = record["body"]
        requests_.append(
            PaneRequest(record["method"], record["path"], None if body is None else body.encode())
        )
    return requests_


#: The upload id ``bench/pane_requests.mjs`` answers, replaced by the backend's own.
PANE_UPLOAD_ID = b"pane-upload-id"


class SelectionBackend:
    """The backend app in this process (demo emulator behind it), asked as the pane asks."""

    def __init__(
        self, root: Path, region: str, workers: int | None = None, *, in_store: bool = False
    ) -> None:
        """Create the app on a fresh data folder, as ``fbcheck serve`` does (``workers``: other).

        ``in_store``: keep upload sessions and plans in the store, as the team server does.
        """
        from addin.config import Settings
        from addin.engine.normalizer_pool import server_workers
        from addin.web import create_app
        from addin.web.engine_host import host_of
        from addin.web.flask_config import (
            NORMALIZE_WORKERS_KEY,
            PORT_KEY,
            SETTINGS_KEY,
            UNFINISHED_IN_STORE_KEY,
        )
        from addin.web.security import CLIENT_HEADER

        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, data_dir=root / "selection", api_key=None, region=region
        )
        # As ``fbcheck serve`` makes it: with its warm normalising workers.
        self.workers = server_workers(settings.normalize_workers) if workers is None else workers
        self.app = create_app(
            {
                SETTINGS_KEY: settings,
                PORT_KEY: 8443,
                NORMALIZE_WORKERS_KEY: self.workers,
                UNFINISHED_IN_STORE_KEY: in_store,
            }
        )
        self.normalizer = host_of(self.app).normalizer
        self.client = self.app.test_client()
        self.headers = {CLIENT_HEADER: "bench", "Content-Type": "application/json"}

    def send(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        """Send one request; return its JSON answer, or stop the bench on an error answer."""
        response = self.client.open(
            path,
            method=method,
            data=body,
            base_url="https://localhost:8443",
            headers=self.headers,
            environ_overrides={"REMOTE_ADDR": "127.0.0.1"},
        )
        answer: dict[str, Any] = response.get_json()
        if response.status_code != 200:
            raise SystemExit(f"{method} {path} answered {response.status_code}: {answer}")
        return answer

    def replay(self, pane: list[PaneRequest]) -> tuple[float, dict[str, Any]]:
        """Send the pane's requests in order; return the seconds they took and the last answer."""
        upload_id = PANE_UPLOAD_ID
        answer: dict[str, Any] = {}
        started = time.perf_counter()
        for request in pane:
            path = request.path.replace(PANE_UPLOAD_ID.decode(), upload_id.decode())
            body = request.body
            if body is not None:
                body = body.replace(b'"' + PANE_UPLOAD_ID + b'"', b'"' + upload_id + b'"')
            answer = self.send(request.method, path, body)
            if path == "/xlwings/uploads":
                upload_id = answer["upload_id"].encode()
        return time.perf_counter() - started, answer

    def close(self) -> None:
        """Stop the app's engine (the demo emulator, the runner)."""
        from addin.web import close_app

        close_app(self.app)


def reference_seconds(
    cells: list[str | float], work: Path, env: dict[str, str], region: str
) -> float:
    """Return the seconds ``bench/reference_parse.py`` says it spent on ``cells``."""
    path = work / "selection-cells.csv"
    write_input(path, cells)
    script = str(REPOSITORY / "bench" / "reference_parse.py")
    _, _, output = run_measured([sys.executable, script, str(path), "--region", region], env)
    found = re.search(r"([0-9.]+) s$", output.strip())
    return float(found.group(1)) if found else float("nan")


def selection_figures(work: Path, mix: str, rows: int, runs: int) -> None:
    """Print the time of the pane's requests that plan a ``rows``-row selection into cells.

    The pane's own code decides how the selection travels (bench/pane_requests.mjs).
    The backend is made as ``fbcheck serve`` makes it (its warm normalising workers
    included), and once more without workers, side by side; on each, a one-cell
    selection starts the engine (the store, the demo emulator) before the clock runs.
    Each run is a fresh check of the same cells (start=False, as the pane asks:
    nothing is billed); ``cpu`` is this process's CPU time meanwhile (the workers'
    apart), which shows how much of the wall time went to other programs on the
    shared cores. Then the same selection as an upload session of smaller chunks (the
    route of larger selections), the confirmation that plans again and stores the job
    and its tasks, and the same upload session once more on a backend that keeps it in
    its store, as the team server does.
    """
    region = MIX_REGION[mix]
    cells = make_cells(mix, rows, seed=11)
    selection = selection_payload(cells, region)
    pane = pane_requests(selection, work)
    chunked = pane_requests(selection, work, chunk_bytes=512 * 1024)
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    reference = reference_seconds(cells, work, env, region)
    route = "one request" if len(pane) == 1 else f"an upload session of {len(pane) - 2} chunks"
    size = sum(len(r.body or b"") for r in pane) / 1e6
    print(
        f"selection of {rows:,} rows planned into cells ({route} of {size:.1f} MB, as the pane"
        f" sends it), median of {runs}; target {TARGET_SELECTION_SECONDS:.0f} s; reference"
        f" (phonenumbers per distinct cell, one core, same cells) {reference:.2f} s"
    )
    server = SelectionBackend(work / "served", region)
    choices = [server] + ([SelectionBackend(work / "plain", region, 0)] if server.workers else [])
    try:
        answer: dict[str, Any] = {}
        for backend in choices:
            warm = selection_payload(["x"], region)
            backend.send("POST", "/xlwings/check-selection", json.dumps(warm).encode())
            backend.normalizer.wait_until_warm(60)
            timings = []
            cpu = []
            shared_before = backend.normalizer.cells_shared
            for _ in range(runs):
                cpu_before = time.process_time()
                seconds, answer = backend.replay(pane)
                cpu.append(time.process_time() - cpu_before)
                timings.append(seconds)
            median = sorted(timings)[len(timings) // 2]
            plan = answer["plan"]
            verdict = "met" if median <= TARGET_SELECTION_SECONDS else "MISSED"
            how = f"{backend.workers} warm worker" + ("s" if backend.workers != 1 else "")
            if backend is server:
                shared = (backend.normalizer.cells_shared - shared_before) / runs
                how = f"as fbcheck serve ({how}, {shared:,.0f} cells a run normalised there)"
            print(
                f"  {how}: {median:.2f} s {verdict} ({', '.join(f'{t:.2f}' for t in timings)};"
                f" cpu {', '.join(f'{c:.2f}' for c in cpu)}): {plan['distinct']:,} distinct,"
                f" {plan['invalid']:,} invalid, {len(answer['actions'])} setValues actions"
            )
            if backend is server:
                server_answer = answer
        seconds, _ = server.replay(chunked)
        print(
            f"  as fbcheck serve, sent as an upload session of {len(chunked) - 2} chunks"
            f" (512 KiB each; selections over 4 MB go so): {seconds:.2f} s"
        )
        started = time.perf_counter()
        server.send("POST", f"/api/plans/{server_answer['plan_id']}/confirm", None)
        print(
            "  then confirmed (planned again, the job and its tasks stored):"
            f" {time.perf_counter() - started:.2f} s"
        )
        # The team server keeps the session's chunks in its store (instances share them).
        stored = SelectionBackend(work / "stored", region, server.workers, in_store=True)
        choices.append(stored)
        warm = selection_payload(["x"], region)
        stored.send("POST", "/xlwings/check-selection", json.dumps(warm).encode())
        stored.normalizer.wait_until_warm(60)
        seconds, _ = stored.replay(chunked)
        print(
            f"  the same upload session kept in the store, as the team server keeps it (its"
            f" chunks in SQLite here): {seconds:.2f} s"
        )
    finally:
        for backend in choices:
            backend.close()


def main() -> None:
    """Run the benchmark and print one line per size, then the selection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=sorted(MIX_REGION), default="swiss")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--selection-rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    parser.add_argument("--selection-runs", type=int, default=3)
    parser.add_argument(
        "--selection-only",
        action="store_true",
        help="only measure the selection planned into cells (no fbcheck check runs)",
    )
    parser.add_argument(
        "--break-even",
        action="store_true",
        help="only measure the worker processes' break-even (distinct cells)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="run each check again without the normaliser's shortcuts, side by side",
    )
    parser.add_argument(
        "--normaliser",
        action="store_true",
        help="only time reading the distinct cells, with and without shortcuts, and the reference",
    )
    args = parser.parse_args()
    if args.normaliser:
        for size in (int(s) for s in args.sizes.split(",")):
            normaliser_figures(args.mix, size)
        return
    if args.break_even:
        break_even([5_000, 15_000, 30_000, 60_000, 120_000])
        return
    region = MIX_REGION[args.mix]
    work = Path(args.keep or tempfile.mkdtemp(prefix="fbcheck-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"mix {args.mix} (region {region}): {REPEATS:.0%} repeats, {JUNK_SHARE:.0%} junk;"
        f" {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"
    )
    try:
        if not args.selection_only:
            check_figures(work, args.mix, [int(s) for s in args.sizes.split(",")], args.plain)
        if args.selection_rows:
            selection_figures(work, args.mix, args.selection_rows, max(1, args.selection_runs))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def check_figures(work: Path, mix: str, sizes: list[int], plain: bool = False) -> None:
    """Print one line per size: ``fbcheck check`` to CSV beside the reference script.

    ``plain``: each check again without the normaliser's shortcuts, on a fresh store.
    """
    region = MIX_REGION[mix]
    emulator, url = start_emulator("instant", "bench:100000000")
    try:
        print(
            f"{'rows':>9} {'check s':>8} {'peak MiB':>9} {'reference s':>12} {'ref MiB':>8}"
            f" {'emu cpu':>8}  target  summary"
        )
        for size in sizes:
            data = work / f"data-{mix}-{size}"
            shutil.rmtree(data, ignore_errors=True)
            input_path = work / f"input-{mix}-{size}.csv"
            if not input_path.exists():
                write_input(input_path, make_cells(mix, size))
            env = {
                **os.environ,
                **({"FBCHECK_NORMALIZE_WORKERS": "0"} if plain else {}),
                "FBCHECK_API_KEY": "bench",
                "FBCHECK_API_URL": url,
                "FBCHECK_DATA_DIR": str(data),
                "FBCHECK_POLL_MIN_INTERVAL": "0.05",
                "FBCHECK_POLL_MAX_INTERVAL": "0.5",
                "PYTHONPATH": str(REPOSITORY),
            }
            output = work / f"output-{mix}-{size}.csv"
            emulator_before = cpu_seconds(emulator.pid)
            seconds, peak, summary, phases = run_check(input_path, output, env, region)
            emulator_cpu = cpu_seconds(emulator.pid) - emulator_before
            reference, reference_peak = run_reference(input_path, env, region)
            verdict = ""
            if size == 1_000_000:
                met = seconds <= TARGET_SECONDS and peak <= TARGET_MIB and seconds <= reference
                verdict = "met" if met else "MISSED"
            print(
                f"{size:>9,} {seconds:>8.1f} {peak:>9.0f} {reference:>12.1f} "
                f"{reference_peak:>8.0f} {emulator_cpu:>8.1f}  {verdict:>6}  {summary}"
            )
            print(f"{'':>9} phases of fbcheck check (s): {phases}")
            if plain:
                shutil.rmtree(data, ignore_errors=True)
                plain_output = work / f"output-{mix}-{size}-plain.csv"
                emulator_before = cpu_seconds(emulator.pid)
                seconds, peak, summary, phases = run_check(
                    input_path, plain_output, env, region, plain=True
                )
                emulator_cpu = cpu_seconds(emulator.pid) - emulator_before
                same = normalised_columns(output) == normalised_columns(plain_output)
                print(
                    f"{'no shortcuts':>12} {seconds:>5.1f} {peak:>9.0f} {'':>12} {'':>8}"
                    f" {emulator_cpu:>8.1f}  {'':>6}  {summary}"
                )
                print(
                    f"{'':>9} phases (s): {phases}; every row's E.164 and reason"
                    f" {'the same' if same else 'DIFFERENT'} as with the shortcuts"
                )
    finally:
        emulator.terminate()
        emulator.wait(10)


if __name__ == "__main__":
    main()
