"""Provisioning is idempotent and complete; get-or-create catches only 'queue does not exist'."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from ticketrouter.config import RouterSettings
from ticketrouter.provision import provision
from ticketrouter.queues import DLQ_RETENTION_SECONDS, ensure_queue_pair, find_queue_url


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1")


def attributes(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_provision_creates_queues_with_dead_letter_queues_and_a_private_encrypted_bucket(aws):
    sqs, s3 = aws
    summary = provision(RouterSettings.load())
    for priority in ("high", "medium", "low"):
        queue = summary["queues"][priority]
        assert queue["url"].endswith(f"/tickets-{priority}")
        assert queue["dlq_url"].endswith(f"/tickets-{priority}-dlq")
        redrive = json.loads(attributes(sqs, queue["url"])["RedrivePolicy"])
        assert int(redrive["maxReceiveCount"]) == 5
        assert redrive["deadLetterTargetArn"] == attributes(sqs, queue["dlq_url"])["QueueArn"]
        assert attributes(sqs, queue["dlq_url"])["MessageRetentionPeriod"] == str(DLQ_RETENTION_SECONDS)
    block = s3.get_public_access_block(Bucket="tickets")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket="tickets")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_provision_twice_changes_nothing_and_reconciles_drifted_attributes(aws):
    sqs, _ = aws
    first = provision(RouterSettings.load())
    sqs.set_queue_attributes(QueueUrl=first["queues"]["high"]["url"], Attributes={"VisibilityTimeout": "7"})
    second = provision(RouterSettings.load())
    assert first == second
    assert len(sqs.list_queues()["QueueUrls"]) == 6
    assert attributes(sqs, second["queues"]["high"]["url"])["VisibilityTimeout"] == "60"


def test_queue_names_and_receive_count_follow_settings(aws):
    sqs, _ = aws
    settings = RouterSettings.load(queue_high="p1", queue_max_receives=3)
    pair = ensure_queue_pair(sqs, settings, "p1", reconcile=False)
    assert pair.url.endswith("/p1") and pair.dlq_url.endswith("/p1-dlq")
    assert json.loads(attributes(sqs, pair.url)["RedrivePolicy"])["maxReceiveCount"] in (3, "3")


def test_get_or_create_returns_none_only_for_a_missing_queue():
    sqs = boto3.client("sqs", region_name="us-east-1")
    with Stubber(sqs) as stub:
        stub.add_client_error(
            "get_queue_url", "AWS.SimpleQueueService.NonExistentQueue", http_status_code=400
        )
        assert find_queue_url(sqs, "absent") is None
        stub.add_client_error("get_queue_url", "AccessDenied", http_status_code=403)
        with pytest.raises(ClientError, match="AccessDenied"):
            find_queue_url(sqs, "forbidden")
