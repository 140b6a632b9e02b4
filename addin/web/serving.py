"""Bind the backend app to a TLS socket and tell the app which port it got."""

from __future__ import annotations

from flask import Flask

from addin.http_server import BackgroundServer
from addin.web.certs import ServerCertificate
from addin.web.flask_config import PORT_KEY


def bind_backend(
    app: Flask, *, certificate: ServerCertificate, host: str = "127.0.0.1", port: int = 0
) -> BackgroundServer:
    """Return a bound (not yet serving) HTTPS server for ``app``.

    The app's Host/Origin checks and its manifest use the bound port, so with
    ``port=0`` the free port picked by the OS is written back into the app's
    config before any request can arrive. Raises OSError when the port is taken.
    """
    server = BackgroundServer(
        app, host=host, port=port, certfile=certificate.certfile, keyfile=certificate.keyfile
    )
    app.config[PORT_KEY] = server.port
    return server
