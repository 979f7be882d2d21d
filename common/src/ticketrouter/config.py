"""Configuration: defaults, then the environment, then explicit overrides (tests).

Each setting is read from the environment variable of the same name in upper case
(``queue_high`` ← ``QUEUE_HIGH``); empty variables count as unset. Secrets are
``SecretStr`` so they never appear in a repr or a log line.

Plain pydantic rather than pydantic-settings: provisioning also runs as a LocalStack
init hook, inside LocalStack's own interpreter, which has pydantic and boto3 but
nothing else of ours.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ticketrouter.errors import TicketRouterError
from ticketrouter.ticket import Priority


class ConfigurationError(TicketRouterError):
    """A required variable is missing or a value is invalid; the message names them."""


def per_priority(settings: BaseModel, prefix: str) -> dict[Priority, Any]:
    """The settings named ``<prefix>_<priority>`` (queue_high, trello_label_low…), by priority."""
    return {priority: getattr(settings, f"{prefix}_{priority.value}") for priority in Priority}


class RouterSettings(BaseModel):
    """Settings every service shares: AWS, queue names, bucket, logging."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Settings read from more than their own upper-case name, first match wins.
    env_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    }

    aws_region: str = "us-east-1"
    # Unset means real AWS; botocore honours the same variable on its own.
    aws_endpoint_url: str | None = None
    queue_high: str = "tickets-high"
    queue_medium: str = "tickets-medium"
    queue_low: str = "tickets-low"
    queue_max_receives: int = Field(5, ge=1, le=1000)
    queue_visibility_timeout: int = Field(60, ge=0, le=43_200)
    tickets_bucket: str = "tickets"
    # Delivery state of every ticket and the idempotency keys of submissions.
    ledger_bucket: str = "tickets-ledger"
    log_level: str = "INFO"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Read defaults and the environment (os.environ unless given), then apply overrides.

        Raises ConfigurationError naming each bad variable.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            for variable in cls.env_names.get(name, (name.upper(),)):
                if env.get(variable):
                    values[name] = env[variable]
                    break
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = [
                f"{'.'.join(str(p) for p in item['loc']).upper()}: {item['msg']}" for item in error.errors()
            ]
            raise ConfigurationError("; ".join(problems)) from None

    def queue_name(self, priority: Priority) -> str:
        """The queue that carries tickets of this priority."""
        return str(per_priority(self, "queue")[priority])

    def secrets(self) -> list[str]:
        """Every secret value set here, so the logger can scrub them."""
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]


class WorkerSettings(RouterSettings):
    """Settings of the shared consumer loop."""

    worker_wait_seconds: int = Field(20, ge=0, le=20)
    worker_batch_size: int = Field(10, ge=1, le=10)
    # Tickets of a batch delivered at once; unset = the destination's own bound.
    worker_concurrency: int | None = Field(None, ge=1, le=10)
    # First retry after about this many seconds, doubling per receive, up to the cap.
    worker_retry_base_seconds: int = Field(5, ge=0)
    worker_retry_max_seconds: int = Field(900, ge=0, le=43_200)
    # After a timeout or 5xx (outcome unknown), wait at least this long before looking at the
    # destination: the request may still be processed there.
    worker_unknown_retry_seconds: int = Field(30, ge=0, le=43_200)
    # /metrics, /healthz and /readyz; unset = not served.
    worker_metrics_port: int | None = Field(None, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    worker_queue_metrics_seconds: float = Field(15, gt=0)
