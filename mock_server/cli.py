"""``fbcheck mock`` and ``python -m mock_server``: serve the emulator on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mock_server import create_app
from mock_server.server import BackgroundServer
from mock_server.settings import (
    PROFILES,
    RESULT_FORMATS,
    ConfigError,
    CreateFault,
    EmulatorSettings,
    parse_shares,
)

DEFAULT_PORT = 8765
DEFAULT_BALANCE = 1_000_000


def api_key_argument(text: str) -> tuple[str, int]:
    """Parse ``KEY`` or ``KEY:BALANCE`` for ``--api-key``."""
    key, separator, balance = text.rpartition(":")
    if not separator:
        key, balance = text, str(DEFAULT_BALANCE)
    if not key:
        raise argparse.ArgumentTypeError(f"{text!r}: the key is empty")
    try:
        amount = int(balance)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: BALANCE must be an integer") from None
    if amount < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: BALANCE must be >= 0")
    return key, amount


def shares_argument(text: str) -> str:
    """Check ``YES/NO/BAN`` for ``--shares`` early, so argparse reports a mistake."""
    try:
        parse_shares("--shares", text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every emulator flag to ``parser``; each maps to one ``MOCK_*`` key."""
    serve = parser.add_argument_group("serving")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        type=api_key_argument,
        metavar="KEY[:BALANCE]",
        help=f"accepted key and its balance (default balance {DEFAULT_BALANCE});"
        " repeatable; default: one key 'demo'",
    )
    timing = parser.add_argument_group("timing")
    timing.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="demo",
        help="demo: 1,000 numbers exported in ~4 s; realistic: the vendor's ~11.5 numbers/s"
        " after a queue wait; instant: exported by the first poll (default demo)",
    )
    timing.add_argument(
        "--time-scale", type=float, metavar="S", help="run the clock S times faster (default 1)"
    )
    timing.add_argument(
        "--queue-delay", type=float, metavar="SECONDS", help="override the profile's queue wait"
    )
    timing.add_argument(
        "--rate", type=float, metavar="N", help="override the profile's numbers per second"
    )
    timing.add_argument(
        "--export-delay",
        type=float,
        metavar="SECONDS",
        help="override the profile's delay from completed to exported",
    )
    outcomes = parser.add_argument_group("outcomes")
    outcomes.add_argument(
        "--seed", type=int, metavar="N", help="seed of outcomes and faults (default 0)"
    )
    outcomes.add_argument(
        "--shares",
        type=shares_argument,
        metavar="YES/NO/BAN",
        help="relative shares of the answers, e.g. 40/55/5 (the default)",
    )
    outcomes.add_argument(
        "--failure-rate",
        type=float,
        metavar="P",
        help="share of numbers that fail (counted in 'failure', absent from the result)",
    )
    outcomes.add_argument(
        "--fixtures", metavar="FILE", help='JSON file pinning numbers: {"+41798284651": "ban"}'
    )
    limits = parser.add_argument_group("results and limits")
    limits.add_argument(
        "--result-format", choices=RESULT_FORMATS, help="xlsx (default) or zip holding a CSV"
    )
    limits.add_argument(
        "--result-ttl",
        type=float,
        metavar="SECONDS",
        help="lifetime of a result_url in emulator seconds (default 900)",
    )
    limits.add_argument(
        "--max-file-bytes", type=int, metavar="N", help="largest file (default 25 MiB)"
    )
    limits.add_argument(
        "--max-numbers", type=int, metavar="N", help="most numbers per task (default 100000)"
    )
    limits.add_argument(
        "--max-active-tasks",
        type=int,
        metavar="N",
        help="unfinished tasks per key before 429 (default unlimited)",
    )
    faults = parser.add_argument_group("faults (also at run time: PUT /_mock/config)")
    faults.add_argument(
        "--error-rate", type=float, metavar="P", help="probability of a 500 on API routes"
    )
    faults.add_argument(
        "--retry-after", type=int, metavar="SECONDS", help="Retry-After header on those 500s"
    )
    faults.add_argument(
        "--latency-ms", type=float, metavar="MS", help="fixed delay added to API routes"
    )
    faults.add_argument(
        "--latency-jitter-ms", type=float, metavar="MS", help="random extra delay, 0 to MS"
    )
    faults.add_argument(
        "--drop-rate",
        type=float,
        metavar="P",
        help="probability of closing an API connection without any response",
    )
    faults.add_argument(
        "--download-fail-once",
        action="store_true",
        help="the first download of each result answers 500",
    )
    faults.add_argument(
        "--download-expire-once",
        action="store_true",
        help="the first download of each result answers as expired",
    )
    faults.add_argument(
        "--stuck", action="store_true", help="tasks created while set never leave processing"
    )
    faults.add_argument(
        "--create-fault",
        choices=[str(fault) for fault in CreateFault],
        help="what a gateway does to creates: html_500 and json_500 create nothing;"
        " gateway_504, drop, hold and html_200 answer so after the task is created and billed",
    )
    faults.add_argument(
        "--create-fault-count",
        type=int,
        metavar="N",
        help="apply --create-fault to the next N creates, then stop (default -1: every create)",
    )
    faults.add_argument(
        "--hold-seconds",
        type=float,
        metavar="SECONDS",
        help="real seconds a 'hold' create answer waits (default 10)",
    )
    faults.add_argument(
        "--create-latency-ms",
        type=float,
        metavar="MS",
        help="real milliseconds a valid upload waits before its task is created",
    )


