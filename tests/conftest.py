"""Fixtures and settings shared by every test package."""

from __future__ import annotations

from hypothesis import settings

# Shared CI machines are slow and busy: a per-example deadline would make
# property tests fail for timing, not for behaviour.
settings.register_profile("fbcheck", deadline=None)
settings.load_profile("fbcheck")
