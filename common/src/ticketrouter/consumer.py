"""The SQS consumer loop every worker runs: receive → deliver → delete, retry, or park.

The loop owns the bookkeeping; the destination adapter only delivers one ticket. A received
batch is delivered concurrently (up to the destination's bound), and the messages it settled
are deleted together in one DeleteMessageBatch once the whole batch is done, while the next
batch is received: a crash before that delete leaves messages whose ledger record is settled,
which the next receive drops.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ticketrouter.config import WorkerSettings
from ticketrouter.delivery import Delivery, DeliveryOptions, Outcome, ParkReason, Verdict
from ticketrouter.destination import Destination
from ticketrouter.lease import Lease
from ticketrouter.ledger import Ledger
from ticketrouter.logs import bound_ticket
from ticketrouter.observability import DELIVERIES, DLQ_MOVES, Health
from ticketrouter.queues import QueuePair
from ticketrouter.ticket import Ticket
from ticketrouter.work_queue import Message, WorkQueue

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient

__all__ = ["Consumer", "ConsumerOptions", "Handled", "Outcome"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerOptions:
    wait_seconds: int = 20
    batch_size: int = 10
    # Stop once a receive comes back empty: makes tests and one-off drains deterministic.
    burst: bool = False
    # Tickets of one batch delivered at once; None = what the destination allows (max_concurrency).
    concurrency: int | None = None
    delivery: DeliveryOptions = DeliveryOptions()

    @classmethod
    def from_settings(cls, settings: WorkerSettings, burst: bool = False) -> ConsumerOptions:
        return cls(
            wait_seconds=settings.worker_wait_seconds,
            batch_size=settings.worker_batch_size,
            burst=burst,
            concurrency=settings.worker_concurrency,
            delivery=DeliveryOptions(
                retry_base_seconds=settings.worker_retry_base_seconds,
                retry_max_seconds=settings.worker_retry_max_seconds,
                max_attempts=settings.queue_max_receives,
                stale_after_seconds=settings.queue_visibility_timeout,
                unknown_retry_seconds=settings.worker_unknown_retry_seconds,
            ),
        )


@dataclass(frozen=True)
class Handled:
    """How a message was settled; delete: it is done with and leaves the queue."""

    outcome: Outcome
    delete: bool


class Waiting:
    """The messages of a batch whose delivery has not started yet; thread-safe."""

    def __init__(self, messages: list[Message]) -> None:
        self._left = {message["ReceiptHandle"]: message for message in messages}
        self._lock = threading.Lock()

    def start(self, message: Message) -> None:
        with self._lock:
            self._left.pop(message["ReceiptHandle"], None)

    def left(self) -> list[Message]:
        with self._lock:
            return list(self._left.values())


class Consumer:
    """Drains one queue into one destination until asked to stop."""

    def __init__(
        self,
        sqs: SQSClient,
        queues: QueuePair,
        destination: Destination,
        ledger: Ledger,
        options: ConsumerOptions = ConsumerOptions(),
        health: Health | None = None,
    ) -> None:
        self.queue = WorkQueue(sqs, queues, options.batch_size, options.wait_seconds)
        self.health = health
        self.destination = destination
        self.delivery = Delivery(destination, ledger, options.delivery)
        self.options = options
        self.stopping = False
        self.crashed = False  # the loop died of an unexpected exception (logged)
        self.concurrency = options.concurrency or destination.max_concurrency

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
        try:
            with (
                ThreadPoolExecutor(self.concurrency, thread_name_prefix="delivery") as pool,
                ThreadPoolExecutor(1, thread_name_prefix="delete") as deleter,
            ):
                self._loop(counts, pool, deleter)
        except Exception:  # noqa: BLE001 — the last resort: say so once, loudly, and stop cleanly
            # The message in hand stays on the queue; SQS hands it out again (and parks it
            # after the receive count), so a bug that one ticket triggers cannot loop forever.
            log.critical("unhandled exception, quitting", exc_info=True)
            self.crashed = True
        log.info(
            "consumer stopped",
            extra={"destination": self.destination.name, **{k.value: v for k, v in counts.items()}},
        )
        return counts

    def _loop(
        self, counts: dict[Outcome, int], pool: ThreadPoolExecutor, deleter: ThreadPoolExecutor
    ) -> None:
        # A batch's delete runs while the next batch is received: one call's round trip less per
        # batch. At most one delete is outstanding; the last one finishes before the loop returns.
        deleting: Future[None] | None = None
        try:
            while not self.stopping:
                if self.health:
                    self.health.beat()
                messages = self.queue.receive()
                if not messages:  # an empty poll: no lease to hold, nothing to delete
                    if self.options.burst:
                        break
                    continue
                handled = self.handle_batch(messages, pool)
                if deleting is not None:
                    deleting.result()
                deleting = deleter.submit(self.queue.delete, [m for m, h in handled if h.delete])
                for _, result in handled:
                    counts[result.outcome] += 1
        finally:
            if deleting is not None:
                deleting.result()

    def handle_batch(
        self, messages: list[Message], pool: ThreadPoolExecutor
    ) -> list[tuple[Message, Handled]]:
        """Deliver a batch concurrently (up to the pool's size); the caller deletes what it settled.

        A paced destination may take longer over a batch than the visibility timeout: the
        messages not started yet are kept hidden too (each started one has its own lease).
        """
        waiting = Waiting(messages)
        visibility = self.options.delivery.stale_after_seconds
        with Lease(lambda: self._keep_hidden(waiting.left()), visibility / 2):
            futures = [pool.submit(self._handle_unless_stopping, message, waiting) for message in messages]
            handled = [(message, future.result()) for message, future in zip(messages, futures, strict=True)]
        return [(message, result) for message, result in handled if result is not None]

    def _keep_hidden(self, messages: list[Message]) -> None:
        for message in messages:
            self.queue.hide(message, int(self.options.delivery.stale_after_seconds))

    def _handle_unless_stopping(self, message: Message, waiting: Waiting) -> Handled | None:
        waiting.start(message)
        if self.stopping:
            return None  # not started: it becomes visible again after the visibility timeout
        return self._handle_counted(message)

    def handle(self, message: Message) -> Outcome:
        """Deliver one message and settle it: delete, schedule a retry, or park."""
        handled = self._handle_counted(message)
        if handled.delete:
            self.queue.delete([message])
        return handled.outcome

    def _handle_counted(self, message: Message) -> Handled:
        handled = self._handle(message)
        DELIVERIES.labels(self.destination.name, handled.outcome.value).inc()
        return handled

    def _handle(self, message: Message) -> Handled:
        try:
            ticket = Ticket.from_message(message["Body"])
        except ValidationError as error:
            reason = (
                f"not a ticket envelope: {error.error_count()} error(s), first: {error.errors()[0]['msg']}"
            )
            log.error("poison message", extra={"message_id": message["MessageId"], "reason": reason})
            outcome = self.park(message, reason, ParkReason.POISON)
            return Handled(outcome, delete=outcome is Outcome.PARKED)
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        with bound_ticket(ticket.id):
            with Lease(lambda: self.renew(ticket, message), self.options.delivery.stale_after_seconds / 2):
                verdict = self.delivery.attempt(ticket, attempt)
            return self.settle(ticket, message, verdict)

    def renew(self, ticket: Ticket, message: Message) -> None:
        """Keep a long delivery's message hidden and its claim fresh (see lease.py)."""
        with bound_ticket(ticket.id):
            log.info("delivery still under way; renewing the lease")
            self.queue.hide(message, int(self.options.delivery.stale_after_seconds))
            self.delivery.refresh_claim(ticket)

    def settle(self, ticket: Ticket, message: Message, verdict: Verdict) -> Handled:
        """Carry the verdict out on SQS, except the delete, which the caller batches."""
        if verdict.outcome is Outcome.RETRY:
            self.queue.hide(message, verdict.delay)
            return Handled(Outcome.RETRY, delete=False)
        if verdict.outcome is Outcome.PARKED:
            if self.park(message, verdict.reason, verdict.kind or ParkReason.EXHAUSTED) is Outcome.RETRY:
                return Handled(Outcome.RETRY, delete=False)
            self.delivery.record_parked(ticket, verdict)
        return Handled(verdict.outcome, delete=True)

    def park(self, message: Message, reason: str, kind: ParkReason) -> Outcome:
        """Copy the message to the dead-letter queue at once, with the reason attached (the
        caller deletes the original); RETRY if it could not (it stays on the queue)."""
        if not self.queue.park(message, reason):
            return Outcome.RETRY
        DLQ_MOVES.labels(self.destination.name, kind.value).inc()
        return Outcome.PARKED
