"""The ``fbcheck`` command line: one sub-command per module, imported lazily."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules that each define ``register(subparsers)``; the order is the help order.
COMMAND_MODULES = (
    "addin.check_cli",
    "addin.jobs_cli",
    "addin.web.cli",
    "mock_server.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="fbcheck", description="Bulk Facebook number check (eKYC Pro) for Excel and files."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in ``argv`` and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
