"""Typed settings: the one place that reads the environment.

Precedence, highest first: keyword arguments to ``Settings(...)``, environment
variables with the ``FBCHECK_`` prefix, a ``.env`` file in the working
directory, then the defaults below.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from addin.formats import validate_region
from addin.json_bodies import describe_errors
from addin.upstream.dialects import DialectName, default_url, make_dialect, resolve_dialect

log = logging.getLogger(__name__)

#: The vendor's production endpoint of the legacy API (v1: ``https://api.checknumber.ai``).
#: Never contacted by tests or the demo.
VENDOR_URL = default_url("legacy")

# -- bounds shared by the environment's settings and the task pane's changes ---

#: The longest an answer is reused: ten years.
MAX_CACHE_TTL_DAYS = 3650
#: How long an answer is reused, in days.
CacheTtlDays = Annotated[float, Field(ge=0, le=MAX_CACHE_TTL_DAYS)]
#: Ask before uploading more numbers than this (a selection holds at most a million).
MAX_CONFIRM_ABOVE = 1_000_000_000
ConfirmAbove = Annotated[int, Field(ge=0, le=MAX_CONFIRM_ABOVE)]
#: A vendor API key: printable ASCII without spaces, this long.
MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 512

# -- bounds on input files, fitted for 1,048,576 rows (all of Excel) of up to 16 columns ---

#: Cells of a worksheet's rectangle from A1 to its last row and column (the reader
#: allocates about 32 bytes for each, filled or not: 16 columns of every row, 0.5 GiB).
DEFAULT_XLSX_MAX_SHEET_CELLS = 1_048_576 * 16
#: Cells and shared strings a workbook holds in all (a sheet of 16 columns of distinct texts).
DEFAULT_XLSX_MAX_CELLS = 2 * DEFAULT_XLSX_MAX_SHEET_CELLS
#: Bytes of one cell's XML text: Excel's 32,767 characters, escaped, fit 6 times over.
DEFAULT_XLSX_MAX_CELL_BYTES = 1024 * 1024
#: Inflated bytes of a whole workbook: 1,048,576 rows of a few columns need about 0.5 GB.
DEFAULT_XLSX_MAX_INFLATED_BYTES = 2 * 1024 * 1024 * 1024
#: Characters of one .csv field or .txt line (a cell of Excel holds at most 32,767).
DEFAULT_TEXT_MAX_FIELD_CHARS = 1024 * 1024


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
    api_key_file: Path | None = Field(
        default=None,
        description=(
            "A file holding the vendor API key (a secrets file of the team server, e.g. a"
            " Docker or systemd secret); read when api_key is unset, which wins over it."
        ),
    )
    api_url: str | None = Field(
        default=None,
        description="Vendor base URL; by default the dialect's (see vendor_url).",
    )
    api_dialect: Literal["legacy", "v1", "auto"] = Field(
        default="auto",
        description=(
            "The vendor API's wire format: 'legacy' (/fb/api/simple/tasks), 'v1' (/v1/tasks),"
            " or 'auto': v1 when the base URL's host is api.checknumber.ai or its path ends"
            " in /v1, else legacy."
        ),
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE: the store on PostgreSQL (psycopg 3);"
            " unset: the SQLite file in the data folder. Never shown with its password."
        ),
    )
    region: str = Field(
        default="US", description="Default region for national numbers (ISO 3166 alpha-2)."
    )
    cache_ttl_days: CacheTtlDays = 30.0
    # Every poll is billed: the schedule polls near the estimated finish, so polls
    # are never closer than the 60 s export grace (min), and a task faster than
    # plausible is still noticed within the max.
    poll_min_interval: float = Field(default=30.0, gt=0)
    poll_max_interval: float = Field(default=900.0, gt=0)
    # The trade-off of polling: a later notice of the export costs fewer billed polls.
    # Measured on the emulator's variable profile (bench/polling_cost.py, 100 seeds),
    # a 20,000-number task, billed requests median / worst and noticed after median:
    # 30 s -> 8 / 18, 17 s; 60 s -> 6 / 11, 42 s; 120 s -> 5 / 7, 103 s.
    target_export_delay: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds after the vendor's export at which the poll schedule aims to notice it"
            " (at most twice this when the pace stays within what the polls showed)."
        ),
    )
    max_wait: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Pause a task still unfinished after this many seconds; unset: 6 h plus three"
            " times the task's processing time at the slower of the documented and the"
            " observed pace (a day-long task of 1,000,000 numbers is never cut short)."
        ),
    )
    max_numbers_per_task: int = Field(default=20_000, ge=1)
    min_numbers_per_task: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Fewest numbers in one task; by default the dialect's (v1: 100, legacy: 1)."
            " Fewer new numbers are not uploaded."
        ),
    )
    max_concurrent_tasks: int = Field(default=5, ge=1)
    parallel_steps: int = Field(
        default=4,
        ge=1,
        le=32,
        description=(
            "Steps of different tasks (polls, downloads) the in-process runner runs at once;"
            " uploads stay one at a time."
        ),
    )
    scheduler: Literal["inprocess", "queue"] = Field(
        default="inprocess",
        description=(
            "Who does the vendor I/O: 'inprocess', the runner of this process (local mode);"
            " 'queue', the `fbcheck worker` processes of team mode (PostgreSQL)."
        ),
    )
    worker_stalled_after: float = Field(
        default=25.0,
        ge=2.0,
        le=3600.0,
        description=(
            "Team mode: seconds without a heartbeat after which a `fbcheck worker` counts"
            " as dead and its jobs go to another worker (heartbeats every fifth of it, at"
            " most 5 s; taken over within this plus 5 s). The same on every worker."
        ),
    )
    lease_seconds: float = Field(
        default=60.0,
        ge=1.0,
        le=3600.0,
        description=(
            "Seconds an in-process runner's lease on its tasks lasts without a heartbeat"
            " (renewed every quarter of it, at most every 15 s): how soon another server"
            " sharing the database takes over the tasks of one that died."
        ),
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "The https address people reach the team server at (its proxy's name); the"
            " served /manifest.xml points there. Unset: https://localhost:PORT on loopback,"
            " no manifest otherwise (never the request's Host header)."
        ),
    )
    request_timeout: float = Field(default=30.0, gt=0)
    upload_timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    ambiguous_retry_delay: float = Field(
        default=30.0, ge=0, description="Wait before uploading again after an unknown outcome."
    )
    uncertain_creates: Literal["ask", "resend"] = Field(
        default="ask",
        description=(
            "After an upload whose outcome is unknown: 'ask' waits for the user's word"
            " (fbcheck jobs resend/abandon, or the task pane); 'resend' sends it again by"
            " itself, at most max_uncertain_resends times (each may bill a duplicate task)."
        ),
    )
    max_uncertain_resends: int = Field(default=2, ge=0, le=10)
    confirm_above: ConfirmAbove = Field(
        default=1000, description="Ask before uploading more numbers than this."
    )
    max_result_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    progress_interval: float = Field(
        default=10.0,
        ge=0.1,
        le=3600.0,
        description="Seconds between progress lines when the output is not a terminal.",
    )
    # Normalising a large input: see addin.engine.distinct_cells (break-even measured by
    # bench/pipeline.py --break-even). Each worker is a Python process of about 60 MB.
    normalize_workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Processes that normalise large inputs (default: up to 2 cores; 0: none).",
    )
    normalize_parallel_from: int = Field(
        default=30_000,
        ge=0,
        description="Distinct cells normalised in this process before the workers take over.",
    )

    xlsx_max_sheet_cells: int = Field(
        default=DEFAULT_XLSX_MAX_SHEET_CELLS,
        ge=1,
        description="Refuse a worksheet whose rectangle from A1 to its last cell is larger.",
    )
    xlsx_max_cells: int = Field(
        default=DEFAULT_XLSX_MAX_CELLS,
        ge=1,
        description="Refuse a workbook holding more cells and shared strings in all.",
    )
    xlsx_max_cell_bytes: int = Field(
        default=DEFAULT_XLSX_MAX_CELL_BYTES,
        ge=1024,
        description="Refuse a workbook with a longer cell (bytes of its XML text).",
    )
    xlsx_max_inflated_bytes: int = Field(
        default=DEFAULT_XLSX_MAX_INFLATED_BYTES,
        ge=1024 * 1024,
        description="Refuse a workbook whose parts inflate to more bytes in all.",
    )
    text_max_field_chars: int = Field(
        default=DEFAULT_TEXT_MAX_FIELD_CHARS,
        ge=1024,
        le=2**31 - 1,
        description="Refuse a .csv field or a .txt line longer than this (characters).",
    )
    store_lock_timeout: float = Field(
        default=60.0,
        ge=0,
        le=24 * 3600,
        description="Seconds to wait for a store that another program holds locked.",
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "Your personal token for a team server (fbcheck check --server URL); sent as"
            " 'Authorization: Bearer', never in a URL. Unset: asked for on a terminal."
        ),
    )
    server_chunk_numbers: int = Field(
        default=100_000,  # addin.web.file_numbers.MAX_CHUNK_NUMBERS, the most a server takes
        ge=1,
        le=100_000,
        description=(
            "Numbers per request when --server sends a file's numbers (at most 100,000);"
            " lower it behind a proxy that refuses large request bodies (nginx's default"
            " client_max_body_size of 1 MB holds about 60,000)."
        ),
    )
    server_retry_seconds: float = Field(
        default=600.0,
        ge=0,
        le=7 * 24 * 3600,
        description=(
            "How long --server keeps trying a team server that does not answer (network"
            " down, server restarting) before it stops; the job goes on on the server."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _key_from_file(cls, data: Any) -> Any:
        """Read ``api_key`` from ``api_key_file`` when only the file is given."""
        if not isinstance(data, dict):
            return data
        path, key = data.get("api_key_file"), data.get("api_key")
        if not path or key:
            return data
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"api_key_file: cannot read {path}: {reason}") from None
        if not text or not text.isascii() or not text.isprintable() or " " in text:
            # Never echo the content: it may be a real key with a typo.
            raise ValueError(
                f"api_key_file: {path} does not hold an API key (one line of printable"
                " characters without spaces)"
            )
        return {**data, "api_key": text}

    @model_validator(mode="after")
    def _chunks_fit(self) -> Settings:
        """Refuse bounds no chunking can meet: every count from the minimum up must split."""
        low, high = self.min_task_numbers, self.max_numbers_per_task
        if high < 2 * low - 1:
            # With max >= 2*min - 1 any count >= min splits into balanced chunks within
            # the bounds (addin.engine.planning.balanced_chunks); below that some cannot.
            raise ValueError(
                f"max_numbers_per_task ({high:,}) must be at least twice"
                f" min_numbers_per_task ({low:,}) less one, so that every job can be split"
            )
        return self

    @property
    def dialect(self) -> DialectName:
        """Return the vendor API's dialect: the setting, or the ``auto`` rule on the URL."""
        return resolve_dialect(self.api_dialect, self.api_url)

    @property
    def vendor_url(self) -> str:
        """Return the vendor's base URL: the setting, or the dialect's default."""
        return self.api_url or default_url(self.dialect)

    @property
    def min_task_numbers(self) -> int:
        """Return the fewest numbers one task may hold (the setting, or the dialect's)."""
        if self.min_numbers_per_task is not None:
            return self.min_numbers_per_task
        return make_dialect(self.dialect).min_numbers

    @property
    def demo(self) -> bool:
        """Return True when no API key is configured and the emulator is used."""
        return self.api_key is None or not self.api_key.get_secret_value()

    @property
    def db_path(self) -> Path:
        """Return the SQLite file holding jobs, tasks and the result cache."""
        return self.data_dir / "fbcheck.sqlite3"

    @property
    def store_location(self) -> Path | str:
        """Return where the store is: the ``FBCHECK_DATABASE_URL``, else the SQLite file."""
        url = self.database_url.get_secret_value().strip() if self.database_url else ""
        return url or self.db_path


