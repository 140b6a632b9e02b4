"""Run-time settings, the vendor account state and the result cache, for the task pane.

The API key is stored by the backend only (``secrets.json`` in the data
folder, mode 0600) and leaves it masked, never whole. On the team server the key
lives in the server's environment or secrets file only: it cannot be set here,
and only its fingerprint is shown; only an admin may change the other settings
or clear the cache.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from addin.config import RuntimeChanges, Settings
from addin.engine.connection import key_fingerprint
from addin.web.engine_host import apply_settings, host_of
from addin.web.json_api import ApiError, NoBody, parse_body, reply
from addin.web.team import sees_every_job, team_of

bp = Blueprint("settings", __name__, url_prefix="/api")

MASK = "••••"
#: Keys shorter than this show no characters at all when masked.
MIN_KEY_TO_SHOW_TAIL = 12


@bp.get("/settings")
def get_settings() -> Response:
    """Return the settings in force, the API key masked (team server: its fingerprint)."""
    return reply(**settings_json(host_of(current_app).settings))


@bp.put("/settings")
def put_settings() -> Response:
    """Change any of api_key (empty removes it), region, cache_ttl_days, confirm_above."""
    changes = parse_body(
        RuntimeChanges, code="bad_setting", unknown_field=RuntimeChanges.UNKNOWN_FIELD
    ).updates()
    if team_of(current_app) is not None:
        if "api_key" in changes:
            raise ApiError(
                403,
                "key_on_server",
                "the team server's API key is set on the server only (FBCHECK_API_KEY or"
                " FBCHECK_API_KEY_FILE), never from a task pane",
            )
        _admin_only("change the settings")
    settings = apply_settings(current_app, changes)
    current_app.logger.info("settings changed: %s", ", ".join(sorted(changes)) or "nothing")
    return reply(**settings_json(settings))


@bp.get("/account")
def account() -> Response:
    """Return what is known of the vendor account (demo: the emulator's ledger).

    ``?balance=live`` (the pane's *Check balance* button: a person looks) asks v1's
    ``/v1/balance``, which may be billed; without it nothing is sent to the vendor.
    """
    live = request.args.get("balance") == "live"
    with host_of(current_app).checker() as checker:
        return reply(**checker.account(live_balance=live).as_dict())


@bp.post("/cache/clear")
def clear_cache() -> Response:
    """Forget every cached answer of the vendor in use (demo or live)."""
    parse_body(NoBody)
    if team_of(current_app) is not None:
        _admin_only("clear the shared answer cache")
    with host_of(current_app).checker() as checker:
        return reply(cleared=checker.clear_cache())


def _admin_only(what: str) -> None:
    """Refuse (403 ``admin_only``) a team server user who is not an admin."""
    if not sees_every_job():
        raise ApiError(403, "admin_only", f"only an admin may {what} on the team server")


def settings_json(settings: Settings) -> dict[str, Any]:
    """Return the task pane's view of ``settings``; the key masked (team: a fingerprint)."""
    if team_of(current_app) is not None:
        return {
            "api_key": None,
            "key_fingerprint": None
            if settings.demo or settings.api_key is None
            else key_fingerprint(settings.api_key.get_secret_value()),
            "team": True,
            "region": settings.region,
            "cache_ttl_days": settings.cache_ttl_days,
            "confirm_above": settings.confirm_above,
            "api_url": settings.vendor_url,
        }
    return {
        "api_key": masked_key(settings),
        "region": settings.region,
        "cache_ttl_days": settings.cache_ttl_days,
        "confirm_above": settings.confirm_above,
        "api_url": settings.vendor_url,
    }


def masked_key(settings: Settings) -> str | None:
    """Return ``••••1234`` (the last four characters of a long key), or None without a key."""
    if settings.demo or settings.api_key is None:
        return None
    key = settings.api_key.get_secret_value()
    return MASK + key[-4:] if len(key) >= MIN_KEY_TO_SHOW_TAIL else MASK
