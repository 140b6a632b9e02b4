"""Tests of the package's public surface: a sorted, complete, importable ``__all__``."""

from __future__ import annotations

import ast
from pathlib import Path

import addin.upstream as upstream
from addin.upstream import client, exceptions, models, polling, results


def ruff_order(name: str) -> tuple[int, str]:
    """Sort like ruff's RUF022: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def test_all_is_sorted_and_unique():
    assert upstream.__all__ == sorted(set(upstream.__all__), key=ruff_order)


def test_every_name_in_all_exists():
    for name in upstream.__all__:
        assert getattr(upstream, name) is not None


def test_all_re_exports_every_public_name_of_the_modules():
    modules = (client, exceptions, models, polling, results)
    public = {name for module in modules for name in module.__all__}
    missing = public - set(upstream.__all__) - {"FAILED_STATUSES", "KNOWN_STATUSES"}
    missing -= {"MAX_COMPRESSION_RATIO", "MAX_UNCOMPRESSED_BYTES", "TaskState"}
    missing -= {"MEASURED_SPEEDUP", "PENDING_BACKOFF", "SPREAD_FACTOR", "START_BOUND_SPEEDUP"}
    missing -= {"HISTORY_DECAY", "HISTORY_GROWTH", "HISTORY_SPEEDUP"}
    assert missing == set()


def test_no_module_of_the_package_imports_flask_or_excel_glue():
    # Checked on the source: importing the parent package ``addin`` may pull
    # in the web app, which says nothing about this package's own imports.
    imported: set[str] = set()
    for path in Path(upstream.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
                if node.module.startswith("addin."):
                    imported.add(node.module)
    assert "requests" in imported
    assert not imported & {"flask", "werkzeug", "xlwings"}
    assert not {name for name in imported if name.startswith(("addin.web", "addin.engine"))}
