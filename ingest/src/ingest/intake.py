"""Accepting a valid submission: give it its identity, put it on its priority's queue, record it.

A submission bound to an idempotency key (see ingest.idempotency) that repeats within the key's
window returns the first ticket; if the first call may not have put it on the queue, the repeat
sends that same ticket again (workers deduplicate by ticket id).

Two ways to bind a key, both written *before* the ticket is sent so that a retry after a lost
SQS answer finds the ticket:
- implicit keys (no key sent): the first ticket's id follows from the key (UUID v5), so the
  ledger record's own conditional create is the binding: a keyless ticket costs that PUT and
  SendMessage, two AWS calls. The window is counted from the record's ``created_at``; once it
  has lapsed, the same body again is bound the second way, under a fresh id.
- explicit keys: a binding object (``Ledger.remember_submission``) names the ticket, then the
  ticket is sent and recorded: three calls.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from flask import g

from ingest.idempotency import IdempotencyKey
from ingest.metrics import ACCEPTED, source_label
from ticketrouter import ledger as ledger_clock
from ticketrouter.errors import AWS_ERRORS
from ticketrouter.ledger import LEDGER_ERRORS, Ledger, Status
from ticketrouter.logs import bound_ticket
from ticketrouter.queues import QueueDirectory
from ticketrouter.send_outcome import SendFailed, SendOutcome
from ticketrouter.ticket import Submission, Ticket

log = logging.getLogger(__name__)
# Fixed forever: the ids of keyless tickets already in ledgers depend on it.
_IMPLICIT_ID_NAMESPACE = uuid.UUID("6f1c0d3e-7b0a-5c1e-9a43-2d5e8f1b7c60")
# Creating a record, finding it gone (a failed first send discarded it), creating again.
_RECORD_ATTEMPTS = 3
T = TypeVar("T")


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


def implicit_ticket_id(key: str) -> str:
    """The id of the first ticket bound to an implicit key: every retry computes the same one."""
    return str(uuid.uuid5(_IMPLICIT_ID_NAMESPACE, key))


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
    if key.implicit:
        accepted = _accept_by_record(ticket, key, queues, ledger)
        if accepted is not None:
            return accepted
    return _accept_by_binding(ticket, key, body_sha256, queues, ledger)


def _accept_by_record(
    ticket: Ticket, key: IdempotencyKey, queues: QueueDirectory, ledger: Ledger
) -> tuple[Ticket, bool] | None:
    """Bind an implicit key by creating the record of the ticket whose id follows from it.

    None when that ticket's window has lapsed: the caller binds the key the other way.
    """
    bound = ticket.model_copy(update={"id": implicit_ticket_id(key.name)})
    g.ticket_id = bound.id
    with bound_ticket(bound.id):
        for _ in range(_RECORD_ATTEMPTS):
            if _stored(lambda: ledger.create(bound)):
                _send_first(bound, queues, ledger)
                return bound, False
            record = _stored(lambda: ledger.get(bound.id))
            if record is None:
                continue  # discarded after a failed first send: the key is free again
            created = datetime.fromisoformat(record["created_at"])
            if ledger_clock.utcnow() >= created + key.window:
                return None
            first = bound.model_copy(update={"created_at": created})
            if record["status"] == Status.QUEUED:
                # No worker has seen it: the first call may have died before SQS stored it, or
                # lost SQS's answer. Send it (again); a second copy is dropped by the workers.
                log.info("repeated submission of a ticket no worker has seen; sending it")
                _enqueue(first, queues, deduplicated=True)
            else:
                log.info("repeated submission; nothing queued")
            return first, True
    raise QueueUnavailable("the ticket's ledger record kept changing")


def _send_first(ticket: Ticket, queues: QueueDirectory, ledger: Ledger) -> None:
    """Send a ticket whose record was just created; discard the record if nothing was queued."""
    try:
        _enqueue(ticket, queues, deduplicated=True)
    except QueueUnavailable:
        _forget(lambda: ledger.discard(ticket))
        raise
    # QueueOutcomeUnknown keeps the record: the retry must resend this very ticket.


def _accept_by_binding(
    ticket: Ticket, key: IdempotencyKey, body_sha256: str, queues: QueueDirectory, ledger: Ledger
) -> tuple[Ticket, bool]:
    """Bind the key with a binding object, then queue and record the ticket."""
    for _ in range(_RECORD_ATTEMPTS):
        accepted = _bind_and_queue(ticket, key, body_sha256, queues, ledger)
        if accepted is not None:
            return accepted
    raise QueueUnavailable("the idempotency key's binding kept changing")


def _bind_and_queue(
    ticket: Ticket, key: IdempotencyKey, body_sha256: str, queues: QueueDirectory, ledger: Ledger
) -> tuple[Ticket, bool] | None:
    """One try of _accept_by_binding; None when the binding was released under a retry."""
    binding = _stored(lambda: ledger.remember_submission(key.name, body_sha256, ticket, key.window))
    if binding["body_sha256"] != body_sha256:
        raise IdempotencyKeyReused(key.name)
    first = Ticket.model_validate(binding["ticket"])
    if first.id == ticket.id:
        try:
            _queue(ticket, queues, ledger, deduplicated=True)
        except QueueUnavailable:
            _forget(lambda: ledger.forget_submission(key.name, binding))
            raise
        # QueueOutcomeUnknown keeps the key bound: the retry must resend this very ticket.
        return ticket, False
    g.ticket_id = first.id
    with bound_ticket(first.id):
        if _stored(lambda: ledger.get(first.id)) is not None:
            log.info("repeated submission; nothing queued")
            return first, True
        # Bound but never confirmed on the queue (the first call died midway, lost SQS's answer,
        # or is still sending): queue it now; workers deduplicate by ticket id. Marked first, so
        # that the first call, should its send fail for sure, keeps the key bound to it.
        if not _stored(lambda: ledger.resend_submission(key.name, binding)):
            return None
        log.info("repeated submission of an unconfirmed ticket; queueing it")
    _queue(first, queues, ledger, deduplicated=True)
    return first, True


def _stored(call: Callable[[], T]) -> T:
    """A ledger call; a ledger that cannot answer means nothing can be accepted now."""
    try:
        return call()
    except LEDGER_ERRORS as error:
        log.error("ledger unavailable", extra={"error": str(error)})
        raise QueueUnavailable(str(error)) from error


def _forget(call: Callable[[], None]) -> None:
    """Release a key whose ticket provably was not queued, so that a retry starts afresh."""
    try:
        call()
    except AWS_ERRORS as error:
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
    except AWS_ERRORS as error:  # resolving the queue: nothing was sent
        log.error("queue unavailable", extra={"error": str(error)})
        raise QueueUnavailable(str(error)) from error


def _enqueue(ticket: Ticket, queues: QueueDirectory, deduplicated: bool) -> None:
    """Send the ticket to its queue, counted as accepted."""
    message_id = _send(ticket, queues, deduplicated)
    ACCEPTED.labels(ticket.priority.value, source_label(ticket.source)).inc()
    log.info(
        "ticket queued",
        extra={"priority": ticket.priority.value, "source": ticket.source, "sqs_message_id": message_id},
    )


def _queue(ticket: Ticket, queues: QueueDirectory, ledger: Ledger, deduplicated: bool) -> None:
    """Send the ticket to its queue, then record it in the ledger."""
    g.ticket_id = ticket.id  # for the request log line
    with bound_ticket(ticket.id):
        _enqueue(ticket, queues, deduplicated)
        try:
            ledger.create(ticket)
        except LEDGER_ERRORS as error:
            # The ticket is queued: answering 503 now would make the caller submit it twice.
            # The worker creates the missing record when it claims the ticket.
            log.warning("ticket queued but not yet in the ledger", extra={"error": str(error)})
