"""The S3 adapter against moto's in-process S3."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from ticketrouter.destination import PermanentDeliveryError
from ticketrouter.ticket import Ticket, parse_submission
from worker_s3.destination import S3Destination, object_key


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="tickets")
        yield client


def make_ticket() -> Ticket:
    return Ticket.from_submission(
        parse_submission({"title": "Typo", "priority": "low", "description": "recieve"})
    )


def test_key_is_dated_by_creation_and_named_by_id():
    ticket = make_ticket()
    assert object_key(ticket) == f"tickets/low/{ticket.created_at:%Y/%m/%d}/{ticket.id}.json"


def test_deliver_writes_the_ticket_json_encrypted(s3):
    ticket = make_ticket()
    uri = S3Destination(s3, "tickets").deliver(ticket)
    assert uri == f"s3://tickets/{object_key(ticket)}"
    stored = s3.get_object(Bucket="tickets", Key=object_key(ticket))
    assert stored["ContentType"] == "application/json"
    assert stored["ServerSideEncryption"] == "AES256"
    assert Ticket.from_message(stored["Body"].read().decode()) == ticket


def test_delivering_twice_leaves_one_object(s3):
    ticket = make_ticket()
    destination = S3Destination(s3, "tickets")
    destination.deliver(ticket)
    destination.deliver(ticket)
    assert s3.list_objects_v2(Bucket="tickets")["KeyCount"] == 1
    assert (
        json.loads(s3.get_object(Bucket="tickets", Key=object_key(ticket))["Body"].read())["id"] == ticket.id
    )


def test_missing_bucket_is_permanent(s3):
    with pytest.raises(PermanentDeliveryError, match="NoSuchBucket"):
        S3Destination(s3, "absent").deliver(make_ticket())
    with pytest.raises(PermanentDeliveryError):
        S3Destination(s3, "absent").check()
