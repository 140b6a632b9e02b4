"""The vendor connection the engine is given: a client, its realms, poll bounds and account.

The engine never decides where the vendor is: a caller hands it a
:class:`VendorConnection`, built by :func:`live_connection` for the real API or
by ``addin.demo`` for the bundled emulator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from addin.config import Settings
from addin.upstream.client import RetryPolicy, VendorClient
from addin.upstream.dialects import make_dialect

#: The cache realm of the bundled emulator; each emulator instance has a task realm "demo:<id>".
DEMO_REALM = "demo"
#: Said of a demo task whose emulator is gone.
DEMO_GONE_REASON = "the demo emulator that ran this task has stopped; check again"


def cache_realm_of(task_realm: str) -> str:
    """Return the cache realm of a task realm: every demo emulator shares ``demo``."""
    return DEMO_REALM if is_demo_realm(task_realm) else task_realm


def is_demo_realm(realm: str) -> bool:
    """Return True for the task realm of a demo emulator instance."""
    return realm.startswith(f"{DEMO_REALM}:")


def key_fingerprint(key: str) -> str:
    """Return a short, one-way fingerprint of an API key (stored with tasks; never the key)."""
    return hashlib.sha256(b"fbcheck-key:" + key.encode("utf-8")).hexdigest()[:12]


@dataclass
class VendorConnection:
    """Everything the engine needs to know about the vendor it talks to."""

    client: VendorClient
    cache_realm: str  # where answers are cached (demo answers never mix with real ones)
    task_realm: str  # where tasks and claims live
    key_fp: str
    demo: bool
    poll_min_interval: float
    poll_max_interval: float
    #: Returns the vendor account's balance when it can be known for free, else None
    #: (the v1 balance route may be billed: the Checker asks it only when a person looks).
    balance: Callable[[], float | None] = field(default=lambda: None)
    #: Extra clean-up when the connection closes (the demo stops its emulator).
    on_close: Callable[[], None] = field(default=lambda: None)

    @property
    def product(self) -> str:
        """Return the check the tasks run (part of every cache key), e.g. ``facebook``."""
        return self.client.dialect.product

    @property
    def min_task_numbers(self) -> int:
        """Return the vendor's fewest numbers per task in this dialect."""
        return self.client.dialect.min_numbers

    @property
    def source(self) -> str:
        """Return what answers from this vendor are labelled: ``demo`` or ``upstream``."""
        return "demo" if self.demo else "upstream"

    def close(self) -> None:
        """Close the client and whatever the connection started."""
        self.client.close()
        self.on_close()


def make_client(settings: Settings, base_url: str, api_key: str) -> VendorClient:
    """Return a vendor client in the settings' dialect, with their timeouts and retries."""
    return VendorClient(
        base_url=base_url,
        api_key=api_key,
        dialect=make_dialect(settings.dialect),
        timeout=settings.request_timeout,
        upload_timeout=settings.upload_timeout,
        # Retries sleep in the runner's thread: keep each wait short; longer
        # Retry-After answers are raised and rescheduled by the runner instead.
        retry=RetryPolicy(max_attempts=settings.max_retries + 1, max_delay=10.0),
        max_result_bytes=settings.max_result_bytes,
    )


def live_connection(settings: Settings) -> VendorConnection:
    """Return a connection to the vendor's API at ``settings.vendor_url`` with the API key."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ValueError("a live connection needs an API key (FBCHECK_API_KEY)")
    key = settings.api_key.get_secret_value()
    realm = settings.vendor_url.rstrip("/")
    return VendorConnection(
        client=make_client(settings, settings.vendor_url, key),
        cache_realm=realm,
        task_realm=realm,
        key_fp=key_fingerprint(key),
        demo=False,
        poll_min_interval=settings.poll_min_interval,
        poll_max_interval=max(settings.poll_min_interval, settings.poll_max_interval),
    )
