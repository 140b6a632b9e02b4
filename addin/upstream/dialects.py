"""The two wire formats of the vendor's bulk check: the legacy "simple" API and v1.

The same vendor serves the same Facebook check under two contracts. Everything
the client does (retries, billing, the task JSON, result files) is shared; only
the requests differ, and they are built here, in one place:

==============  ===========================================  ====================================
                legacy (``api.ekycpro.com``)                 v1 (``api.checknumber.ai``)
==============  ===========================================  ====================================
create          ``POST /fb/api/simple/tasks``, multipart     ``POST /v1/tasks``, multipart
                ``file`` (+ optional ``user_id``)            ``file`` + ``task_type=facebook``
create answers  200                                          200 or 202
status          ``GET /fb/api/simple/tasks/<id>``            ``POST /v1/gettasks``, multipart
                                                             ``task_id``
balance         none                                         ``GET /v1/balance``
rows per task   not documented (1 and up)                    100 to 10,000,000 (``facebook``)
==============  ===========================================  ====================================

Sources: the legacy contract in the project's upstream notes; v1 is the vendor's
public OpenAPI contract (``checkernumber/facebook-number-checker-api``,
``openapi.yaml`` and ``product.json``, reviewed 2026-08-18).

:func:`resolve_dialect` applies the documented ``auto`` rule: v1 when the base
URL's host is the v1 host or its path ends in ``/v1``, else legacy.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

__all__ = [
    "DIALECT_NAMES",
    "LEGACY_URL",
    "V1_HOST",
    "V1_URL",
    "ApiRequest",
    "Dialect",
    "DialectName",
    "LegacyDialect",
    "V1Dialect",
    "default_url",
    "make_dialect",
    "resolve_dialect",
]

DialectName = Literal["legacy", "v1"]
DIALECT_NAMES: Final[tuple[DialectName, ...]] = ("legacy", "v1")

#: The vendor's endpoints. Never contacted by tests or the demo.
LEGACY_URL: Final = "https://api.ekycpro.com"
V1_URL: Final = "https://api.checknumber.ai"
V1_HOST: Final = "api.checknumber.ai"

#: The check every cache entry belongs to; another checker of the vendor gets its own.
FACEBOOK: Final = "facebook"

_PATH_PRODUCT: Final = re.compile(r"[a-z]{1,16}")
_TASK_TYPE: Final = re.compile(r"[a-z][a-z_]{0,31}")


@dataclass(frozen=True)
class ApiRequest:
    """One API request to send: method, URL and what goes in the query or the body."""

    method: str
    url: str
    params: dict[str, str] | None = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None

    def send_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``requests.Session.request`` beyond method and URL."""
        kwargs: dict[str, Any] = {}
        if self.params is not None:
            kwargs["params"] = self.params
        if self.data is not None:
            kwargs["data"] = self.data
        if self.files is not None:
            kwargs["files"] = self.files
        return kwargs


class Dialect(ABC):
    """How one of the vendor's APIs spells the create, status and balance requests."""

    #: ``legacy`` or ``v1``.
    name: DialectName
    #: The check the tasks run (the cache key's product), e.g. ``facebook``.
    product: str
    #: The vendor's documented row limits per task (``None``: none documented).
    min_numbers: int
    max_numbers: int | None
    #: Whether the API offers a balance route.
    has_balance: bool

    @abstractmethod
    def tasks_url(self, base_url: str) -> str:
        """Return the URL tasks are created at (also named in messages)."""

    @abstractmethod
    def create(self, base_url: str, body: bytes, user_id: str | None) -> ApiRequest:
        """Return the upload of ``body`` (one E.164 number per line) as a new task."""

    @abstractmethod
    def status(self, base_url: str, task_id: str, user_id: str | None) -> ApiRequest:
        """Return the request that reads task ``task_id``."""

    def balance(self, base_url: str) -> ApiRequest | None:
        """Return the request that reads the account's balance, or None without one."""
        return None


