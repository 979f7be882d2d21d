"""POST /tickets: validate a submission and queue it by priority."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, current_app, g, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from ingest.auth import require_bearer_token
from ingest.errors import ApiError
from ticketrouter.logs import bound_ticket
from ticketrouter.ticket import Priority, Ticket, field_errors, parse_submission

log = logging.getLogger(__name__)

bp = Blueprint("tickets", __name__)
bp.before_request(require_bearer_token)

DESTINATION_NAMES = {
    Priority.HIGH: "the Slack channel",
    Priority.MEDIUM: "the Trello board",
    Priority.LOW: "the ticket archive",
}


def read_json_body() -> Any:
    """The decoded JSON body, or the right 415/413/400 error."""
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, not {request.mimetype or 'missing'}",
        )
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes") from None
    try:
        return json.loads(raw)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {error}") from None


def confirmation(ticket: Ticket) -> str:
    """One line fit to show the submitter."""
    return (
        f'Ticket "{ticket.title}" received with {ticket.priority.value} priority '
        f"and queued for {DESTINATION_NAMES[ticket.priority]} (id {ticket.id})."
    )


@bp.post("/tickets")
def submit_ticket():
    payload = read_json_body()
    if not isinstance(payload, dict):
        raise ApiError(
            422,
            "validation_failed",
            "body must be a JSON object",
            fields={"body": "must be a JSON object"},
        )
    try:
        submission = parse_submission(payload)
    except ValidationError as error:
        fields = field_errors(error)
        raise ApiError(
            422, "validation_failed", "some fields are missing or invalid", fields=fields
        ) from None
    ticket = Ticket.from_submission(submission)
    g.ticket_id = ticket.id
    with bound_ticket(ticket.id):
        try:
            message_id = current_app.extensions["queues"].send(ticket)
        except (BotoCoreError, ClientError) as error:
            log.error("queue unavailable", extra={"error": str(error)})
            retry_after = current_app.extensions["settings"].ingest_retry_after_seconds
            raise ApiError(
                503,
                "queue_unavailable",
                "the ticket queue cannot be reached; nothing was queued, please retry",
                headers={"Retry-After": str(retry_after)},
            ) from None
        log.info(
            "ticket queued",
            extra={"priority": ticket.priority.value, "sqs_message_id": message_id},
        )
    body = {
        "ticket_id": ticket.id,
        "priority": ticket.priority.value,
        "status": "queued",
        "message": confirmation(ticket),
    }
    return jsonify(body), 202
