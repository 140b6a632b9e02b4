"""The settings in force in the backend: the base settings with the task pane's saved changes.

The base comes from the environment (``addin.config.Settings``); the task
pane may change the few settings of :class:`addin.config.RuntimeChanges`,
which are saved in the data folder (:class:`addin.config.SavedSettings`) and
applied on top at every start. No Flask in here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from addin.config import RuntimeChanges, SavedSettings, Settings, SettingsError, load_settings

log = logging.getLogger(__name__)


class RuntimeSettings:
    """The base settings, the saved task-pane changes and the settings they make together."""

    def __init__(self, base: Settings) -> None:
        """Apply the changes saved in ``base.data_dir`` (damaged saved values are skipped)."""
        self.base = base
        self.saved = SavedSettings(base.data_dir)
        self.current = self._load()

    def _load(self) -> Settings:
        """Return the base settings with the saved changes, or the base when they clash."""
        try:
            return self._merged(self.saved.read())
        except SettingsError as exc:
            log.warning("ignoring saved task-pane settings: %s", exc)
            return self.base

    def change(self, changes: Mapping[str, Any]) -> Settings:
        """Check, save and apply task-pane ``changes``; return the settings now in force.

        Raises ``SettingsError`` (nothing saved) when a change is refused.
        Callers serialise changes: each one reads, merges and writes the files.
        """
        checked = RuntimeChanges.parse(changes)
        merged = RuntimeChanges.parse({**self.saved.read().updates(), **checked.updates()})
        new = self._merged(merged)
        self.saved.save(checked)
        self.current = new
        return new

    def _merged(self, changes: RuntimeChanges) -> Settings:
        """Return the base settings with ``changes`` on top (an empty key means none)."""
        overrides = changes.updates()
        if not overrides.get("api_key"):
            overrides.pop("api_key", None)
        if not overrides:
            return self.base
        try:
            return load_settings(self.base, overrides)
        except ValidationError as exc:
            # The bounds are the same, so this is a base/override clash; say which fields.
            names = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
            raise SettingsError(f"invalid settings: {', '.join(names)}") from None
