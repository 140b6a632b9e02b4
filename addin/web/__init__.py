"""The add-in backend: ``create_app`` builds the Flask app that Office talks to.

Blueprints, one per feature, live in ``addin.web.views``; to add one, append
it to :data:`BLUEPRINTS`. Routes under ``/api/`` and ``/xlwings/`` are
automatically held to the API rules of :mod:`addin.web.security`; every
error answer is built by :mod:`addin.web.json_api`.

Each app owns one check engine, lent to requests by :mod:`addin.web.engine_host`
and started on first use; stop it with :func:`close_app` (tests do) or let it stop with the
process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask

from addin.config import Settings
from addin.web import engine_host, json_api, security
from addin.web.engine_host import close_app
from addin.web.flask_config import DEFAULTS, SETTINGS_KEY, port_of, settings_of
from addin.web.views import (
    file_jobs,
    health,
    jobs,
    lookups,
    manifest,
    pages,
    selection,
    settings,
)

__all__ = ["BLUEPRINTS", "close_app", "create_app"]

#: Every feature's blueprint, registered in this order.
BLUEPRINTS: tuple[Blueprint, ...] = (
    health.bp,
    manifest.bp,
    selection.bp,
    lookups.bp,
    jobs.bp,
    file_jobs.bp,
    settings.bp,
    pages.bp,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Return the backend app: defaults first, then ``config`` on top.

    Pass the typed settings as ``config["FBCHECK_SETTINGS"]`` (an
    ``addin.config.Settings``); without it they are read from the environment.
    Pass the listening port as ``config["FBCHECK_PORT"]`` (default 8443).
    Settings saved from the task pane (``<data_dir>/settings.json`` and
    ``secrets.json``) apply on top of them.
    """
    # No Flask static folder: addin.web.views.pages serves the add-in's files
    # with caching suited to Office.
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(DEFAULTS)
    if config is not None:
        app.config.from_mapping(config)
    if app.config.get(SETTINGS_KEY) is None:
        app.config[SETTINGS_KEY] = Settings()
    # Fail at start-up, not on the first request, when the config is wrong.
    settings_of(app)
    port_of(app)

    engine_host.install(app)
    security.install(app)
    json_api.install(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
