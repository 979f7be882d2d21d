"""POST /tickets: validate a submission and queue it by priority."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from pydantic import ValidationError

from ingest.auth import require_bearer_token
from ingest.body import decode_json, read_raw_body, require_json_content_type
from ingest.errors import ApiError
from ingest.intake import QueueUnavailable, accept
from ingest.replies import confirmation, reply_card
from ticketrouter.ticket import field_errors, parse_submission

bp = Blueprint("tickets", __name__)
bp.before_request(require_bearer_token)


@bp.post("/tickets")
def submit_ticket():
    require_json_content_type()
    payload = decode_json(read_raw_body())
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
    try:
        ticket = accept(submission, current_app.extensions["queues"])
    except QueueUnavailable:
        retry_after = current_app.extensions["settings"].ingest_retry_after_seconds
        raise ApiError(
            503,
            "queue_unavailable",
            "the ticket queue cannot be reached; nothing was queued, please retry",
            headers={"Retry-After": str(retry_after)},
        ) from None
    body = {
        "ticket_id": ticket.id,
        "priority": ticket.priority.value,
        "status": "queued",
        "message": confirmation(ticket),
        "reply_card": reply_card(ticket),
    }
    return jsonify(body), 202
