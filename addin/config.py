"""Typed settings: the one place that reads the environment.

Precedence, highest first: keyword arguments to ``Settings(...)``, environment
variables with the ``FBCHECK_`` prefix, a ``.env`` file in the working
directory, then the defaults below.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The vendor's production endpoint. Never contacted by tests or the demo.
VENDOR_URL = "https://api.ekycpro.com"


def default_data_dir() -> Path:
    """Return the per-user folder that holds the SQLite store and certificates."""
    return Path(platformdirs.user_data_dir("fbcheck", appauthor=False))


class Settings(BaseSettings):
    """Everything configurable about the check engine, CLI and add-in backend."""

    model_config = SettingsConfigDict(
        env_prefix="FBCHECK_", env_file=".env", extra="ignore", frozen=True
    )

    api_key: SecretStr | None = Field(
        default=None, description="Vendor API key; without it everything runs on the emulator."
    )
    api_url: str = Field(default=VENDOR_URL, description="Vendor base URL.")
    data_dir: Path = Field(default_factory=default_data_dir)
    region: str = Field(
        default="US", description="Default region for national numbers (ISO 3166 alpha-2)."
    )
    cache_ttl_days: float = Field(default=30.0, ge=0)
    # Every poll is billed: the schedule polls near the estimated finish, so polls
    # are never closer than the 60 s export grace (min), and a task faster than
    # plausible is still noticed within the max.
    poll_min_interval: float = Field(default=30.0, gt=0)
    poll_max_interval: float = Field(default=900.0, gt=0)
    max_wait: float = Field(default=6 * 3600.0, gt=0, description="Give up on a task after this.")
    max_numbers_per_task: int = Field(default=20_000, ge=1)
    max_concurrent_tasks: int = Field(default=5, ge=1)
    request_timeout: float = Field(default=30.0, gt=0)
    upload_timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    confirm_above: int = Field(
        default=1000, ge=0, description="Ask before uploading more numbers than this."
    )
    max_result_bytes: int = Field(default=200 * 1024 * 1024, ge=1)

    @property
    def demo(self) -> bool:
        """Return True when no API key is configured and the emulator is used."""
        return self.api_key is None or not self.api_key.get_secret_value()

    @property
    def db_path(self) -> Path:
        """Return the SQLite file holding jobs, tasks and the result cache."""
        return self.data_dir / "fbcheck.sqlite3"
