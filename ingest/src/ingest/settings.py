"""Ingest's settings on top of the shared ones."""

from pydantic import Field, SecretStr

from ticketrouter.config import RouterSettings


class IngestSettings(RouterSettings):
    # Required: the public URL (ngrok) must never accept anonymous tickets.
    ingest_api_token: SecretStr
    ingest_max_body_bytes: int = Field(64 * 1024, ge=1024)
    # What a 503 tells the caller to wait before retrying.
    ingest_retry_after_seconds: int = Field(5, ge=1)
    # The outgoing webhook's security token as Teams shows it (base64); unset = endpoint off.
    teams_webhook_secret: SecretStr | None = None
    # How far an activity's timestamp may be from now. At most the 24 h for which the ledger
    # remembers activity ids, so that every replay inside the window is recognised by its id.
    teams_webhook_max_age_seconds: int = Field(300, ge=1, le=86_400)
