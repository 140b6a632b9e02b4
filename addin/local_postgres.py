"""A throwaway PostgreSQL cluster on loopback: initdb into a temporary folder, removed after.

Used by ``make team-demo``, ``bench/team_load.py`` (through ``addin.local_team``) and the
tests (``tests/postgres.py``). ``LocalCluster.start()`` finds ``initdb`` and ``pg_ctl``
on PATH or in ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package), makes a
cluster in a new folder under the system's temporary folder, and starts it on
127.0.0.1 with a free port and its unix socket in that folder. The superuser
``fbcheck`` logs in over TCP with a password (scram-sha-256, so a wrong password is
refused as on a real server; random unless the caller gives one). As root, initdb
refuses to run: the cluster then runs as ``nobody`` (``setpriv``), its folder given to
that user.

A watchdog process stops the server if the starting process dies without ``stop()``
(even by SIGKILL), and removes its folder, so no postmaster or cluster outlives it.
``LocalCluster.why_not()`` says why no cluster can be started here (no binaries, no
way to drop root).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Self

import psycopg

#: The superuser's name in every cluster made here.
USER = "fbcheck"
#: The unprivileged account that runs the cluster when started as root.
NOBODY = 65534

_WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, pg_ctl, data, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
while True:
    try:
        os.kill(parent, 0)
    except OSError:
        break
    if not os.path.exists(data):
        sys.exit(0)
    time.sleep(1)
subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
shutil.rmtree(os.path.dirname(data), ignore_errors=True)
"""


def find_binary(name: str) -> Path | None:
    """Return PostgreSQL's ``name`` program: on PATH, else the newest Debian one."""
    found = shutil.which(name)
    if found:
        return Path(found)

    def major(path: str) -> int:
        """Return the major version in /usr/lib/postgresql/MAJOR/bin/NAME."""
        folder = Path(path).parent.parent.name
        return int(folder) if folder.isdigit() else 0

    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=major)
    return Path(versions[-1]) if versions else None


def drop_root_prefix() -> tuple[str, ...] | None:
    """Return the command prefix that runs a program as ``nobody`` (as root), else ()."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return (setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalCluster:
    """One running throwaway cluster; ``url(dbname)`` gives a psycopg/fbcheck URL."""

    def __init__(
        self, root: Path, port: int, pg_ctl: Path, prefix: tuple[str, ...], password: str
    ) -> None:
        """Keep what ``start`` made."""
        self.root = root
        self.data = root / "data"
        self.port = port
        self.pg_ctl = pg_ctl
        self.prefix = prefix
        self.password = password
        #: Stops the server should this process die without ``stop()``.
        self.watchdog: subprocess.Popen[bytes] | None = None

    @staticmethod
    def why_not() -> str | None:
        """Return why no cluster can be started on this machine, or None."""
        for name in ("initdb", "pg_ctl"):
            if find_binary(name) is None:
                return (
                    f"PostgreSQL's {name} is not on PATH nor in /usr/lib/postgresql/*/bin"
                    " (install Debian's postgresql package; .ci/run does)"
                )
        if drop_root_prefix() is None:
            return "running as root without setpriv: initdb refuses root"
        return None

    @classmethod
    def start(cls, *, password: str | None = None) -> Self:
        """Make and start a cluster; raise RuntimeError saying why it failed."""
        reason = cls.why_not()
        if reason is not None:
            raise RuntimeError(reason)
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        prefix = drop_root_prefix()
        assert initdb is not None
        assert pg_ctl is not None
        assert prefix is not None
        secret = password if password is not None else secrets.token_urlsafe(18)
        # Under the system's temporary folder: nobody must be able to enter it.
        root = Path(tempfile.mkdtemp(prefix="fbcheck-pg-"))
        root.chmod(0o755)
        (root / "pw").write_text(secret + "\n", encoding="utf-8")
        if prefix:
            for path in (root, root / "pw"):
                os.chown(path, NOBODY, NOBODY)
        cmd = [*prefix, str(initdb), "-D", str(root / "data"), "-U", USER]
        cmd += ["--pwfile", str(root / "pw"), "--auth-host=scram-sha-256", "--auth-local=trust"]
        cmd += ["--no-sync", "-E", "UTF8", "--locale=C"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        (root / "pw").unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {done.stderr[-800:]}")
        cluster = cls(root, free_port(), pg_ctl, prefix, secret)
        options = (
            f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        start = [*prefix, str(pg_ctl), "-D", str(cluster.data), "-l", str(root / "log")]
        done = subprocess.run(
            [*start, "-o", options, "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-400:]} {log[-800:]}")
        cluster.watchdog = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(os.getpid()),
                str(pg_ctl),
                str(cluster.data),
                *prefix,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return cluster

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        subprocess.run(
            [*self.prefix, str(self.pg_ctl), "-D", str(self.data), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)
        if self.watchdog is not None:
            self.watchdog.wait(10)  # it ends within a second once the folder is gone

    def url(self, dbname: str = "postgres", *, password: str | None = None) -> str:
        """Return the URL of database ``dbname`` over TCP on loopback."""
        secret = self.password if password is None else password
        return f"postgresql://{USER}:{secret}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """Return an autocommit connection to the ``postgres`` database."""
        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self, *, template: str | None = None, prefix: str = "t") -> str:
        """Create a new database (a copy of ``template`` if given); return its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        copy = f" TEMPLATE {template}" if template else ""
        with self.admin() as conn:
            for attempt in range(50):
                try:
                    conn.execute(f"CREATE DATABASE {name}{copy}")
                    break
                except psycopg.errors.ObjectInUse:
                    # The template is busy for a moment after a connection to it closes.
                    time.sleep(0.05 * (attempt + 1))
            else:
                raise RuntimeError(f"could not copy the template database {template}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, closing its connections."""
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
