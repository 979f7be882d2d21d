"""Ledger records: what a ticket's record holds, and how claims and outcomes change it.

Pure functions on the record dict (no I/O); ledger.py stores the records. Status:
``queued → delivering → delivered | failed | dead-lettered`` (``failed`` means an attempt
failed and SQS will redeliver; ``dead-lettered`` means parked on the DLQ). ``last_outcome``
says how the last attempt ended (``delivered``, ``refused``, ``not_sent``, ``unknown``);
after ``unknown`` the next claim is a ``reconcile``: look before sending.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from ticketrouter.conditional_store import body_of
from ticketrouter.destination import AttemptOutcome
from ticketrouter.redaction import redact
from ticketrouter.ticket import Ticket


class Status(enum.StrEnum):
    QUEUED = "queued"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD_LETTERED = "dead-lettered"


class ClaimAction(enum.StrEnum):
    DELIVER = "deliver"
    RECONCILE = "reconcile"  # an earlier attempt may have reached the destination: look first
    SKIP = "skip"  # settled already: drop the message
    WAIT = "wait"  # another worker holds a copy of this message right now


QUEUED, DELIVERING, DELIVERED, FAILED, DEAD_LETTERED = (
    Status.QUEUED, Status.DELIVERING, Status.DELIVERED, Status.FAILED, Status.DEAD_LETTERED
)  # fmt: skip
# The statuses that end an attempt, whose history entries say how it ended.
_SETTLED = frozenset({DELIVERED, FAILED, DEAD_LETTERED})

# What a change to a record returns: the new record, and a note for its history (or None).
Update = tuple[dict[str, Any], str | None]


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a ticket it received, and the record as it claimed it."""

    action: ClaimAction
    record: dict[str, Any]
    etag: str | None = None  # of the record written by the claim: lets settle skip a re-read
    # Not written: an idempotent destination's first attempt, whose create-only write at the
    # destination is the claim (Ledger.presume_claim). etag is then that of ingest's record.
    presumed: bool = False


@dataclass(frozen=True)
class Result:
    """How an attempt ended, as the ledger records it."""

    status: Status
    outcome: AttemptOutcome | None = None
    reference: str | None = None
    error: str | None = None
    note: str | None = None


def etag_of(record: dict[str, Any]) -> str:
    """The ETag S3 gives this record once written: the MD5 of its bytes (single-part, SSE-S3)."""
    return f'"{hashlib.md5(body_of(record), usedforsecurity=False).hexdigest()}"'


def now() -> str:
    return datetime.now(UTC).isoformat()


def new_record(ticket: Ticket) -> dict[str, Any]:
    """The record ingest creates. Every field follows from the ticket (no clock is read), so
    that a worker can rebuild its exact bytes, and so its ETag (see Ledger.claim)."""
    created = ticket.created_at.isoformat()
    return {
        "ticket_id": ticket.id,
        "priority": ticket.priority.value,
        "status": QUEUED,
        "attempts": 0,
        "destination": None,
        "reference": None,
        "last_outcome": None,
        "last_error": None,
        "created_at": created,
        "updated_at": created,
        "history": [{"status": QUEUED, "at": created}],
    }


def evolve(record: dict[str, Any], updated: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """updated, stamped, with a history entry when the status changes or a note is given."""
    if updated["status"] != record["status"] or note:
        entry: dict[str, Any] = {"status": updated["status"], "at": now()}
        if updated.get("last_outcome") and updated["status"] in _SETTLED:
            entry["outcome"] = updated["last_outcome"]
        if note:
            entry["note"] = note
        updated["history"] = [*record.get("history", []), entry]
    updated["updated_at"] = now()
    # A destination's error text may echo credentials; GET /tickets/<id> serves this record.
    return cast("dict[str, Any]", redact(updated))


def first_claim(created: dict[str, Any], destination: str) -> dict[str, Any]:
    """The record a first claim makes of ingest's record."""
    return evolve(created, {**created, "status": DELIVERING, "destination": destination, "attempts": 1})


def claim_action(record: dict[str, Any], stale_after: float) -> ClaimAction:
    """Decide from a ticket's record what the worker that received it may do."""
    if record["status"] in (DELIVERED, DEAD_LETTERED):
        return ClaimAction.SKIP
    if record["status"] == DELIVERING:
        age = datetime.now(UTC) - datetime.fromisoformat(record["updated_at"])
        # Younger than the visibility timeout: a copy of this message is in another worker's
        # hands. Older: that worker died mid-delivery, and may have reached the destination.
        return ClaimAction.WAIT if age.total_seconds() < stale_after else ClaimAction.RECONCILE
    if record.get("last_outcome") == AttemptOutcome.UNKNOWN:
        return ClaimAction.RECONCILE
    return ClaimAction.DELIVER


def taken(record: dict[str, Any], destination: str) -> Update:
    """The record claimed for one more attempt by a worker of destination."""
    attempts = record.get("attempts", 0) + 1
    return {**record, "status": DELIVERING, "destination": destination, "attempts": attempts}, None


def recorded(record: dict[str, Any], result: Result) -> Update:
    """The record with the attempt's result written over it."""
    record["status"] = result.status
    if result.outcome is not None:
        record["last_outcome"] = result.outcome
    if result.reference is not None:
        record["reference"] = result.reference
    record["last_error"] = result.error
    return record, result.note


def settled(record: dict[str, Any], result: Result, claim: Claim | None) -> Update | None:
    """The record in force with the attempt's result: over it, or noted beside a later outcome
    (None: nothing to add, the record holds this very delivery already)."""
    if record["status"] == DELIVERED == result.status and record.get("reference") == result.reference:
        return None
    if _superseded(record, result.status, claim):
        what = (
            f"{result.status} ({result.outcome or '-'}{', ' + result.reference if result.reference else ''})"
        )
        return record, f"superseded: a later outcome, {what}, left the record as it was"
    if claim is not None and claim.presumed and record["status"] != DELIVERING:
        # A delivery never claimed in this record (it changed since ingest): count it now.
        record["attempts"] = record.get("attempts", 0) + 1
        record["destination"] = claim.record["destination"]
    return recorded(record, result)


def _superseded(record: dict[str, Any], status: Status, claim: Claim | None) -> bool:
    """Whether a later outcome holds the record, so that this attempt's is only noted beside it."""
    if record["status"] == DELIVERED:
        return True
    if claim is None:
        return False
    if claim.presumed:
        # Never written, and the record changed since ingest: only a delivery, a fact at the
        # idempotent destination, goes over what others recorded.
        return status != DELIVERED
    return record["status"] != DELIVERING or record.get("attempts") != claim.record.get("attempts")
