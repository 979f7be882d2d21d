"""Which idempotency key a submission carries, and for how long it holds.

Explicit keys (an ``Idempotency-Key`` header, Power Automate's run headers, a Teams activity
id) hold for 24 hours. Without one, the caller and the body's hash form an implicit key that
holds for ``INGEST_IMPLICIT_DEDUP_SECONDS`` (default 600; 0 = off): a client that retries the
same body after a 503 or a timeout gets the first ticket back instead of a second one. The
price: two identical bodies sent on purpose within the window make one ticket (the second
answer says ``Idempotent-Replayed: true``; an ``Idempotency-Key`` keeps them apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import request

from ingest.auth import caller_identity
from ingest.errors import ApiError
from ingest.services import settings
from ticketrouter.ledger import IDEMPOTENCY_WINDOW

IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class IdempotencyKey:
    """A key and how long a submission bound to it is remembered."""

    name: str
    window: timedelta = IDEMPOTENCY_WINDOW
    # Derived from the caller and the body (no key sent): the ticket's id may follow from it.
    implicit: bool = False


def implicit_key(caller: str, body_sha256: str) -> str:
    """The key of a keyless submission: who sent it and exactly what they sent."""
    return f"body:{caller}:{body_sha256}"


def explicit_key() -> str | None:
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


def submission_key(body_sha256: str) -> IdempotencyKey | None:
    """The key this POST /tickets is deduplicated by (None: no key and implicit keys off)."""
    explicit = explicit_key()
    if explicit:
        return IdempotencyKey(explicit)
    seconds = settings().ingest_implicit_dedup_seconds
    if seconds == 0:
        return None
    key = implicit_key(caller_identity(), body_sha256)
    return IdempotencyKey(key, timedelta(seconds=seconds), implicit=True)
