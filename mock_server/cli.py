"""``fbcheck mock`` and ``python -m mock_server``: serve the emulator on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from mock_server import create_app
from mock_server.server import BackgroundServer
from mock_server.settings import (
    FROM_PROFILE,
    SERVING,
    SETTINGS,
    ConfigError,
    EmulatorSettings,
    Kind,
    Setting,
    config_key,
)

DEFAULT_PORT = 8765

#: Shown under the flags: which of them ``PUT /_mock/config`` may also change.
RUNTIME_NOTE = "Flags marked [run time] can also be changed while it runs: PUT /_mock/config."


def flag_name(name: str, declared: Setting) -> str:
    """Return the command-line flag of a setting: ``error_rate`` -> ``--error-rate``."""
    return declared.flag or f"--{name.replace('_', '-')}"


def flag_type(kind: Kind) -> Callable[[str], Any]:
    """Return an argparse type that reads a flag's text with ``kind`` and reports mistakes."""

    def read(text: str) -> Any:
        """Convert, turning a ConfigError into argparse's usage error."""
        try:
            return kind.from_text(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return read


def flag_help(declared: Setting) -> str:
    """Return a flag's help: the declared text, the default, the bounds, [run time]."""
    default = (
        FROM_PROFILE.value
        if declared.default is FROM_PROFILE
        else declared.kind.show(declared.default)
    )
    facts = [f"default {default}"]
    if declared.kind.bounds():
        facts.append(declared.kind.bounds())
    suffix = " [run time]" if declared.runtime else ""
    # argparse formats help with %; a literal percent sign must be doubled.
    return f"{declared.help} ({'; '.join(facts)}){suffix}".replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--port`` and one flag per setting, derived from ``settings.SETTINGS``."""
    parser.epilog = RUNTIME_NOTE
    groups = {SERVING: parser.add_argument_group(SERVING)}
    groups[SERVING].add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    for name, declared in SETTINGS.items():
        if declared.group not in groups:
            groups[declared.group] = parser.add_argument_group(declared.group)
        kind = declared.kind
        options: dict[str, Any] = {"dest": name, "help": flag_help(declared), "default": None}
        if kind.flag_action == "switch":
            options.update(action="store_const", const=True)
        else:
            options.update(type=flag_type(kind))
            if kind.flag_action == "append":
                options["action"] = "append"
            choices = kind.flag_choices()
            if choices is not None:
                options["choices"] = list(choices)
            elif declared.metavar is not None:
                options["metavar"] = declared.metavar
        if declared.always_on_command_line:
            options["default"] = declared.default
        groups[declared.group].add_argument(flag_name(name, declared), **options)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Return the ``create_app`` config that the parsed flags ask for (flags given only)."""
    config: dict[str, Any] = {}
    for name, declared in SETTINGS.items():
        value = getattr(args, name)
        if value is not None:
            config[config_key(name)] = declared.kind.from_flags(value)
    return config


def describe(url: str, app_settings: EmulatorSettings) -> str:
    """Return the start-up banner: URL, keys, profile and timing."""
    rate = "all at once" if app_settings.rate is None else f"{app_settings.rate:g} numbers/s"
    timing = f"queue {app_settings.queue_delay:g} s, {rate}, export {app_settings.export_delay:g} s"
    if app_settings.pace == "variable":
        timing = f"variable pace drawn per task (seed {app_settings.seed})"
    keys = ", ".join(f"{key} (balance {balance})" for key, balance in app_settings.api_keys.items())
    return "\n".join(
        [
            f"eKYC Pro emulator listening on {url}",
            f"  API key(s): {keys}",
            f"  profile {app_settings.profile}: {timing}; time scale {app_settings.time_scale:g}",
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
