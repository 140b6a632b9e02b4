"""Choose the vendor the engine talks to: the live API with a key, the bundled demo without."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addin.config import Settings
from addin.engine.checker import Checker
from addin.engine.connection import VendorConnection, live_connection


def open_connection(
    settings: Settings, emulator_config: Mapping[str, Any] | None = None
) -> VendorConnection:
    """Return a connection to the vendor, or to the in-process emulator in demo mode."""
    if settings.demo:
        from addin.demo import demo_connection  # only demo mode loads the emulator

        return demo_connection(settings, emulator_config)
    return live_connection(settings)


def open_checker(
    settings: Settings,
    *,
    emulator_config: Mapping[str, Any] | None = None,
    start_runner: bool = True,
) -> Checker:
    """Return a Checker on the vendor the settings name (it closes the connection).

    Raises ``StoreError`` (the connection closed again) when the store cannot be used.
    """
    connection = open_connection(settings, emulator_config)
    try:
        return Checker(settings, connection, start_runner=start_runner)
    except BaseException:
        connection.close()
        raise
