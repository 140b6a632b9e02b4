"""FBCheck: bulk Facebook number check from Excel and the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from addin.web import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """Import the Flask backend only when asked, so the engine and client stay Flask-free."""
    if name == "create_app":
        from addin.web import create_app

        return create_app
    raise AttributeError(f"module 'addin' has no attribute {name!r}")
