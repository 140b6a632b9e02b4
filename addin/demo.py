"""Demo mode: the one bridge from the product to the bundled emulator (``mock_server``).

Without an API key, :func:`demo_connection` starts the emulator in this
process and hands the engine a vendor connection to it. Everything it answers
is labelled ``demo``. Each emulator instance is its own task realm: its tasks
die with it, so a later process never polls them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from addin.config import Settings
from addin.engine.connection import DEMO_REALM, VendorConnection, key_fingerprint, make_client
from addin.http_server import BackgroundServer
from mock_server import create_app as create_emulator
from mock_server import views as emulator_views

DEMO_KEY = "demo"
#: The emulator is free, so the demo polls it often; real tasks use the settings.
DEMO_POLL_MIN_INTERVAL = 0.25
DEMO_POLL_MAX_INTERVAL = 2.0


def demo_connection(
    settings: Settings, emulator_config: Mapping[str, Any] | None = None
) -> VendorConnection:
    """Start the emulator on loopback and return a connection to it."""
    app = create_emulator({"MOCK_PROFILE": "demo", **(emulator_config or {})})
    server = BackgroundServer(app).start()

    def balance() -> float | None:
        """Return the demo key's balance from the emulator's own ledger."""
        account = app.extensions[emulator_views.EXTENSION].ledger()["keys"].get(DEMO_KEY)
        return None if account is None else float(account["balance"])

    poll_min = min(settings.poll_min_interval, DEMO_POLL_MIN_INTERVAL)
    poll_max = min(settings.poll_max_interval, DEMO_POLL_MAX_INTERVAL)
    return VendorConnection(
        client=make_client(settings, server.url, DEMO_KEY),
        cache_realm=DEMO_REALM,
        task_realm=f"{DEMO_REALM}:{uuid.uuid4().hex[:12]}",
        key_fp=key_fingerprint(DEMO_KEY),
        demo=True,
        poll_min_interval=poll_min,
        poll_max_interval=max(poll_min, poll_max),
        balance=balance,
        on_close=server.stop,
    )
