"""The emulator's configuration: ``MOCK_*`` keys, profiles, validation, run-time changes.

``create_app(config)`` starts from ``DEFAULT_CONFIG``, applies the profile's
timing (``PROFILES``), then the caller's mapping; an explicit ``MOCK_QUEUE_DELAY``,
``MOCK_RATE`` or ``MOCK_EXPORT_DELAY`` wins over the profile. Keys not starting
with ``MOCK_`` are left to Flask; an unknown ``MOCK_`` key is an error, so a typo
never passes silently. ``PUT /_mock/config`` changes the keys in ``RUNTIME_KEYS``
(lower-case names without the prefix) while the emulator runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from mock_server.upload import is_e164

#: Answers a fixture may pin a number to; ``fail`` puts it in ``failure``.
FIXTURE_ANSWERS = ("yes", "no", "ban", "fail")
RESULT_FORMATS = ("xlsx", "zip")


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class CreateFault(StrEnum):
    """What a real gateway may do to a create: the first two refuse it, the rest follow it."""

    NONE = "none"
    #: 500 with an HTML page (a proxy's own error); nothing is created.
    HTML_500 = "html_500"
    #: The vendor's own JSON 500 ``server_error``; nothing is created.
    JSON_500 = "json_500"
    #: The task is created and billed, then a 504 with an HTML page is answered.
    GATEWAY_504 = "gateway_504"
    #: The task is created and billed, then the connection is closed without an answer.
    DROP = "drop"
    #: The task is created and billed, then the answer waits ``hold_seconds`` (real).
    HOLD = "hold"
    #: The task is created and billed, then a 200 with an HTML page, not JSON, is answered.
    HTML_200 = "html_200"

    @property
    def creates_task(self) -> bool:
        """Return whether the vendor creates (and bills) the task before this fault."""
        return self not in (CreateFault.NONE, CreateFault.HTML_500, CreateFault.JSON_500)


#: ``create_fault_count`` for "every create until changed".
EVERY_CREATE = -1


@dataclass(frozen=True)
class Shares:
    """Shares of ``yes``, ``no`` and ``ban`` among numbers that do not fail; sum to 1."""

    yes: float
    no: float
    ban: float


@dataclass(frozen=True)
class Profile:
    """How fast tasks move: queue wait, processing rate, export delay (emulator seconds)."""

    queue_delay: float
    rate: float | None  # numbers per second; None processes every number at once
    export_delay: float


PROFILES: Mapping[str, Profile] = {
    # A 1,000-number task is exported about 4 seconds after creation.
    "demo": Profile(queue_delay=1.0, rate=500.0, export_delay=1.0),
    # The vendor's example: 20,000 numbers take about 29.5 minutes end to end.
    "realistic": Profile(queue_delay=20.0, rate=11.5, export_delay=10.0),
    # Engine tests and benchmarks: exported by the first poll.
    "instant": Profile(queue_delay=0.0, rate=None, export_delay=0.0),
}

DEFAULT_CONFIG: Mapping[str, Any] = {
    "MOCK_PROFILE": "demo",
    "MOCK_TIME_SCALE": 1.0,
    "MOCK_SEED": 0,
    "MOCK_SHARES": {"yes": 0.40, "no": 0.55, "ban": 0.05},
    "MOCK_FAILURE_RATE": 0.0,
    "MOCK_FIXTURES": {},
    "MOCK_API_KEYS": {"demo": 1_000_000},
    "MOCK_RESULT_FORMAT": "xlsx",
    "MOCK_RESULT_TTL": 900.0,
    "MOCK_MAX_FILE_BYTES": 25 * 1024 * 1024,
    "MOCK_MAX_NUMBERS": 100_000,
    "MOCK_MAX_ACTIVE_TASKS": None,
    "MOCK_ERROR_RATE": 0.0,
    "MOCK_RETRY_AFTER": None,
    "MOCK_LATENCY_MS": 0.0,
    "MOCK_LATENCY_JITTER_MS": 0.0,
    "MOCK_DROP_RATE": 0.0,
    "MOCK_DOWNLOAD_FAIL_ONCE": False,
    "MOCK_DOWNLOAD_EXPIRE_ONCE": False,
    "MOCK_STUCK": False,
    "MOCK_CREATE_FAULT": "none",
    "MOCK_CREATE_FAULT_COUNT": EVERY_CREATE,
    "MOCK_HOLD_SECONDS": 10.0,
    "MOCK_CREATE_LATENCY_MS": 0.0,
}


@dataclass(frozen=True)
class EmulatorSettings:
    """Every setting of one emulator, validated; replaced whole on a run-time change."""

    profile: str
    time_scale: float
    queue_delay: float
    rate: float | None
    export_delay: float
    seed: int
    shares: Shares
    failure_rate: float
    fixtures: Mapping[str, str]
    api_keys: Mapping[str, int]
    result_format: str
    result_ttl: float
    max_file_bytes: int
    max_numbers: int
    max_active_tasks: int | None
    error_rate: float
    retry_after: int | None
    latency_ms: float
    latency_jitter_ms: float
    drop_rate: float
    download_fail_once: bool
    download_expire_once: bool
    stuck: bool
    create_fault: CreateFault
    create_fault_count: int
    hold_seconds: float
    create_latency_ms: float


def _number(name: str, value: Any) -> float:
    """Return ``value`` as a finite float, refusing booleans and strings."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return float(value)


