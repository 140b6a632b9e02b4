"""The emulator's settings, declared once: ``EmulatorSettings`` and the kinds of its values.

Each field of ``EmulatorSettings`` is declared with ``setting(...)``: its kind
(how a value is checked, bounded, shown as JSON and read from a command-line
flag), its default, its help text and whether ``PUT /_mock/config`` may change
it. Everything else is derived from that one declaration: the ``MOCK_*`` keys of
``create_app(config)`` (``CONFIG_KEYS``, ``DEFAULT_CONFIG``), the run-time names
(``RUNTIME_KEYS``), the document of ``GET /_mock/config`` (``settings_document``)
and the flags of ``fbcheck mock`` (``mock_server.cli``). Adding a setting is one
new field.

``create_app(config)`` starts from the defaults, applies the profile's timing
(``PROFILES``), then the caller's mapping; an explicit ``MOCK_QUEUE_DELAY``,
``MOCK_RATE``, ``MOCK_EXPORT_DELAY`` or ``MOCK_PACE`` wins over the profile. Keys not starting
with ``MOCK_`` are left to Flask; an unknown ``MOCK_`` key is an error, so a typo
never passes silently.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from addin.json_bodies import describe_errors
from mock_server.upload import is_e164

#: Answers a fixture may pin a number to; ``fail`` puts it in ``failure``.
FIXTURE_ANSWERS = ("yes", "no", "ban", "fail")
RESULT_FORMATS = ("xlsx", "zip")
#: ``constant``: every task moves by ``queue_delay``, ``rate`` and ``export_delay``;
#: ``variable``: each task draws its own (``mock_server.pace``).
PACES = ("constant", "variable")


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

# Bounds: generous for any test, yet far from the values that overflow the
# nanosecond clock, hang a request thread or make every answer the same.
#: Longest queue wait, export delay, result lifetime or Retry-After: a week.
MAX_DELAY_SECONDS = 7 * 24 * 3600
#: Longest injected real wait (latency, jitter, create latency): ten minutes.
MAX_LATENCY_MS = 10 * 60 * 1000
#: Longest hold of a create answer, in real seconds.
MAX_HOLD_SECONDS = 600
#: Slowest and fastest processing rate, in numbers per emulator second.
MIN_RATE = 1e-6
MAX_RATE = 1e9
#: Slowest and fastest emulator clock relative to real time.
MIN_TIME_SCALE = 1e-9
MAX_TIME_SCALE = 10_000
#: Largest balance: JSON clients read numbers as doubles, exact up to 2**53.
MAX_BALANCE = 10**15
#: Other counts: the vendor allows at most 10,000,000 numbers per task.
MAX_NUMBERS = 10_000_000
MAX_FILE_BYTES = 1024**3
MAX_ACTIVE_TASKS = 1_000_000
MAX_FAULT_COUNT = 1_000_000
#: Seeds fit in a signed 64-bit integer.
SEED_LIMIT = 2**63


@dataclass(frozen=True)
class Shares:
    """Shares of ``yes``, ``no`` and ``ban`` among numbers that do not fail; sum to 1."""

    yes: float
    no: float
    ban: float


@dataclass(frozen=True)
class Profile:
    """How fast tasks move: queue wait, processing rate, export delay (emulator seconds).

    With ``pace="variable"`` each task draws its own timing (``mock_server.pace``);
    the three constants then apply only if ``pace`` is changed to ``constant``.
    """

    queue_delay: float
    rate: float | None  # numbers per second; None processes every number at once
    export_delay: float
    pace: str = "constant"


PROFILES: Mapping[str, Profile] = {
    # A 1,000-number task is exported about 4 seconds after creation.
    "demo": Profile(queue_delay=1.0, rate=500.0, export_delay=1.0),
    # The vendor's example: 20,000 numbers take about 29.5 minutes end to end.
    "realistic": Profile(queue_delay=20.0, rate=11.5, export_delay=10.0),
    # Engine tests and benchmarks: exported by the first poll.
    "instant": Profile(queue_delay=0.0, rate=None, export_delay=0.0),
    # A busy shared service: per task, queue waits from seconds to 45 minutes, a rate
    # changing every few minutes between stalls and 35 numbers/s, 5-120 s to export.
    "variable": Profile(queue_delay=20.0, rate=11.5, export_delay=10.0, pace="variable"),
}


def show_number(value: float) -> str:
    """Return a bound or default as people write it: ``0``, ``900``, ``0.5``, ``1e-06``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


