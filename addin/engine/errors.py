"""The check engine's own exceptions, for callers that must tell them apart.

::

    EngineError
    └── UnknownJobError (also a KeyError)
"""

from __future__ import annotations

__all__ = ["EngineError", "UnknownJobError"]


class EngineError(Exception):
    """Base of every condition the engine reports to its callers."""


class UnknownJobError(EngineError, KeyError):
    """No job has this id (in this store)."""

    def __init__(self, job_id: str) -> None:
        """Keep the id that was asked for."""
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        """Return a sentence naming the job (KeyError would show only its repr)."""
        return f"there is no job {self.job_id!r}"
