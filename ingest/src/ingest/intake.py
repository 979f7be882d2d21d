"""Accepting a valid submission: give it its identity, put it on its priority's queue, record it.

A submission bound to an idempotency key (see ingest.idempotency) that repeats within the key's
window returns the first ticket and queues nothing new; if the first call never confirmed the
ticket on the queue, the repeat sends that same ticket (workers deduplicate by ticket id).
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from flask import g

from ingest.idempotency import IdempotencyKey
from ingest.metrics import ACCEPTED, source_label
from ticketrouter.ledger import Ledger, LedgerConflict
from ticketrouter.logs import bound_ticket
from ticketrouter.queues import QueueDirectory
from ticketrouter.send_outcome import SendFailed, SendOutcome
from ticketrouter.ticket import Submission, Ticket

log = logging.getLogger(__name__)
_STORE_ERRORS = (BotoCoreError, ClientError, LedgerConflict)


class QueueUnavailable(Exception):
    """SQS (or the ledger) could not be reached and nothing was queued."""


class QueueOutcomeUnknown(Exception):
    """SQS did not confirm the ticket, yet may have stored it (its answer was lost)."""

    def __init__(self, ticket_id: str, deduplicated: bool) -> None:
        super().__init__(ticket_id)
        self.ticket_id = ticket_id
        # True when a retry of the same request is recognised and makes no second ticket.
        self.deduplicated = deduplicated


class IdempotencyKeyReused(Exception):
    """The key was used within its window for a different submission."""


def accept(
    submission: Submission,
    queues: QueueDirectory,
    ledger: Ledger,
    key: IdempotencyKey | None = None,
    body_sha256: str = "",
) -> tuple[Ticket, bool]:
    """Queue the submission as a ticket; returns it and whether this was a repeat.

    Raises QueueUnavailable, QueueOutcomeUnknown or IdempotencyKeyReused.
    """
    ticket = Ticket.from_submission(submission)
    if key is None:
        _queue(ticket, queues, ledger, deduplicated=False)
        return ticket, False
    try:
        binding = ledger.remember_submission(key.name, body_sha256, ticket, key.window)
    except _STORE_ERRORS as error:
        log.error("ledger unavailable", extra={"error": str(error)})
        raise QueueUnavailable(str(error)) from error
    if binding["body_sha256"] != body_sha256:
        raise IdempotencyKeyReused(key.name)
    first = Ticket.model_validate(binding["ticket"])
    if first.id == ticket.id:
        try:
            _queue(ticket, queues, ledger, deduplicated=True)
        except QueueUnavailable:
            _forget(ledger, key.name)
            raise
        # QueueOutcomeUnknown keeps the key bound: the retry must resend this very ticket.
        return ticket, False
    g.ticket_id = first.id
    with bound_ticket(first.id):
        if _was_queued(first, ledger):
            log.info("repeated submission; nothing queued")
            return first, True
        # Bound but never confirmed on the queue (the first call died midway or lost SQS's
        # answer): queue it now. Workers deduplicate by ticket id, so a second copy is harmless.
        log.info("repeated submission of an unconfirmed ticket; queueing it")
    _queue(first, queues, ledger, deduplicated=True)
    return first, True


def _was_queued(ticket: Ticket, ledger: Ledger) -> bool:
    try:
        return ledger.get(ticket.id) is not None
    except _STORE_ERRORS as error:
        log.error("ledger unavailable", extra={"error": str(error)})
        raise QueueUnavailable(str(error)) from error


def _forget(ledger: Ledger, key: str) -> None:
    try:
        ledger.forget_submission(key)
    except (BotoCoreError, ClientError) as error:
        # The key stays bound to an unqueued ticket; a retry will queue that same ticket.
        log.warning("could not release the idempotency key", extra={"error": str(error)})


def _send(ticket: Ticket, queues: QueueDirectory, deduplicated: bool) -> str:
    """Send the ticket to its queue; raise what the caller may be told about a failure."""
    try:
        return queues.send(ticket)
    except SendFailed as failure:
        if failure.outcome is SendOutcome.UNKNOWN:
            log.error("queue did not confirm the ticket; it may be queued", extra={"error": str(failure)})
            raise QueueOutcomeUnknown(ticket.id, deduplicated) from failure
        log.error("queue unavailable", extra={"error": str(failure)})
        raise QueueUnavailable(str(failure)) from failure
    except (BotoCoreError, ClientError) as error:  # resolving the queue: nothing was sent
        log.error("queue unavailable", extra={"error": str(error)})
        raise QueueUnavailable(str(error)) from error


def _queue(ticket: Ticket, queues: QueueDirectory, ledger: Ledger, deduplicated: bool) -> None:
    """Send the ticket to its queue (counted as accepted), then record it in the ledger."""
    g.ticket_id = ticket.id  # for the request log line
    with bound_ticket(ticket.id):
        message_id = _send(ticket, queues, deduplicated)
        ACCEPTED.labels(ticket.priority.value, source_label(ticket.source)).inc()
        log.info(
            "ticket queued",
            extra={"priority": ticket.priority.value, "source": ticket.source, "sqs_message_id": message_id},
        )
        try:
            ledger.create(ticket)
        except _STORE_ERRORS as error:
            # The ticket is queued: answering 503 now would make the caller submit it twice.
            # The worker creates the missing record when it claims the ticket.
            log.warning("ticket queued but not yet in the ledger", extra={"error": str(error)})
