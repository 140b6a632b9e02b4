"""``fbcheck users add|revoke|list``: the people of the team server (``fbcheck serve --team``).

``add`` prints the new personal token once, alone on standard output (the rest
goes to standard error), so ``TOKEN=$(fbcheck users add alice)`` works; only its
hash is stored. ``list`` never shows tokens.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from addin.config import Settings
from addin.engine.store import Store, StoreError, User, UserError

#: Exit codes: 0 done, 2 bad usage (an invalid, unknown or existing name), 8 the store
#: cannot be used (as for every command).
EXIT_USAGE = 2
EXIT_STORE = 8


def register(subparsers: Any) -> None:
    """Add the ``users`` sub-command and its actions."""
    parser = subparsers.add_parser(
        "users",
        help="people of the team server: add (prints a token once), revoke, list",
        description="Manage the people who may use the team server (fbcheck serve --team).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create a user and print their personal token once")
    add.add_argument("name", help="the user's name: letters, digits, '.', '_', '-', '@'")
    add.add_argument("--admin", action="store_true", help="may see and act on every job")
    add.set_defaults(func=add_user)
    revoke = actions.add_parser("revoke", help="take a user's token away at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=revoke_user)
    listing = actions.add_parser("list", help="names, admin, created, last seen (never tokens)")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    listing.set_defaults(func=list_users)


def _store() -> Store | int:
    """Open the store the settings name, or print why not and return the exit code."""
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"fbcheck users: invalid settings:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return Store(settings.store_location, lock_timeout=settings.store_lock_timeout)
    except StoreError as exc:
        print(f"fbcheck users: {exc}", file=sys.stderr)
        return EXIT_STORE


def _on_store(action: str, work: Callable[[Store], int]) -> int:
    """Run ``work`` on the store and close it; a refused name exits 2, a store failure 8."""
    store = _store()
    if isinstance(store, int):
        return store
    try:
        return work(store)
    except UserError as exc:
        print(f"fbcheck users {action}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"fbcheck users {action}: {exc}", file=sys.stderr)
        return EXIT_STORE
    finally:
        store.close()


def add_user(args: argparse.Namespace) -> int:
    """Create a user and print the token once."""

    def add(store: Store) -> int:
        """Store the user; print the token alone on standard output."""
        token = store.add_user(args.name, admin=args.admin)
        role = "admin" if args.admin else "user"
        print(
            f"Added {role} {args.name}. Their personal token follows; it is shown this once"
            " (only its hash is kept). They type it into the task pane's sign-in, or set"
            " FBCHECK_TOKEN for the command line.",
            file=sys.stderr,
        )
        print(token)
        return 0

    return _on_store("add", add)


def revoke_user(args: argparse.Namespace) -> int:
    """Revoke a user's token."""

    def revoke(store: Store) -> int:
        """Revoke it and say so."""
        store.revoke_user(args.name)
        print(f"Revoked {args.name}: their token is refused from now on (their jobs are kept).")
        return 0

    return _on_store("revoke", revoke)


def list_users(args: argparse.Namespace) -> int:
    """List the users (never their tokens)."""
    return _on_store("list", lambda store: _print_users(store.users(), as_json=args.json))


def _print_users(users: list[User], *, as_json: bool) -> int:
    """Print the users as a table, or as one JSON document."""
    if as_json:
        print(json.dumps({"users": [user_json(u) for u in users]}))
        return 0
    if not users:
        print("No users yet: fbcheck users add NAME [--admin]")
        return 0
    rows = [("name", "admin", "created", "last seen", "state")]
    rows += [
        (
            u.name,
            "yes" if u.admin else "no",
            _when(u.created_at),
            _when(u.last_seen),
            "active" if u.active else f"revoked {_when(u.revoked_at)}",
        )
        for u in users
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def user_json(user: User) -> dict[str, Any]:
    """Return a user as JSON (times in Unix seconds); never a token."""
    return {
        "name": user.name,
        "admin": user.admin,
        "created_at": user.created_at,
        "last_seen": user.last_seen,
        "revoked_at": user.revoked_at,
    }


def _when(moment: float | None) -> str:
    """Return a UTC time as ``2026-12-01 17:40``, or ``never``."""
    if moment is None:
        return "never"
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%d %H:%M")