#: Longest quoted value in an error message.
MAX_SHOWN_CHARACTERS = 80


def shown(value: Any) -> str:
    """Return ``repr(value)`` for an error message, cut short; a huge int by its size.

    Python refuses to turn an int of more than 4,300 digits into text, and a
    message should not repeat a megabyte of a bad value.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARACTERS:
        return text[: MAX_SHOWN_CHARACTERS - 3] + "..."
    return text


def _number(name: str, value: Any) -> float:
    """Return ``value`` as a finite float, refusing booleans and strings."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise ConfigError(f"{name} must be finite, got {shown(value)}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be finite, got {shown(value)}")
    return number


def _integer(name: str, value: Any) -> int:
    """Return ``value`` as an int, refusing booleans, strings and fractions."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {shown(value)}")
    return value


def _range_text(minimum: float | None, maximum: float | None, *, above: bool) -> str:
    """Describe the allowed range: ``>= 0``, ``> 0``, ``between 0 and 1``, ``> 0 and <= 60``."""
    low = None if minimum is None else f"{'>' if above else '>='} {show_number(minimum)}"
    if maximum is None:
        return low or ""
    if low is None:
        return f"<= {show_number(maximum)}"
    if above:
        return f"{low} and <= {show_number(maximum)}"
    return f"between {show_number(minimum or 0)} and {show_number(maximum)}"


# -- kinds of values ---------------------------------------------------------------


class Kind:
    """How one setting's values are checked, shown as JSON and read from a flag.

    ``flag_action`` tells ``mock_server.cli`` which flag to make: ``store`` (one
    value, read with ``from_text``), ``append`` (repeatable, the list handed to
    ``from_flags``) or ``switch`` (no value; given means true).
    """

    flag_action = "store"

    def parse(self, name: str, value: Any) -> Any:
        """Return ``value`` checked and converted; raise ConfigError naming ``name``."""
        raise NotImplementedError

    def to_json(self, value: Any) -> Any:
        """Return the parsed value as ``GET /_mock/config`` shows it."""
        return value

    def from_text(self, text: str) -> Any:
        """Return the config value a flag's text stands for (checked later by ``parse``)."""
        return text

    def from_flags(self, values: Any) -> Any:
        """Return the config value for what argparse collected for the flag."""
        return values

    def bounds(self) -> str:
        """Return the allowed values in a few words, for help texts ("" if obvious)."""
        return ""

    def flag_choices(self) -> Sequence[str] | None:
        """Return the only values a flag accepts, or None for any."""
        return None

    def show(self, value: Any) -> str:
        """Return a default as the help text shows it."""
        return str(value)


@dataclass(frozen=True)
class Real(Kind):
    """A finite number within bounds; ``optional`` lets None through (it means "none")."""

    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum itself is refused
    optional: bool = False

    def parse(self, name: str, value: Any) -> float | None:
        """Check the type and the bounds."""
        if value is None and self.optional:
            return None
        number = _number(name, value)
        low_ok = self.minimum is None or (
            number > self.minimum if self.above else number >= self.minimum
        )
        high_ok = self.maximum is None or number <= self.maximum
        if not (low_ok and high_ok):
            raise ConfigError(f"{name} must be {self.bounds()}, got {shown(value)}")
        return number

    def from_text(self, text: str) -> Any:
        """Read a decimal number."""
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{text!r} is not a number") from None

    def bounds(self) -> str:
        """Return the range."""
        return _range_text(self.minimum, self.maximum, above=self.above)

    def show(self, value: Any) -> str:
        """Show a number without a needless ``.0``."""
        return "none" if value is None else show_number(value)


