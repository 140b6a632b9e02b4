"""The team server's people: names, the admin flag and hashed personal tokens.

A token is 32 random bytes (``secrets.token_urlsafe``) behind the prefix
:data:`TOKEN_PREFIX`; only its sha256 is stored. A hash of a random 256-bit token
needs no salt or slow hash: nobody can guess the token from its hash, and the
hash is compared in constant time (``hmac.compare_digest``). A revoked user
keeps their row (their jobs still name them) but has no token any more.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from addin.engine.store.database import Database

#: Every personal token starts so: a token pasted into a URL is recognised and refused.
TOKEN_PREFIX = "fbct_"  # noqa: S105 (a prefix, not a secret)
#: Random bytes behind the prefix.
TOKEN_BYTES = 32
#: A user name: letters, digits and ``.``, ``_``, ``-``, ``@``; 1 to 64 characters.
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: A user's last-seen time is written at most this often (seconds): not on every request.
LAST_SEEN_EVERY = 60.0

_USER_COLUMNS = "name, admin, created_at, last_seen, revoked_at"


class UserError(ValueError):
    """A user cannot be added or revoked as asked; the message says why for a person."""


@dataclass(frozen=True)
class User:
    """One person of the team server (never their token)."""

    name: str
    admin: bool
    created_at: float
    last_seen: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        """Return True while the user has a token."""
        return self.revoked_at is None


def token_hash(token: str) -> str:
    """Return the stored form of a token: its sha256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """Return a fresh personal token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def check_user_name(name: str) -> str:
    """Return ``name`` if it is a valid user name, else raise ``UserError``."""
    if not USER_NAME.fullmatch(name):
        raise UserError(
            "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a"
            " letter or digit"
        )
    return name


#: The lock (a realm name no account has) that changes of the users table take.
USERS_LOCK = "users:"


class UserTable(Database):
    """The ``users`` table."""

    def add_user(self, name: str, *, admin: bool = False) -> str:
        """Create ``name`` (or give a revoked user a new token); return the token, once.

        Raises ``UserError`` for an invalid name or a user who still has a token.
        """
        check_user_name(name)
        token = new_token()
        now = self.clock()
        # One change of users at a time: two `fbcheck users add` at once on PostgreSQL
        # would otherwise both see no active user and both print a token, one then void.
        with self.transaction(lock=USERS_LOCK) as db:
            row = db.execute("SELECT revoked_at FROM users WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] is None:
                raise UserError(
                    f"user {name} exists already; `fbcheck users revoke {name}` first to give"
                    " them a new token"
                )
            if row is None:
                db.execute(
                    "INSERT INTO users (name, admin, token_hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, int(admin), token_hash(token), now),
                )
            else:
                db.execute(
                    "UPDATE users SET admin = ?, token_hash = ?, revoked_at = NULL WHERE name = ?",
                    (int(admin), token_hash(token), name),
                )
        return token

    def revoke_user(self, name: str) -> None:
        """Take ``name``'s token away at once; ``UserError`` for an unknown or revoked user."""
        with self.transaction(lock=USERS_LOCK) as db:
            row = db.execute("SELECT revoked_at FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UserError(f"no user named {name}")
            if row[0] is not None:
                raise UserError(f"user {name} is revoked already")
            db.execute(
                "UPDATE users SET token_hash = NULL, revoked_at = ? WHERE name = ?",
                (self.clock(), name),
            )

    def users(self) -> list[User]:
        """Return every user, revoked ones included, by name."""
        rows = self.read(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")  # noqa: S608
        return [_user(row) for row in rows]

    def user_of_token(self, token: str) -> User | None:
        """Return the active user holding ``token``, or None (wrong or revoked)."""
        presented = token_hash(token)
        rows = self.read(
            f"SELECT {_USER_COLUMNS}, token_hash FROM users WHERE token_hash = ?",  # noqa: S608
            (presented,),
        )
        if not rows or not hmac.compare_digest(str(rows[0][5]), presented):
            return None
        user = _user(rows[0])
        now = self.clock()
        if user.last_seen is None or now - user.last_seen >= LAST_SEEN_EVERY:
            with self.transaction() as db:
                db.execute("UPDATE users SET last_seen = ? WHERE name = ?", (now, user.name))
        return user


def _user(row: Sequence[Any]) -> User:
    """Build a User from a row selected with ``_USER_COLUMNS``."""
    name, admin, created_at, last_seen, revoked_at = list(row)[:5]
    return User(str(name), bool(admin), float(created_at), last_seen, revoked_at)
