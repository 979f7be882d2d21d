"""Listing what is parked and redriving it, against moto's in-process SQS and S3."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ticketrouter.config import RouterSettings
from ticketrouter.dlq import main, peek, redrive
from ticketrouter.ledger import Ledger
from ticketrouter.queues import ensure_queue_pair
from ticketrouter.ticket import Ticket, parse_submission


@pytest.fixture
def env(monkeypatch):
    # moto's in-process AWS: the CLI goes there only when told (TARGET=aws).
    monkeypatch.setenv("TARGET", "aws")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="tickets-ledger")
        pair = ensure_queue_pair(sqs, RouterSettings.load(), "tickets-high", reconcile=False)
        yield sqs, pair, Ledger(s3, "tickets-ledger")


def park(sqs, pair, body: str, reason: str) -> None:
    attributes = {"park_reason": {"DataType": "String", "StringValue": reason}}
    sqs.send_message(QueueUrl=pair.dlq_url, MessageBody=body, MessageAttributes=attributes)


def make_ticket() -> Ticket:
    return Ticket.from_submission(parse_submission({"title": "Down", "priority": "high", "description": "d"}))


def test_peek_describes_every_parked_message_and_leaves_them_parked(env):
    sqs, pair, _ = env
    ticket = make_ticket()
    park(sqs, pair, ticket.to_message(), "slack refused: channel_not_found")
    park(sqs, pair, "garbage", "not a ticket envelope")
    parked = peek(sqs, pair)
    assert sorted(p["reason"] for p in parked) == [
        "not a ticket envelope",
        "slack refused: channel_not_found",
    ]
    assert {p["ticket_id"] for p in parked} == {ticket.id, None}
    assert len(peek(sqs, pair)) == 2  # still there


def test_redrive_moves_messages_back_and_resets_the_ledger(env):
    sqs, pair, ledger = env
    ticket = make_ticket()
    ledger.create(ticket)
    ledger.settle(ticket, "dead-lettered", error="slack refused")
    park(sqs, pair, ticket.to_message(), "slack refused")
    assert redrive(sqs, pair, ledger) == 1
    [message] = sqs.receive_message(QueueUrl=pair.url, MessageAttributeNames=["All"])["Messages"]
    assert Ticket.from_message(message["Body"]).id == ticket.id
    assert "park_reason" not in message.get("MessageAttributes", {})
    assert peek(sqs, pair) == []
    assert ledger.get(ticket.id)["status"] == "queued"


def test_the_cli_lists_and_redrives(env, capsys, monkeypatch):
    monkeypatch.setenv("TARGET", "aws")  # moto's in-process AWS: the CLI goes there only when told
    sqs, pair, _ = env
    park(sqs, pair, make_ticket().to_message(), "trello refused")
    assert main(["list", "--priority", "high"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("target: REAL AWS (TARGET=aws)") and "high: 1 parked" in out
    assert main(["redrive", "--priority", "high"]) == 0
    assert "1 message(s) moved back" in capsys.readouterr().out


@pytest.mark.parametrize("known", [True, False], ids=["record-says-failed", "no-record"])
def test_listing_records_tickets_parked_while_the_ledger_was_unreachable(env, capsys, known):
    sqs, pair, ledger = env
    ticket = make_ticket()
    if known:
        ledger.create(ticket)
        ledger.settle(ticket, "failed", error="timed out")
    park(sqs, pair, ticket.to_message(), "ledger unavailable: NoSuchBucket")
    assert main(["list", "--priority", "high"]) == 0
    assert "1 ledger record(s) now say dead-lettered" in capsys.readouterr().out
    record = ledger.get(ticket.id)
    assert (record["status"], record["last_error"]) == ("dead-lettered", "ledger unavailable: NoSuchBucket")
    assert main(["list", "--priority", "high"]) == 0
    assert "ledger record" not in capsys.readouterr().out  # up to date: nothing more to do


def test_a_ticket_whose_record_cannot_be_marked_queued_stays_parked(env):
    """A worker drops a message whose record says dead-lettered (as settled): moved back without
    its record changed, the ticket would leave the dead-letter queue and never be delivered."""
    sqs, pair, ledger = env
    ticket = make_ticket()
    ledger.create(ticket)
    ledger.settle(ticket, "dead-lettered", error="slack refused")
    park(sqs, pair, ticket.to_message(), "slack refused")
    unreachable = Ledger(ledger.s3, "no-such-ledger")  # every ledger call fails
    assert redrive(sqs, pair, unreachable) == 0
    assert sqs.receive_message(QueueUrl=pair.url).get("Messages", []) == []
    assert [p["ticket_id"] for p in peek(sqs, pair)] == [ticket.id]  # still parked, visible at once
    assert redrive(sqs, pair, ledger) == 1  # once the ledger answers, it moves
    assert ledger.get(ticket.id)["status"] == "queued"


def test_a_redriven_ticket_is_looked_up_before_it_is_sent_again(env):
    sqs, pair, ledger = env
    ticket = make_ticket()
    ledger.create(ticket)
    ledger.settle(ticket, "dead-lettered", outcome="refused", error="slack refused")
    park(sqs, pair, ticket.to_message(), "slack refused")
    redrive(sqs, pair, ledger)
    record = ledger.get(ticket.id)
    assert (record["status"], record["last_outcome"]) == ("queued", "unknown")


def test_neither_listing_nor_redrive_takes_back_a_delivery(env, capsys):
    """A settled copy can reach the DLQ (moved by SQS on its last receive): the ledger keeps
    'delivered', so the redriven copy is dropped by the worker instead of posted again."""
    sqs, pair, ledger = env
    ticket = make_ticket()
    ledger.create(ticket)
    ledger.settle(ticket, "delivered", outcome="delivered", reference="ts-1")
    park(sqs, pair, ticket.to_message(), "exceeded the receive count")
    assert main(["list", "--priority", "high"]) == 0
    assert redrive(sqs, pair, ledger) == 1
    record = ledger.get(ticket.id)
    assert (record["status"], record["reference"]) == ("delivered", "ts-1")


def test_a_parked_ticket_the_ledger_saw_in_delivery_becomes_unknown(env, capsys):
    sqs, pair, ledger = env
    ticket = make_ticket()
    ledger.create(ticket)
    ledger.claim(ticket, "slack", stale_after=60)
    park(sqs, pair, ticket.to_message(), "delivered to slack as ts-9, but the ledger could not record it")
    assert main(["list", "--priority", "high"]) == 0
    record = ledger.get(ticket.id)
    assert (record["status"], record["last_outcome"]) == ("dead-lettered", "unknown")
