"""POST /tickets: validate a submission and queue it by priority. GET /tickets/<id>: where is it?"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import ValidationError

from ingest.auth import require_bearer_token
from ingest.body import decode_json, read_raw_body, require_json_content_type
from ingest.errors import ApiError
from ingest.idempotency import submission_key
from ingest.intake import IdempotencyKeyReused, QueueOutcomeUnknown, QueueUnavailable, accept
from ingest.replies import confirmation, reply_card
from ingest.services import services, settings
from ticketrouter.errors import AWS_ERRORS
from ticketrouter.redaction import redact
from ticketrouter.ticket import field_errors, parse_submission

bp = Blueprint("tickets", __name__)
bp.before_request(require_bearer_token)

_TICKET_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def unavailable(error: str, message: str, **details: Any) -> ApiError:
    """A 503 telling the caller when to retry."""
    retry_after = settings().ingest_retry_after_seconds
    return ApiError(503, error, message, headers={"Retry-After": str(retry_after)}, **details)


def outcome_unknown(error: QueueOutcomeUnknown) -> ApiError:
    """A 503 that says the truth: the ticket may be queued, and whether a retry is safe."""
    if error.deduplicated:
        advice = "retrying this same request is safe: it is recognised and makes no second ticket"
    else:
        advice = "a retry without an Idempotency-Key may create a second ticket"
    return unavailable(
        "queue_outcome_unknown",
        f"the ticket queue did not confirm the ticket, which may have been queued; {advice}",
        ticket_id=error.ticket_id,
        retry_safe=error.deduplicated,
    )


@bp.post("/tickets")
def submit_ticket() -> tuple[Response, int, dict[str, str]]:
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
    body_sha256 = hashlib.sha256(raw).hexdigest()
    intake = services().tickets
    try:
        key = submission_key(body_sha256)
        ticket, repeated = accept(submission, intake.queues, intake.ledger, key, body_sha256)
    except IdempotencyKeyReused:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this idempotency key was used for a different ticket in the last 24 hours",
        ) from None
    except QueueUnavailable:
        raise unavailable(
            "queue_unavailable",
            "the ticket queue cannot be reached; nothing was queued, please retry",
            retry_safe=True,
        ) from None
    except QueueOutcomeUnknown as error:
        raise outcome_unknown(error) from None
    body = {
        "ticket_id": ticket.id,
        "priority": ticket.priority.value,
        "status": "queued",
        "message": confirmation(ticket),
        "reply_card": reply_card(ticket),
    }
    return jsonify(redact(body)), 202, ({"Idempotent-Replayed": "true"} if repeated else {})


@bp.get("/tickets/<ticket_id>")
def ticket_status(ticket_id: str) -> Response:
    """The ticket's delivery status and destination reference, from the ledger."""
    try:
        record = services().tickets.ledger.get(ticket_id) if _TICKET_ID.match(ticket_id) else None
    except AWS_ERRORS:
        raise unavailable("ledger_unavailable", "the ticket ledger cannot be reached; please retry") from None
    if record is None:
        # Accepted while the ledger was unreachable is the one way a real ticket has no record.
        raise ApiError(
            404,
            "not_found",
            f"no ticket {ticket_id} in the ledger: it was never accepted, or it was accepted while the "
            "ledger was unreachable, and then its worker parked it on a dead-letter queue (make dlq)",
        )
    # Records written before redaction reached the ledger may still hold a secret.
    return jsonify(redact(record))
