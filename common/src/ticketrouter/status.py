"""One screen of the router's state: `make status` (or `python -m ticketrouter.status`).

Queue depths come from SQS. Waiting ages and the last deliveries come from the ledger's most
recently changed records (at most RECENT of them are read, so the screen stays quick).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ticketrouter.aws import aws_client
from ticketrouter.config import RouterSettings
from ticketrouter.ledger import DELIVERED, FAILED, QUEUED, Ledger
from ticketrouter.logs import configure_logging
from ticketrouter.queues import QueueDirectory, message_counts
from ticketrouter.target import choose
from ticketrouter.ticket import Priority

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient

RECENT = 200
SHOWN = 10
# A keyless ticket's record is written just before its send: younger than this, it may be in flight.
NEVER_SENT_AFTER = 60


def queue_depths(directory: QueueDirectory, sqs: SQSClient, priority: Priority) -> tuple[int, int, int]:
    """Visible, in flight, and parked on the dead-letter queue."""
    pair = directory.pair(priority)
    visible, in_flight = message_counts(sqs, pair.url)
    return visible, in_flight, message_counts(sqs, pair.dlq_url)[0]


def recent_records(s3: S3Client, ledger: Ledger) -> list[dict[str, Any]]:
    """The ledger records changed most recently, newest first."""
    listing = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ledger.bucket, Prefix="tickets/"):
        listing += page.get("Contents", [])
    listing.sort(key=lambda item: item["LastModified"], reverse=True)
    ids = [item["Key"].removeprefix("tickets/").removesuffix(".json") for item in listing[:RECENT]]
    return [record for record in map(ledger.get, ids) if record]


def age(iso: str) -> str:
    seconds = int((datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds())
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def waiting(records: list[dict[str, Any]], priority: Priority) -> list[dict[str, Any]]:
    """These records' tickets of that priority that wait for a (next) attempt."""
    return [r for r in records if r["priority"] == priority.value and r["status"] in (QUEUED, FAILED)]


def oldest_waiting(records: list[dict[str, Any]], priority: Priority, on_queue: int) -> str:
    """The age of the oldest of these records' tickets of that priority still waiting, or "-".

    on_queue: the messages on that priority's queue (visible and in flight). With none, nothing
    waits, whatever a record says: a "queued" record then belongs to a ticket that was never
    sent (see never_sent), and its growing age would be an alarm about nothing.
    """
    ages = [r["created_at"] for r in waiting(records, priority)]
    return age(min(ages)) if ages and on_queue > 0 else "-"


def never_sent(records: list[dict[str, Any]], priority: Priority, anywhere: int) -> list[dict[str, Any]]:
    """Records of that priority that say queued, no attempt made, for over NEVER_SENT_AFTER
    seconds, while its queue and its dead-letter queue are empty (anywhere: their messages):
    ingest created the record of a keyless ticket and died, or lost SQS's answer, before its send
    was confirmed, and the client never retried (README, "Not promised"). No worker will ever
    settle them; nothing was lost: the client got no 202. (With messages parked, such a record
    may be a ticket parked while the ledger was unreachable: `make dlq` tells the ledger.)"""
    if anywhere > 0:
        return []
    now = datetime.now(UTC)
    return [
        r
        for r in waiting(records, priority)
        if r["status"] == QUEUED
        and r.get("attempts", 0) == 0
        and (now - datetime.fromisoformat(r["created_at"])).total_seconds() > NEVER_SENT_AFTER
    ]


def render(settings: RouterSettings) -> str:
    sqs = aws_client("sqs", settings)
    s3 = aws_client("s3", settings)
    directory = QueueDirectory(sqs, settings)
    records = recent_records(s3, Ledger(s3, settings.ledger_bucket))
    lines = [f"{'priority':<9}{'queue':<22}{'visible':>8}{'in flight':>10}{'DLQ':>6}  oldest waiting*"]
    unsent: list[dict[str, Any]] = []
    for priority in Priority:
        visible, in_flight, parked = queue_depths(directory, sqs, priority)
        oldest = oldest_waiting(records, priority, visible + in_flight)
        unsent += never_sent(records, priority, visible + in_flight + parked)
        name = settings.queue_name(priority)
        lines.append(f"{priority.value:<9}{name:<22}{visible:>8}{in_flight:>10}{parked:>6}  {oldest}")
    if unsent:
        lines += ["", f"Never sent* (the ledger says queued, no queue holds them; {SHOWN} at most):"]
        lines += [f"  {r['created_at'][:19]}  {r['priority']:<7}{r['ticket_id']}" for r in unsent[:SHOWN]]
        lines += ["  (ingest stopped before SQS confirmed them and no client retried: no 202 was given)"]
    lines += ["", f"Last delivered tickets* ({SHOWN} at most):"]
    delivered = [r for r in records if r["status"] == DELIVERED][:SHOWN]
    lines += [
        f"  {r['updated_at'][:19]}  {r['priority']:<7}{r['ticket_id']}  {r['destination']:<7}{r['reference']}"
        for r in delivered
    ] or ["  none"]
    lines += ["", f"* from the {RECENT} most recently changed ledger records ({len(records)} read)"]
    return "\n".join(lines)


def main() -> int:
    choose()
    settings = RouterSettings.load()
    configure_logging("status", settings.log_level)
    try:
        print(render(settings))
    except (BotoCoreError, ClientError) as error:
        print(f"cannot reach AWS at {settings.aws_endpoint_url or 'AWS'}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