def _integer(name: str, value: Any) -> int:
    """Return ``value`` as an int, refusing booleans, strings and fractions."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    return value


def _probability(name: str, value: Any) -> float:
    """Parse a probability between 0 and 1."""
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
    return number


def _non_negative(name: str, value: Any) -> float:
    """Parse a number >= 0."""
    number = _number(name, value)
    if number < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return number


def _positive(name: str, value: Any) -> float:
    """Parse a number > 0."""
    number = _number(name, value)
    if number <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return number


def _rate(name: str, value: Any) -> float | None:
    """Parse a processing rate in numbers per second; None means instant."""
    return None if value is None else _positive(name, value)


def _positive_integer(name: str, value: Any) -> int:
    """Parse an integer >= 1."""
    number = _integer(name, value)
    if number < 1:
        raise ConfigError(f"{name} must be >= 1, got {value!r}")
    return number


def _optional_positive_integer(name: str, value: Any) -> int | None:
    """Parse an integer >= 1, or None for no limit."""
    return None if value is None else _positive_integer(name, value)


def _optional_non_negative_integer(name: str, value: Any) -> int | None:
    """Parse an integer >= 0, or None for none."""
    if value is None:
        return None
    number = _integer(name, value)
    if number < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return number


def _flag(name: str, value: Any) -> bool:
    """Parse a JSON boolean."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def _profile(name: str, value: Any) -> str:
    """Parse a profile name."""
    if value not in PROFILES:
        raise ConfigError(f"{name} must be one of {', '.join(PROFILES)}, got {value!r}")
    return str(value)


def _result_format(name: str, value: Any) -> str:
    """Parse a result file format."""
    if value not in RESULT_FORMATS:
        raise ConfigError(f"{name} must be one of {', '.join(RESULT_FORMATS)}, got {value!r}")
    return str(value)


def _create_fault(name: str, value: Any) -> CreateFault:
    """Parse the name of a create fault."""
    try:
        return CreateFault(value)
    except ValueError:
        options = ", ".join(str(fault) for fault in CreateFault)
        raise ConfigError(f"{name} must be one of {options}, got {value!r}") from None


def _create_fault_count(name: str, value: Any) -> int:
    """Parse how many creates get the fault: -1 for every one, else at least 1."""
    number = _integer(name, value)
    if number != EVERY_CREATE and number < 1:
        raise ConfigError(f"{name} must be -1 (every create) or >= 1, got {value!r}")
    return number


def _seed(name: str, value: Any) -> int:
    """Parse the seed of outcomes and faults."""
    return _integer(name, value)


