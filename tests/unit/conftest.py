"""Fixtures of the unit tier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def ingest_aws() -> Iterator[Any]:
    """moto in-process, with the ledger bucket ingest writes to; yields an SQS client."""
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="tickets-ledger")
        yield boto3.client("sqs", region_name="us-east-1")
