"""FBCheck: bulk Facebook number check from Excel and the command line."""

from __future__ import annotations

from addin.web import create_app

__all__ = ["create_app"]
