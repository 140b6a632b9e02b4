"""The emulator's server: the cheroot server the add-in backend uses (``addin.http_server``)."""

from __future__ import annotations

from addin.http_server import BackgroundServer

__all__ = ["BackgroundServer"]
