"""``GET /manifest.xml``: the add-in manifest pointing at this very server."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from addin.web.flask_config import base_url_of
from addin.web.manifest import render_manifest

bp = Blueprint("manifest", __name__)


@bp.get("/manifest.xml")
def manifest_xml() -> Response:
    """Serve the manifest rendered with the server's own base URL."""
    response = Response(render_manifest(base_url_of(current_app)), mimetype="application/xml")
    response.headers["Content-Disposition"] = 'inline; filename="fbcheck-manifest.xml"'
    response.headers["Cache-Control"] = "no-cache"
    return response
