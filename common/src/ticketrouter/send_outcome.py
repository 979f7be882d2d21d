"""Did a failed SendMessage store the message? Judged over every attempt botocore made.

botocore retries SendMessage on its own (timeouts, closed connections, 5xx), so the error that
finally surfaces says little: a first attempt whose answer was lost may have stored the message
and a second one may then be refused a connection. Only when *no* attempt could have reached SQS
(or SQS itself answered with a 4xx refusal) is the message provably not queued.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
)

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient

# Failures before the request left this machine: no connection was ever made.
_UNSENT_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)


class SendOutcome(Enum):
    """What a failed send means for the message."""

    NOT_SENT = "not_sent"  # no attempt reached SQS, or SQS refused it (4xx): nothing queued
    UNKNOWN = "unknown"  # an attempt may have been stored (lost answer, timeout, 5xx)


class SendFailed(Exception):
    """SendMessage failed; outcome says whether the message may be on the queue anyway."""

    def __init__(self, outcome: SendOutcome, error: BotoCoreError | ClientError) -> None:
        super().__init__(str(error))
        self.outcome = outcome


def attempt_may_have_applied(exception: Exception | None, status: int | None) -> bool:
    """True unless this attempt provably never reached SQS or was refused by it."""
    if exception is not None:
        return not isinstance(exception, _UNSENT_ERRORS)
    return status is not None and status >= 500


class SendWatch:
    """Watches each attempt of SendMessage on one SQS client, per thread."""

    def __init__(self, sqs: SQSClient) -> None:
        self._local = threading.local()
        sqs.meta.events.register("response-received.sqs.SendMessage", self._record)

    def _record(self, exception: Exception | None = None, response_dict: Any = None, **_: Any) -> None:
        status = response_dict["status_code"] if response_dict else None
        if attempt_may_have_applied(exception, status):
            self._local.maybe_applied = True

    def begin(self) -> None:
        """Start watching a new send on this thread."""
        self._local.maybe_applied = False

    def outcome(self) -> SendOutcome:
        """The outcome of the failed send begun last on this thread."""
        return SendOutcome.UNKNOWN if getattr(self._local, "maybe_applied", False) else SendOutcome.NOT_SENT
