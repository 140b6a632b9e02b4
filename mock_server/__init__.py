"""An emulator of the eKYC Pro "Facebook bulk number check" API, as a Flask app factory.

``create_app(config)`` builds an app from ``settings.DEFAULT_CONFIG``, the
chosen profile, then the caller's ``MOCK_*`` keys (see "The emulator" in README.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from mock_server import views
from mock_server.models import Emulator
from mock_server.settings import DEFAULT_CONFIG, ConfigError, settings_from_config

__all__ = ["ConfigError", "create_app"]

#: Room for the multipart framing and the ``user_id`` field on top of the file itself.
MULTIPART_ALLOWANCE = 64 * 1024


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Return a new emulator app; raise ``ConfigError`` for a bad ``MOCK_*`` value."""
    settings = settings_from_config(config)
    app = Flask(__name__)
    app.config.from_mapping(DEFAULT_CONFIG)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_file_bytes + MULTIPART_ALLOWANCE
    app.config.from_mapping(config or {})
    # Keep the vendor's field order in task answers.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[views.EXTENSION] = Emulator(settings)
    views.register(app)
    app.wsgi_app = views.ConnectionDropper(app.wsgi_app)  # type: ignore[method-assign]
    return app
