"""Ingest's services, built once per app and reached through one typed accessor.

The Flask pattern of ``get_db()``: handlers call ``services()`` rather than reaching into
``app.extensions`` by string key. The AWS clients come from one factory (``intake_for``) and
differ only in how long their caller can wait (``ClientUse``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from ingest.settings import IngestSettings
from ticketrouter.aws import aws_client
from ticketrouter.ledger import Ledger
from ticketrouter.queues import QueueDirectory

_EXTENSION = "ingest.services"
# total_max_attempts counts the first attempt; botocore's max_attempts counts retries (1 = two attempts).
_ONE_ATTEMPT = {"mode": "standard", "total_max_attempts": 1}


class ClientUse(enum.Enum):
    """Who waits for an AWS call, and so how its clients time out and retry."""

    TICKETS = "tickets"  # POST /tickets: Power Automate waits 120 s, so botocore may retry
    WEBHOOK = "webhook"  # Teams waits 5 s for the reply: one short attempt, then tell the user

    def client_config(self, settings: IngestSettings) -> dict[str, Any]:
        """botocore Config overrides for this use (on top of ticketrouter.aws's defaults)."""
        if self is ClientUse.WEBHOOK:
            return {"connect_timeout": 1, "read_timeout": 2, "retries": _ONE_ATTEMPT}
        return {"read_timeout": settings.ingest_aws_read_timeout_seconds}


@dataclass(frozen=True)
class Intake:
    """What accepting a ticket talks to: the priority queues and the ledger."""

    queues: QueueDirectory
    ledger: Ledger


def intake_for(settings: IngestSettings, use: ClientUse, sharing: QueueDirectory | None = None) -> Intake:
    """The one factory of ingest's AWS clients: an SQS and an S3 client configured for use.

    sharing: a directory whose resolved queue URLs this intake's directory shares.
    """
    config = use.client_config(settings)
    sqs = aws_client("sqs", settings, **config)
    return Intake(
        sharing.through(sqs) if sharing else QueueDirectory(sqs, settings),
        Ledger(aws_client("s3", settings, **config), settings.ledger_bucket),
    )


@dataclass(frozen=True)
class Services:
    """Everything ingest's handlers use, built once by create_app."""

    settings: IngestSettings
    tickets: Intake  # POST and GET /tickets, readiness
    webhook: Intake | None  # POST /teams/webhook; None while TEAMS_WEBHOOK_SECRET is unset

    @classmethod
    def build(cls, settings: IngestSettings) -> Services:
        tickets = intake_for(settings, ClientUse.TICKETS)
        # The webhook's clients give up sooner; the queues they reach are the same ones.
        webhook = (
            intake_for(settings, ClientUse.WEBHOOK, tickets.queues) if settings.teams_webhook_secret else None
        )
        return cls(settings, tickets, webhook)


def install(app: Flask, built: Services) -> None:
    """Store the services on the app, once."""
    app.extensions[_EXTENSION] = built


def services_of(app: object) -> Services | None:
    """The app's services, or None for an app that is not ingest (the benchmark's bare apps)."""
    found = getattr(app, "extensions", {}).get(_EXTENSION)
    return found if isinstance(found, Services) else None


def services() -> Services:
    """The current app's services (inside a request or app context)."""
    found = services_of(current_app)
    if found is None:
        raise RuntimeError("ingest services are not installed on this app (create_app installs them)")
    return found


def settings() -> IngestSettings:
    """The current app's settings."""
    return services().settings
