"""``GET /api/health``: is the backend up, and is it in demo mode."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from addin.formats import package_version
from addin.web.flask_config import settings_of

bp = Blueprint("health", __name__, url_prefix="/api")


@bp.get("/health")
def health() -> Response:
    """Answer ``{"demo": bool, "version": str}``."""
    return jsonify(demo=settings_of(current_app).demo, version=package_version())
