"""Ingest's settings on top of the shared ones."""

from limits import parse_many
from pydantic import Field, SecretStr, field_validator

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
    # Seconds a client may take to send a request body once the app reads it (then 408).
    ingest_body_timeout_seconds: float = Field(10, gt=0)
    # Each client's budget, e.g. "600/minute" (Flask-Limiter syntax); "" or "0" = no limit.
    ingest_rate_limit: str = ""
    # Where the counters live: memory:// is per gunicorn process (see ingest/ratelimit.py).
    ingest_rate_limit_storage_uri: str = "memory://"
    # Proxies in front that append to X-Forwarded-For (ngrok: 1); 0 = use the TCP peer address.
    ingest_trusted_proxies: int = Field(0, ge=0, le=10)

    @field_validator("ingest_rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        """Refuse a limit Flask-Limiter could not read at start-up, not at the first request."""
        if value not in ("", "0"):
            parse_many(value)  # ValueError names the bad part
        return value