@dataclass(frozen=True)
class Integer(Kind):
    """A whole number within bounds; ``optional`` lets None through (it means "none")."""

    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False

    def parse(self, name: str, value: Any) -> int | None:
        """Check the type and the bounds."""
        if value is None and self.optional:
            return None
        number = _integer(name, value)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise ConfigError(f"{name} must be {self.bounds()}, got {shown(value)}")
        return number

    def from_text(self, text: str) -> Any:
        """Read a whole number."""
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{text!r} is not an integer") from None

    def bounds(self) -> str:
        """Return the range."""
        return _range_text(self.minimum, self.maximum, above=False)

    def show(self, value: Any) -> str:
        """Show None as "none"."""
        return "none" if value is None else str(value)


@dataclass(frozen=True)
class Countdown(Kind):
    """How many times something happens: -1 for always, else 1 to ``maximum``."""

    maximum: int

    def parse(self, name: str, value: Any) -> int:
        """Accept -1 or a count within bounds."""
        number = _integer(name, value)
        if number != EVERY_CREATE and not 1 <= number <= self.maximum:
            raise ConfigError(f"{name} must be {self.bounds()}, got {shown(value)}")
        return number

    def from_text(self, text: str) -> Any:
        """Read a whole number."""
        return Integer().from_text(text)

    def bounds(self) -> str:
        """Return the range."""
        return f"-1 (every create) or between 1 and {self.maximum}"


@dataclass(frozen=True)
class OneOf(Kind):
    """One of a few whole numbers, such as the HTTP statuses a route may answer with."""

    options: tuple[int, ...]

    def parse(self, name: str, value: Any) -> int:
        """Accept one of the numbers."""
        number = _integer(name, value)
        if number not in self.options:
            raise ConfigError(f"{name} must be {self.bounds()}, got {shown(value)}")
        return number

    def from_text(self, text: str) -> Any:
        """Read a whole number."""
        return Integer().from_text(text)

    def bounds(self) -> str:
        """Return the choices."""
        return " or ".join(str(option) for option in self.options)


