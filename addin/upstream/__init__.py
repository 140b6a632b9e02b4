"""The vendor API client: no Flask, no Excel.

Everything a caller needs is re-exported here: the client and its retry
policy, the task model, the result parser, the poll schedule (and the give-up time it
implies) and the error tree.
"""

from __future__ import annotations

from addin.upstream.client import DEFAULT_USER_AGENT, RetryPolicy, VendorClient
from addin.upstream.dialects import Dialect, LegacyDialect, V1Dialect, resolve_dialect
from addin.upstream.exceptions import (
    AmbiguousCreateError,
    AuthError,
    BadRequestError,
    BalanceError,
    HTTPStatusError,
    LinkExpiredError,
    NotFoundError,
    PayloadTooLargeError,
    ProtocolError,
    RateLimitError,
    ResultFileError,
    ServerError,
    TransportError,
    TruncatedDownloadError,
    UpstreamError,
    UpstreamTimeout,
)
from addin.upstream.models import TaskStatus, parse_task, parse_timestamp
from addin.upstream.polling import (
    PaceHistory,
    PollObservation,
    PollSchedule,
    PollSettings,
    next_poll_at,
    wait_limit,
)
from addin.upstream.results import ResultRow, parse_result_file

__all__ = [
    "DEFAULT_USER_AGENT",
    "AmbiguousCreateError",
    "AuthError",
    "BadRequestError",
    "BalanceError",
    "Dialect",
    "HTTPStatusError",
    "LegacyDialect",
    "LinkExpiredError",
    "NotFoundError",
    "PaceHistory",
    "PayloadTooLargeError",
    "PollObservation",
    "PollSchedule",
    "PollSettings",
    "ProtocolError",
    "RateLimitError",
    "ResultFileError",
    "ResultRow",
    "RetryPolicy",
    "ServerError",
    "TaskStatus",
    "TransportError",
    "TruncatedDownloadError",
    "UpstreamError",
    "UpstreamTimeout",
    "V1Dialect",
    "VendorClient",
    "next_poll_at",
    "parse_result_file",
    "parse_task",
    "parse_timestamp",
    "resolve_dialect",
    "wait_limit",
]
