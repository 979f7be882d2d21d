"""POST /teams/webhook: a Teams outgoing webhook, signed with HMAC, carrying free text.

Teams waits 5 seconds for the answer and shows its text in the channel, so every outcome
that is the user's to fix (a missing field, an unknown priority) is a 200 reply saying
exactly what to change, with a template to copy.

Replay protection: an activity must carry its `id` and a `timestamp` within
TEAMS_WEBHOOK_MAX_AGE_SECONDS (5 min) of now. Inside that window the ledger remembers every id
(for 24 h): the same signed activity again (Teams resends one it got no answer for) gets the
first reply and queues nothing; the same id with another body is 409. Outside it, 401.
HTTP errors carry both the project's error JSON and a Teams message (`type`, `text`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError

from ingest.body import decode_json, read_raw_body, require_utf8_charset
from ingest.errors import ApiError
from ingest.freetext import TEMPLATE, ParsedMessage, parse_message
from ingest.idempotency import IdempotencyKey
from ingest.intake import IdempotencyKeyReused, QueueOutcomeUnknown, QueueUnavailable, accept
from ingest.metrics import REJECTED
from ingest.replies import confirmation, escape_teams_markdown
from ingest.services import services
from ticketrouter.redaction import redact
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


def reply(text: str) -> Response:
    return jsonify({"type": "message", "text": redact(text)})


def refusal(status: int, error: str, message: str) -> ApiError:
    """An error answer in the project's shape that Teams can also show as a message."""
    return ApiError(status, error, message, type="message", text=message)


def require_fresh_activity(activity: dict[str, Any], max_age_seconds: int) -> str:
    """The activity's id, if it has one and its timestamp is within max_age_seconds of now."""
    activity_id = (_text(activity, "id") or "").strip()
    if not activity_id:
        raise refusal(400, "invalid_activity", "the activity has no id")
    stamp = _text(activity, "timestamp") or ""
    try:
        sent = datetime.fromisoformat(stamp)
    except ValueError:
        sent = None
    if sent is None or sent.tzinfo is None:
        raise refusal(400, "invalid_activity", "the activity has no timestamp with a time zone (ISO 8601)")
    age = abs((datetime.now(UTC) - sent).total_seconds())
    if age > max_age_seconds:
        raise refusal(
            401,
            "stale_activity",
            f"the activity's timestamp is {age:.0f} s from now; at most {max_age_seconds} s is accepted",
        )
    return activity_id


def correction(problems: dict[str, str]) -> str:
    """What to fix, field by field (the user's words escaped), and the template to copy."""
    lines = [f"- {name.capitalize()} {escape_teams_markdown(reason)}" for name, reason in problems.items()]
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


def _signed_activity(secret: str) -> tuple[bytes, dict[str, Any]]:
    """The raw body and the activity it holds, once its HMAC signature is verified; ApiError otherwise."""
    raw = read_raw_body()
    if not signature_is_valid(secret, raw, request.headers.get("Authorization", "")):
        raise refusal(401, "unauthorized", "missing or wrong HMAC signature")
    try:
        require_utf8_charset()
        activity = decode_json(raw)
    except ApiError as error:
        raise refusal(error.status, error.error, error.message) from None
    if not isinstance(activity, dict):
        raise ApiError(
            422,
            "validation_failed",
            "body must be a Teams activity (a JSON object)",
            fields={"body": "must be a JSON object"},
            type="message",
            text="body must be a Teams activity (a JSON object)",
        )
    return raw, activity


@bp.post("/teams/webhook")
def teams_webhook() -> Response:
    secret, intake = services().settings.teams_webhook_secret, services().webhook
    if secret is None or intake is None:
        raise ApiError(404, "not_configured", "the Teams webhook is off: TEAMS_WEBHOOK_SECRET is not set")
    raw, activity = _signed_activity(secret.get_secret_value())
    activity_id = require_fresh_activity(activity, services().settings.teams_webhook_max_age_seconds)
    sender: dict[str, Any] = activity["from"] if isinstance(activity.get("from"), dict) else {}
    submission, problems = submission_problems(
        parse_message(_text(activity, "text") or ""), _text(sender, "name")
    )
    if problems:
        log.info("webhook message not a ticket", extra={"problems": problems})
        REJECTED.labels("webhook_correction").inc()
        return reply(correction(problems))
    try:
        ticket, _ = accept(
            submission,
            intake.queues,
            intake.ledger,
            IdempotencyKey(f"teams:{activity_id}"),
            hashlib.sha256(raw).hexdigest(),
        )
    except IdempotencyKeyReused:
        raise refusal(
            409, "activity_replayed", "this activity id was already used for a different message"
        ) from None
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
    return reply(confirmation(ticket, markdown=True))
