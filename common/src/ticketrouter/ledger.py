"""The ticket ledger: one S3 object per ticket, changed only by conditional writes.

Why S3: conditional writes (``IfNoneMatch='*'`` to create, ``IfMatch=<etag>`` to replace) are
enforced by AWS, LocalStack and moto alike, so the same code runs offline, in the container
tests and live, while DynamoDB cannot run in a registry-less LocalStack build.

Status: ``queued → delivering → delivered | failed | dead-lettered`` (``failed`` means an
attempt failed and SQS will redeliver; ``dead-lettered`` means parked on the DLQ).
``last_outcome`` says how the last attempt ended (``delivered``, ``refused``, ``not_sent``,
``unknown``); after ``unknown`` the next claim is a ``reconcile``: look before sending.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ticketrouter.aws import error_code
from ticketrouter.destination import AttemptOutcome
from ticketrouter.errors import TicketRouterError
from ticketrouter.redaction import redact
from ticketrouter.ticket import Ticket

log = logging.getLogger(__name__)


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
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404"}
_CAS_ATTEMPTS = 8
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def _body(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def _etag_of(record: dict[str, Any]) -> str:
    """The ETag S3 gives this record once written: the MD5 of its bytes (single-part, SSE-S3)."""
    return f'"{hashlib.md5(_body(record), usedforsecurity=False).hexdigest()}"'


def now() -> str:
    return datetime.now(UTC).isoformat()


def utcnow() -> datetime:
    """The clock of idempotency windows (a function, so that tests can move it)."""
    return datetime.now(UTC)


def binding_expiry(binding: dict[str, Any]) -> datetime:
    """When an idempotency binding lapses (bindings written before expires_at existed: 24 h)."""
    if "expires_at" in binding:
        return datetime.fromisoformat(binding["expires_at"])
    return datetime.fromisoformat(binding["created_at"]) + IDEMPOTENCY_WINDOW


# What a change to a record returns: the new record, and a note for its history (or None).
Update = tuple[dict[str, Any], str | None]


class LedgerConflict(TicketRouterError):
    """Another writer kept changing the record; the caller should retry later."""


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a ticket it received, and the record as it claimed it."""

    action: ClaimAction
    record: dict[str, Any]
    etag: str | None = None  # of the record written by the claim: lets settle skip a re-read


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
    return redact(updated)


