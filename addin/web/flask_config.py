"""The keys of the backend's Flask config (``app.config``), their defaults and typed accessors.

``create_app(config)`` starts from :data:`DEFAULTS` and applies the caller's
mapping on top. The typed :class:`addin.config.Settings` travels in the config
under :data:`SETTINGS_KEY`, so views never read the environment themselves.
Every ``FBCHECK_*`` Flask config key is declared here.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from addin.config import Settings

#: The typed settings instance (``addin.config.Settings``); built from the
#: environment by ``create_app`` when the caller passes none.
SETTINGS_KEY = "FBCHECK_SETTINGS"
#: The TCP port the server listens on: part of the only accepted ``Host`` and
#: ``Origin`` values and of the manifest's URLs. Set it after binding port 0.
PORT_KEY = "FBCHECK_PORT"

#: ``MOCK_*`` settings for the demo emulator (tests use the instant profile).
EMULATOR_CONFIG_KEY = "FBCHECK_EMULATOR_CONFIG"
#: Seconds of quiet, and the longest wait, before queued ``=FBCHECK`` look-ups are submitted.
LOOKUP_QUIET_KEY = "FBCHECK_LOOKUP_QUIET"
LOOKUP_MAX_WAIT_KEY = "FBCHECK_LOOKUP_MAX_WAIT"
#: The monotonic clock (a callable returning seconds) of the look-up coalescer; tests
#: pass a hand-moved one so a 30 s trickle of cells takes no 30 s.
LOOKUP_CLOCK_KEY = "FBCHECK_LOOKUP_CLOCK"

#: Worker processes kept warm to share the normalisation of large selections
#: (``addin.engine.normalizer_pool``); ``fbcheck serve`` starts them, an app made
#: without this key (tests, scripts) starts none.
NORMALIZE_WORKERS_KEY = "FBCHECK_NORMALIZE_WORKERS"
#: False: the backend's Checker does no vendor I/O itself (no in-process runner): the
#: team server whose ``fbcheck worker`` processes do it. Default True.
START_RUNNER_KEY = "FBCHECK_START_RUNNER"
#: True: keep upload sessions, plans awaiting confirmation and held look-up batches in
#: the store, as the team server always does (its instances share them); the local
#: backend keeps them in memory unless this is set (tests run both). Default False.
UNFINISHED_IN_STORE_KEY = "FBCHECK_UNFINISHED_IN_STORE"

#: The team server's public https base URL (``--public-url``/``FBCHECK_PUBLIC_URL``, or
#: its own loopback URL for a trial): what its ``/manifest.xml`` points at. None: it
#: serves no manifest. Never taken from a request's ``Host`` header, which a client sets.
PUBLIC_URL_KEY = "FBCHECK_PUBLIC_URL"

DEFAULT_PORT = 8443

DEFAULTS: dict[str, Any] = {
    PORT_KEY: DEFAULT_PORT,
    NORMALIZE_WORKERS_KEY: 0,
    # Excel on the web caps a request at 5 MB; desktop Excel does not, so the
    # cap leaves room for a large selection sent from the desktop while still
    # refusing an absurd body before any view parses it.
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
}


def settings_of(app: Flask) -> Settings:
    """Return the typed settings stored in ``app``'s config."""
    settings = app.config[SETTINGS_KEY]
    if not isinstance(settings, Settings):
        raise TypeError(f"config[{SETTINGS_KEY!r}] must be an addin.config.Settings instance")
    return settings


def port_of(app: Flask) -> int:
    """Return the port the backend is reachable on."""
    port = app.config[PORT_KEY]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"config[{PORT_KEY!r}] must be a TCP port number, got {port!r}")
    return port


def base_url_of(app: Flask) -> str:
    """Return the backend's own origin, as written into the manifest."""
    return own_base_url(port_of(app))


def own_base_url(port: int) -> str:
    """Return ``https://localhost:<port>``, the URL Office loads the add-in from."""
    return f"https://localhost:{port}"
