"""Run-time settings, the vendor account state and the result cache, for the task pane.

The API key is stored by the backend only (``secrets.json`` in the data
folder, mode 0600) and leaves it masked, never whole.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from addin.config import RuntimeChanges, Settings
from addin.web.engine_host import apply_settings, host_of
from addin.web.json_api import NoBody, parse_body, reply

bp = Blueprint("settings", __name__, url_prefix="/api")

MASK = "••••"
#: Keys shorter than this show no characters at all when masked.
MIN_KEY_TO_SHOW_TAIL = 12


@bp.get("/settings")
def get_settings() -> Response:
    """Return the settings in force, the API key masked."""
    return reply(**settings_json(host_of(current_app).settings))


@bp.put("/settings")
def put_settings() -> Response:
    """Change any of api_key (empty removes it), region, cache_ttl_days, confirm_above."""
    changes = parse_body(
        RuntimeChanges, code="bad_setting", unknown_field=RuntimeChanges.UNKNOWN_FIELD
    ).updates()
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
    with host_of(current_app).checker() as checker:
        return reply(cleared=checker.clear_cache())


def settings_json(settings: Settings) -> dict[str, Any]:
    """Return the task pane's view of ``settings``; the key masked."""
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
