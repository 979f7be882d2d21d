"""The S3 destination: one JSON object per ticket, keyed by day and id (so a retry overwrites)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ticketrouter.aws import error_code
from ticketrouter.destination import PermanentDeliveryError
from ticketrouter.ticket import Ticket

PERMANENT_CODES = frozenset(
    {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "404", "403"}
)


def object_key(ticket: Ticket) -> str:
    """tickets/<priority>/YYYY/MM/DD/<ticket_id>.json, dated by the ticket's creation (UTC)."""
    return f"tickets/{ticket.priority.value}/{ticket.created_at:%Y/%m/%d}/{ticket.id}.json"


class S3Destination:
    name = "s3"

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.s3, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as error:
            if error_code(error) in PERMANENT_CODES:
                raise PermanentDeliveryError(f"{operation} on {self.bucket}: {error_code(error)}") from error
            raise

    def check(self) -> None:
        """The bucket exists and is ours."""
        self._call("head_bucket")

    def deliver(self, ticket: Ticket) -> str:
        """Write the ticket envelope; returns its s3:// URI."""
        key = object_key(ticket)
        self._call(
            "put_object",
            Key=key,
            Body=ticket.to_message().encode(),
            ContentType="application/json",
            ServerSideEncryption="AES256",
        )
        return f"s3://{self.bucket}/{key}"

    def find(self, ticket: Ticket) -> str | None:
        """The object's URI if it was written (a second write would be harmless anyway)."""
        key = object_key(ticket)
        try:
            self._call("head_object", Key=key)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return f"s3://{self.bucket}/{key}"
