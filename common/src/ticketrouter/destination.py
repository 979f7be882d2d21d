"""What a worker's destination adapter promises the consumer loop."""

from __future__ import annotations

from typing import Protocol

from ticketrouter.ticket import Ticket


class PermanentDeliveryError(Exception):
    """The destination refused the ticket for a reason retrying cannot fix (bad channel,
    bad credentials, rejected content). The message is parked on the dead-letter queue."""


class Destination(Protocol):
    """One place tickets go. Any exception from deliver other than
    PermanentDeliveryError is treated as transient and the message is retried."""

    name: str

    def check(self) -> None:
        """Verify credentials and target at start-up; raise PermanentDeliveryError if unusable."""

    def deliver(self, ticket: Ticket) -> str:
        """Hand the ticket over; return a reference to it at the destination."""

    def find(self, ticket: Ticket) -> str | None:
        """The reference of an earlier delivery of this ticket, if the destination has one.

        Asked only when a worker died between handing a ticket over and recording it.
        """
