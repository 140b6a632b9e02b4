"""The vendor's task, as parsed from its JSON, and the checks that keep bad JSON out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal

from addin.formats import is_task_id
from addin.upstream.exceptions import ProtocolError

__all__ = [
    "FAILED_STATUSES",
    "KNOWN_STATUSES",
    "TaskState",
    "TaskStatus",
    "parse_task",
    "parse_timestamp",
]

#: The states the vendor documents, in lifecycle order (v1 adds ``failed``; ``completed``,
#: shown on some of its pages, is a step before ``exported``).
TaskState = Literal["pending", "processing", "completed", "exported", "failed"]
KNOWN_STATUSES: Final[tuple[TaskState, ...]] = (
    "pending",
    "processing",
    "completed",
    "exported",
    "failed",
)
#: Undocumented statuses that plainly mean the task will never export; any other
#: unknown status is treated as "still running" so polling goes on until max_wait.
FAILED_STATUSES: Final[frozenset[str]] = frozenset(
    {"failed", "failure", "error", "cancelled", "canceled", "expired", "aborted"}
)

# The vendor's RFC 3339 timestamps carry nanoseconds, which datetime cannot hold:
# the fraction is cut to microseconds (truncated, never rounded up into the next second).
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)


@dataclass(frozen=True)
class TaskStatus:
    """One answer of the create or status route."""

    task_id: str
    user_id: str | None
    #: One of KNOWN_STATUSES, or an undocumented string kept as the vendor sent it.
    status: str
    total: int
    success: int
    failure: int
    created_at: datetime
    updated_at: datetime
    result_url: str | None = None
    #: The vendor's own words about the task (v1), such as why it failed.
    message: str | None = None

    @property
    def done(self) -> int:
        """Return how many numbers the vendor has finished, identified or not."""
        return self.success + self.failure

    @property
    def is_exported(self) -> bool:
        """Return True once the result file can be downloaded."""
        return self.status == "exported"

    @property
    def is_failed(self) -> bool:
        """Return True for ``failed`` (v1) or another status that means it will never export."""
        return self.status in FAILED_STATUSES

    @property
    def is_terminal(self) -> bool:
        """Return True when polling this task again cannot change the outcome."""
        return self.is_exported or self.is_failed

    @property
    def is_known_status(self) -> bool:
        """Return True when the status is one the vendor documents."""
        return self.status in KNOWN_STATUSES


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (nanoseconds allowed) into an aware UTC datetime."""
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7) or ""
    microsecond = int(fraction[:6].ljust(6, "0"))
    if match.group(8):
        tz = UTC
    else:
        sign = -1 if match.group(9) == "-" else 1
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if offset >= timedelta(hours=24):
            raise ValueError(f"timezone offset out of range: {value!r}")
        tz = timezone(sign * offset)
    # RFC 3339 allows a leap second (:60); datetime does not, so it becomes :59.
    second = min(second, 59)
    moment = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
    return moment.astimezone(UTC)


def parse_task(payload: object, *, method: str, url: str) -> TaskStatus:
    """Check the JSON of a task answer field by field; raise ProtocolError on any problem."""

    def fail(detail: str) -> ProtocolError:
        """Build the error for this request with a short description of the problem."""
        return ProtocolError(detail, method=method, url=url, status=200)

    if not isinstance(payload, dict):
        raise fail(f"expected a JSON object, got {type(payload).__name__}")

    def optional_text(name: str) -> str | None:
        """Return a string field, or None when it is absent or null."""
        value = payload.get(name)
        if value is None or isinstance(value, str):
            return value
        raise fail(f"field {name!r} should be a string, got {type(value).__name__}")

    def text(name: str) -> str:
        """Return a required string field."""
        value = optional_text(name)
        if value is None:
            raise fail(f"field {name!r} is missing")
        return value

    def count(name: str) -> int:
        """Return a non-negative integer field; integral floats such as 20000.0 pass."""
        if name not in payload:
            raise fail(f"field {name!r} is missing")
        value = payload[name]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"field {name!r} should be an integer, got {value!r}")
        if value < 0:
            raise fail(f"field {name!r} is negative: {value}")
        return value

    def moment(name: str) -> datetime:
        """Return a timestamp field as an aware UTC datetime."""
        try:
            return parse_timestamp(text(name))
        except ValueError as exc:
            raise fail(f"field {name!r}: {exc}") from None

    task_id = text("task_id")
    if not is_task_id(task_id):
        raise fail(f"field 'task_id' has unexpected characters: {task_id[:40]!r}")
    status = text("status").strip().lower()
    if not status:
        raise fail("field 'status' is empty")
    result_url = optional_text("result_url") or None
    if result_url is not None and not result_url.lower().startswith(("https://", "http://")):
        raise fail(f"field 'result_url' is not an absolute http(s) URL: {result_url[:80]!r}")
    message = optional_text("message")
    message = " ".join(message.split())[:500] if message else None
    return TaskStatus(
        task_id=task_id,
        user_id=optional_text("user_id"),
        status=status,
        total=count("total"),
        success=count("success"),
        failure=count("failure"),
        created_at=moment("created_at"),
        updated_at=moment("updated_at"),
        result_url=result_url,
        message=message or None,
    )
