"""``GET /api/health``: is the backend up, in demo mode, a team server; and who am I.

``/api/health`` is open to anyone (load balancers ask it); on the team server it
says ``"team": true`` so the task pane knows to sign in. ``/api/whoami`` needs the
token there and names its user.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from addin.formats import package_version
from addin.web.flask_config import settings_of
from addin.web.json_api import reply
from addin.web.team import current_user, team_of

bp = Blueprint("health", __name__, url_prefix="/api")


@bp.get("/health")
def health() -> Response:
    """Answer ``{"demo": bool, "version": str}``, plus ``"team": true`` on the team server."""
    if team_of(current_app) is not None:
        return jsonify(demo=settings_of(current_app).demo, version=package_version(), team=True)
    return jsonify(demo=settings_of(current_app).demo, version=package_version())


@bp.get("/whoami")
def whoami() -> Response:
    """Answer who signed in: ``{"team", "user", "admin"}`` (local mode: no user, admin)."""
    user = current_user()
    if user is None:
        return reply(team=team_of(current_app) is not None, user=None, admin=True)
    return reply(team=True, user=user.name, admin=user.admin)
