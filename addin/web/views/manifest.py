"""``GET /manifest.xml``: the add-in manifest pointing at this very server."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from addin.web.flask_config import PUBLIC_URL_KEY, base_url_of, settings_of
from addin.web.json_api import ApiError
from addin.web.manifest import normalize_base_url, render_manifest
from addin.web.team import team_of

bp = Blueprint("manifest", __name__)

#: The 404 code of a team server that was told no public address.
PUBLIC_URL_UNSET = "public_url_unset"


@bp.get("/manifest.xml")
def manifest_xml() -> Response:
    """Serve the manifest rendered with the server's own base URL."""
    base_url = base_url_of(current_app)
    if team_of(current_app) is not None:
        base_url = team_public_url()
    response = Response(render_manifest(base_url), mimetype="application/xml")
    response.headers["Content-Disposition"] = 'inline; filename="fbcheck-manifest.xml"'
    response.headers["Cache-Control"] = "no-cache"
    return response


def team_public_url() -> str:
    """Return the team server's configured public base URL, or raise a 404 saying how to set it.

    Never the request's ``Host`` header: anyone can send any Host, and a manifest that
    named it would send Excel (or a cache in between) to the attacker's server.
    """
    configured = current_app.config.get(PUBLIC_URL_KEY) or settings_of(current_app).public_url
    if not configured:
        raise ApiError(
            404,
            PUBLIC_URL_UNSET,
            "this team server was given no public address: start it with --public-url"
            " https://NAME (or FBCHECK_PUBLIC_URL), or render the manifest with"
            " `fbcheck manifest --base-url https://NAME`",
        )
    try:
        return normalize_base_url(str(configured))
    except ValueError as exc:
        raise ApiError(500, PUBLIC_URL_UNSET, f"public_url: {exc}") from None
