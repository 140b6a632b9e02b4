"""The icon generator in manifest/ reproduces the committed PNG files."""

from __future__ import annotations

import runpy
import struct
import zlib
from pathlib import Path

from addin.web.views.pages import STATIC_DIR

SCRIPT = Path(__file__).resolve().parents[2] / "manifest" / "make_icons.py"


def test_generator_reproduces_committed_icons(tmp_path: Path) -> None:
    generator = runpy.run_path(str(SCRIPT))
    assert generator["main"](["--out", str(tmp_path)]) == 0
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == ["icon-16.png", "icon-32.png", "icon-64.png", "icon-80.png"]
    for name in made:
        assert (tmp_path / name).read_bytes() == (STATIC_DIR / "icons" / name).read_bytes(), name


def test_icons_are_real_rgba_pngs() -> None:
    for size in (16, 32, 64, 80):
        data = (STATIC_DIR / "icons" / f"icon-{size}.png").read_bytes()
        width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
        assert (width, height, depth, colour) == (size, size, 8, 6)
        idat_length = struct.unpack(">I", data[33:37])[0]
        assert data[37:41] == b"IDAT"
        pixels = zlib.decompress(data[41 : 41 + idat_length])
        assert len(pixels) == size * (1 + 4 * size)
        # Transparent corner, opaque green-and-white middle.
        assert pixels[4] == 0  # alpha of the top-left pixel
        middle = (size // 2) * (1 + 4 * size) + 1 + 4 * (size // 2)
        assert pixels[middle + 3] == 255
