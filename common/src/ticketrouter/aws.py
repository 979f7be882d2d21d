"""boto3 clients built the same way everywhere: explicit endpoint, bounded retries and timeouts."""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from ticketrouter.config import RouterSettings

if TYPE_CHECKING:
    # Stub-only packages (requirements-dev.txt): the service images do not install them.
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient
    from types_boto3_sts import STSClient

# Bounded so that an unreachable endpoint turns into an error in seconds, not minutes.
# max_attempts counts retries: up to 4 attempts. Ingest shortens read_timeout
# (INGEST_AWS_READ_TIMEOUT_SECONDS) to answer well inside Power Automate's 120 s timeout.
_CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=30,
    retries={"mode": "standard", "max_attempts": 3},
)


_session_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@overload
def aws_client(service: Literal["sqs"], settings: RouterSettings, **config: Any) -> SQSClient: ...
@overload
def aws_client(service: Literal["s3"], settings: RouterSettings, **config: Any) -> S3Client: ...
@overload
def aws_client(service: Literal["sts"], settings: RouterSettings, **config: Any) -> STSClient: ...


def aws_client(
    service: Literal["sqs", "s3", "sts"], settings: RouterSettings, **config: Any
) -> SQSClient | S3Client | STSClient:
    """A client for service at the configured region and endpoint (None = real AWS)."""
    client_config = _CLIENT_CONFIG.merge(Config(**config)) if config else _CLIENT_CONFIG
    if service == "s3" and settings.aws_endpoint_url:
        # Emulators on 127.0.0.1 cannot serve virtual-hosted bucket names.
        client_config = client_config.merge(Config(s3={"addressing_style": "path"}))
    # One session per process (its loaded service models make later clients cheap); creating
    # clients from it is serialised because sessions are not thread-safe.
    with _session_lock:
        return _session().client(
            service,
            region_name=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            config=client_config,
        )


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
