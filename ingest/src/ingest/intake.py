"""Accepting a valid submission: give it its identity and put it on its priority's queue."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from flask import g

from ticketrouter.logs import bound_ticket
from ticketrouter.queues import QueueDirectory
from ticketrouter.ticket import Submission, Ticket

log = logging.getLogger(__name__)


class QueueUnavailable(Exception):
    """SQS could not be reached; nothing was queued."""


def accept(submission: Submission, queues: QueueDirectory) -> Ticket:
    """Queue the submission as a new ticket; raises QueueUnavailable."""
    ticket = Ticket.from_submission(submission)
    g.ticket_id = ticket.id  # for the request log line
    with bound_ticket(ticket.id):
        try:
            message_id = queues.send(ticket)
        except (BotoCoreError, ClientError) as error:
            log.error("queue unavailable", extra={"error": str(error)})
            raise QueueUnavailable(str(error)) from error
        log.info(
            "ticket queued",
            extra={"priority": ticket.priority.value, "source": ticket.source, "sqs_message_id": message_id},
        )
    return ticket
