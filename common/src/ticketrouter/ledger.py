"""The ticket ledger: one S3 object per ticket, changed only by conditional writes
(conditional_store.py), and the idempotency keys of intake.

What a record holds and how claims and outcomes change it: ledger_records.py (its names are
also importable from here).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ticketrouter.conditional_store import ConditionalStore
from ticketrouter.destination import AttemptOutcome
from ticketrouter.errors import AWS_ERRORS, TicketRouterError
from ticketrouter.ledger_records import (
    DEAD_LETTERED,
    DELIVERED,
    DELIVERING,
    FAILED,
    QUEUED,
    Claim,
    ClaimAction,
    Result,
    Status,
    Update,
    claim_action,
    etag_of,
    evolve,
    first_claim,
    new_record,
    recorded,
    settled,
    taken,
)
from ticketrouter.ticket import Ticket

__all__ = [
    "DEAD_LETTERED", "DELIVERED", "DELIVERING", "FAILED", "IDEMPOTENCY_WINDOW", "QUEUED", "Claim",
    "ClaimAction", "LEDGER_ERRORS", "Ledger", "LedgerConflict", "Status", "evolve",
]  # fmt: skip
log = logging.getLogger(__name__)

_CAS_ATTEMPTS = 8
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def utcnow() -> datetime:
    """The clock of idempotency windows (a function, so that tests can move it)."""
    return datetime.now(UTC)


def binding_expiry(binding: dict[str, Any]) -> datetime:
    """When an idempotency binding lapses (bindings written before expires_at existed: 24 h)."""
    if "expires_at" in binding:
        return datetime.fromisoformat(binding["expires_at"])
    return datetime.fromisoformat(binding["created_at"]) + IDEMPOTENCY_WINDOW


class LedgerConflict(TicketRouterError):
    """Another writer kept changing the record; the caller should retry later."""


# What a ledger call raises when the ledger cannot answer or decide now.
LEDGER_ERRORS = (*AWS_ERRORS, LedgerConflict)


class Ledger(ConditionalStore):
    """Ticket records (and idempotency keys) in the ledger bucket."""

    @staticmethod
    def _key(ticket_id: str) -> str:
        return f"tickets/{ticket_id}.json"

    def get(self, ticket_id: str) -> dict[str, Any] | None:
        found = self._read(self._key(ticket_id))
        return found[0] if found else None

    def create(self, ticket: Ticket) -> bool:
        """Record a new queued ticket; False if a record already exists."""
        return self._write(self._key(ticket.id), new_record(ticket), None) is not None

    def discard(self, ticket: Ticket) -> None:
        """Remove the record of a ticket that provably never reached its queue, unless it changed
        since ingest created it: a retry may have sent the same ticket meanwhile, and a worker
        claimed it (a conditional delete, IfMatch the created record's ETag)."""
        self._delete(self._key(ticket.id), etag_of(new_record(ticket)))

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
        created = new_record(ticket)
        claimed = first_claim(created, destination)
        etag = self._replace(self._key(ticket.id), claimed, etag_of(created))
        if etag is not None:
            return Claim(ClaimAction.DELIVER, claimed, etag)
        decision: list[ClaimAction] = []

        def take(record: dict[str, Any]) -> Update | None:
            decision[:] = [claim_action(record, stale_after)]
            return None if decision[0] in (ClaimAction.SKIP, ClaimAction.WAIT) else taken(record, destination)

        record, etag = self.change(ticket, take)
        return Claim(decision[0], record, etag)

    def presume_claim(self, ticket: Ticket, destination: str) -> Claim:
        """The first claim of a ticket at an idempotent destination, not written (no call).

        Its record is what claim would write on ingest's untouched record, and its etag that
        record's: settle then records the outcome in one conditional write, and the ledger says
        "queued" until then (README, "Every ticket is traceable").
        """
        created = new_record(ticket)
        return Claim(ClaimAction.DELIVER, first_claim(created, destination), etag_of(created), presumed=True)

    def touch(self, ticket: Ticket) -> None:
        """Refresh a delivering record's updated_at, so that nobody takes it for abandoned."""
        self.change(ticket, lambda record: (record, None) if record["status"] == DELIVERING else None)

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
        never overwritten: what came after it is noted beside it (unless it is the same
        delivery, which adds nothing).
        """
        result = Result(status, outcome, reference, error, note)
        if claim is not None and claim.etag:
            # The claim's own record, unchanged since (IfMatch): the result goes over it.
            updated = evolve(claim.record, *recorded(dict(claim.record), result))
            if self._replace(self._key(ticket.id), updated, claim.etag) is not None:
                return
        self.change(ticket, lambda record: settled(record, result, claim))

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

    def resend_submission(self, key: str, binding: dict[str, Any]) -> bool:
        """Mark a binding whose ticket a retry is about to send again, so that the first call,
        should its send fail for sure, no longer releases it (forget_submission); False if it
        changed or was released meanwhile: the retry must then bind the key afresh."""
        marked = {**binding, "resent_at": utcnow().isoformat()}
        return self._replace(self._idempotency_key(key), marked, etag_of(binding)) is not None

    def forget_submission(self, key: str, binding: dict[str, Any]) -> None:
        """Unbind a key whose ticket could not be queued, so that a retry can succeed, unless the
        binding changed since it was written (a retry resent its ticket meanwhile)."""
        self._delete(self._idempotency_key(key), etag_of(binding))
