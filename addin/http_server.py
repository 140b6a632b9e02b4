"""Serve a WSGI app under cheroot, a threaded production server that also runs on
Windows and macOS, in the foreground (Ctrl-C stops it) or in a background thread.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server as CherootServer


class BackgroundServer:
    """A cheroot server bound on construction and served from a daemon thread.

    Use as a context manager, or call ``start()`` and ``stop()``; ``port 0``
    picks a free port, readable from ``port`` and ``url`` once bound.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 16,
        certfile: Path | None = None,
        keyfile: Path | None = None,
    ) -> None:
        """Bind the listening socket at once so the port is known before serving."""
        self._server = CherootServer((host, port), app, numthreads=threads)
        self._server.shutdown_timeout = 1
        # cheroot checks for expired connections this often; it bounds how long stop() takes.
        self._server.expiration_interval = 0.1
        self.scheme = "http"
        if certfile is not None and keyfile is not None:
            self._server.ssl_adapter = BuiltinSSLAdapter(str(certfile), str(keyfile))
            self.scheme = "https"
        self._prepare_with_daemon_workers()
        self.host = host
        self.port: int = self._server.bind_addr[1]
        self._thread: threading.Thread | None = None

    def _prepare_with_daemon_workers(self) -> None:
        """Bind and start cheroot's worker threads as daemons.

        Threads inherit daemon status from the thread that creates them, so the
        pool is started from a short-lived daemon thread: a server someone forgot
        to stop can then never keep the interpreter from exiting.
        """
        failure: list[BaseException] = []

        def prepare() -> None:
            """Bind the socket and start the workers."""
            try:
                self._server.prepare()
            except BaseException as exc:  # handed to the caller below
                failure.append(exc)

        starter = threading.Thread(target=prepare, name="wsgi-prepare", daemon=True)
        starter.start()
        starter.join()
        if failure:
            # cheroot leaves the socket open when binding fails.
            if self._server.socket is not None:
                self._server.socket.close()
            raise failure[0]

    @property
    def url(self) -> str:
        """Return the base URL, without a trailing slash."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Serve requests from a daemon thread and return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve, name=f"wsgi-{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM (Ctrl-C), then stop cleanly.

        Signals only set a flag: a KeyboardInterrupt raised inside cheroot's accept
        loop can leave a worker without its shutdown request, and ``stop()`` then
        hangs. Off the main thread (no signals there) it serves until ``stop()``.
        """
        if threading.current_thread() is not threading.main_thread():
            try:
                self._server.serve()
            finally:
                self._server.stop()
            return
        stopping = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            """Ask the loop below to stop."""
            stopping.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start()
            while not stopping.wait(0.2):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop serving and wait for the thread; safe to call twice."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BackgroundServer:
        """Start serving."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()
