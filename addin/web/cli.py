"""``fbcheck serve`` (the HTTPS backend for Excel) and ``fbcheck manifest``."""

from __future__ import annotations

import argparse
import ipaddress
import platform
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from addin.config import Settings
from addin.engine.connection import key_fingerprint
from addin.engine.normalizer_pool import server_workers
from addin.engine.private_files import secure_data_dir
from addin.engine.store import Store, StoreError
from addin.http_server import BackgroundServer
from addin.web import create_app
from addin.web.certs import SOURCE_OFFICE, ensure_server_certificate, trust_instructions
from addin.web.flask_config import (
    DEFAULT_PORT,
    NORMALIZE_WORKERS_KEY,
    PORT_KEY,
    PUBLIC_URL_KEY,
    SETTINGS_KEY,
    START_RUNNER_KEY,
    own_base_url,
)
from addin.web.manifest import DEFAULT_BASE_URL, normalize_base_url, render_manifest
from addin.web.serving import bind_backend
from addin.web.team import TEAM_KEY, TeamMode

#: Exit codes: 0 done, 1 could not do it (port busy, file unwritable), 2 bad usage,
#: 8 the store cannot be used (as for ``fbcheck check``).
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STORE = 8


def register(subparsers: Any) -> None:
    """Add the ``serve`` and ``manifest`` sub-commands."""
    serve_parser = subparsers.add_parser(
        "serve",
        help="run the HTTPS backend that the Excel add-in talks to",
        description=(
            "Run the add-in backend over HTTPS on this computer only, or with --team the"
            " shared team server for many users (bearer tokens: fbcheck users add)."
        ),
    )
    serve_parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=(
            "address to listen on: 127.0.0.1 (default), ::1 or localhost; with --team any"
            " IP address (0.0.0.0 or :: for every interface)"
        ),
    )
    serve_parser.add_argument(
        "--port",
        type=_port_number,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    team = serve_parser.add_argument_group("team server (--team)")
    team.add_argument(
        "--team",
        action="store_true",
        help="serve many users: every API call needs a personal token (fbcheck users add)",
    )
    team.add_argument("--cert", type=Path, help="TLS certificate chain (PEM) of the server's name")
    team.add_argument("--key", type=Path, help="the certificate's private key (PEM)")
    team.add_argument(
        "--trust-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help=(
            "plain HTTP behind a TLS-terminating proxy at this IP address (repeatable):"
            " its X-Forwarded-Proto/-For are honoured, nobody else's"
        ),
    )
    team.add_argument(
        "--public-url",
        metavar="URL",
        help=(
            "the https address people reach the server at (its proxy's name): the served"
            " /manifest.xml points there (default FBCHECK_PUBLIC_URL; on loopback"
            " https://localhost:PORT)"
        ),
    )
    team.add_argument(
        "--no-runner",
        action="store_true",
        help="do no vendor I/O in this process: `fbcheck worker` processes do it",
    )
    serve_parser.set_defaults(func=serve)

    manifest_parser = subparsers.add_parser(
        "manifest",
        help="print or write the Office add-in manifest",
        description="Render the Office add-in manifest for a backend URL.",
    )
    manifest_parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"https URL of the backend (default {DEFAULT_BASE_URL})",
    )
    manifest_parser.add_argument(
        "-o", "--output", type=Path, help="write to this file instead of standard output"
    )
    manifest_parser.set_defaults(func=manifest)


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` with only these sub-commands and run it (for tests and scripts)."""
    parser = argparse.ArgumentParser(prog="fbcheck")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def serve(args: argparse.Namespace) -> int:
    """Serve the backend over HTTPS until Ctrl-C (``--team``: the team server)."""
    if args.team:
        return serve_team(args)
    team_only = [
        flag
        for flag, given in (
            ("--cert", args.cert is not None),
            ("--key", args.key is not None),
            ("--trust-proxy", bool(args.trust_proxy)),
            ("--no-runner", args.no_runner),
            ("--public-url", args.public_url is not None),
        )
        if given
    ]
    if team_only:
        print(
            f"fbcheck serve: {', '.join(team_only)} only with --team (the team server);"
            " the local backend uses its own certificate on this computer.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    bind_host = _loopback_bind_address(args.host)
    if bind_host is None:
        print(
            f"fbcheck serve: refusing --host {args.host!r}: the backend listens on this "
            "computer only (use 127.0.0.1, ::1 or localhost).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"fbcheck serve: invalid settings:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    _make_data_dir_private(settings)
    try:
        certificate = ensure_server_certificate(data_dir=settings.data_dir, home=Path.home())
    except OSError as exc:
        print(f"fbcheck serve: cannot prepare the TLS certificate: {exc}", file=sys.stderr)
        return EXIT_FAILED
    problem = _store_problem(settings)
    if problem is not None:
        print(f"fbcheck serve: not started: {problem}", file=sys.stderr)
        return EXIT_STORE
    app = create_app(
        {
            SETTINGS_KEY: settings,
            PORT_KEY: args.port or DEFAULT_PORT,
            # Warm from the start, so the first large selection does not wait for them.
            NORMALIZE_WORKERS_KEY: server_workers(settings.normalize_workers),
        }
    )
    try:
        server = bind_backend(app, certificate=certificate, host=bind_host, port=args.port)
    except OSError as exc:
        print(
            f"fbcheck serve: cannot listen on {bind_host} port {args.port}: "
            f"{exc.strerror or exc} (is another `fbcheck serve` running? try --port)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    base_url = _public_base_url(bind_host, server.port)

    print(f"FBCheck backend on {base_url}  (Ctrl-C stops it)")
    if settings.demo:
        print(
            "DEMO MODE: no API key is set (FBCHECK_API_KEY), so every answer comes from "
            "the built-in emulator, not from the vendor."
        )
    render_hint = "fbcheck manifest -o manifest.xml"
    if base_url != DEFAULT_BASE_URL:
        render_hint = f"fbcheck manifest --base-url {base_url} -o manifest.xml"
    print(f"Add-in manifest: {base_url}/manifest.xml  (or: {render_hint})")
    if certificate.source == SOURCE_OFFICE:
        print(f"TLS certificate: {certificate.certfile} (from office-addin-dev-certs)")
    else:
        print(f"TLS certificate: {certificate.certfile}, signed by {certificate.ca_file}")
    for note in certificate.notes:
        print(f"Note: {note}")
    if certificate.created_ca:
        print("A new local certificate authority was created; trust it once:")
        print(trust_instructions(certificate.ca_file, platform.system()))
    sys.stdout.flush()
    server.serve_forever()
    return 0


def serve_team(args: argparse.Namespace) -> int:
    """Serve the team server until Ctrl-C or SIGTERM."""
    plan = _team_plan(args)
    if isinstance(plan, str):
        print(f"fbcheck serve --team: {plan}", file=sys.stderr)
        return EXIT_USAGE
    bind_host, mode = plan
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"fbcheck serve --team: invalid settings:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    public_url = args.public_url or settings.public_url
    if public_url:
        try:
            public_url = normalize_base_url(public_url)
        except ValueError as exc:
            print(f"fbcheck serve --team: --public-url: {exc}", file=sys.stderr)
            return EXIT_USAGE
    _make_data_dir_private(settings)
    certfile, keyfile = args.cert, args.key
    if certfile is None and not mode.trusted_proxies:
        # Loopback only (a trial on this computer): the local certificate, as `fbcheck serve`.
        try:
            local = ensure_server_certificate(data_dir=settings.data_dir, home=Path.home())
        except OSError as exc:
            print(
                f"fbcheck serve --team: cannot prepare the TLS certificate: {exc}", file=sys.stderr
            )
            return EXIT_FAILED
        certfile, keyfile = local.certfile, local.keyfile
    problem = _store_problem(settings)
    if problem is not None:
        print(f"fbcheck serve --team: not started: {problem}", file=sys.stderr)
        return EXIT_STORE
    # One rule: the queue's `fbcheck worker` processes do the vendor I/O, so queue mode
    # starts no runner here; --no-runner says the same without a queue (tests, a trial).
    in_process = not args.no_runner and settings.scheduler != "queue"
    app = create_app(
        {
            SETTINGS_KEY: settings,
            PORT_KEY: args.port or DEFAULT_PORT,
            TEAM_KEY: mode,
            START_RUNNER_KEY: in_process,
            NORMALIZE_WORKERS_KEY: server_workers(settings.normalize_workers),
        }
    )
    try:
        server = BackgroundServer(
            app, host=bind_host, port=args.port, certfile=certfile, keyfile=keyfile
        )
    except ssl.SSLError as exc:
        print(
            f"fbcheck serve --team: the certificate or key cannot be used: {exc}", file=sys.stderr
        )
        return EXIT_USAGE
    except OSError as exc:
        print(
            f"fbcheck serve --team: cannot listen on {bind_host} port {args.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    app.config[PORT_KEY] = server.port
    if not public_url and ipaddress.ip_address(bind_host).is_loopback:
        public_url = own_base_url(server.port)  # a trial on this computer
    app.config[PUBLIC_URL_KEY] = public_url or None
    shown = f"[{bind_host}]" if ":" in bind_host else bind_host
    print(f"FBCheck team server on {server.scheme}://{shown}:{server.port}  (Ctrl-C stops it)")
    if mode.trusted_proxies:
        proxies = ", ".join(sorted(str(a) for a in mode.trusted_proxies))
        print(f"Plain HTTP behind the TLS proxy at {proxies}: only it may say the client's scheme.")
    if settings.demo:
        print(
            "DEMO MODE: no API key is set (FBCHECK_API_KEY or FBCHECK_API_KEY_FILE), so every"
            " answer comes from the built-in emulator, not from the vendor."
        )
    else:
        assert settings.api_key is not None
        fingerprint = key_fingerprint(settings.api_key.get_secret_value())
        print(f"Vendor API key: set on this server (fingerprint {fingerprint}); never sent out.")
    if not in_process:
        print("No vendor I/O in this process: `fbcheck worker` processes do it.")
    users = _active_users(settings)
    if not users:
        print("No users yet: `fbcheck users add NAME --admin` prints a personal token.")
    if public_url:
        print(f"Add-in manifest: {public_url}/manifest.xml")
    else:
        print(
            "Add-in manifest: none served until --public-url https://NAME (or"
            " FBCHECK_PUBLIC_URL) says where people reach this server"
        )
    sys.stdout.flush()
    server.serve_forever()
    return 0


def _team_plan(args: argparse.Namespace) -> tuple[str, TeamMode] | str:
    """Return the bind address and team mode of ``serve --team``, or why they are refused."""
    if (args.cert is None) != (args.key is None):
        return "give both --cert and --key (the certificate and its private key), or neither"
    for path in (args.cert, args.key):
        if path is not None and not path.is_file():
            return f"no such file: {path}"
    host = "127.0.0.1" if args.host.lower() == "localhost" else args.host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"--host must be an IP address to listen on (0.0.0.0 for all), not {args.host!r}"
    try:
        mode = TeamMode.trusting(args.trust_proxy)
    except ValueError:
        return f"--trust-proxy takes IP addresses, not {', '.join(map(repr, args.trust_proxy))}"
    if args.cert is not None and mode.trusted_proxies:
        return "choose TLS (--cert/--key) or a TLS-terminating proxy (--trust-proxy), not both"
    if args.cert is None and not mode.trusted_proxies and not address.is_loopback:
        return (
            f"refusing plain HTTP on {args.host}: tokens would cross the network unencrypted."
            " Give the server's TLS certificate (--cert FILE --key FILE), or run it behind a"
            " TLS-terminating proxy and trust that proxy's address (--trust-proxy ADDRESS)."
        )
    return str(address), mode


def _active_users(settings: Settings) -> int:
    """Return how many users hold a token (0 when the store cannot say)."""
    try:
        store = Store(settings.store_location, lock_timeout=settings.store_lock_timeout)
    except StoreError:
        return 0
    try:
        return sum(1 for user in store.users() if user.active)
    finally:
        store.close()


def _make_data_dir_private(settings: Settings) -> None:
    """Create the data folder 0700 and narrow wider modes in it, saying so in one line.

    A folder that cannot be made is left to the certificate step, which says so.
    """
    try:
        notice = secure_data_dir(settings.data_dir)
    except OSError:
        return
    if notice:
        print(notice, file=sys.stderr)


def _store_problem(settings: Settings) -> str | None:
    """Open the store once; return why it cannot be used, or None.

    The backend refuses to start on a store it cannot use rather than answering every
    request with an error; a store that fails later makes the API answer 503.
    """
    try:
        Store(settings.store_location, lock_timeout=settings.store_lock_timeout).close()
    except StoreError as exc:
        return str(exc)
    return None


def manifest(args: argparse.Namespace) -> int:
    """Print the manifest, or write it to ``--output``."""
    try:
        base_url = normalize_base_url(args.base_url)
    except ValueError as exc:
        print(f"fbcheck manifest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    text = render_manifest(base_url)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(
            f"fbcheck manifest: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr
        )
        return EXIT_FAILED
    print(f"Wrote {args.output} for {base_url}")
    return 0


def _port_number(text: str) -> int:
    """Parse a TCP port for argparse (0 = any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def _loopback_bind_address(host: str) -> str | None:
    """Return the address to bind for ``host``, or None when it is not loopback."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return str(address) if address.is_loopback else None


def _public_base_url(bind_host: str, port: int) -> str:
    """Return the URL Office should use for a server bound to ``bind_host``."""
    if ipaddress.ip_address(bind_host).version == 6:
        return f"https://[::1]:{port}"
    return f"https://localhost:{port}"