class Switch(Kind):
    """A JSON boolean; on the command line a flag without a value."""

    flag_action = "switch"

    def parse(self, name: str, value: Any) -> bool:
        """Accept true or false only."""
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {shown(value)}")
        return value

    def show(self, value: Any) -> str:
        """Show a boolean as on/off."""
        return "on" if value else "off"


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few names, converted by ``convert`` (an enum, or str)."""

    options: tuple[str, ...]
    convert: Callable[[str], Any] = str

    def flag_choices(self) -> Sequence[str] | None:
        """Offer the names to argparse."""
        return self.options

    def parse(self, name: str, value: Any) -> Any:
        """Accept one of the names."""
        if not isinstance(value, str) or value not in self.options:
            raise ConfigError(
                f"{name} must be one of {', '.join(self.options)}, got {shown(value)}"
            )
        return self.convert(value)

    def to_json(self, value: Any) -> Any:
        """Show the name."""
        return str(value)


def parse_shares(name: str, value: Any) -> Shares:
    """Parse shares from ``{"yes": .., "no": .., "ban": ..}`` or ``"YES/NO/BAN"``; normalise."""
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) != 3:
            raise ConfigError(f"{name} must look like YES/NO/BAN, e.g. 40/55/5, got {shown(value)}")
        try:
            weights = [float(part) for part in parts]
        except ValueError:
            raise ConfigError(f"{name} must hold three numbers, got {shown(value)}") from None
    elif isinstance(value, Mapping):
        if set(value) != {"yes", "no", "ban"}:
            raise ConfigError(f"{name} must have exactly the keys yes, no, ban, got {shown(value)}")
        weights = [_number(f"{name}.{key}", value[key]) for key in ("yes", "no", "ban")]
    else:
        raise ConfigError(f"{name} must be a mapping or YES/NO/BAN, got {shown(value)}")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"{name} must be non-negative with a positive sum, got {shown(value)}")
    total = sum(weights)
    if not math.isfinite(total):
        # 1e308/1e308/0 sums to infinity and would normalise to 0/0/0: every answer yes.
        raise ConfigError(f"{name} must have a finite sum, got {shown(value)}")
    return Shares(yes=weights[0] / total, no=weights[1] / total, ban=weights[2] / total)


class SharesKind(Kind):
    """Relative shares of yes/no/ban, as a mapping or ``YES/NO/BAN``; normalised."""

    def parse(self, name: str, value: Any) -> Shares:
        """Parse and normalise."""
        return parse_shares(name, value)

    def to_json(self, value: Any) -> Any:
        """Show the normalised shares as a mapping."""
        return asdict(value)

    def from_text(self, text: str) -> Any:
        """Check ``YES/NO/BAN`` at once, so argparse reports a mistake."""
        parse_shares("--shares", text)
        return text

    def show(self, value: Any) -> str:
        """Show the shares as percentages."""
        return "/".join(show_number(round(value[key] * 100, 6)) for key in ("yes", "no", "ban"))


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
        raise ConfigError(f"{name} must be a JSON object of number -> answer, got {shown(value)}")
    fixtures: dict[str, str] = {}
    for number, answer in value.items():
        if not isinstance(number, str) or not is_e164(number):
            raise ConfigError(f"{name}: {shown(number)} is not an E.164 number")
        if answer not in FIXTURE_ANSWERS:
            raise ConfigError(
                f"{name}: answer for {number} must be one of {', '.join(FIXTURE_ANSWERS)},"
                f" got {shown(answer)}"
            )
        fixtures[number] = answer
    return fixtures


class FixturesKind(Kind):
    """Numbers pinned to answers: a mapping, or the path of a JSON file holding one."""

    def parse(self, name: str, value: Any) -> Mapping[str, str]:
        """Read and check the pins."""
        return parse_fixtures(name, value)

    def to_json(self, value: Any) -> Any:
        """Show how many numbers are pinned, not which."""
        return len(value)

    def show(self, value: Any) -> str:
        """Show an empty default as none."""
        return "none" if not value else f"{len(value)} numbers"


def parse_api_keys(name: str, value: Any) -> dict[str, int]:
    """Parse ``{key: balance}``; keys are non-empty printable strings, balances >= 0."""
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            f"{name} must be a non-empty mapping of key -> balance, got {shown(value)}"
        )
    keys: dict[str, int] = {}
    for key, balance in value.items():
        if not isinstance(key, str) or not key or not key.isprintable() or key != key.strip():
            raise ConfigError(f"{name}: {shown(key)} is not a usable API key")
        number = _integer(f"{name}[{key}]", balance)
        if not 0 <= number <= MAX_BALANCE:
            raise ConfigError(
                f"{name}[{key}] must be between 0 and {MAX_BALANCE}, got {shown(balance)}"
            )
        keys[key] = number
    return keys


#: The balance of a key given on the command line without ``:BALANCE``.
DEFAULT_BALANCE = 1_000_000


class ApiKeysKind(Kind):
    """Accepted keys and their balances; on the command line ``--api-key KEY[:BALANCE]``."""

    flag_action = "append"

    def parse(self, name: str, value: Any) -> Mapping[str, int]:
        """Check keys and balances."""
        return parse_api_keys(name, value)

    def to_json(self, value: Any) -> Any:
        """Show keys and their starting balances."""
        return dict(value)

    def from_text(self, text: str) -> Any:
        """Read ``KEY`` or ``KEY:BALANCE``."""
        key, separator, balance = text.rpartition(":")
        if not separator:
            key, balance = text, str(DEFAULT_BALANCE)
        if not key:
            raise ConfigError(f"{text!r}: the key is empty")
        try:
            amount = int(balance)
        except ValueError:
            raise ConfigError(f"{text!r}: BALANCE must be an integer") from None
        if not 0 <= amount <= MAX_BALANCE:
            raise ConfigError(f"{text!r}: BALANCE must be between 0 and {MAX_BALANCE}")
        return key, amount

    def from_flags(self, values: Any) -> Any:
        """Turn the repeated ``(key, balance)`` pairs into a mapping."""
        return dict(values)

    def show(self, value: Any) -> str:
        """Show ``key:balance`` pairs."""
        return ", ".join(f"{key}:{balance}" for key, balance in value.items())


# -- the one declaration -------------------------------------------------------------


class ProfileDefault(Enum):
    """The default of a timing setting: the chosen profile's value."""

    TIMING = "the profile's"


