"""Print the peak memory of ``fbcheck check`` on hostile inputs beside legitimate ones.

For each input class the CLI runs once as a child process (peak RSS from
``os.wait4``); the line shows the file's size, its legitimate data, the exit code,
the peak and the target of issue 9: under 1 GiB plus twice the legitimate data.

- ``declared range``: a 2 KB .xlsx whose ``<dimension>`` says ``A1:XFD1048576`` over
  three cells (read: calamine does not allocate from it);
- ``far cell``: the same three cells and one at ``XFD1048576`` (refused, exit 2);
- ``bomb cell``: a 0.6 MB .xlsx whose one cell inflates to 600 MB, honestly declared
  (refused by the ratio rule);
- ``lying zip``: the same cell, the directory saying 1,000 bytes with a CRC to match
  (refused while inflating, after at most 1 MiB);
- ``huge field``: a CSV with a 20 MB quoted field on line 2 (refused), and one with a
  200 KB field (read);
- ``legit``: 1,000,000 rows of phone and name as .csv and as .xlsx, checked to the
  end against an instant emulator in its own process, as references.

Legitimate data: for the legitimate files, what a reader must hold (the CSV's bytes,
the workbook's inflated parts); for a hostile file, its size on disk (the attack is
what it would inflate to, not data).

Usage: ``python bench/hostile_inputs.py [--rows 1000000] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import start_emulator

GIB = 1024**3
MIB = 1024**2
NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
PARTS = {
    "[Content_Types].xml": (
        b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        b'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        b'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        b'worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        b"</Relationships>"
    ),
    "xl/workbook.xml": (
        b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        b'2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
        b"</workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        b"</Relationships>"
    ),
}
SHEET = "xl/worksheets/sheet1.xml"


def cell_row(row: int, *values: bytes) -> bytes:
    """Return one sheet row of inline-string cells from column A."""
    cells = b"".join(
        b'<c r="%s%d" t="inlineStr"><is><t>%s</t></is></c>' % (bytes([65 + i]), row, value)
        for i, value in enumerate(values)
    )
    return b'<row r="%d">%s</row>' % (row, cells)


def write_workbook(
    path: Path, chunks: list[bytes] | None = None, *, rows: int = 0, level: int = 1
) -> None:
    """Write an .xlsx whose sheet is ``chunks`` (or ``rows`` rows of phone and name)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in PARTS.items():
            archive.writestr(name, data)
        with archive.open(SHEET, "w", force_zip64=True) as sheet:
            if chunks is not None:
                for chunk in chunks:
                    sheet.write(chunk)
                return
            sheet.write(NS + b"<sheetData>" + cell_row(1, b"phone", b"name"))
            batch = []
            for n in range(rows):
                batch.append(cell_row(n + 2, b"+4179%07d" % n, b"Customer %d" % n))
                if len(batch) == 10_000:
                    sheet.write(b"".join(batch))
                    batch = []
            sheet.write(b"".join(batch) + b"</sheetData></worksheet>")


