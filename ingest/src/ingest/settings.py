"""Ingest's settings on top of the shared ones."""

from pydantic import Field, SecretStr

from ticketrouter.config import RouterSettings


class IngestSettings(RouterSettings):
    # Required: the public URL (ngrok) must never accept anonymous tickets.
    ingest_api_token: SecretStr
    ingest_max_body_bytes: int = Field(64 * 1024, ge=1024)
    # What a 503 tells the caller to wait before retrying.
    ingest_retry_after_seconds: int = Field(5, ge=1)
    # How long a keyless body is remembered, so that a client's retry makes no second ticket; 0 = off.
    ingest_implicit_dedup_seconds: int = Field(600, ge=0, le=86_400)
    # How long ingest waits for each answer from SQS and S3. botocore makes up to 4 attempts, so
    # a silent SQS answers the caller after about 4 x this: well inside Power Automate's 120 s.
    ingest_aws_read_timeout_seconds: float = Field(10, gt=0, le=25)
    # The outgoing webhook's security token as Teams shows it (base64); unset = endpoint off.
    teams_webhook_secret: SecretStr | None = None
    # How far an activity's timestamp may be from now. At most the 24 h for which the ledger
    # remembers activity ids, so that every replay inside the window is recognised by its id.
    teams_webhook_max_age_seconds: int = Field(300, ge=1, le=86_400)
