"""See what is parked on the dead-letter queues, and send it back once the cause is fixed.

python -m ticketrouter.dlq list                      # every priority
python -m ticketrouter.dlq redrive --priority high   # DLQ → queue, ledger back to "queued"
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ticketrouter.aws import aws_client
from ticketrouter.config import RouterSettings
from ticketrouter.destination import AttemptOutcome
from ticketrouter.errors import AWS_ERRORS
from ticketrouter.ledger import DEAD_LETTERED, DELIVERED, DELIVERING, LEDGER_ERRORS, QUEUED, Ledger
from ticketrouter.logs import configure_logging
from ticketrouter.queues import QueueDirectory, QueuePair
from ticketrouter.redaction import redact
from ticketrouter.target import choose
from ticketrouter.ticket import Priority, Ticket

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("ticketrouter.dlq")
PEEK_VISIBILITY_SECONDS = 30
MAX_MESSAGES = 10_000


def _receive(sqs: SQSClient, url: str, visibility: int) -> list[MessageTypeDef]:
    return sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        VisibilityTimeout=visibility,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
    ).get("Messages", [])


def describe(message: MessageTypeDef) -> dict[str, Any]:
    """What an operator needs to know about one parked message."""
    park_reason = message.get("MessageAttributes", {}).get("park_reason")
    reason = park_reason.get("StringValue") if park_reason else None
    try:
        ticket = Ticket.from_message(message["Body"])
        summary: dict[str, str | None] = {
            "ticket_id": ticket.id,
            "title": ticket.title,
            "created_at": ticket.created_at.isoformat(),
        }
    except ValidationError:
        summary = {"ticket_id": None, "title": None, "body": message["Body"][:200]}
    return {**summary, "reason": redact(reason) if reason else "exceeded the receive count (moved by SQS)"}


def peek_messages(sqs: SQSClient, pair: QueuePair) -> list[MessageTypeDef]:
    """Every parked message as SQS returns it; they are made visible again afterwards."""
    seen: dict[str, MessageTypeDef] = {}
    handles = []
    while len(seen) < MAX_MESSAGES:
        batch = [
            m for m in _receive(sqs, pair.dlq_url, PEEK_VISIBILITY_SECONDS) if m["MessageId"] not in seen
        ]
        if not batch:
            break
        for message in batch:
            seen[message["MessageId"]] = message
            handles.append(message["ReceiptHandle"])
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=pair.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return list(seen.values())


def peek(sqs: SQSClient, pair: QueuePair) -> list[dict[str, Any]]:
    """Every parked message, described; they are made visible again afterwards."""
    return [describe(message) for message in peek_messages(sqs, pair)]


def bring_ledger_up_to_date(ledger: Ledger, messages: list[MessageTypeDef]) -> int:
    """Record as dead-lettered the parked tickets whose ledger record says otherwise (they were
    parked while the ledger was unreachable), so GET /tickets/<id> tells the truth; returns how many.

    A delivered record stays as it is: its parked message is a settled copy. One that says
    "delivering" may have reached its destination: its outcome becomes unknown.
    """
    updated = 0
    for message in messages:
        try:
            ticket = Ticket.from_message(message["Body"])
        except ValidationError:
            continue  # poison: no ticket, no record
        try:
            record = ledger.get(ticket.id)
            if record is not None and record["status"] in (DEAD_LETTERED, DELIVERED):
                continue
            outcome = AttemptOutcome.UNKNOWN if record and record["status"] == DELIVERING else None
            reason = describe(message)["reason"]
            note = "found parked on the dead-letter queue"
            ledger.settle(ticket, DEAD_LETTERED, outcome=outcome, error=reason, note=note)
        except LEDGER_ERRORS as error:
            log.warning("could not update the ledger", extra={"ticket_id": ticket.id, "error": str(error)})
            continue
        updated += 1
    return updated


def redrive(sqs: SQSClient, pair: QueuePair, ledger: Ledger, limit: int = MAX_MESSAGES) -> int:
    """Move parked messages back to their queue; returns how many."""
    moved = 0
    kept: list[str] = []
    while moved < limit:
        batch = _receive(sqs, pair.dlq_url, 60)
        if not batch:
            break
        for message in batch[: limit - moved]:
            # The ledger first: a worker drops a message whose ticket the ledger calls
            # dead-lettered, so one whose record cannot be changed stays parked.
            if not _mark_queued(ledger, message["Body"]):
                kept.append(message["ReceiptHandle"])
                continue
            attributes = {k: v for k, v in message.get("MessageAttributes", {}).items() if k != "park_reason"}
            sqs.send_message(QueueUrl=pair.url, MessageBody=message["Body"], MessageAttributes=attributes)
            sqs.delete_message(QueueUrl=pair.dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    for handle in kept:  # visible again at once, for the next list or redrive
        sqs.change_message_visibility(QueueUrl=pair.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return moved


def _mark_queued(ledger: Ledger, body: str) -> bool:
    """Queued again, outcome unknown: whatever happened before, the next attempt looks first.
    False (logged) when the ledger could not be changed: the message must stay parked.

    A delivered ticket keeps its record, and the worker drops the redriven copy.
    """
    try:
        ticket = Ticket.from_message(body)
    except ValidationError:
        return True  # a poison message has no ledger record
    try:
        record = ledger.get(ticket.id)
        if record is not None and record["status"] == DELIVERED:
            return True
        note = "redriven: the next attempt looks before sending"
        ledger.settle(ticket, QUEUED, outcome=AttemptOutcome.UNKNOWN, error=None, note=note)
    except LEDGER_ERRORS as error:
        log.error(
            "ledger unavailable; left parked (a redriven ticket the ledger calls dead-lettered is dropped)",
            extra={"ticket_id": ticket.id, "error": str(error)},
        )
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ticketrouter.dlq",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["list", "redrive"])
    parser.add_argument("--priority", choices=[p.value for p in Priority], help="default: all (list only)")
    parser.add_argument("--limit", type=int, default=MAX_MESSAGES, help="redrive at most this many")
    args = parser.parse_args(argv)
    choose()
    settings = RouterSettings.load()
    configure_logging("dlq", settings.log_level)
    if args.command == "redrive" and not args.priority:
        parser.error("redrive needs --priority")
    sqs = aws_client("sqs", settings)
    directory = QueueDirectory(sqs, settings)
    priorities = [Priority(args.priority)] if args.priority else list(Priority)
    try:
        ledger = Ledger(aws_client("s3", settings), settings.ledger_bucket)
        if args.command == "list":
            for priority in priorities:
                messages = peek_messages(sqs, directory.pair(priority))
                print(f"{priority.value}: {len(messages)} parked")
                for message in messages:
                    print("  " + json.dumps(describe(message), ensure_ascii=False))
                if updated := bring_ledger_up_to_date(ledger, messages):
                    print(f"  ({updated} ledger record(s) now say dead-lettered)")
        else:
            moved = redrive(sqs, directory.pair(priorities[0]), ledger, args.limit)
            print(f"{priorities[0].value}: {moved} message(s) moved back to the queue")
    except AWS_ERRORS as error:
        log.error("SQS unavailable", extra={"error": str(error)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
