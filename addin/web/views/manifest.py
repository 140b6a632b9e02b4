"""``GET /manifest.xml``: the add-in manifest pointing at this very server."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from addin.web.flask_config import base_url_of
from addin.web.json_api import ApiError
from addin.web.manifest import normalize_base_url, render_manifest
from addin.web.team import team_of

bp = Blueprint("manifest", __name__)


@bp.get("/manifest.xml")
def manifest_xml() -> Response:
    """Serve the manifest rendered with the server's own base URL."""
    base_url = base_url_of(current_app)
    if team_of(current_app) is not None:
        # The team server is known by the name people call it by (through its proxy);
        # Office loads add-ins over https only.
        try:
            base_url = normalize_base_url(f"https://{request.host}")
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
    response = Response(render_manifest(base_url), mimetype="application/xml")
    response.headers["Content-Disposition"] = 'inline; filename="fbcheck-manifest.xml"'
    response.headers["Cache-Control"] = "no-cache"
    return response
