"""Static files that Office and the task pane load: pages, scripts, metadata, icons."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, redirect, send_from_directory

#: The package data folder holding the add-in's pages, scripts and icons.
STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"

#: The type of each suffix served from STATIC_DIR; anything else there stays private.
#: Explicit, not from Python's ``mimetypes``: on Windows that reads the registry,
#: where ``.js`` is often ``text/plain`` (pallets/flask#5361), and WebView2 refuses
#: a module script of that type under ``X-Content-Type-Options: nosniff``.
#: Text types get ``; charset=utf-8`` from the response.
STATIC_TYPES: dict[str, str] = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".png": "image/png",
}
SERVED_SUFFIXES = frozenset(STATIC_TYPES)

#: Office caches ribbon icons and breaks on ``no-store``; a day is plenty.
ICON_MAX_AGE = 24 * 3600

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> Response:
    """Send a browser that opens the bare origin to the task pane."""
    return redirect("/taskpane.html")  # type: ignore[return-value]


@bp.get("/icons/<name>.png")
def icon(name: str) -> Response:
    """Serve a ribbon/manifest icon, cacheable."""
    return send_from_directory(
        STATIC_DIR / "icons", f"{name}.png", max_age=ICON_MAX_AGE, mimetype=STATIC_TYPES[".png"]
    )


@bp.get("/<name>")
def page(name: str) -> Response:
    """Serve a page, script, stylesheet or JSON file; revalidated on every load."""
    suffix = Path(name).suffix
    if suffix not in SERVED_SUFFIXES:
        abort(404)
    # No max_age: "Cache-Control: no-cache", so the browser keeps the file but
    # revalidates it (ETag) and a new version of the add-in shows up at once.
    return send_from_directory(STATIC_DIR, name, max_age=None, mimetype=STATIC_TYPES[suffix])