#: Default of ``queue_delay``, ``rate`` and ``export_delay``: taken from the profile.
FROM_PROFILE = ProfileDefault.TIMING


@dataclass(frozen=True)
class Setting:
    """Everything declared about one setting; the rest is derived from it."""

    kind: Kind
    default: Any  # a raw value, parsed like a caller's, or FROM_PROFILE
    help: str
    group: str
    runtime: bool = False  # PUT /_mock/config may change it
    metavar: str | None = None
    flag: str | None = None  # the command-line flag when not --<name-with-dashes>
    always_on_command_line: bool = False  # the flag's default is passed on when not given


SERVING = "serving"
TIMING = "timing"
OUTCOMES = "outcomes"
LIMITS = "results and limits"
FAULTS = "faults"


@dataclass(frozen=True)
class EmulatorSettings:
    """Every setting of one emulator, validated; replaced whole on a run-time change.

    Each field is ``Annotated[type, Setting(...)]``: the one place a setting is declared.
    """

    profile: Annotated[
        str,
        Setting(
            Choice(tuple(PROFILES)),
            default="demo",
            group=TIMING,
            always_on_command_line=True,
            help="demo: 1,000 numbers exported in ~4 s; realistic: the vendor's ~11.5 numbers/s"
            " after a queue wait; instant: exported by the first poll; variable: a busy shared"
            " service (seeded queue waits, stalls and rate changes per task)",
        ),
    ]
    time_scale: Annotated[
        float,
        Setting(
            Real(minimum=MIN_TIME_SCALE, maximum=MAX_TIME_SCALE),
            default=1.0,
            group=TIMING,
            metavar="S",
            help="the emulator clock runs S times faster than real time",
        ),
    ]
    queue_delay: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=MAX_DELAY_SECONDS),
            default=FROM_PROFILE,
            group=TIMING,
            runtime=True,
            metavar="SECONDS",
            help="wait in pending, in emulator seconds",
        ),
    ]
    rate: Annotated[
        float | None,
        Setting(
            Real(minimum=MIN_RATE, maximum=MAX_RATE, optional=True),
            default=FROM_PROFILE,
            group=TIMING,
            runtime=True,
            metavar="N",
            help="numbers processed per second; null in JSON: all at once",
        ),
    ]
    export_delay: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=MAX_DELAY_SECONDS),
            default=FROM_PROFILE,
            group=TIMING,
            runtime=True,
            metavar="SECONDS",
            help="from completed to exported, in emulator seconds",
        ),
    ]
    pace: Annotated[
        str,
        Setting(
            Choice(PACES),
            default=FROM_PROFILE,
            group=TIMING,
            runtime=True,
            help="constant: queue_delay, rate and export_delay for every task; variable: each"
            " task draws its own from the seed (queue wait, stalls, rate changes, export delay)",
        ),
    ]
    seed: Annotated[
        int,
        Setting(
            Integer(minimum=-SEED_LIMIT, maximum=SEED_LIMIT - 1),
            default=0,
            group=OUTCOMES,
            metavar="N",
            help="seed of the answers and of the faults",
        ),
    ]
    shares: Annotated[
        Shares,
        Setting(
            SharesKind(),
            default={"yes": 0.40, "no": 0.55, "ban": 0.05},
            group=OUTCOMES,
            runtime=True,
            metavar="YES/NO/BAN",
            help="relative shares of the answers, normalised",
        ),
    ]
    failure_rate: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=1),
            default=0.0,
            group=OUTCOMES,
            runtime=True,
            metavar="P",
            help="share of numbers that fail: counted in 'failure', absent from the result",
        ),
    ]
    task_failure_rate: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=1),
            default=0.0,
            group=OUTCOMES,
            runtime=True,
            metavar="P",
            help="share of tasks that end 'failed' (with a message) instead of exported;"
            " billed like any other",
        ),
    ]
    fixtures: Annotated[
        Mapping[str, str],
        Setting(
            FixturesKind(),
            default={},
            group=OUTCOMES,
            metavar="FILE",
            help='JSON file (or in Python a mapping) pinning numbers: {"+41798284651": "ban"};'
            " answers yes, no, ban, fail",
        ),
    ]
    api_keys: Annotated[
        Mapping[str, int],
        Setting(
            ApiKeysKind(),
            default={"demo": DEFAULT_BALANCE},
            group=SERVING,
            metavar="KEY[:BALANCE]",
            flag="--api-key",
            help=f"an accepted key and its balance ({DEFAULT_BALANCE} if not given); repeatable",
        ),
    ]
    result_format: Annotated[
        str,
        Setting(
            Choice(RESULT_FORMATS),
            default="xlsx",
            group=LIMITS,
            runtime=True,
            help="xlsx, or zip holding results.csv",
        ),
    ]
    result_ttl: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=MAX_DELAY_SECONDS, above=True),
            default=900.0,
            group=LIMITS,
            runtime=True,
            metavar="SECONDS",
            help="lifetime of a result_url, in emulator seconds",
        ),
    ]
    max_file_bytes: Annotated[
        int,
        Setting(
            Integer(minimum=1, maximum=MAX_FILE_BYTES),
            default=25 * 1024 * 1024,
            group=LIMITS,
            metavar="N",
            help="largest accepted file in bytes",
        ),
    ]
    max_numbers: Annotated[
        int,
        Setting(
            Integer(minimum=1, maximum=MAX_NUMBERS),
            default=100_000,
            group=LIMITS,
            metavar="N",
            help="most number lines per task",
        ),
    ]
    v1_min_numbers: Annotated[
        int,
        Setting(
            Integer(minimum=1, maximum=MAX_NUMBERS),
            default=100,
            group=LIMITS,
            metavar="N",
            help="fewest number lines of a v1 'facebook' task (the vendor's limit: 100)",
        ),
    ]
    v1_create_status: Annotated[
        int,
        Setting(
            OneOf((200, 202)),
            default=202,
            group=LIMITS,
            runtime=True,
            metavar="STATUS",
            help="the status of a v1 create that is accepted (the contract allows both)",
        ),
    ]
    max_active_tasks: Annotated[
        int | None,
        Setting(
            Integer(minimum=1, maximum=MAX_ACTIVE_TASKS, optional=True),
            default=None,
            group=LIMITS,
            runtime=True,
            metavar="N",
            help="unexported tasks per key before 429; null: unlimited",
        ),
    ]
    error_rate: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=1),
            default=0.0,
            group=FAULTS,
            runtime=True,
            metavar="P",
            help="probability of a 500 on the API routes",
        ),
    ]
    retry_after: Annotated[
        int | None,
        Setting(
            Integer(minimum=0, maximum=MAX_DELAY_SECONDS, optional=True),
            default=None,
            group=FAULTS,
            runtime=True,
            metavar="SECONDS",
            help="Retry-After header on injected 500s",
        ),
    ]
    latency_ms: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=MAX_LATENCY_MS),
            default=0.0,
            group=FAULTS,
            runtime=True,
            metavar="MS",
            help="real milliseconds added to each API request",
        ),
    ]
    latency_jitter_ms: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=MAX_LATENCY_MS),
            default=0.0,
            group=FAULTS,
            runtime=True,
            metavar="MS",
            help="plus a random 0 to MS real milliseconds",
        ),
    ]
    drop_rate: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=1),
            default=0.0,
            group=FAULTS,
            runtime=True,
            metavar="P",
            help="probability of closing an API connection, before handling, without any response",
        ),
    ]
    download_fail_once: Annotated[
        bool,
        Setting(
            Switch(),
            default=False,
            group=FAULTS,
            runtime=True,
            help="the first download of each task's result answers 500",
        ),
    ]
    download_expire_once: Annotated[
        bool,
        Setting(
            Switch(),
            default=False,
            group=FAULTS,
            runtime=True,
            help="the first download of each task's result answers as expired",
        ),
    ]
    stuck: Annotated[
        bool,
        Setting(
            Switch(),
            default=False,
            group=FAULTS,
            runtime=True,
            help="tasks created while set never leave processing",
        ),
    ]
    create_fault: Annotated[
        CreateFault,
        Setting(
            Choice(tuple(str(fault) for fault in CreateFault), convert=CreateFault),
            default="none",
            group=FAULTS,
            runtime=True,
            help="what a gateway does to creates: html_500 and json_500 create nothing;"
            " gateway_504, drop, hold and html_200 answer so after the task is created and billed",
        ),
    ]
    create_fault_count: Annotated[
        int,
        Setting(
            Countdown(maximum=MAX_FAULT_COUNT),
            default=EVERY_CREATE,
            group=FAULTS,
            runtime=True,
            metavar="N",
            help="apply create_fault to the next N creates, then switch it off; -1: every create",
        ),
    ]
    hold_seconds: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=MAX_HOLD_SECONDS, above=True),
            default=10.0,
            group=FAULTS,
            runtime=True,
            metavar="SECONDS",
            help="real seconds a 'hold' create waits before it answers",
        ),
    ]
    create_latency_ms: Annotated[
        float,
        Setting(
            Real(minimum=0, maximum=MAX_LATENCY_MS),
            default=0.0,
            group=FAULTS,
            runtime=True,
            metavar="MS",
            help="real milliseconds a valid upload waits before its task is created",
        ),
    ]


