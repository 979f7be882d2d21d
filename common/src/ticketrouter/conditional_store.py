"""JSON objects in one S3 bucket, created and replaced only by conditional writes.

Why S3: conditional writes (``IfNoneMatch='*'`` to create, ``IfMatch=<etag>`` to replace) are
enforced by AWS, LocalStack, MiniStack and moto alike, so the same code runs offline, in the
container tests and live, while DynamoDB cannot run in a registry-less LocalStack build.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict

from botocore.exceptions import ClientError

from ticketrouter.aws import error_code

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404"}


def body_of(record: dict[str, Any]) -> bytes:
    """The bytes a record is stored as (and so whose MD5 is its ETag)."""
    return json.dumps(record).encode()


class _WriteCondition(TypedDict, total=False):
    """The precondition of a conditional PutObject."""

    IfMatch: str
    IfNoneMatch: str


class ConditionalStore:
    """Reads and conditional writes of JSON objects; a lost race is None, never an overwrite."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _read(self, key: str) -> tuple[dict[str, Any], str] | None:
        """The object and its ETag, or None if there is none."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error_code(error) in _MISSING_CODES:
                return None
            raise
        return json.loads(response["Body"].read()), response["ETag"]

    def _replace(self, key: str, record: dict[str, Any], etag: str) -> str | None:
        """Replace the object only if its ETag is etag; None if it differs or does not exist."""
        try:
            return self._write(key, record, etag)
        except ClientError as error:
            if error_code(error) in _MISSING_CODES:
                return None
            raise

    def _delete(self, key: str, etag: str) -> None:
        """Delete the object only if its ETag is etag; one that changed or is gone stays as it is."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)
        except ClientError as error:
            if error_code(error) not in _CONFLICT_CODES | _MISSING_CODES:
                raise

    def _write(self, key: str, record: dict[str, Any], etag: str | None) -> str | None:
        """Create (etag None) or replace the object only if unchanged.

        Returns the new ETag, or None on a lost race.
        """
        condition: _WriteCondition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body_of(record),
                ContentType="application/json",
                ServerSideEncryption="AES256",
                **condition,
            )
        except ClientError as error:
            if error_code(error) in _CONFLICT_CODES:
                return None
            raise
        return str(response.get("ETag") or "")
