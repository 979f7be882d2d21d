"""The SQS consumer loop every worker runs: receive → deliver → delete, retry, or park.

The loop owns the bookkeeping; the destination adapter only delivers one ticket.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from ticketrouter.backoff import compute_backoff
from ticketrouter.config import WorkerSettings
from ticketrouter.destination import Destination, PermanentDeliveryError
from ticketrouter.ledger import DEAD_LETTERED, DELIVERED, FAILED, Ledger, LedgerConflict
from ticketrouter.logs import bound_ticket
from ticketrouter.observability import DELIVERIES, DELIVERY_LATENCY, DLQ_MOVES, RETRIES, Health
from ticketrouter.queues import QueuePair
from ticketrouter.redaction import redact
from ticketrouter.ticket import Ticket

log = logging.getLogger(__name__)

# Pause after a failed receive so an unreachable queue does not become a busy loop.
RECEIVE_ERROR_PAUSE_SECONDS = 2.0


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # the ledger says delivered already: message dropped, nothing sent
    RETRY = "retry"
    PARKED = "parked"


@dataclass(frozen=True)
class ConsumerOptions:
    wait_seconds: int = 20
    batch_size: int = 10
    retry_base_seconds: float = 5
    retry_max_seconds: float = 900
    # Stop once a receive comes back empty: makes tests and one-off drains deterministic.
    burst: bool = False
    # The queue's redrive count: the attempt that fails at this count parks the message itself.
    max_attempts: int = 5
    # A ticket "delivering" for longer than this (the visibility timeout) was abandoned by a dead worker.
    stale_after_seconds: float = 60

    @classmethod
    def from_settings(cls, settings: WorkerSettings, burst: bool = False) -> ConsumerOptions:
        return cls(
            wait_seconds=settings.worker_wait_seconds,
            batch_size=settings.worker_batch_size,
            retry_base_seconds=settings.worker_retry_base_seconds,
            retry_max_seconds=settings.worker_retry_max_seconds,
            burst=burst,
            max_attempts=settings.queue_max_receives,
            stale_after_seconds=settings.queue_visibility_timeout,
        )


class Consumer:
    """Drains one queue into one destination until asked to stop."""

    def __init__(
        self,
        sqs: Any,
        queues: QueuePair,
        destination: Destination,
        ledger: Ledger,
        options: ConsumerOptions = ConsumerOptions(),
        health: Health | None = None,
    ) -> None:
        self.sqs = sqs
        self.queues = queues
        self.ledger = ledger
        self.health = health
        self.destination = destination
        self.options = options
        self.stopping = False

    def request_stop(self) -> None:
        """Stop after the current poll and the message in hand.

        The poll is not abandoned: SQS would still hand it any message that arrives before
        it ends, and that message would then stay hidden for the visibility timeout.
        """
        self.stopping = True

    def run(self) -> dict[Outcome, int]:
        """Loop until stopped (or, in burst mode, until the queue is empty); returns counts."""
        counts = {outcome: 0 for outcome in Outcome}
        log.info("consumer started", extra={"destination": self.destination.name})
        while not self.stopping:
            if self.health:
                self.health.beat()
            messages = self.receive()
            if not messages and self.options.burst:
                break
            for message in messages:
                if self.stopping:
                    # Not started: it becomes visible again after the visibility timeout.
                    break
                counts[self.handle(message)] += 1
        log.info(
            "consumer stopped",
            extra={"destination": self.destination.name, **{k.value: v for k, v in counts.items()}},
        )
        return counts

    def receive(self) -> list[dict[str, Any]]:
        """One long poll; an SQS error is logged and yields an empty batch after a pause."""
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.queues.url,
                MaxNumberOfMessages=self.options.batch_size,
                WaitTimeSeconds=self.options.wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            )
        except (BotoCoreError, ClientError) as error:
            log.error("receive failed", extra={"error": str(error)})
            time.sleep(RECEIVE_ERROR_PAUSE_SECONDS)
            return []
        return response.get("Messages", [])

    def handle(self, message: dict[str, Any]) -> Outcome:
        """Deliver one message and settle it: delete, schedule a retry, or park."""
        outcome = self._handle(message)
        DELIVERIES.labels(self.destination.name, outcome.value).inc()
        return outcome

    def _handle(self, message: dict[str, Any]) -> Outcome:
        try:
            ticket = Ticket.from_message(message["Body"])
        except ValidationError as error:
            reason = (
                f"not a ticket envelope: {error.error_count()} error(s), first: {error.errors()[0]['msg']}"
            )
            log.error("poison message", extra={"message_id": message["MessageId"], "reason": reason})
            return self.park(message, reason, "poison")
        with bound_ticket(ticket.id):
            return self.deliver(ticket, message)

    def deliver(self, ticket: Ticket, message: dict[str, Any]) -> Outcome:
        """Claim the ticket in the ledger, hand it over once, record the outcome, settle the message."""
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        context = {"destination": self.destination.name, "attempt": attempt}
        try:
            claim = self.ledger.claim(ticket, self.destination.name, self.options.stale_after_seconds)
        except (BotoCoreError, ClientError, LedgerConflict) as error:
            # No delivery without the ledger: it is what keeps a redelivered message from posting twice.
            log.warning("ledger unavailable; will retry", extra={**context, "error": str(error)})
            self.retry_later(message, self.backoff(attempt))
            return Outcome.RETRY
        if claim.action == "skip":
            log.info(
                "already settled; dropping the duplicate message",
                extra={**context, "status": claim.record["status"]},
            )
            self.delete(message)
            return Outcome.DUPLICATE
        if claim.action == "wait":
            log.info("another worker is delivering this ticket; checking back later", extra=context)
            self.retry_later(message, int(self.options.stale_after_seconds))
            return Outcome.RETRY
        try:
            reference = self.find_earlier_delivery(ticket) if claim.action == "reconcile" else None
            if reference is None:
                reference = self.destination.deliver(ticket)
        except PermanentDeliveryError as error:
            log.error("delivery refused permanently; parking", extra={**context, "error": str(error)})
            return self.give_up(ticket, message, f"{self.destination.name} refused: {error}", "permanent")
        except Exception as error:  # noqa: BLE001 — any other adapter failure is transient: retry later
            if attempt >= self.options.max_attempts:
                log.error("delivery failed on the last attempt; parking", exc_info=error, extra=context)
                return self.give_up(
                    ticket, message, f"gave up after {attempt} attempts: {error}", "exhausted"
                )
            delay = self.backoff(attempt)
            log.warning("delivery failed; will retry", exc_info=error, extra={**context, "retry_in_s": delay})
            RETRIES.labels(self.destination.name).inc()
            self.record(ticket, FAILED, error=str(error))
            self.retry_later(message, delay)
            return Outcome.RETRY
        latency = (datetime.now(UTC) - ticket.created_at).total_seconds()
        DELIVERY_LATENCY.labels(self.destination.name, ticket.priority.value).observe(latency)
        log.info("delivered", extra={**context, "reference": reference, "latency_s": round(latency, 3)})
        if not self.record(ticket, DELIVERED, reference=reference):
            # Delivered but not recorded: keep the message; its next claim reconciles, not reposts.
            self.retry_later(message, int(self.options.stale_after_seconds))
            return Outcome.RETRY
        self.delete(message)
        return Outcome.DELIVERED

    def find_earlier_delivery(self, ticket: Ticket) -> str | None:
        """After a worker died mid-delivery: did the destination get the ticket anyway?"""
        try:
            reference = self.destination.find(ticket)
        except Exception as error:  # noqa: BLE001 — cannot tell: deliver (at least once beats never)
            log.warning("could not check the destination for an earlier delivery", exc_info=error)
            return None
        if reference:
            log.info("found the earlier delivery; not sending again", extra={"reference": reference})
        return reference

    def backoff(self, attempt: int) -> int:
        return compute_backoff(attempt, self.options.retry_base_seconds, self.options.retry_max_seconds)

    def record(
        self, ticket: Ticket, status: str, reference: str | None = None, error: str | None = None
    ) -> bool:
        """Write the outcome to the ledger; False (logged) when the ledger cannot be reached."""
        try:
            self.ledger.settle(ticket, status, reference=reference, error=error)
        except (BotoCoreError, ClientError, LedgerConflict) as failure:
            log.error("could not record the outcome", extra={"status": status, "error": str(failure)})
            return False
        return True

    def give_up(self, ticket: Ticket, message: dict[str, Any], reason: str, kind: str) -> Outcome:
        outcome = self.park(message, reason, kind)
        if outcome is Outcome.PARKED:
            self.record(ticket, DEAD_LETTERED, error=reason)
        return outcome

    def delete(self, message: dict[str, Any]) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queues.url, ReceiptHandle=message["ReceiptHandle"])
        except (BotoCoreError, ClientError) as error:
            # Delivered but not deleted: SQS will redeliver it (at-least-once).
            log.error("delete failed after delivery", extra={"error": str(error)})

    def retry_later(self, message: dict[str, Any], delay: int) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queues.url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=delay,
            )
        except (BotoCoreError, ClientError) as error:
            log.error("could not schedule retry; default visibility applies", extra={"error": str(error)})

    def park(self, message: dict[str, Any], reason: str, kind: str) -> Outcome:
        """Move the message to the dead-letter queue at once, with the reason attached."""
        attributes = dict(message.get("MessageAttributes", {}))
        attributes["park_reason"] = {"DataType": "String", "StringValue": redact(reason)[:1000]}
        try:
            self.sqs.send_message(
                QueueUrl=self.queues.dlq_url,
                MessageBody=message["Body"],
                MessageAttributes=attributes,
            )
        except (BotoCoreError, ClientError) as error:
            log.error("could not park message; it stays on the queue", extra={"error": str(error)})
            return Outcome.RETRY
        self.delete(message)
        DLQ_MOVES.labels(self.destination.name, kind).inc()
        return Outcome.PARKED