# -- derived from the declaration ----------------------------------------------------


def declarations(settings_class: type[Any]) -> dict[str, Setting]:
    """Return each field's ``Setting`` from its ``Annotated`` type, in declaration order."""
    hints = get_type_hints(settings_class, include_extras=True)
    declared: dict[str, Setting] = {}
    for item in fields(settings_class):
        found = [m for m in getattr(hints[item.name], "__metadata__", ()) if isinstance(m, Setting)]
        if len(found) != 1:
            name = f"{settings_class.__name__}.{item.name}"
            raise TypeError(f"{name} must be declared as Annotated[type, Setting(...)]")
        declared[item.name] = found[0]
    return declared


#: Setting name -> its declaration, in declaration order.
SETTINGS: Mapping[str, Setting] = declarations(EmulatorSettings)


def config_key(name: str) -> str:
    """Return the ``create_app`` key of a setting: ``error_rate`` -> ``MOCK_ERROR_RATE``."""
    return f"MOCK_{name.upper()}"


#: ``MOCK_*`` key -> setting name.
CONFIG_KEYS: Mapping[str, str] = {config_key(name): name for name in SETTINGS}

#: Settings that ``PUT /_mock/config`` may change; the rest are fixed at start.
RUNTIME_KEYS: tuple[str, ...] = tuple(name for name, s in SETTINGS.items() if s.runtime)

