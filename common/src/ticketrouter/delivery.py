"""One attempt to deliver one ticket: claim it in the ledger, look first if an earlier attempt
may have reached the destination, send, record. It returns a verdict on the message; the
consumer loop (consumer.py) carries it out on SQS.

Steps and what a crash after each leaves behind (each is a named crash point in the fault tests):
claim (ledger: delivering) → send → record (ledger: delivered) → delete the message. A crash
before "record" leaves a stale "delivering" record, and a timeout or 5xx leaves
``last_outcome: unknown``: either way the next attempt is a *reconcile*, which asks the
destination (``find``) and sends only if the ticket is provably not there.

An idempotent destination (S3: a create-only write keyed by the ticket id) refuses a second
copy by itself, so on a message's first receive its send *is* the claim: send → record (one
conditional write over ingest's record) → delete. The ledger says "queued" until the record;
a crash before it leaves that record untouched, and the redelivered message takes the full
path above, where the destination answers "already there" (``AlreadyDeliveredError``) rather
than writing twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ticketrouter.backoff import compute_backoff
from ticketrouter.destination import (
    AlreadyDeliveredError,
    AttemptOutcome,
    Destination,
    is_idempotent,
    outcome_of,
)
from ticketrouter.faults import CrashPoint, crash_point
from ticketrouter.ledger import LEDGER_ERRORS, Ledger
from ticketrouter.ledger_records import Claim, ClaimAction, Status
from ticketrouter.observability import DELIVERY_LATENCY, RETRIES
from ticketrouter.ticket import Ticket
from ticketrouter.verdicts import DeliveryOptions, Outcome, ParkReason, Verdict

__all__ = ["Delivery", "DeliveryOptions", "Outcome", "ParkReason", "Verdict"]
log = logging.getLogger(__name__)


class Delivery:
    """The delivery protocol for one destination."""

    def __init__(self, destination: Destination, ledger: Ledger, options: DeliveryOptions) -> None:
        self.destination = destination
        self.ledger = ledger
        self.options = options

    @property
    def name(self) -> str:
        return self.destination.name

    def attempt(self, ticket: Ticket, attempt: int) -> Verdict:
        """Deliver the ticket at most once in effect; return what to do with its message."""
        if attempt == 1 and is_idempotent(self.destination):
            # Its create-only write claims the ticket: the ledger is written once, after it.
            presumed = self.ledger.presume_claim(ticket, self.name)
            crash_point(CrashPoint.BEFORE_SEND)
            return self._send(ticket, presumed, attempt, None)
        claim = self._claim(ticket, attempt)
        if isinstance(claim, Verdict):
            return claim
        crash_point(CrashPoint.AFTER_CLAIM)
        note = None
        if claim.action is ClaimAction.RECONCILE:
            looked = self._look(ticket, claim, attempt)
            if isinstance(looked, Verdict):
                return looked
            note = looked
        return self._send(ticket, claim, attempt, note)

    def _claim(self, ticket: Ticket, attempt: int) -> Claim | Verdict:
        """The ledger's claim on the ticket, or the verdict when it is not ours to send now
        (settled, another worker's right now, or the ledger unreachable)."""
        try:
            claim = self.ledger.claim(ticket, self.name, self.options.stale_after_seconds)
        except LEDGER_ERRORS as error:
            return self._ledger_unavailable(error, attempt)
        return self._taken(claim, attempt) or claim

    def _taken(self, claim: Claim, attempt: int) -> Verdict | None:
        """The verdict when the claim says the ticket is not ours to send (settled, or another
        worker's right now); None when it is."""
        if claim.action is ClaimAction.SKIP:
            log.info(
                "already settled; dropping the duplicate message", extra={"status": claim.record["status"]}
            )
            return Verdict(Outcome.DUPLICATE)
        if claim.action is ClaimAction.WAIT:
            if attempt >= self.options.max_attempts:
                # Parked with a reason rather than moved by SQS's redrive without one.
                reason = "another worker was delivering this ticket at this copy's last receive"
                log.error("a copy of a ticket in delivery reached its last receive; parking")
                return Verdict(Outcome.PARKED, reason=reason, kind=ParkReason.COPY)
            log.info("another worker is delivering this ticket; checking back later")
            return Verdict(Outcome.RETRY, int(self.options.stale_after_seconds))
        return None

    def _ledger_unavailable(self, error: Exception, attempt: int) -> Verdict:
        """No delivery without the ledger: it is what keeps a redelivered message from posting twice."""
        if attempt >= self.options.max_attempts:
            reason = f"ledger unavailable: {error}"
            log.error("ledger unavailable on the last attempt; parking", extra={"error": str(error)})
            return Verdict(Outcome.PARKED, reason=reason, kind=ParkReason.LEDGER)
        log.warning("ledger unavailable; will retry", extra={"error": str(error), "attempt": attempt})
        return Verdict(Outcome.RETRY, self._backoff(attempt))

    def _look(self, ticket: Ticket, claim: Claim, attempt: int) -> Verdict | str:
        """After an attempt of unknown outcome: is the ticket at the destination already?

        Returns the verdict when that settles it, else the note to record with the re-send.
        """
        if not self.destination.can_find:
            log.warning("earlier outcome unknown and the destination cannot be checked; sending again")
            return f"earlier outcome unknown; {self.name} cannot be checked; re-sent (at least once)"
        try:
            reference = self.destination.find(ticket)
        except Exception as error:  # noqa: BLE001 — whatever the adapter raised, we cannot tell: wait
            log.warning("could not check the destination for an earlier delivery", exc_info=error)
            return self._failed(
                ticket, claim, attempt, AttemptOutcome.UNKNOWN, f"lookup failed: {error}", "lookup failed"
            )
        if reference is None:
            log.info("no earlier delivery found; sending")
            return f"earlier outcome unknown; checked {self.name}, not found; re-sent"
        log.info("found the earlier delivery; not sending again", extra={"reference": reference})
        note = f"earlier outcome unknown; checked {self.name}, found; not re-sent"
        return self._delivered(ticket, claim, attempt, reference, note)

    def _send(self, ticket: Ticket, claim: Claim, attempt: int, note: str | None) -> Verdict:
        try:
            reference = self.destination.deliver(ticket)
        except AlreadyDeliveredError as held:
            return self._already_there(ticket, claim, attempt, held.reference)
        except Exception as error:  # noqa: BLE001 — classified by outcome_of; unclassified means unknown
            outcome = outcome_of(error)
            if outcome is AttemptOutcome.REFUSED:
                log.error("delivery refused permanently; parking", extra={"error": str(error)})
                reason = f"{self.name} refused: {error}"
                return Verdict(
                    Outcome.PARKED, reason=reason, kind=ParkReason.PERMANENT, attempt_outcome=outcome
                )
            log.warning(
                "delivery failed", exc_info=error, extra={"outcome": outcome.value, "attempt": attempt}
            )
            return self._failed(ticket, claim, attempt, outcome, str(error), note)
        crash_point(CrashPoint.AFTER_SEND)
        latency = (datetime.now(UTC) - ticket.created_at).total_seconds()
        DELIVERY_LATENCY.labels(self.name, ticket.priority.value).observe(latency)
        log.info(
            "delivered", extra={"reference": reference, "latency_s": round(latency, 3), "attempt": attempt}
        )
        return self._delivered(ticket, claim, attempt, reference, note)

    def _already_there(self, ticket: Ticket, claim: Claim, attempt: int, reference: str) -> Verdict:
        """An idempotent destination held the ticket already: record it, never write it again."""
        log.info("the destination holds it already; not sending again", extra={"reference": reference})
        note = f"{self.name} already held it (an earlier attempt or a copy): found; not re-sent"
        if claim.presumed:  # a copy, or a redriven message: the ledger decides, as for any redelivery
            claimed = self._claim(ticket, attempt)
            if isinstance(claimed, Verdict):
                return claimed
            claim = claimed
        return self._delivered(ticket, claim, attempt, reference, note)

    def _delivered(
        self, ticket: Ticket, claim: Claim, attempt: int, reference: str, note: str | None
    ) -> Verdict:
        outcome = AttemptOutcome.DELIVERED
        if not self._record(ticket, Status.DELIVERED, claim, outcome, reference=reference, note=note):
            if attempt >= self.options.max_attempts:
                reason = f"delivered to {self.name} as {reference}, but the ledger could not record it"
                return Verdict(Outcome.PARKED, reason=reason, kind=ParkReason.LEDGER)
            # Delivered but not recorded: keep the message; its next claim finds the stale
            # "delivering" record and reconciles rather than reposts.
            return Verdict(Outcome.RETRY, int(self.options.stale_after_seconds))
        crash_point(CrashPoint.AFTER_RECORD)
        return Verdict(Outcome.DELIVERED)

    def _failed(
        self,
        ticket: Ticket,
        claim: Claim,
        attempt: int,
        outcome: AttemptOutcome,
        error: str,
        note: str | None,
    ) -> Verdict:
        """A failed attempt: park it if it was the last one, else record it and retry later."""
        if attempt >= self.options.max_attempts:
            log.error("the last attempt failed; parking", extra={"outcome": outcome.value, "error": error})
            reason = f"gave up after {attempt} attempts ({outcome.value}): {error}"
            return Verdict(Outcome.PARKED, reason=reason, kind=ParkReason.EXHAUSTED, attempt_outcome=outcome)
        delay = self._backoff(attempt)
        if outcome is AttemptOutcome.UNKNOWN:
            delay = max(delay, int(self.options.unknown_retry_seconds))
        RETRIES.labels(self.name).inc()
        self._record(ticket, Status.FAILED, claim, outcome, error=error, note=note)
        log.info("will retry", extra={"retry_in_s": delay, "outcome": outcome.value})
        return Verdict(Outcome.RETRY, delay)

    def _record(
        self,
        ticket: Ticket,
        status: Status,
        claim: Claim | None,
        outcome: AttemptOutcome | None,
        **fields: str | None,
    ) -> bool:
        """Write the outcome to the ledger; False (logged) when the ledger cannot be reached."""
        try:
            self.ledger.settle(ticket, status, outcome=outcome, claim=claim, **fields)
        except LEDGER_ERRORS as failure:
            log.error("could not record the outcome", extra={"status": status.value, "error": str(failure)})
            return False
        return True

    def refresh_claim(self, ticket: Ticket) -> None:
        """Tell other workers that this delivery is alive: its claim is not stale."""
        try:
            self.ledger.touch(ticket)
        except LEDGER_ERRORS as error:
            log.warning("could not refresh the claim", extra={"error": str(error)})

    def record_parked(self, ticket: Ticket, verdict: Verdict) -> None:
        """Once the message is on the dead-letter queue, say so in the ledger (unless it was a
        copy of a ticket another worker holds: its claim stands)."""
        if verdict.kind is ParkReason.COPY:
            return
        self._record(ticket, Status.DEAD_LETTERED, None, verdict.attempt_outcome, error=verdict.reason)

    def _backoff(self, attempt: int) -> int:
        return compute_backoff(attempt, self.options.retry_base_seconds, self.options.retry_max_seconds)
