"""The S3 adapter against moto's in-process S3."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from tests.support import dead_endpoint
from ticketrouter.destination import (
    AlreadyDeliveredError,
    LookupFailedError,
    NotSentError,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
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


def test_a_second_delivery_writes_nothing_and_names_the_first(s3):
    """The object PUT is create-only: the destination itself refuses a second copy."""
    ticket = make_ticket()
    destination = S3Destination(s3, "tickets")
    s3.put_bucket_versioning(Bucket="tickets", VersioningConfiguration={"Status": "Enabled"})
    uri = destination.deliver(ticket)
    with pytest.raises(AlreadyDeliveredError) as held:
        destination.deliver(ticket)
    assert held.value.reference == uri
    versions = s3.list_object_versions(Bucket="tickets")["Versions"]
    assert [v["Key"] for v in versions] == [object_key(ticket)]  # written once
    assert (
        json.loads(s3.get_object(Bucket="tickets", Key=object_key(ticket))["Body"].read())["id"] == ticket.id
    )


def test_missing_bucket_is_permanent(s3):
    with pytest.raises(PermanentDeliveryError, match="NoSuchBucket"):
        S3Destination(s3, "absent").deliver(make_ticket())
    with pytest.raises(PermanentDeliveryError):
        S3Destination(s3, "absent").check()


def test_an_unreachable_endpoint_is_not_sent():
    with dead_endpoint() as url:
        s3 = boto3.client(
            "s3", region_name="us-east-1", endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        )  # fmt: skip
        with pytest.raises(NotSentError):
            S3Destination(s3, "tickets").deliver(make_ticket())


@pytest.mark.parametrize(
    ("code", "status", "classified"),
    [
        ("InternalError", 500, OutcomeUnknownError),
        # another conditional write of the same key was in progress: ours was not applied
        ("ConditionalRequestConflict", 409, NotSentError),
    ],
)
def test_an_answered_error_is_classified(code, status, classified):
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", code, http_status_code=status)
        with pytest.raises(classified, match=code):
            S3Destination(s3, "tickets").deliver(make_ticket())


def test_find_returns_the_uri_of_the_written_object(s3):
    ticket = make_ticket()
    destination = S3Destination(s3, "tickets")
    uri = destination.deliver(ticket)
    assert destination.find(ticket) == uri


def test_find_returns_none_when_the_object_was_never_written(s3):
    assert S3Destination(s3, "tickets").find(make_ticket()) is None


def test_find_fails_loudly_when_it_cannot_tell(s3):
    with Stubber(s3) as stub:
        stub.add_client_error("head_object", "AccessDenied", http_status_code=403)
        with pytest.raises(LookupFailedError, match="AccessDenied"):
            S3Destination(s3, "tickets").find(make_ticket())
