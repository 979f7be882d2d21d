"""POST /teams/webhook: a Teams outgoing webhook, signed with HMAC, carrying free text.

Teams waits 5 seconds for the answer and shows its text in the channel, so every outcome
that is the user's to fix (a missing field, an unknown priority) is a 200 reply saying
exactly what to change, with a template to copy. Only a bad signature is an HTTP error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError

from ingest.body import decode_json, read_raw_body
from ingest.errors import ApiError
from ingest.freetext import TEMPLATE, ParsedMessage, parse_message
from ingest.idempotency import IdempotencyKey
from ingest.intake import IdempotencyKeyReused, QueueOutcomeUnknown, QueueUnavailable, accept
from ingest.metrics import REJECTED
from ingest.replies import confirmation
from ticketrouter.ticket import field_errors, parse_submission

log = logging.getLogger(__name__)

bp = Blueprint("teams", __name__)


def signature_is_valid(secret_b64: str, body: bytes, authorization: str) -> bool:
    """Authorization is "HMAC " + base64(HMAC-SHA256(key=base64-decoded secret, msg=raw body))."""
    scheme, _, presented = authorization.partition(" ")
    if scheme != "HMAC" or not presented:
        return False
    try:
        key = base64.b64decode(secret_b64, validate=True)
    except binascii.Error:
        log.error("TEAMS_WEBHOOK_SECRET is not valid base64; every webhook call is refused")
        return False
    expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest())
    return hmac.compare_digest(presented.strip().encode(), expected)


def _text(mapping: dict[str, Any], key: str) -> str | None:
    """A string field of the activity, or None when absent or not a string."""
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def reply(text: str) -> Any:
    return jsonify({"type": "message", "text": text})


def correction(problems: dict[str, str]) -> str:
    """What to fix, field by field, and the template to copy."""
    lines = [f"- {name.capitalize()} {reason}" for name, reason in problems.items()]
    template = TEMPLATE.replace("\n", "\n\n")
    return (
        "I could not create your ticket:\n\n"
        + "\n\n".join(lines)
        + f"\n\nPlease send it like this:\n\n{template}"
    )


def submission_problems(parsed: ParsedMessage, requester: str | None) -> tuple[Any, dict[str, str]]:
    """The validated submission, or the problems a submitter must fix."""
    if not parsed.ok:
        return None, parsed.problems
    data: dict[str, Any] = {**parsed.values, "source": "teams-webhook"}
    if requester:
        data["requester"] = {"name": requester}
    try:
        return parse_submission(data), {}
    except ValidationError as error:
        return None, field_errors(error)


@bp.post("/teams/webhook")
def teams_webhook():
    secret = current_app.extensions["settings"].teams_webhook_secret
    if secret is None:
        raise ApiError(404, "not_configured", "the Teams webhook is off: TEAMS_WEBHOOK_SECRET is not set")
    raw = read_raw_body()
    if not signature_is_valid(secret.get_secret_value(), raw, request.headers.get("Authorization", "")):
        raise ApiError(401, "unauthorized", "missing or wrong HMAC signature")
    activity = decode_json(raw)
    if not isinstance(activity, dict):
        raise ApiError(
            422,
            "validation_failed",
            "body must be a Teams activity (a JSON object)",
            fields={"body": "must be a JSON object"},
        )
    sender = activity.get("from") if isinstance(activity.get("from"), dict) else {}
    submission, problems = submission_problems(
        parse_message(_text(activity, "text") or ""), _text(sender, "name")
    )
    if problems:
        log.info("webhook message not a ticket", extra={"problems": problems})
        REJECTED.labels("webhook_correction").inc()
        return reply(correction(problems))
    activity_id = _text(activity, "id")
    try:
        ticket, _ = accept(
            submission,
            current_app.extensions["webhook_queues"],
            current_app.extensions["webhook_ledger"],
            IdempotencyKey(f"teams:{activity_id}") if activity_id else None,
            hashlib.sha256(raw).hexdigest(),
        )
    except IdempotencyKeyReused:
        return reply("This message id was already used for a different ticket; please send a new message.")
    except QueueUnavailable:
        return reply(
            "Sorry, the ticket queue is unreachable right now and your ticket was NOT created. "
            "Please send the same message again in a minute."
        )
    except QueueOutcomeUnknown as error:
        # A new message is a new activity and would make a second ticket: say so.
        return reply(
            f"Sorry, the ticket queue did not confirm your ticket (id {error.ticket_id}) in time: "
            "it may have been created. Please check before sending it again, or it may arrive twice."
        )
    return reply(confirmation(ticket))
