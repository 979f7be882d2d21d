"""Accepting a valid submission: give it its identity, put it on its priority's queue, record it.

With an idempotency key, a repeat within 24 hours returns the first ticket and queues nothing
new (Power Automate retries a call that timed out, and Teams may resend an activity).
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from flask import g

from ingest.metrics import ACCEPTED, source_label
from ticketrouter.ledger import Ledger, LedgerConflict
from ticketrouter.logs import bound_ticket
from ticketrouter.queues import QueueDirectory
from ticketrouter.ticket import Submission, Ticket

log = logging.getLogger(__name__)
_STORE_ERRORS = (BotoCoreError, ClientError, LedgerConflict)


class QueueUnavailable(Exception):
    """SQS (or the ledger) could not be reached; nothing was queued."""


class IdempotencyKeyReused(Exception):
    """The key was used in the last 24 hours for a different submission."""


def accept(
    submission: Submission,
    queues: QueueDirectory,
    ledger: Ledger,
    idempotency_key: str | None = None,
    body_sha256: str = "",
) -> tuple[Ticket, bool]:
    """Queue the submission as a ticket; returns it and whether this was a repeat.

    Raises QueueUnavailable or IdempotencyKeyReused.
    """
    ticket = Ticket.from_submission(submission)
    if idempotency_key is None:
        _queue(ticket, queues, ledger)
        return ticket, False
    try:
        binding = ledger.remember_submission(idempotency_key, body_sha256, ticket)
    except _STORE_ERRORS as error:
        log.error("ledger unavailable", extra={"error": str(error)})
        raise QueueUnavailable(str(error)) from error
    if binding["body_sha256"] != body_sha256:
        raise IdempotencyKeyReused(idempotency_key)
    first = Ticket.model_validate(binding["ticket"])
    if first.id == ticket.id:
        try:
            _queue(ticket, queues, ledger)
        except QueueUnavailable:
            _forget(ledger, idempotency_key)
            raise
        return ticket, False
    g.ticket_id = first.id
    with bound_ticket(first.id):
        if _was_queued(first, ledger):
            log.info("repeated submission; nothing queued")
            return first, True
        # Bound but never confirmed on the queue (the first call died midway): queue it now.
        # Workers deduplicate by ticket id, so a second copy on the queue is harmless.
        log.info("repeated submission of an unconfirmed ticket; queueing it")
    _queue(first, queues, ledger)
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


def _queue(ticket: Ticket, queues: QueueDirectory, ledger: Ledger) -> None:
    """Send the ticket to its queue (counted as accepted), then record it in the ledger."""
    g.ticket_id = ticket.id  # for the request log line
    with bound_ticket(ticket.id):
        try:
            message_id = queues.send(ticket)
        except (BotoCoreError, ClientError) as error:
            log.error("queue unavailable", extra={"error": str(error)})
            raise QueueUnavailable(str(error)) from error
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