@dataclass(frozen=True)
class LegacyDialect(Dialect):
    """The "simple" API: ``/<product>/api/simple/tasks`` (``fb`` is the Facebook check)."""

    path_product: str = "fb"
    product: str = FACEBOOK
    name: DialectName = field(default="legacy", init=False)
    min_numbers: int = field(default=1, init=False)
    max_numbers: int | None = field(default=None, init=False)
    has_balance: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        """Refuse a product code that cannot be a path segment."""
        if not _PATH_PRODUCT.fullmatch(self.path_product):
            raise ValueError(f"product must be a few lower-case letters, got {self.path_product!r}")

    def tasks_url(self, base_url: str) -> str:
        """Return ``<base>/<product>/api/simple/tasks``."""
        return f"{base_url.rstrip('/')}/{self.path_product}/api/simple/tasks"

    def create(self, base_url: str, body: bytes, user_id: str | None) -> ApiRequest:
        """Multipart ``file`` = ``input.txt``, and ``user_id`` when given."""
        return ApiRequest(
            "POST",
            self.tasks_url(base_url),
            files={"file": ("input.txt", body, "text/plain")},
            data={"user_id": user_id} if user_id is not None else None,
        )

    def status(self, base_url: str, task_id: str, user_id: str | None) -> ApiRequest:
        """``GET <tasks>/<id>``, with ``user_id`` as a query parameter when given."""
        return ApiRequest(
            "GET",
            f"{self.tasks_url(base_url)}/{task_id}",
            params={"user_id": user_id} if user_id is not None else None,
        )


@dataclass(frozen=True)
class V1Dialect(Dialect):
    """The versioned API: ``/v1/tasks``, ``/v1/gettasks``, ``/v1/balance``."""

    task_type: str = FACEBOOK
    product: str = FACEBOOK
    name: DialectName = field(default="v1", init=False)
    #: ``product.json``: a ``facebook`` task holds 100 to 10,000,000 rows.
    min_numbers: int = field(default=100, init=False)
    max_numbers: int | None = field(default=10_000_000, init=False)
    has_balance: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        """Refuse a task type the form field cannot carry."""
        if not _TASK_TYPE.fullmatch(self.task_type):
            raise ValueError(f"task_type must be lower-case letters, got {self.task_type!r}")

    @staticmethod
    def root(base_url: str) -> str:
        """Return the base URL without a trailing ``/v1`` (the routes add it)."""
        base = base_url.rstrip("/")
        return base[: -len("/v1")] if base.endswith("/v1") else base

    def tasks_url(self, base_url: str) -> str:
        """Return ``<root>/v1/tasks``."""
        return f"{self.root(base_url)}/v1/tasks"

    def create(self, base_url: str, body: bytes, user_id: str | None) -> ApiRequest:
        """Multipart ``file`` and ``task_type``; v1 documents no ``user_id`` field."""
        return ApiRequest(
            "POST",
            self.tasks_url(base_url),
            files={"file": ("numbers.txt", body, "text/plain")},
            data={"task_type": self.task_type},
        )

    def status(self, base_url: str, task_id: str, user_id: str | None) -> ApiRequest:
        """``POST /v1/gettasks`` with a multipart ``task_id`` field (as the vendor's curl -F)."""
        return ApiRequest(
            "POST",
            f"{self.root(base_url)}/v1/gettasks",
            files={"task_id": (None, task_id)},
        )

    def balance(self, base_url: str) -> ApiRequest | None:
        """``GET /v1/balance``."""
        return ApiRequest("GET", f"{self.root(base_url)}/v1/balance")


def resolve_dialect(setting: str, base_url: str | None) -> DialectName:
    """Return the dialect of ``setting`` (``legacy``, ``v1`` or ``auto``) for ``base_url``.

    ``auto``: v1 when the URL's host is ``api.checknumber.ai`` or its path ends in
    ``/v1``; legacy otherwise, and legacy without a URL.
    """
    if setting == "legacy":
        return "legacy"
    if setting == "v1":
        return "v1"
    if setting != "auto":
        raise ValueError(f"the API dialect must be legacy, v1 or auto, got {setting!r}")
    if not base_url:
        return "legacy"
    parts = urlsplit(base_url)
    if (parts.hostname or "").lower() == V1_HOST or parts.path.rstrip("/").endswith("/v1"):
        return "v1"
    return "legacy"


def default_url(dialect: DialectName) -> str:
    """Return the vendor's base URL for ``dialect``."""
    return V1_URL if dialect == "v1" else LEGACY_URL


def make_dialect(name: DialectName) -> Dialect:
    """Return the Facebook check's dialect object for ``name``."""
    if name == "v1":
        return V1Dialect()
    return LegacyDialect()
