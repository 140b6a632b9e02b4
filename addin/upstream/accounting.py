"""What each vendor request cost, and what each create attempt left behind.

The vendor bills every 200 of its create and status routes and documents its
own JSON errors (400, 500; the v1 routes also 401, 402, 413) as free. It has no
idempotency key, so a create whose answer did not come back may have made (and
billed) a task that a second upload would pay for again.

Each request attempt ends in one :class:`Billing`:

============================================================  ===============
the attempt                                                   billing
============================================================  ===============
a 2xx answer (whatever its body)                              billed
a 4xx answer (the request was refused, by the vendor or a     free
proxy in front of it)
a 5xx that is the vendor's own JSON error (500: "retry later")  free
the connection never opened (refused, DNS, connect timeout)   free
anything else once the request may have left: read timeout,   possibly billed
reset, dropped connection, a 502/503/504, a 5xx whose body
is not the vendor's JSON (a gateway's page)
============================================================  ===============

Each create attempt ends in exactly one :class:`CreateOutcome`:

- ``NOT_CREATED``: nothing was sent, the request was refused with a 4xx, or the
  vendor answered with its own JSON 5xx error (documented as not creating anything);
- ``CREATED``: a task id came back;
- ``UNCERTAIN``: anything else after the body may have left: timeouts, resets,
  any 502/503/504, any 5xx or 2xx whose body is not the vendor's JSON (a gateway
  may answer after forwarding), an interruption or crash during the
  upload, and a store write that failed after the answer came. An uncertain
  create is never sent again without the user's word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import requests


class Billing(StrEnum):
    """Whether one request attempt was billed by the vendor."""

    BILLED = "billed"
    POSSIBLY = "possibly"
    FREE = "free"


class CreateOutcome(StrEnum):
    """What one create attempt left at the vendor."""

    NOT_CREATED = "not_created"
    CREATED = "created"
    UNCERTAIN = "uncertain"


#: Gateway answers: the request may have reached the vendor, whatever the body says.
GATEWAY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RequestOutcome:
    """One request attempt to the vendor's API and what it cost."""

    kind: str  # "create" or "poll"
    billing: Billing
    status: int | None
    detail: str


#: Receives every request attempt's outcome (the runner stores them).
Observer = Callable[[RequestOutcome], None]


def is_vendor_json(response: requests.Response) -> bool:
    """Return True when the answer's body is a JSON object, as the vendor's answers are."""
    if "json" not in response.headers.get("Content-Type", "").lower():
        return False
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def billing_of_answer(response: requests.Response) -> Billing:
    """Return the billing of an API answer that arrived."""
    status = response.status_code
    if 200 <= status < 300:
        return Billing.BILLED
    if status >= 500 and (status in GATEWAY_STATUSES or not is_vendor_json(response)):
        return Billing.POSSIBLY
    return Billing.FREE


def create_outcome_of_answer(response: requests.Response) -> CreateOutcome:
    """Return what a create answer that is not a usable 2xx left behind."""
    status = response.status_code
    if 200 <= status < 300:
        return CreateOutcome.UNCERTAIN  # a 2xx we could not use: a task may exist
    if status >= 500 and (status in GATEWAY_STATUSES or not is_vendor_json(response)):
        return CreateOutcome.UNCERTAIN
    return CreateOutcome.NOT_CREATED
