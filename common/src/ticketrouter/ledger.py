"""The ticket ledger: one S3 object per ticket, changed only by conditional writes.

Why S3: conditional writes (``IfNoneMatch='*'`` to create, ``IfMatch=<etag>`` to replace) are
enforced by AWS, LocalStack and moto alike, so the same code runs offline, in the container
tests and live, while DynamoDB cannot run in a registry-less LocalStack build.

Status: ``queued → delivering → delivered | failed | dead-lettered`` (``failed`` means an
attempt failed and SQS will redeliver; ``dead-lettered`` means parked on the DLQ).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ticketrouter.aws import error_code
from ticketrouter.redaction import redact
from ticketrouter.ticket import Ticket

log = logging.getLogger(__name__)

QUEUED = "queued"
DELIVERING = "delivering"
DELIVERED = "delivered"
FAILED = "failed"
DEAD_LETTERED = "dead-lettered"
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404"}
_CAS_ATTEMPTS = 8
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def now() -> str:
    return datetime.now(UTC).isoformat()


class LedgerConflict(Exception):
    """Another writer kept changing the record; the caller should retry later."""


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a ticket it received."""

    action: str  # "deliver", "reconcile" (a previous attempt died mid-delivery), "skip", "wait"
    record: dict[str, Any]


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

    def _write(self, key: str, record: dict[str, Any], etag: str | None) -> bool:
        """Create (etag None) or replace the record only if unchanged; False on a lost race."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(record).encode(),
                ContentType="application/json",
                ServerSideEncryption="AES256",
                **condition,
            )
        except ClientError as error:
            if error_code(error) in _CONFLICT_CODES:
                return False
            raise
        return True

    def get(self, ticket_id: str) -> dict[str, Any] | None:
        found = self._read(self._key(ticket_id))
        return found[0] if found else None

    def create(self, ticket: Ticket) -> bool:
        """Record a new queued ticket; False if a record already exists."""
        record = {
            "ticket_id": ticket.id,
            "priority": ticket.priority.value,
            "status": QUEUED,
            "attempts": 0,
            "destination": None,
            "reference": None,
            "last_error": None,
            "created_at": ticket.created_at.isoformat(),
            "updated_at": now(),
            "history": [{"status": QUEUED, "at": now()}],
        }
        return self._write(self._key(ticket.id), redact(record), None)

    def change(
        self, ticket: Ticket, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Apply change to the current record (created if missing) with compare-and-swap.

        change returns the new record, or None to leave it as it is.
        """
        key = self._key(ticket.id)
        for _ in range(_CAS_ATTEMPTS):
            found = self._read(key)
            if found is None:
                self.create(ticket)
                continue
            record, etag = found
            updated = change(dict(record))
            if updated is None:
                return record
            if updated["status"] != record["status"]:
                updated["history"] = [*record.get("history", []), {"status": updated["status"], "at": now()}]
            updated["updated_at"] = now()
            # A destination's error text may echo credentials; GET /tickets/<id> serves this record.
            updated = redact(updated)
            if self._write(key, updated, etag):
                return updated
        raise LedgerConflict(f"ticket {ticket.id}: record kept changing")

    def claim(self, ticket: Ticket, destination: str, stale_after: float) -> Claim:
        """Mark the ticket as being delivered by us, unless it is delivered or being delivered."""
        decision: dict[str, str] = {}

        def take(record: dict[str, Any]) -> dict[str, Any] | None:
            if record["status"] in (DELIVERED, DEAD_LETTERED):
                decision["action"] = "skip"
                return None
            if record["status"] == DELIVERING:
                age = datetime.now(UTC) - datetime.fromisoformat(record["updated_at"])
                if age.total_seconds() < stale_after:
                    decision["action"] = "wait"  # a copy of this message is in another worker's hands
                    return None
                decision["action"] = "reconcile"  # that worker died mid-delivery
            else:
                decision["action"] = "deliver"
            return {**record, "status": DELIVERING, "destination": destination,
                    "attempts": record.get("attempts", 0) + 1}  # fmt: skip

        record = self.change(ticket, take)
        return Claim(decision["action"], record)

    def settle(
        self, ticket: Ticket, status: str, reference: str | None = None, error: str | None = None
    ) -> None:
        """Record the outcome of an attempt."""

        def apply(record: dict[str, Any]) -> dict[str, Any]:
            record["status"] = status
            if reference is not None:
                record["reference"] = reference
            record["last_error"] = error
            return record

        self.change(ticket, apply)

    # --- idempotent intake -------------------------------------------------------------

    @staticmethod
    def _idempotency_key(key: str) -> str:
        return f"idempotency/{hashlib.sha256(key.encode()).hexdigest()}.json"

    def remember_submission(self, key: str, body_hash: str, ticket: Ticket) -> dict[str, Any]:
        """Bind an idempotency key to this ticket, unless it is already bound (within 24 h).

        Returns the binding in force: this one, or the earlier one.
        """
        object_key = self._idempotency_key(key)
        binding = {"body_sha256": body_hash, "ticket": json.loads(ticket.to_message()), "created_at": now()}
        for _ in range(_CAS_ATTEMPTS):
            found = self._read(object_key)
            if found is None:
                if self._write(object_key, binding, None):
                    return binding
                continue
            existing, etag = found
            age = datetime.now(UTC) - datetime.fromisoformat(existing["created_at"])
            if age < IDEMPOTENCY_WINDOW:
                return existing
            if self._write(object_key, binding, etag):  # expired: the key starts afresh
                return binding
        raise LedgerConflict("idempotency key kept changing")

    def forget_submission(self, key: str) -> None:
        """Unbind a key whose ticket could not be queued, so that a retry can succeed."""
        self.s3.delete_object(Bucket=self.bucket, Key=self._idempotency_key(key))
