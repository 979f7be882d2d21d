"""AWS: the credentials, every queue and dead-letter queue, and both buckets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError

from livecheck.result import Result, reported
from ticketrouter.aws import aws_client, error_code
from ticketrouter.config import ConfigurationError, RouterSettings
from ticketrouter.queues import dlq_name
from ticketrouter.ticket import Priority

CREATE_IT = "`make provision-aws` (TARGET=aws make provision) creates it"


@reported("aws identity")
def check_aws_identity(sts: Any) -> Result:
    """sts:GetCallerIdentity: the credentials work, and which account they belong to."""
    try:
        identity = sts.get_caller_identity()
    except NoCredentialsError:
        return Result(
            False,
            "aws identity",
            "no AWS credentials: provide them the usual boto3 way "
            "(AWS_PROFILE, aws configure, AWS_ACCESS_KEY_ID…)",
        )
    except ClientError as error:
        return Result(
            False, "aws identity", f"AWS refused the credentials ({error_code(error)}): renew or replace them"
        )
    return Result(True, "aws identity", f"account {identity['Account']} as {identity['Arn']}")


@reported("aws queue")
def check_queue(sqs: Any, name: str) -> Result:
    """GetQueueUrl and GetQueueAttributes: the queue exists and these credentials may read it."""
    subject = f"queue {name}"
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if error_code(error) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return Result(False, subject, f"does not exist: {CREATE_IT}")
        return Result(
            False,
            subject,
            f"GetQueueUrl refused ({error_code(error)}): the services need sqs:GetQueueUrl on it",
        )
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    except ClientError as error:
        return Result(
            False,
            subject,
            f"GetQueueAttributes refused ({error_code(error)}): "
            "the services need sqs:GetQueueAttributes on it",
        )
    waiting = attributes["Attributes"].get("ApproximateNumberOfMessages", "?")
    return Result(True, subject, f"reachable ({waiting} waiting)")


@reported("aws bucket")
def check_bucket(s3: Any, sts: Any, variable: str, name: str) -> Result:
    """HeadBucket with ExpectedBucketOwner = our account: it exists and it is ours."""
    subject = f"bucket {name} ({variable})"
    account = sts.get_caller_identity()["Account"]
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or error_code(error) in ("404", "NoSuchBucket"):
            return Result(False, subject, f"does not exist: {CREATE_IT}")
        if status == 403 or error_code(error) in ("403", "AccessDenied"):
            return Result(
                False,
                subject,
                f"exists but is not account {account}'s, or these credentials may not read it (403): "
                "bucket names are global, so choose one with a unique prefix (e.g. acme-ticketrouter-…) "
                f"and set {variable}",
            )
        if status == 301:
            return Result(
                False, subject, "is in another region than AWS_REGION: set AWS_REGION to the bucket's"
            )
        raise
    return Result(True, subject, f"exists and belongs to account {account}")


def aws_checks(env: Mapping[str, str]) -> list[Result]:
    try:
        settings = RouterSettings.load(env)
    except ConfigurationError as error:
        return [Result(False, "aws settings", str(error))]
    sts, sqs, s3 = (aws_client(service, settings) for service in ("sts", "sqs", "s3"))
    identity = check_aws_identity(sts)
    if not identity.ok:
        return [identity]
    queues = [settings.queue_name(priority) for priority in Priority]
    return [
        identity,
        *(check_queue(sqs, name) for queue in queues for name in (queue, dlq_name(queue))),
        check_bucket(s3, sts, "TICKETS_BUCKET", settings.tickets_bucket),
        check_bucket(s3, sts, "LEDGER_BUCKET", settings.ledger_bucket),
    ]