#: The defaults as ``MOCK_*`` keys (the timing defaults come from the profile).
DEFAULT_CONFIG: Mapping[str, Any] = {
    config_key(name): s.default for name, s in SETTINGS.items() if s.default is not FROM_PROFILE
}

#: Keys that carry objects rather than settings: ``MOCK_SLEEP`` is the function that
#: waits out injected delays (default ``time.sleep``), so tests can record the waits.
HOOK_KEYS = ("MOCK_SLEEP",)


def settings_from_config(config: Mapping[str, Any] | None = None) -> EmulatorSettings:
    """Validate defaults, then the profile's timing, then ``config``; raise ConfigError."""
    caller = dict(config or {})
    unknown = sorted(
        k for k in caller if k.startswith("MOCK_") and k not in CONFIG_KEYS and k not in HOOK_KEYS
    )
    if unknown:
        raise ConfigError(f"unknown configuration key(s): {', '.join(unknown)}")
    merged: dict[str, Any] = {**DEFAULT_CONFIG, **caller}
    profile_name = SETTINGS["profile"].kind.parse("MOCK_PROFILE", merged["MOCK_PROFILE"])
    profile = PROFILES[profile_name]
    for name, declared in SETTINGS.items():
        if declared.default is FROM_PROFILE:
            merged.setdefault(config_key(name), getattr(profile, name))
    values = {
        name: declared.kind.parse(config_key(name), merged[config_key(name)])
        for name, declared in SETTINGS.items()
    }
    return EmulatorSettings(**values)


