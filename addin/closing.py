"""One way for an object with ``close()`` to be used in a ``with`` block."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosedOnExit:
    """Mixin: ``with obj:`` gives ``obj`` and calls ``obj.close()`` on the way out.

    For objects whose whole clean-up is their (idempotent) ``close``; also after an
    exception, which is never swallowed.
    """

    def close(self) -> None:
        """Release what the object holds (subclasses do the work)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Return self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close."""
        self.close()
