"""Provision the queues, dead-letter queues and bucket. Idempotent; safe to run at every start.

Runs against LocalStack, moto or real AWS: the endpoint comes from AWS_ENDPOINT_URL
(unset = real AWS). Usage: ``python -m ticketrouter.provision``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ticketrouter.aws import aws_client, error_code
from ticketrouter.config import RouterSettings
from ticketrouter.logs import configure_logging
from ticketrouter.queues import ensure_queue_pair
from ticketrouter.target import choose
from ticketrouter.ticket import Priority

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import (
        LifecycleRuleTypeDef,
        PublicAccessBlockConfigurationTypeDef,
        ServerSideEncryptionConfigurationTypeDef,
    )

log = logging.getLogger("ticketrouter.provision")

_BUCKET_EXISTS_CODES = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}

# What every bucket gets, here and in deploy/aws/router.yaml (tests/unit/test_aws_template.py
# holds the two to the same values).
PUBLIC_ACCESS_BLOCK: PublicAccessBlockConfigurationTypeDef = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
DEFAULT_ENCRYPTION: ServerSideEncryptionConfigurationTypeDef = {
    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
}
# The code honours an idempotency key for 24 hours (ticketrouter.ledger); S3 deletes it after two days.
IDEMPOTENCY_KEY_EXPIRY: LifecycleRuleTypeDef = {
    "ID": "expire-idempotency-keys",
    "Filter": {"Prefix": "idempotency/"},
    "Status": "Enabled",
    "Expiration": {"Days": 2},
}


def ensure_bucket(s3: S3Client, name: str, region: str) -> None:
    """Create the bucket if missing, block public access and turn on default encryption."""
    create_args: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        create_args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**create_args)
        log.info("created bucket", extra={"bucket": name})
    except ClientError as error:
        if error_code(error) not in _BUCKET_EXISTS_CODES:
            raise
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=DEFAULT_ENCRYPTION)


def expire_idempotency_keys(s3: S3Client, bucket: str) -> None:
    """Let S3 delete idempotency keys after two days (the code honours them for 24 hours)."""
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [IDEMPOTENCY_KEY_EXPIRY]}
    )


def provision(settings: RouterSettings) -> dict[str, Any]:
    """Create or reconcile everything; returns what exists, by name."""
    sqs = aws_client("sqs", settings)
    queues = {}
    for priority in Priority:
        pair = ensure_queue_pair(sqs, settings, settings.queue_name(priority), reconcile=True)
        queues[priority.value] = {"url": pair.url, "dlq_url": pair.dlq_url}
    s3 = aws_client("s3", settings)
    ensure_bucket(s3, settings.tickets_bucket, settings.aws_region)
    ensure_bucket(s3, settings.ledger_bucket, settings.aws_region)
    expire_idempotency_keys(s3, settings.ledger_bucket)
    return {"queues": queues, "bucket": settings.tickets_bucket, "ledger_bucket": settings.ledger_bucket}


def main() -> int:
    choose()
    settings = RouterSettings.load()
    configure_logging("provision", settings.log_level)
    try:
        summary = provision(settings)
    except (BotoCoreError, ClientError) as error:
        log.error("provisioning failed", extra={"error": str(error)})
        return 1
    log.info("provisioned", extra=summary)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
