"""The Alembic revisions this fbcheck knows, oldest first (no SQLAlchemy import: opening is cheap).

Opening a store compares its ``alembic_version`` with ``HEAD``. Adding a revision
(``migrations/README.md``) appends its id here; a test checks that this list is
the chain of ``migrations/versions``.
"""

from __future__ import annotations

#: Every revision id, oldest first.
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006")
#: The revision of the schema this fbcheck writes.
HEAD = REVISIONS[-1]
#: The baseline: the schema of the SQLite stores at ``PRAGMA user_version`` 3.
BASELINE = REVISIONS[0]