# -- settings changed at run time (the task pane) -----------------------------


class SettingsError(ValueError):
    """A run-time settings change that is refused; the message never repeats the value."""


class RuntimeChanges(BaseModel):
    """The settings the task pane may change at run time; any other key is refused.

    Everything else comes from the environment, ``.env`` or the defaults. JSON
    types must match exactly (no ``"7"`` for 7, no ``true`` for 1); the bounds
    are the ones of :class:`Settings`. An empty or null ``api_key`` removes the key.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: How a key that is no run-time setting is refused (see ``describe_errors``).
    UNKNOWN_FIELD: ClassVar[str] = "cannot change {name} here; settable: {accepted}"

    api_key: str | None = None
    region: str | None = None
    cache_ttl_days: CacheTtlDays | None = None
    confirm_above: ConfirmAbove | None = None

    @field_validator("api_key", mode="before")
    @classmethod
    def _plausible_key(cls, value: Any) -> str:
        """Return the key stripped ("" removes it); refuse what cannot be a key."""
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError("api_key must be text (an empty text removes the key)")
        key = value.strip()
        if key and not (
            MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH
            and key.isascii()
            and key.isprintable()
            and " " not in key
        ):
            # Never echo the value: it may be a real key pasted with a typo.
            raise ValueError(
                f"that does not look like an API key: expected {MIN_KEY_LENGTH} to"
                f" {MAX_KEY_LENGTH} printable characters without spaces"
            )
        return key

    @field_validator("region", mode="before")
    @classmethod
    def _known_region(cls, value: Any) -> str:
        """Return the region code upper-cased; refuse anything phonenumbers does not know."""
        if not isinstance(value, str):
            raise ValueError("region must be text such as 'CH' or 'US'")
        return validate_region(value)

    @field_validator("cache_ttl_days", "confirm_above", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse an explicit null: these settings have no "unset" value."""
        if value is None:
            raise ValueError(f"{info.field_name} must not be null")
        return value

    @classmethod
    def parse(cls, changes: Mapping[str, Any]) -> RuntimeChanges:
        """Return the changes checked and normalised, or raise ``SettingsError``."""
        try:
            return cls.model_validate(dict(changes))
        except ValidationError as exc:
            message = describe_errors(
                exc, unknown_field=cls.UNKNOWN_FIELD, accepted=cls.model_fields
            )
            raise SettingsError(message or "invalid settings") from None

    def updates(self) -> dict[str, Any]:
        """Return only the settings that were given, as plain values."""
        return self.model_dump(exclude_unset=True)


