"""The S3 destination: one JSON object per ticket, keyed by day and id, written create-only.

The PUT carries ``IfNoneMatch='*'``: S3 (AWS since 2024, LocalStack, MiniStack, moto) refuses
it with 412 when the object exists, so a second hand-over of a ticket writes nothing and says
so (``AlreadyDeliveredError``): the destination is *idempotent*, and its first attempt needs
no ledger claim (delivery.py). botocore may retry the PUT freely: a retry of a PUT that was
applied answers 412, which means "delivered".
Classification: NoSuchBucket, AccessDenied and bad credentials are *refused*; a connection
never made, or a concurrent conditional write of the same key (409), is *not sent*; anything
else (a timeout, a 5xx after botocore's retries) is *unknown*, and the next attempt asks
HeadObject before writing again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from ticketrouter.aws import error_code
from ticketrouter.destination import (
    AlreadyDeliveredError,
    LookupFailedError,
    NotSentError,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from ticketrouter.errors import AWS_ERRORS
from ticketrouter.ticket import Ticket

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

PERMANENT_CODES = frozenset(
    {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "404", "403"}
)
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_EXISTS_CODES = frozenset({"PreconditionFailed", "412"})
# Another conditional write of the same key was in progress: ours was not applied.
_CONFLICT_CODES = frozenset({"ConditionalRequestConflict", "409"})


def object_key(ticket: Ticket) -> str:
    """tickets/<priority>/YYYY/MM/DD/<ticket_id>.json, dated by the ticket's creation (UTC)."""
    return f"tickets/{ticket.priority.value}/{ticket.created_at:%Y/%m/%d}/{ticket.id}.json"


def classified(error: BotoCoreError | ClientError, operation: str, bucket: str) -> Exception:
    """The delivery error a failed S3 call stands for."""
    if isinstance(error, ClientError):
        if error_code(error) in _CONFLICT_CODES:
            return NotSentError(f"{operation} on {bucket}: {error_code(error)}")
        if error_code(error) in PERMANENT_CODES:
            return PermanentDeliveryError(f"{operation} on {bucket}: {error_code(error)}")
        return OutcomeUnknownError(f"{operation} on {bucket}: {error_code(error)}")
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return NotSentError(f"{operation} on {bucket}: not sent: {error}")
    return OutcomeUnknownError(f"{operation} on {bucket}: {error}")


class S3Destination:
    name = "s3"
    # S3 takes thousands of writes a second per prefix: a whole batch at once.
    max_concurrency = 10
    can_find = True
    idempotent = True  # deliver writes create-only: a second copy is refused by S3 itself

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def check(self) -> None:
        """The bucket exists and is ours."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except AWS_ERRORS as error:
            raise classified(error, "HeadBucket", self.bucket) from error

    def deliver(self, ticket: Ticket) -> str:
        """Write the ticket envelope unless it is there; returns its s3:// URI.

        Raises AlreadyDeliveredError (with that URI) when the object exists already.
        """
        key = object_key(ticket)
        uri = f"s3://{self.bucket}/{key}"
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=ticket.to_message().encode(),
                ContentType="application/json",
                ServerSideEncryption="AES256",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error_code(error) in _EXISTS_CODES:
                raise AlreadyDeliveredError(uri) from error
            raise classified(error, "PutObject", self.bucket) from error
        except BotoCoreError as error:
            raise classified(error, "PutObject", self.bucket) from error
        return uri

    def find(self, ticket: Ticket) -> str | None:
        """The object's URI if it was written, None if provably not; LookupFailedError otherwise."""
        key = object_key(ticket)
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error_code(error) in _MISSING_CODES:
                return None
            raise LookupFailedError(f"HeadObject {key}: {error_code(error)}") from error
        except BotoCoreError as error:
            raise LookupFailedError(f"HeadObject {key}: {error}") from error
        return f"s3://{self.bucket}/{key}"
