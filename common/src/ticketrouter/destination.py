"""What a worker's destination adapter promises the consumer loop.

An attempt to hand a ticket over ends in one of four outcomes (``AttemptOutcome``):

- *delivered*: the destination confirmed it; ``deliver`` returns its reference.
- *refused*: the destination will never take it (``PermanentDeliveryError``): parked at once.
- *not sent*: provably not applied (``NotSentError``: connection refused, DNS failure, a
  429 answered before processing): sending again is safe.
- *unknown*: the request may have been applied (``OutcomeUnknownError``: a timeout after
  the request was sent, a connection reset mid-response, a 5xx). The next attempt first asks
  the destination (``find``) and sends only if the ticket is provably absent. Any other
  exception from ``deliver`` counts as unknown too: guessing "not sent" is how tickets double.

An *idempotent* destination (``idempotent = True``; worker-s3) writes create-only, keyed by the
ticket id: a second hand-over of the same ticket is refused by the destination itself and
``deliver`` raises ``AlreadyDeliveredError`` with the reference of the earlier one. Its first
attempt therefore needs no ledger claim before the send (see delivery.py). A destination that
does not say so is not idempotent.
"""

from __future__ import annotations

import enum
from typing import Protocol

from ticketrouter.errors import TicketRouterError
from ticketrouter.ticket import Ticket


class AttemptOutcome(enum.StrEnum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"


class DeliveryError(TicketRouterError):
    """An attempt to deliver a ticket did not end in a confirmed delivery."""

    outcome = AttemptOutcome.UNKNOWN


class PermanentDeliveryError(DeliveryError):
    """The destination refused the ticket for a reason retrying cannot fix (bad channel,
    bad credentials, rejected content). The message is parked on the dead-letter queue."""

    outcome = AttemptOutcome.REFUSED


class NotSentError(DeliveryError):
    """The request provably never took effect at the destination; sending again is safe."""

    outcome = AttemptOutcome.NOT_SENT


class OutcomeUnknownError(DeliveryError):
    """The request may have taken effect; look before sending again."""

    outcome = AttemptOutcome.UNKNOWN


class AlreadyDeliveredError(TicketRouterError):
    """An idempotent destination already holds this ticket (from an earlier attempt or a copy
    of its message); nothing was written this time."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"already delivered as {reference}")
        self.reference = reference


class LookupFailedError(DeliveryError):
    """The destination could not be asked whether it already holds the ticket."""


def outcome_of(error: Exception) -> AttemptOutcome:
    """The outcome class of a failed attempt; anything unclassified is unknown."""
    return error.outcome if isinstance(error, DeliveryError) else AttemptOutcome.UNKNOWN


class Destination(Protocol):
    """One place tickets go."""

    name: str
    # How many tickets of one batch it takes at once (WORKER_CONCURRENCY overrides it).
    max_concurrency: int
    # False when find() cannot work (e.g. Slack without channels:history): after an unknown
    # outcome the ticket is then sent again (at least once rather than never).
    can_find: bool

    def check(self) -> None:
        """Verify credentials and target at start-up; raise PermanentDeliveryError if unusable.

        Also settles can_find, warning once if lookups are impossible.
        """

    def deliver(self, ticket: Ticket) -> str:
        """Hand the ticket over; return a reference to it at the destination.

        Raises PermanentDeliveryError, NotSentError or OutcomeUnknownError (and, from an
        idempotent destination, AlreadyDeliveredError).
        """

    def find(self, ticket: Ticket) -> str | None:
        """The reference of an earlier delivery of this ticket, or None if provably absent.

        Raises LookupFailedError when the destination cannot tell.
        """


def is_idempotent(destination: Destination) -> bool:
    """Whether the destination itself refuses a second copy of a ticket (see the module doc)."""
    return getattr(destination, "idempotent", False) is True
