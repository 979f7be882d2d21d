"""What an attempt to deliver a ticket decides about its message, and the options it runs with."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from ticketrouter.destination import AttemptOutcome


class Outcome(enum.StrEnum):
    """What became of a message."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # the ledger says settled already: message dropped, nothing sent
    RETRY = "retry"
    PARKED = "parked"


class ParkReason(enum.StrEnum):
    PERMANENT = "permanent"  # the destination refused the ticket
    EXHAUSTED = "exhausted"  # the last attempt failed too
    LEDGER = "ledger"  # the ledger could not be reached on the last attempt
    COPY = "copy"  # a copy of a ticket another worker was delivering, on its last receive
    POISON = "poison"  # the message is not a ticket


@dataclass(frozen=True)
class Verdict:
    """What the loop must do with the message: delete it, retry it later, or park it."""

    outcome: Outcome
    delay: int = 0  # RETRY: seconds until the message is visible again
    reason: str = ""  # PARKED: the park_reason an operator reads
    kind: ParkReason | None = None  # PARKED
    attempt_outcome: AttemptOutcome | None = None  # PARKED: recorded with "dead-lettered"


class DeliveryOptions(NamedTuple):
    # Between attempts: about base × 2^(attempt - 1) seconds, jittered, at most max (backoff.py).
    retry_base_seconds: float = 5
    retry_max_seconds: float = 900
    # The queue's redrive count: the attempt that fails at this count parks the message itself.
    max_attempts: int = 5
    # A ticket "delivering" for longer than this (the visibility timeout) was abandoned by a dead worker.
    stale_after_seconds: float = 60
    # After an unknown outcome, wait at least this long before looking: a request that timed
    # out on our side may still be processed by the destination.
    unknown_retry_seconds: float = 30