class ConfigChanges(BaseModel):
    """The body of ``PUT /_mock/config``: run-time settings, each checked by its kind.

    The fields are made from the one declaration (``RUNTIME_KEYS``) by
    :data:`RuntimeConfigChanges`; any other key is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    def changes(self) -> dict[str, Any]:
        """Return the settings given, parsed (``Shares``, ``CreateFault``...), by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def _runtime_field(name: str) -> Any:
    """Return the pydantic field of a run-time setting: its kind's ``parse`` does the check."""
    kind = SETTINGS[name].kind
    return (Annotated[Any, BeforeValidator(functools.partial(kind.parse, name))], None)


#: :class:`ConfigChanges` with one optional field per run-time setting.
RuntimeConfigChanges: type[ConfigChanges] = create_model(
    "RuntimeConfigChanges",
    __base__=ConfigChanges,
    **{name: _runtime_field(name) for name in RUNTIME_KEYS},
)

#: How a setting that cannot change at run time is refused.
FIXED_SETTING = "cannot change {name} at run time; changeable: {accepted}"


def parse_config_changes(changes: Any) -> ConfigChanges:
    """Return run-time ``changes`` (a JSON object) checked, or raise ConfigError naming them."""
    if not isinstance(changes, Mapping):
        raise ConfigError("the body must be a JSON object of setting -> value")
    try:
        return RuntimeConfigChanges.model_validate(dict(changes))
    except ValidationError as exc:
        message = describe_errors(exc, unknown_field=FIXED_SETTING, accepted=RUNTIME_KEYS)
        raise ConfigError(message) from None


def updated_settings(settings: EmulatorSettings, changes: Any) -> EmulatorSettings:
    """Return ``settings`` with run-time ``changes`` (a JSON object or checked) applied."""
    checked = changes if isinstance(changes, ConfigChanges) else parse_config_changes(changes)
    return replace(settings, **checked.changes())


def settings_document(settings: EmulatorSettings) -> dict[str, Any]:
    """Return the settings as a JSON-ready object (fixtures as a count) and ``runtime_keys``."""
    document = {
        name: declared.kind.to_json(getattr(settings, name)) for name, declared in SETTINGS.items()
    }
    document["runtime_keys"] = list(RUNTIME_KEYS)
    return document
