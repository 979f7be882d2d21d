"""`make status` against moto's in-process SQS and S3: what it says about waiting tickets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from ticketrouter.config import RouterSettings
from ticketrouter.ledger import Ledger
from ticketrouter.queues import QueueDirectory
from ticketrouter.status import render
from ticketrouter.ticket import Priority, Ticket, parse_submission


@pytest.fixture
def stack(monkeypatch):
    monkeypatch.setenv("TARGET", "aws")  # moto's in-process AWS
    with mock_aws():
        settings = RouterSettings.load()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=settings.ledger_bucket)
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield settings, QueueDirectory(sqs, settings), Ledger(s3, settings.ledger_bucket)


def ticket(priority: str, age: timedelta) -> Ticket:
    made = Ticket.from_submission(parse_submission({"title": "t", "priority": priority, "description": "d"}))
    return made.model_copy(update={"created_at": datetime.now(UTC) - age})


def row(screen: str, priority: Priority) -> str:
    return next(line for line in screen.splitlines() if line.startswith(priority.value + " "))


def test_a_record_that_says_queued_while_its_queue_is_empty_is_named_never_sent_not_waiting(stack):
    """Ingest created a keyless ticket's record and died before its send (no client retried): the
    record says queued forever. The screen must not show it as a ticket waiting for hours."""
    settings, queues, ledger = stack
    phantom = ticket("high", timedelta(hours=2, minutes=5))
    ledger.create(phantom)  # and nothing sent
    waiting = ticket("medium", timedelta(minutes=5))
    ledger.create(waiting)
    queues.send(waiting)
    screen = render(settings)
    assert row(screen, Priority.HIGH).endswith("  -")
    assert re.search(r"  5m0\ds$", row(screen, Priority.MEDIUM))
    never_sent = screen.split("Never sent")[1]
    assert phantom.id in never_sent and waiting.id not in never_sent


def test_a_ticket_parked_while_the_ledger_was_unreachable_is_not_called_never_sent(stack):
    """Its record says queued (no claim could be written), and its message is on the DLQ."""
    settings, queues, ledger = stack
    parked = ticket("low", timedelta(hours=1))
    ledger.create(parked)
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=queues.pair(Priority.LOW).dlq_url, MessageBody=parked.to_message())
    screen = render(settings)
    assert row(screen, Priority.LOW).endswith("  -") and "Never sent" not in screen
