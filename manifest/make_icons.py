"""Draw the add-in's icons (a white check mark on a green rounded square) as PNG files.

Run ``python manifest/make_icons.py`` after changing the drawing; it writes
``addin/static/icons/icon-<size>.png`` for every size Office asks for. The
output is deterministic, and a test checks the committed files match it.
"""

from __future__ import annotations

import argparse
import itertools
import struct
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

#: 16/32/80 for the ribbon, 32 for IconUrl, 64 for HighResolutionIconUrl.
SIZES = (16, 32, 64, 80)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "addin" / "static" / "icons"

GREEN = (26, 127, 55)
WHITE = (255, 255, 255)
#: Samples per pixel along each axis: 4x4 supersampling smooths the edges.
SUPERSAMPLE = 4
CORNER_RADIUS = 0.2
#: The check mark as a polyline in unit coordinates (0..1, y down) and its width.
CHECK_POINTS = ((0.26, 0.52), (0.43, 0.69), (0.75, 0.33))
CHECK_WIDTH = 0.12


def _inside_rounded_square(x: float, y: float) -> bool:
    """Return True when the unit-square point lies inside the rounded square."""
    r = CORNER_RADIUS
    cx = min(max(x, r), 1 - r)
    cy = min(max(y, r), 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _distance_to_segment(
    x: float, y: float, a: tuple[float, float], b: tuple[float, float]
) -> float:
    """Return the distance from (x, y) to the segment a-b."""
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    px, py = ax + t * dx, ay + t * dy
    return float(((x - px) ** 2 + (y - py) ** 2) ** 0.5)


def _on_check_mark(x: float, y: float) -> bool:
    """Return True when the unit-square point lies on the check mark's stroke."""
    half = CHECK_WIDTH / 2
    return any(
        _distance_to_segment(x, y, a, b) <= half for a, b in itertools.pairwise(CHECK_POINTS)
    )


def draw_icon(size: int) -> list[bytes]:
    """Return the RGBA rows of the icon at ``size`` x ``size`` pixels."""
    rows = []
    n = SUPERSAMPLE
    for py in range(size):
        row = bytearray()
        for px in range(size):
            covered = white = 0
            for sy in range(n):
                for sx in range(n):
                    x = (px + (sx + 0.5) / n) / size
                    y = (py + (sy + 0.5) / n) / size
                    if _inside_rounded_square(x, y):
                        covered += 1
                        white += _on_check_mark(x, y)
            if covered == 0:
                row += bytes(4)
                continue
            # Colour averaged over covered samples; alpha is the coverage.
            rgb = (
                round((g * (covered - white) + w * white) / covered)
                for g, w in zip(GREEN, WHITE, strict=True)
            )
            row += bytes((*rgb, round(255 * covered / (n * n))))
        rows.append(bytes(row))
    return rows


def encode_png(rows: Sequence[bytes], size: int) -> bytes:
    """Return a PNG file (8-bit RGBA, no filtering) holding ``rows``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        """Return one length-prefixed, CRC-suffixed PNG chunk."""
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def write_icons(out_dir: Path) -> list[Path]:
    """Write ``icon-<size>.png`` for every size into ``out_dir`` and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for size in SIZES:
        path = out_dir / f"icon-{size}.png"
        path.write_bytes(encode_png(draw_icon(size), size))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--out`` and write the icons."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    for path in write_icons(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
