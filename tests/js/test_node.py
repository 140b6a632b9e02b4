"""Run the add-in's JavaScript tests (``node --test tests/js/``) as part of pytest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS_TESTS = ROOT / "tests" / "js"


def test_javascript_suite_passes() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript tests (tests/js) did not run")
    if not (ROOT / "node_modules" / "office-addin-mock").is_dir():
        pytest.skip("node_modules is missing: run `npm ci` to run the JavaScript tests (tests/js)")
    # Files, not the folder: newer Node versions read the arguments as globs.
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no JavaScript tests found in {JS_TESTS}"
    completed = subprocess.run(
        [node, "--test", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-20000:] + completed.stderr[-5000:]
    assert "# fail 0" in completed.stdout