#: The settings the task pane may change (the fields of :class:`RuntimeChanges`).
RUNTIME_SETTINGS = tuple(RuntimeChanges.model_fields)


#: Non-secret task-pane settings, in the data folder.
SAVED_SETTINGS_FILE = "settings.json"
#: The API key set in the task pane, in the data folder, readable by the owner only.
SAVED_SECRETS_FILE = "secrets.json"


def load_settings(base: Settings, overrides: Mapping[str, Any]) -> Settings:
    """Return a new validated ``Settings``: ``base`` with ``overrides`` on top.

    Every field is passed explicitly, so the environment and ``.env`` cannot
    change anything between ``base`` and the result.
    """
    unknown = set(overrides) - set(Settings.model_fields)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {name: getattr(base, name) for name in Settings.model_fields}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class SavedSettings:
    """The task pane's settings, kept as JSON files in the data folder.

    The API key lives apart from the rest in ``secrets.json`` with mode 0600
    (on Windows the file inherits the per-user data folder's permissions).
    Files are replaced atomically, so a crash never leaves half a file.
    """

    def __init__(self, data_dir: Path) -> None:
        """Use the files under ``data_dir``."""
        self.settings_path = data_dir / SAVED_SETTINGS_FILE
        self.secrets_path = data_dir / SAVED_SECRETS_FILE

    def read(self) -> RuntimeChanges:
        """Return the saved overrides; unreadable files count as empty, bad values as unset.

        A value the rules refuse (a file edited by hand, or saved by a version
        with other rules) is skipped with a warning; the others still apply.
        """
        saved = {
            name: value
            for name, value in _read_json_object(self.settings_path).items()
            if name in RUNTIME_SETTINGS and name != "api_key"
        }
        key = _read_json_object(self.secrets_path).get("api_key")
        if isinstance(key, str) and key:
            saved["api_key"] = key
        valid: dict[str, Any] = {}
        for name, value in saved.items():
            try:
                RuntimeChanges.parse({name: value})
            except SettingsError as exc:
                log.warning("ignoring the saved setting %s: %s", name, exc)
            else:
                valid[name] = value
        return RuntimeChanges.parse(valid)

    def save(self, checked: RuntimeChanges) -> None:
        """Merge ``checked`` into the saved overrides; an empty ``api_key`` removes it."""
        changes = checked.updates()
        if "api_key" in changes:
            key = changes["api_key"]
            if key:
                _write_json_private(self.secrets_path, {"api_key": str(key)})
            else:
                self.secrets_path.unlink(missing_ok=True)
        plain = {name: value for name, value in changes.items() if name != "api_key"}
        if plain:
            current = _read_json_object(self.settings_path)
            current.update(plain)
            _write_json_private(self.settings_path, current)

    def apply(self, base: Settings) -> Settings:
        """Return ``base`` with the saved overrides on top."""
        return load_settings(base, self.read().updates())


def _read_json_object(path: Path) -> dict[str, Any]:
    """Return the JSON object in ``path``, or an empty dict when absent or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json_private(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file with mode 0600 already; say so for clarity.
        os.chmod(tmp_name, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# -- xlwings ------------------------------------------------------------------

#: xlwings' free licence key for non-commercial use (PolyForm Noncommercial).
#: Commercial use of the add-in backend needs a paid key from xlwings.org,
#: set as ``XLWINGS_LICENSE_KEY`` in the environment.
XLWINGS_NONCOMMERCIAL_KEY = "noncommercial"


def ensure_xlwings_license() -> None:
    """Give xlwings its non-commercial licence key unless the environment names one.

    ``xw.Book(json=...)`` (xlwings PRO) refuses to load without a key, and
    xlwings reads it when first imported, so call this before ``import xlwings``.
    """
    os.environ.setdefault("XLWINGS_LICENSE_KEY", XLWINGS_NONCOMMERCIAL_KEY)
