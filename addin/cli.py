"""The ``fbcheck`` command line: one sub-command per module, imported lazily."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from addin.cli_output import Output
from addin.engine.store import StoreError

#: Modules that each define ``register(subparsers)``; the order is the help order.
COMMAND_MODULES = (
    "addin.check_cli",
    "addin.jobs_cli",
    "addin.db_cli",
    "addin.users_cli",
    "addin.worker_cli",
    "addin.web.cli",
    "mock_server.cli",
)
#: The exit code of bad usage (the same as ``fbcheck check``'s).
EXIT_USAGE = 2


class UsageExit(SystemExit):
    """Exit 2: the command line could not be parsed (the usage and message are printed)."""

    def __init__(self, message: str) -> None:
        """Keep the message for a ``--json`` document."""
        super().__init__(EXIT_USAGE)
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage error keeps its message (so ``--json`` can carry it)."""

    def error(self, message: str) -> NoReturn:
        """Print the usage and the message as argparse does, then exit 2."""
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise UsageExit(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every sub-command registered."""
    parser = _Parser(
        prog="fbcheck", description="Bulk Facebook number check (eKYC Pro) for Excel and files."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


#: Exit code of every command when the store cannot be used (as ``fbcheck check``'s 8).
EXIT_STORE = 8


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in ``argv`` and return its exit code."""
    # Warnings (a store waited for, permissions narrowed) are one plain line on stderr.
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except UsageExit as exc:
        # "--json" anywhere asks for a document even when the rest cannot be parsed.
        if "--json" in words:
            Output(json_mode=True, document={"error": exc.message}).finish(EXIT_USAGE)
        return EXIT_USAGE
    try:
        code: int = args.func(args)
    except StoreError as exc:
        # Each command says this itself; this is the net for a store failing elsewhere.
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORE
    return code


if __name__ == "__main__":
    sys.exit(main())