#: Flag attribute -> config key, for flags whose value passes through unchanged.
_FLAG_KEYS = {
    "time_scale": "MOCK_TIME_SCALE",
    "queue_delay": "MOCK_QUEUE_DELAY",
    "rate": "MOCK_RATE",
    "export_delay": "MOCK_EXPORT_DELAY",
    "seed": "MOCK_SEED",
    "shares": "MOCK_SHARES",
    "failure_rate": "MOCK_FAILURE_RATE",
    "fixtures": "MOCK_FIXTURES",
    "result_format": "MOCK_RESULT_FORMAT",
    "result_ttl": "MOCK_RESULT_TTL",
    "max_file_bytes": "MOCK_MAX_FILE_BYTES",
    "max_numbers": "MOCK_MAX_NUMBERS",
    "max_active_tasks": "MOCK_MAX_ACTIVE_TASKS",
    "error_rate": "MOCK_ERROR_RATE",
    "retry_after": "MOCK_RETRY_AFTER",
    "latency_ms": "MOCK_LATENCY_MS",
    "latency_jitter_ms": "MOCK_LATENCY_JITTER_MS",
    "drop_rate": "MOCK_DROP_RATE",
    "create_fault": "MOCK_CREATE_FAULT",
    "create_fault_count": "MOCK_CREATE_FAULT_COUNT",
    "hold_seconds": "MOCK_HOLD_SECONDS",
    "create_latency_ms": "MOCK_CREATE_LATENCY_MS",
}

_SWITCH_KEYS = {
    "download_fail_once": "MOCK_DOWNLOAD_FAIL_ONCE",
    "download_expire_once": "MOCK_DOWNLOAD_EXPIRE_ONCE",
    "stuck": "MOCK_STUCK",
}


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Return the ``create_app`` config that the parsed flags ask for."""
    config: dict[str, Any] = {"MOCK_PROFILE": args.profile}
    for attribute, key in _FLAG_KEYS.items():
        value = getattr(args, attribute)
        if value is not None:
            config[key] = value
    for attribute, key in _SWITCH_KEYS.items():
        if getattr(args, attribute):
            config[key] = True
    if args.api_key:
        config["MOCK_API_KEYS"] = dict(args.api_key)
    return config


def describe(url: str, app_settings: EmulatorSettings) -> str:
    """Return the start-up banner: URL, keys, profile and timing."""
    rate = "all at once" if app_settings.rate is None else f"{app_settings.rate:g} numbers/s"
    keys = ", ".join(f"{key} (balance {balance})" for key, balance in app_settings.api_keys.items())
    return "\n".join(
        [
            f"eKYC Pro emulator listening on {url}",
            f"  API key(s): {keys}",
            f"  profile {app_settings.profile}: queue {app_settings.queue_delay:g} s, {rate},"
            f" export {app_settings.export_delay:g} s; time scale {app_settings.time_scale:g}",
            f"  results: {app_settings.result_format}, links live {app_settings.result_ttl:g} s",
            f"  vendor routes: {url}/fb/api/simple/tasks   admin: {url}/_mock/ledger",
            "  Ctrl-C stops it",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Serve the emulator in the foreground until Ctrl-C; return the exit code."""
    config = config_from_args(args)
    try:
        app = create_app(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        server = BackgroundServer(app, host="127.0.0.1", port=args.port)
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    settings: EmulatorSettings = app.extensions["mock_server"].settings
    print(describe(server.url, settings), flush=True)
    server.serve_forever()  # Ctrl-C or SIGTERM stops it cleanly
    print("emulator stopped", flush=True)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``mock`` sub-command to the ``fbcheck`` parser."""
    parser = subparsers.add_parser(
        "mock",
        help="run the emulator of the vendor API on 127.0.0.1",
        description="Serve an emulator of the eKYC Pro Facebook bulk number check API.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
