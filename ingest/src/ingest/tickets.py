"""POST /tickets: validate a submission and queue it by priority. GET /tickets/<id>: where is it?"""

from __future__ import annotations

import hashlib
import re

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError

from ingest.auth import require_bearer_token
from ingest.body import decode_json, read_raw_body, require_json_content_type
from ingest.errors import ApiError
from ingest.intake import IdempotencyKeyReused, QueueUnavailable, accept
from ingest.replies import confirmation, reply_card
from ticketrouter.redaction import redact
from ticketrouter.ticket import field_errors, parse_submission

bp = Blueprint("tickets", __name__)
bp.before_request(require_bearer_token)

IDEMPOTENCY_KEY_MAX = 255
_TICKET_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def unavailable(error: str, message: str) -> ApiError:
    """A 503 telling the caller when to retry."""
    retry_after = current_app.extensions["settings"].ingest_retry_after_seconds
    return ApiError(503, error, message, headers={"Retry-After": str(retry_after)})


def idempotency_key() -> str | None:
    """The caller's Idempotency-Key, else one derived from Power Automate's run headers."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise ApiError(
            400, "invalid_idempotency_key", f"Idempotency-Key is longer than {IDEMPOTENCY_KEY_MAX}"
        )
    if key:
        return f"key:{key}"
    # A retry of the flow's HTTP action repeats the run id and the action's name.
    run_id = request.headers.get("x-ms-workflow-run-id", "").strip()
    if run_id:
        return f"flow:{run_id}:{request.headers.get('x-ms-workflow-operation-name', '').strip()}"
    return None


@bp.post("/tickets")
def submit_ticket():
    require_json_content_type()
    raw = read_raw_body()
    payload = decode_json(raw)
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
        ticket, repeated = accept(
            submission,
            current_app.extensions["queues"],
            current_app.extensions["ledger"],
            idempotency_key(),
            hashlib.sha256(raw).hexdigest(),
        )
    except IdempotencyKeyReused:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this idempotency key was used for a different ticket in the last 24 hours",
        ) from None
    except QueueUnavailable:
        raise unavailable(
            "queue_unavailable", "the ticket queue cannot be reached; nothing was queued, please retry"
        ) from None
    body = {
        "ticket_id": ticket.id,
        "priority": ticket.priority.value,
        "status": "queued",
        "message": confirmation(ticket),
        "reply_card": reply_card(ticket),
    }
    return jsonify(redact(body)), 202, ({"Idempotent-Replayed": "true"} if repeated else {})


@bp.get("/tickets/<ticket_id>")
def ticket_status(ticket_id: str):
    """The ticket's delivery status and destination reference, from the ledger."""
    try:
        record = current_app.extensions["ledger"].get(ticket_id) if _TICKET_ID.match(ticket_id) else None
    except (BotoCoreError, ClientError):
        raise unavailable("ledger_unavailable", "the ticket ledger cannot be reached; please retry") from None
    if record is None:
        raise ApiError(404, "not_found", f"no ticket {ticket_id}")
    # Records written before redaction reached the ledger may still hold a secret.
    return jsonify(redact(record))
