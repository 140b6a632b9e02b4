"""``python -m mock_server``: the same emulator and flags as ``fbcheck mock``."""

from __future__ import annotations

import argparse
import sys

from mock_server.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m mock_server",
        description="Serve an emulator of the eKYC Pro Facebook bulk number check API.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