class Ledger:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    @staticmethod
    def _key(ticket_id: str) -> str:
        return f"tickets/{ticket_id}.json"

    def _read(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error_code(error) in _MISSING_CODES:
                return None
            raise
        return json.loads(response["Body"].read()), response["ETag"]

    def _write(self, key: str, record: dict[str, Any], etag: str | None) -> str | None:
        """Create (etag None) or replace the record only if unchanged.

        Returns the new ETag, or None on a lost race.
        """
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=_body(record),
                ContentType="application/json",
                ServerSideEncryption="AES256",
                **condition,
            )
        except ClientError as error:
            if error_code(error) in _CONFLICT_CODES:
                return None
            raise
        return str(response.get("ETag") or "")

    def get(self, ticket_id: str) -> dict[str, Any] | None:
        found = self._read(self._key(ticket_id))
        return found[0] if found else None

    def create(self, ticket: Ticket) -> bool:
        """Record a new queued ticket; False if a record already exists."""
        return self._write(self._key(ticket.id), self._new_record(ticket), None) is not None

    def discard(self, ticket_id: str) -> None:
        """Remove the record of a ticket that provably never reached its queue."""
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(ticket_id))

    @staticmethod
    def _new_record(ticket: Ticket) -> dict[str, Any]:
        """The record ingest creates. Every field follows from the ticket (no clock is read), so
        that a worker can rebuild its exact bytes, and so its ETag: see claim."""
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

    def change(
        self, ticket: Ticket, change: Callable[[dict[str, Any]], Update | None]
    ) -> tuple[dict[str, Any], str | None]:
        """Apply change to the current record (created if missing) with compare-and-swap.

        change returns the new record and a history note, or None to leave it as it is.
        Returns the record in force and its ETag.
        """
        key = self._key(ticket.id)
        for _ in range(_CAS_ATTEMPTS):
            found = self._read(key)
            if found is None:
                self.create(ticket)
                continue
            record, etag = found
            update = change(dict(record))
            if update is None:
                return record, etag
            updated = evolve(record, *update)
            new_etag = self._write(key, updated, etag)
            if new_etag is not None:
                return updated, new_etag
        raise LedgerConflict(f"ticket {ticket.id}: record kept changing")

    def claim(self, ticket: Ticket, destination: str, stale_after: float) -> Claim:
        """Mark the ticket as being delivered by us, unless it is delivered or being delivered.

        A first attempt costs one conditional PUT: if the record is still the one ingest created
        (IfMatch its rebuilt ETag), nobody has touched the ticket and it is ours to deliver.
        Otherwise (a retry, a redelivery, a record not written yet) it is read and decided.
        """
        untouched = self._claim_untouched(ticket, destination)
        if untouched is not None:
            return untouched
        decision: list[ClaimAction] = []

        def take(record: dict[str, Any]) -> Update | None:
            decision[:] = [claim_action(record, stale_after)]
            if decision[0] in (ClaimAction.SKIP, ClaimAction.WAIT):
                return None
            return {**record, "status": DELIVERING, "destination": destination,
                    "attempts": record.get("attempts", 0) + 1}, None  # fmt: skip

        record, etag = self.change(ticket, take)
        return Claim(decision[0], record, etag)

    def touch(self, ticket: Ticket) -> None:
        """Refresh a delivering record's updated_at, so that nobody takes it for abandoned."""
        self.change(ticket, lambda record: (record, None) if record["status"] == DELIVERING else None)

    def _claim_untouched(self, ticket: Ticket, destination: str) -> Claim | None:
        """Claim with IfMatch on the record as ingest created it; None if it is not that record."""
        created = self._new_record(ticket)
        taken = {**created, "status": DELIVERING, "destination": destination, "attempts": 1}
        claimed = evolve(created, taken)
        try:
            etag = self._write(self._key(ticket.id), claimed, _etag_of(created))
        except ClientError as error:
            if error_code(error) in _MISSING_CODES:
                return None  # ingest has not recorded it yet: the read path creates it
            raise
        return Claim(ClaimAction.DELIVER, claimed, etag) if etag is not None else None

    def settle(
        self,
        ticket: Ticket,
        status: Status,
        *,
        outcome: AttemptOutcome | None = None,
        reference: str | None = None,
        error: str | None = None,
        note: str | None = None,
        claim: Claim | None = None,
    ) -> None:
        """Record the outcome of an attempt.

        With the claim that started the attempt, one conditional write does it (no re-read);
        if the record changed since, the compare-and-swap loop takes over, and writes only a
        history note if the attempt lost the ticket to a later claim. A delivered record is
        never overwritten: what came after it is noted beside it.
        """

        def apply(record: dict[str, Any]) -> Update:
            superseded = record["status"] == DELIVERED or (
                claim is not None
                and (record["status"] != DELIVERING or record.get("attempts") != claim.record.get("attempts"))
            )
            if superseded:
                what = f"{status} ({outcome or '-'}{', ' + reference if reference else ''})"
                return record, f"superseded: a later outcome, {what}, left the record as it was"
            record["status"] = status
            if outcome is not None:
                record["last_outcome"] = outcome
            if reference is not None:
                record["reference"] = reference
            record["last_error"] = error
            return record, note

        if claim is not None and claim.etag:
            updated = evolve(claim.record, *apply(dict(claim.record)))
            if self._write(self._key(ticket.id), updated, claim.etag) is not None:
                return
        self.change(ticket, apply)

    # --- idempotent intake -------------------------------------------------------------

    @staticmethod
    def _idempotency_key(key: str) -> str:
        return f"idempotency/{hashlib.sha256(key.encode()).hexdigest()}.json"

    def remember_submission(
        self, key: str, body_hash: str, ticket: Ticket, window: timedelta = IDEMPOTENCY_WINDOW
    ) -> dict[str, Any]:
        """Bind an idempotency key to this ticket for window, unless it is already bound.

        Returns the binding in force: this one, or the earlier one. Write first: a new key
        costs one conditional PUT; only a key already taken is read.
        """
        object_key = self._idempotency_key(key)
        bound_at = utcnow()
        binding = {
            "body_sha256": body_hash,
            "ticket": json.loads(ticket.to_message()),
            "created_at": bound_at.isoformat(),
            "expires_at": (bound_at + window).isoformat(),
        }
        for _ in range(_CAS_ATTEMPTS):
            if self._write(object_key, binding, None) is not None:
                return binding
            found = self._read(object_key)
            if found is None:
                continue  # released between our write and our read
            existing, etag = found
            if utcnow() < binding_expiry(existing):
                return existing
            if self._write(object_key, binding, etag) is not None:  # expired: the key starts afresh
                return binding
        raise LedgerConflict("idempotency key kept changing")

    def forget_submission(self, key: str) -> None:
        """Unbind a key whose ticket could not be queued, so that a retry can succeed."""
        self.s3.delete_object(Bucket=self.bucket, Key=self._idempotency_key(key))
