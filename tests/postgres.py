"""The tests' throwaway PostgreSQL cluster: ``addin.local_postgres`` with a known password.

``Cluster.start()`` is ``addin.local_postgres.LocalCluster.start()`` (initdb into a
temporary folder, 127.0.0.1 and a free port, as ``nobody`` when root, a watchdog that
removes it should the test process die) with the password ``PASSWORD``, so tests can
check that it never shows in output and that a wrong one is refused.
``Cluster.why_not()`` says why no cluster can be started here, for the tests to skip with.

Fixtures (tests/conftest.py): ``pg_cluster`` (one per session), ``pg_url`` (a new
empty database per test) and ``pg_store_url`` (a new database at the schema's
head revision, copied from a template upgraded once).
"""

from __future__ import annotations

from typing import Self

from addin.local_postgres import USER, LocalCluster, find_binary, free_port

__all__ = ["PASSWORD", "USER", "Cluster", "_free_port", "find_binary"]

#: The superuser's password in every test cluster.
PASSWORD = "test-secret-pw"
_free_port = free_port


class Cluster(LocalCluster):
    """A test cluster: a ``LocalCluster`` whose superuser's password is ``PASSWORD``."""

    @classmethod
    def start(cls, *, password: str | None = None) -> Self:
        """Make and start a cluster with ``PASSWORD`` (or ``password``)."""
        return super().start(password=PASSWORD if password is None else password)
