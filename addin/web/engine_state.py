"""The app's one check engine: created on first use, rebuilt when the API key changes.

``EngineState`` lives in ``app.extensions`` and holds the current
:class:`~addin.engine.checker.Checker`, the settings in force (the caller's
settings with the task pane's saved changes on top), the ``=FBCHECK`` look-up
coalescer and the plans awaiting confirmation. The Checker starts lazily, so
an app that only serves pages never starts the demo emulator or the runner.

Close it with :func:`close_app` (tests do); otherwise it is closed when the
app is garbage-collected or the interpreter exits.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask
from pydantic import ValidationError

from addin.config import RUNTIME_SETTINGS, SavedSettings, Settings, load_settings
from addin.engine.checker import Checker
from addin.engine.phones import validate_region
from addin.vendor import open_checker
from addin.web.app_config import SETTINGS_KEY
from addin.web.coalescer import DEFAULT_MAX_WAIT, DEFAULT_QUIET, LookupCoalescer
from addin.web.pending_plans import PendingPlans

log = logging.getLogger(__name__)

EXTENSION_KEY = "fbcheck.engine"
#: Flask config: ``MOCK_*`` settings for the demo emulator (tests use the instant profile).
EMULATOR_CONFIG_KEY = "FBCHECK_EMULATOR_CONFIG"
#: Flask config: seconds of quiet, and the longest wait, before queued look-ups are submitted.
LOOKUP_QUIET_KEY = "FBCHECK_LOOKUP_QUIET"
LOOKUP_MAX_WAIT_KEY = "FBCHECK_LOOKUP_MAX_WAIT"
#: Seconds a settings change waits for requests still using the old engine.
DRAIN_TIMEOUT = 30.0
#: Demo tasks die with their emulator; say so instead of leaving them open.
DEMO_SWITCH_REASON = "the API key changed while this demo check ran; check again"
MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 512


class SettingsError(ValueError):
    """A run-time setting the task pane sent is not acceptable."""


class EngineClosedError(RuntimeError):
    """The app was closed; no engine is available any more."""


class EngineState:
    """Settings in force, the Checker, the look-up coalescer and pending plans of one app."""

    def __init__(
        self,
        base: Settings,
        *,
        emulator_config: Mapping[str, Any] | None = None,
        lookup_quiet: float = DEFAULT_QUIET,
        lookup_max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        """Apply the saved task-pane settings to ``base``; start nothing yet."""
        self.base = base
        self.saved = SavedSettings(base.data_dir)
        self.settings = self._effective_settings()
        self.emulator_config = dict(emulator_config or {})
        self.generation = 0
        self._lock = threading.Condition()
        self._changing = threading.Lock()
        self._checker: Checker | None = None
        self._leases: dict[int, int] = {}
        self._closed = False
        self.coalescer = LookupCoalescer(
            self._submit_lookups, quiet=lookup_quiet, max_wait=lookup_max_wait
        )
        self.plans = PendingPlans()

    @property
    def demo(self) -> bool:
        """Return True while no API key is set (the bundled emulator answers)."""
        return self.settings.demo

    def _effective_settings(self) -> Settings:
        """Return the base settings with the saved changes, ignoring a damaged saved file."""
        try:
            saved = self.saved.read()
            if not saved:
                return self.base
            if "region" in saved:
                saved["region"] = validate_region(saved["region"])
            return load_settings(self.base, saved)
        except (ValueError, ValidationError) as exc:
            log.warning("ignoring saved task-pane settings: %s", type(exc).__name__)
            return self.base

    # -- the Checker ---------------------------------------------------------

    @contextmanager
    def checker(self) -> Iterator[Checker]:
        """Lend the current Checker for one request (starting it on first use)."""
        with self._lock:
            if self._closed:
                raise EngineClosedError("the backend is shutting down")
            if self._checker is None:
                self._checker = open_checker(self.settings, emulator_config=self.emulator_config)
            checker = self._checker
            self._leases[id(checker)] = self._leases.get(id(checker), 0) + 1
        try:
            yield checker
        finally:
            with self._lock:
                self._leases[id(checker)] -= 1
                if not self._leases[id(checker)]:
                    del self._leases[id(checker)]
                self._lock.notify_all()

    def change_settings(self, changes: Mapping[str, Any]) -> Settings:
        """Validate, save and apply task-pane changes; a new API key rebuilds the Checker."""
        # One change at a time: each reads, merges and writes the saved files.
        with self._changing:
            return self._change_settings(changes)

    def _change_settings(self, changes: Mapping[str, Any]) -> Settings:
        """Apply one change (called with ``_changing`` held)."""
        cleaned = clean_runtime_changes(changes)
        merged = {**self.saved.read(), **cleaned}
        if not merged.get("api_key"):
            merged.pop("api_key", None)
        try:
            new = load_settings(self.base, merged)
        except ValidationError as exc:
            raise SettingsError(_validation_message(exc)) from None
        self.saved.save(cleaned)
        old_key = _key_text(self.settings)
        with self._lock:
            self.settings = new
            rebuild = _key_text(new) != old_key
            old = self._checker if rebuild else None
            if rebuild:
                self._checker = None
                self.generation += 1
            elif self._checker is not None:
                # TTL and chunking are read from the settings at each plan.
                self._checker.settings = new
        if rebuild:
            self.coalescer.forget_all()
            self.plans.clear()
            if old is not None:
                self._retire(old)
        return new

    def _retire(self, old: Checker) -> None:
        """Close a replaced Checker once no request uses it any more."""
        with self._lock:
            self._lock.wait_for(lambda: id(old) not in self._leases, timeout=DRAIN_TIMEOUT)
        old.retire(DEMO_SWITCH_REASON)

    def _submit_lookups(self, numbers: list[str]) -> str:
        """Plan and submit queued ``=FBCHECK`` numbers as one job; return its id."""
        with self.checker() as checker:
            plan = checker.plan(numbers)
            return checker.submit(plan, kind="lookups", label=f"=FBCHECK: {len(numbers)} numbers")

    def close(self) -> None:
        """Stop the coalescer and the Checker (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            checker, self._checker = self._checker, None
        self.coalescer.close()
        self.plans.clear()
        if checker is not None:
            checker.close()


def clean_runtime_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Return task-pane changes checked and normalised, or raise ``SettingsError``."""
    allowed = RUNTIME_SETTINGS
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise SettingsError(
            f"cannot change {', '.join(unknown)} here; settable: {', '.join(allowed)}"
        )
    cleaned: dict[str, Any] = {}
    if "api_key" in changes:
        cleaned["api_key"] = _clean_key(changes["api_key"])
    if "region" in changes:
        try:
            cleaned["region"] = validate_region(changes["region"])
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    if "cache_ttl_days" in changes:
        value = changes["cache_ttl_days"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3650:
            raise SettingsError("cache_ttl_days must be a number of days from 0 to 3650")
        cleaned["cache_ttl_days"] = float(value)
    if "confirm_above" in changes:
        value = changes["confirm_above"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettingsError("confirm_above must be a whole number of uploads, 0 or more")
        cleaned["confirm_above"] = value
    return cleaned


def _clean_key(value: Any) -> str:
    """Return a plausible API key ("" removes it), or raise ``SettingsError``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SettingsError("api_key must be text (an empty text removes the key)")
    key = value.strip()
    if key and not (
        MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH
        and key.isascii()
        and key.isprintable()
        and " " not in key
    ):
        # Never echo the value: it may be a real key pasted with a typo.
        raise SettingsError(
            f"that does not look like an API key: expected {MIN_KEY_LENGTH} to"
            f" {MAX_KEY_LENGTH} printable characters without spaces"
        )
    return key


def _key_text(settings: Settings) -> str:
    """Return the API key in force ("" in demo mode), for comparisons only."""
    return "" if settings.api_key is None else settings.api_key.get_secret_value()


def _validation_message(exc: ValidationError) -> str:
    """Return pydantic's complaint as one sentence, without the rejected values."""
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return "; ".join(parts) or "invalid settings"


def install(app: Flask) -> EngineState:
    """Create the app's ``EngineState`` and keep ``config[SETTINGS_KEY]`` in step with it."""
    state = EngineState(
        app.config[SETTINGS_KEY],
        emulator_config=app.config.get(EMULATOR_CONFIG_KEY),
        lookup_quiet=float(app.config.get(LOOKUP_QUIET_KEY, DEFAULT_QUIET)),
        lookup_max_wait=float(app.config.get(LOOKUP_MAX_WAIT_KEY, DEFAULT_MAX_WAIT)),
    )
    app.config[SETTINGS_KEY] = state.settings
    app.extensions[EXTENSION_KEY] = state
    # Runs when the app is collected or, at the latest, when the interpreter exits.
    weakref.finalize(app, state.close)
    return state


def engine_of(app: Flask) -> EngineState:
    """Return the app's ``EngineState``."""
    state = app.extensions[EXTENSION_KEY]
    assert isinstance(state, EngineState)
    return state


def apply_settings(app: Flask, changes: Mapping[str, Any]) -> Settings:
    """Change run-time settings of ``app`` and return the settings now in force."""
    settings = engine_of(app).change_settings(changes)
    app.config[SETTINGS_KEY] = settings
    return settings


def close_app(app: Flask) -> None:
    """Stop the app's engine (Checker, runner, demo emulator, look-up worker)."""
    state = app.extensions.get(EXTENSION_KEY)
    if isinstance(state, EngineState):
        state.close()