def huge_cell_workbook(path: Path, size: int) -> None:
    """Write an .xlsx with three phone rows and one cell of ``size`` nines, streamed."""
    head = NS + b"<sheetData>" + b"".join(cell_row(n, b"+4179111000%d" % n) for n in (1, 2, 3))
    nines = b"9" * MIB
    chunks = [
        head + b'<row r="4"><c r="B4" t="inlineStr"><is><t>',
        *([nines] * (size // MIB)),  # one buffer, many times: this process stays small
        b"</t></is></c></row></sheetData></worksheet>",
    ]
    write_workbook(path, chunks, level=9)


def understate(path: Path, name: str, declared: int) -> None:
    """Make the directory and local header say ``name`` is ``declared`` bytes, CRC to match."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
        with archive.open(info) as stream:
            prefix = stream.read(declared)
    crc = zlib.crc32(prefix)
    data = bytearray(path.read_bytes())
    struct.pack_into("<L", data, info.header_offset + 14, crc)
    # A zip64 member keeps its sizes in the extra field: rewrite the central entry's.
    start = data.find(b"PK\x01\x02")
    while start != -1:
        length = struct.unpack_from("<H", data, start + 28)[0]
        if bytes(data[start + 46 : start + 46 + length]) == name.encode():
            struct.pack_into("<L", data, start + 16, crc)
            extra_length = struct.unpack_from("<H", data, start + 30)[0]
            extra = start + 46 + length
            end = extra + extra_length
            while extra < end:
                tag, size = struct.unpack_from("<HH", data, extra)
                if tag == 1:  # zip64: uncompressed size first
                    struct.pack_into("<Q", data, extra + 4, declared)
                    break
                extra += 4 + size
            else:
                struct.pack_into("<L", data, start + 24, declared)
            break
        start = data.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(data))


def inflated_size(path: Path) -> int:
    """Return the bytes of a zip's parts as declared (honest files only)."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def make_inputs(work: Path, rows: int) -> list[tuple[str, Path, int]]:
    """Write every input; return (class, path, legitimate data in bytes)."""
    rng = random.Random(9)
    inputs: list[tuple[str, Path, int]] = []

    declared = work / "declared_range.xlsx"
    rows3 = b"".join(cell_row(n, b"+4179111000%d" % n) for n in (1, 2, 3))
    write_workbook(
        declared,
        [NS + b'<dimension ref="A1:XFD1048576"/><sheetData>' + rows3 + b"</sheetData></worksheet>"],
    )
    inputs.append(("declared range", declared, inflated_size(declared)))

    far = work / "far_cell.xlsx"
    stray = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    write_workbook(far, [NS + b"<sheetData>" + rows3 + stray + b"</sheetData></worksheet>"])
    inputs.append(("far cell", far, far.stat().st_size))

    bomb = work / "bomb_cell.xlsx"
    huge_cell_workbook(bomb, 600 * MIB)
    inputs.append(("bomb cell", bomb, bomb.stat().st_size))

    lying = work / "lying_zip.xlsx"
    shutil.copyfile(bomb, lying)
    understate(lying, SHEET, 1000)
    inputs.append(("lying zip", lying, lying.stat().st_size))

    for label, size in (("huge field 20 MB", 20_000_000), ("huge field 200 KB", 200_000)):
        path = work / f"field_{size}.csv"
        with path.open("w", encoding="utf-8") as out:
            out.write("name,phone\n")
            out.write('"' + "z" * size + '",+41791110001\n')
            out.write("Bob,+41791110002\n")
        inputs.append((label, path, path.stat().st_size))

    legit_csv = work / "legit.csv"
    numbers = rng.sample(range(10_000_000), rows)
    with legit_csv.open("w", encoding="utf-8") as out:
        out.write("phone,name\n")
        for n, number in enumerate(numbers):
            out.write(f"+4179{number:07d},Customer {n}\n")
    inputs.append((f"legit {rows:,} rows .csv", legit_csv, legit_csv.stat().st_size))

    legit_xlsx = work / "legit.xlsx"
    write_workbook(legit_xlsx, rows=rows)
    inputs.append((f"legit {rows:,} rows .xlsx", legit_xlsx, inflated_size(legit_xlsx)))
    return inputs


def peak_of(path: Path, output: Path, env: dict[str, str]) -> tuple[int, float, float, str]:
    """Run ``fbcheck check`` once; return its exit code, peak RSS in MiB, seconds, last line."""
    cmd = [sys.executable, "-m", "addin.cli", "check", str(path), "-o", str(output), "--yes"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    text = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    lines = [line for line in text.splitlines() if line.startswith(("error:", "wrote"))]
    tail = text.strip().splitlines()
    shown = lines[-1] if lines else (tail[-1] if tail else "")
    if "Traceback" in text:
        shown = "TRACEBACK: " + shown
    # ru_maxrss is in KiB on Linux.
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, seconds, shown


def main() -> None:
    """Write the inputs, run each once and print one line per input class."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the legit files")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make is not None:
        # Runs as its own process: a child's peak RSS (os.wait4) counts the pages of the
        # process it was forked from, so this one stays small by not making the files.
        for label, path, legit in make_inputs(args.make, args.rows):
            print(json.dumps([label, str(path), legit]))
        return
    work = Path(args.keep or tempfile.mkdtemp(prefix="fbcheck-hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [sys.executable, __file__, "--make", str(work), "--rows", str(args.rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    inputs = [
        (label, Path(path), int(legit))
        for label, path, legit in (json.loads(line) for line in made.stdout.splitlines())
    ]
    emulator, url = start_emulator("instant", "bench:100000000")
    try:
        print(
            f"{'input':<26} {'file MiB':>9} {'legit MiB':>10} {'exit':>4} {'peak MiB':>9}"
            f" {'target MiB':>10} {'within':>6} {'s':>6}  says"
        )
        for label, path, legit in inputs:
            data = work / "data"
            shutil.rmtree(data, ignore_errors=True)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("FBCHECK_")},
                "FBCHECK_API_KEY": "bench",
                "FBCHECK_API_URL": url,
                "FBCHECK_DATA_DIR": str(data),
                "FBCHECK_POLL_MIN_INTERVAL": "0.05",
                "FBCHECK_POLL_MAX_INTERVAL": "0.5",
                "FBCHECK_REGION": "CH",
            }
            output = work / f"{path.name}.results.csv"
            code, peak, seconds, shown = peak_of(path, output, env)
            target = (GIB + 2 * legit) / MIB
            print(
                f"{label:<26} {path.stat().st_size / MIB:>9.1f} {legit / MIB:>10.1f} {code:>4}"
                f" {peak:>9.0f} {target:>10.0f} {'yes' if peak <= target else 'NO':>6}"
                f" {seconds:>6.1f}  {shown[:110]}"
            )
    finally:
        emulator.terminate()
        emulator.wait(10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