def parse_shares(name: str, value: Any) -> Shares:
    """Parse shares from ``{"yes": .., "no": .., "ban": ..}`` or ``"YES/NO/BAN"``; normalise."""
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) != 3:
            raise ConfigError(f"{name} must look like YES/NO/BAN, e.g. 40/55/5, got {value!r}")
        try:
            weights = [float(part) for part in parts]
        except ValueError:
            raise ConfigError(f"{name} must hold three numbers, got {value!r}") from None
    elif isinstance(value, Mapping):
        if set(value) != {"yes", "no", "ban"}:
            raise ConfigError(f"{name} must have exactly the keys yes, no, ban, got {value!r}")
        weights = [_number(f"{name}.{key}", value[key]) for key in ("yes", "no", "ban")]
    else:
        raise ConfigError(f"{name} must be a mapping or YES/NO/BAN, got {value!r}")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"{name} must be non-negative with a positive sum, got {value!r}")
    total = sum(weights)
    return Shares(yes=weights[0] / total, no=weights[1] / total, ban=weights[2] / total)


def parse_fixtures(name: str, value: Any) -> dict[str, str]:
    """Parse pinned answers from a mapping or the path of a JSON object ``{number: answer}``."""
    if isinstance(value, str | Path):
        try:
            value = json.loads(Path(value).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {value}: {exc.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{name}: {value} is not a JSON file: {exc}") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a JSON object of number -> answer, got {value!r}")
    fixtures: dict[str, str] = {}
    for number, answer in value.items():
        if not isinstance(number, str) or not is_e164(number):
            raise ConfigError(f"{name}: {number!r} is not an E.164 number")
        if answer not in FIXTURE_ANSWERS:
            raise ConfigError(
                f"{name}: answer for {number} must be one of {', '.join(FIXTURE_ANSWERS)},"
                f" got {answer!r}"
            )
        fixtures[number] = answer
    return fixtures


def parse_api_keys(name: str, value: Any) -> dict[str, int]:
    """Parse ``{key: balance}``; keys are non-empty printable strings, balances >= 0."""
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{name} must be a non-empty mapping of key -> balance, got {value!r}")
    keys: dict[str, int] = {}
    for key, balance in value.items():
        if not isinstance(key, str) or not key or not key.isprintable() or key != key.strip():
            raise ConfigError(f"{name}: {key!r} is not a usable API key")
        number = _integer(f"{name}[{key}]", balance)
        if number < 0:
            raise ConfigError(f"{name}[{key}] must be >= 0, got {balance!r}")
        keys[key] = number
    return keys


Parser = Callable[[str, Any], Any]

#: Config key -> (settings field, parser). The field name is also the run-time name.
CONFIG_KEYS: Mapping[str, tuple[str, Parser]] = {
    "MOCK_PROFILE": ("profile", _profile),
    "MOCK_TIME_SCALE": ("time_scale", _positive),
    "MOCK_QUEUE_DELAY": ("queue_delay", _non_negative),
    "MOCK_RATE": ("rate", _rate),
    "MOCK_EXPORT_DELAY": ("export_delay", _non_negative),
    "MOCK_SEED": ("seed", _seed),
    "MOCK_SHARES": ("shares", parse_shares),
    "MOCK_FAILURE_RATE": ("failure_rate", _probability),
    "MOCK_FIXTURES": ("fixtures", parse_fixtures),
    "MOCK_API_KEYS": ("api_keys", parse_api_keys),
    "MOCK_RESULT_FORMAT": ("result_format", _result_format),
    "MOCK_RESULT_TTL": ("result_ttl", _positive),
    "MOCK_MAX_FILE_BYTES": ("max_file_bytes", _positive_integer),
    "MOCK_MAX_NUMBERS": ("max_numbers", _positive_integer),
    "MOCK_MAX_ACTIVE_TASKS": ("max_active_tasks", _optional_positive_integer),
    "MOCK_ERROR_RATE": ("error_rate", _probability),
    "MOCK_RETRY_AFTER": ("retry_after", _optional_non_negative_integer),
    "MOCK_LATENCY_MS": ("latency_ms", _non_negative),
    "MOCK_LATENCY_JITTER_MS": ("latency_jitter_ms", _non_negative),
    "MOCK_DROP_RATE": ("drop_rate", _probability),
    "MOCK_DOWNLOAD_FAIL_ONCE": ("download_fail_once", _flag),
    "MOCK_DOWNLOAD_EXPIRE_ONCE": ("download_expire_once", _flag),
    "MOCK_STUCK": ("stuck", _flag),
    "MOCK_CREATE_FAULT": ("create_fault", _create_fault),
    "MOCK_CREATE_FAULT_COUNT": ("create_fault_count", _create_fault_count),
    "MOCK_HOLD_SECONDS": ("hold_seconds", _positive),
    "MOCK_CREATE_LATENCY_MS": ("create_latency_ms", _non_negative),
}

#: Keys that carry objects rather than settings: ``MOCK_SLEEP`` is the function that
#: waits out injected latency (default ``time.sleep``), so tests can record the waits.
HOOK_KEYS = ("MOCK_SLEEP",)

#: Settings that ``PUT /_mock/config`` may change; the rest are fixed at start.
RUNTIME_KEYS = (
    "queue_delay",
    "rate",
    "export_delay",
    "shares",
    "failure_rate",
    "result_format",
    "result_ttl",
    "max_active_tasks",
    "error_rate",
    "retry_after",
    "latency_ms",
    "latency_jitter_ms",
    "drop_rate",
    "download_fail_once",
    "download_expire_once",
    "stuck",
    "create_fault",
    "create_fault_count",
    "hold_seconds",
    "create_latency_ms",
)

_PARSER_BY_FIELD: Mapping[str, Parser] = {field: parser for field, parser in CONFIG_KEYS.values()}
_TIMING_KEYS = {
    "MOCK_QUEUE_DELAY": "queue_delay",
    "MOCK_RATE": "rate",
    "MOCK_EXPORT_DELAY": "export_delay",
}


def settings_from_config(config: Mapping[str, Any] | None = None) -> EmulatorSettings:
    """Validate defaults, then the profile's timing, then ``config``; raise ConfigError."""
    caller = dict(config or {})
    unknown = sorted(
        k for k in caller if k.startswith("MOCK_") and k not in CONFIG_KEYS and k not in HOOK_KEYS
    )
    if unknown:
        raise ConfigError(f"unknown configuration key(s): {', '.join(unknown)}")
    merged: dict[str, Any] = {**DEFAULT_CONFIG, **caller}
    profile = PROFILES[_profile("MOCK_PROFILE", merged["MOCK_PROFILE"])]
    for key, field in _TIMING_KEYS.items():
        merged.setdefault(key, getattr(profile, field))
    values = {field: parser(key, merged[key]) for key, (field, parser) in CONFIG_KEYS.items()}
    return EmulatorSettings(**values)


def updated_settings(settings: EmulatorSettings, changes: Any) -> EmulatorSettings:
    """Return ``settings`` with run-time ``changes`` (a JSON object) applied; raise ConfigError."""
    if not isinstance(changes, Mapping):
        raise ConfigError("the body must be a JSON object of setting -> value")
    fixed = sorted(str(k) for k in changes if k not in RUNTIME_KEYS)
    if fixed:
        raise ConfigError(
            f"cannot change {', '.join(fixed)} at run time; changeable: {', '.join(RUNTIME_KEYS)}"
        )
    values = {field: _PARSER_BY_FIELD[field](field, value) for field, value in changes.items()}
    return replace(settings, **values)


def settings_document(settings: EmulatorSettings) -> dict[str, Any]:
    """Return the settings as a JSON-ready object, fixtures as a count."""
    document = {f.name: getattr(settings, f.name) for f in fields(settings)}
    document["shares"] = asdict(settings.shares)
    document["fixtures"] = len(settings.fixtures)
    document["api_keys"] = dict(settings.api_keys)
    document["runtime_keys"] = list(RUNTIME_KEYS)
    return document
