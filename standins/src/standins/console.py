"""The dev console: `python -m standins console` (http://127.0.0.1:9000 under make dev and make up).

One page that refreshes itself: each priority's queue depth, in-flight and dead-letter counts
and oldest waiting ticket; the latest deliveries as their readers see them (Slack messages as
Block Kit, Trello cards with their labels, S3 tickets with their JSON); and a form that submits
a test ticket of each priority through ingest, with the token kept on the server side.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from pydantic import SecretStr

from standins.blockkit import render_message
from standins.standin_app import label_service
from ticketrouter.aws import aws_client
from ticketrouter.config import RouterSettings, per_priority
from ticketrouter.ledger import Ledger
from ticketrouter.queues import QueueDirectory
from ticketrouter.status import oldest_waiting, queue_depths, recent_records
from ticketrouter.ticket import Priority

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient

SHOWN = 8
# Trello's label colours as its boards draw them; a label of no priority is drawn green.
TRELLO_COLOURS = {"red": "#eb5a46", "orange": "#ff9f1a", "sky": "#00c2e0", "green": "#61bd4f"}
TEST_TICKETS = {
    "high": {"title": "Console test: checkout down", "description": "Submitted from the dev console."},
    "medium": {"title": "Console test: VPN drops", "description": "Submitted from the dev console."},
    "low": {"title": "Console test: typo on *About*", "description": "'recieve' <b>should</b> be 'receive'."},
}


class ConsoleSettings(RouterSettings):
    """Where the console looks (empty URL = that panel is off) and how it submits."""

    ingest_url: str = "http://127.0.0.1:8080"
    ingest_api_token: SecretStr | None = None
    slack_standin_url: str = ""
    trello_standin_url: str = ""
    trello_label_high: str = ""
    trello_label_medium: str = ""
    trello_label_low: str = ""
    console_refresh_seconds: float = 2.0


@dataclass(frozen=True)
class ConsoleAws:
    """The console's AWS clients, built once: the page refreshes every few seconds."""

    sqs: SQSClient
    s3: S3Client
    queues: QueueDirectory  # caches the queue URLs it resolved

    @classmethod
    def build(cls, settings: ConsoleSettings) -> ConsoleAws:
        sqs = aws_client("sqs", settings)
        return cls(sqs, aws_client("s3", settings), QueueDirectory(sqs, settings))


def _settings() -> ConsoleSettings:
    return cast(ConsoleSettings, current_app.extensions["console_settings"])


def _aws() -> ConsoleAws:
    return cast(ConsoleAws, current_app.extensions["console_aws"])


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as response:
        return json.load(response)


def queue_rows(settings: ConsoleSettings) -> list[dict[str, Any]]:
    """Per priority: visible, in flight, dead-lettered and the oldest waiting ticket's age."""
    aws = _aws()
    records = recent_records(aws.s3, Ledger(aws.s3, settings.ledger_bucket))
    rows = []
    for priority in Priority:
        visible, in_flight, parked = queue_depths(aws.queues, aws.sqs, priority)
        rows.append(
            {
                "priority": priority.value,
                "queue": settings.queue_name(priority),
                "visible": visible,
                "in_flight": in_flight,
                "dlq": parked,
                "oldest": oldest_waiting(records, priority, visible + in_flight),
            }
        )
    return rows


def recorded_calls(standin_url: str, path: str) -> list[dict[str, Any]]:
    """The stand-in's successful calls to path, newest first."""
    calls = fetch_json(f"{standin_url}/_fake/requests")
    return [c for c in reversed(calls) if c["path"] == path and c["status"] == 200][:SHOWN]


def slack_messages(settings: ConsoleSettings) -> list[dict[str, Any]]:
    return [
        {
            "received": _clock(c["received_at"]),
            "channel": c["body"].get("channel"),
            "html": render_message(c["body"]),
        }
        for c in recorded_calls(settings.slack_standin_url, "/api/chat.postMessage")
        if isinstance(c["body"], dict)
    ]


def label_shown(priority: Priority | None, label_id: str) -> dict[str, str]:
    """A card's label as the console draws it: a priority's by its value and colour, others by id."""
    if priority is None:
        return {"name": label_id, "colour": TRELLO_COLOURS["green"]}
    return {"name": priority.value, "colour": TRELLO_COLOURS[priority.display.trello_colour]}


def trello_cards(settings: ConsoleSettings) -> list[dict[str, Any]]:
    priorities = {label: p for p, label in per_priority(settings, "trello_label").items() if label}
    cards = []
    for call in recorded_calls(settings.trello_standin_url, "/1/cards"):
        fields = {**call["query"], **(call["body"] if isinstance(call["body"], dict) else {})}
        ids = [label for label in str(fields.get("idLabels") or "").split(",") if label]
        labels = [label_shown(priorities.get(label), label) for label in ids]
        cards.append(
            {
                "received": _clock(call["received_at"]),
                "name": fields.get("name", ""),
                "desc": fields.get("desc", ""),
                "labels": labels,
            }
        )
    return cards


def s3_tickets(settings: ConsoleSettings) -> list[dict[str, Any]]:
    """The newest ticket objects in the tickets bucket, with their JSON."""
    s3 = _aws().s3
    listing = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.tickets_bucket, Prefix="tickets/"
    ):
        listing += page.get("Contents", [])
    listing.sort(key=lambda item: item["LastModified"], reverse=True)
    tickets = []
    for item in listing[:SHOWN]:
        body = s3.get_object(Bucket=settings.tickets_bucket, Key=item["Key"])["Body"].read()
        document = json.loads(body)
        tickets.append(
            {
                "key": f"s3://{settings.tickets_bucket}/{item['Key']}",
                "modified": item["LastModified"].strftime("%H:%M:%S"),
                "title": document.get("title", ""),
                "json": json.dumps(document, indent=2, ensure_ascii=False),
            }
        )
    return tickets


def _clock(timestamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def _panel(
    load: Callable[[ConsoleSettings], list[dict[str, Any]]],
    settings: ConsoleSettings,
    source_url: str | None = None,
) -> dict[str, Any]:
    """One panel's items, or why it has none; one failing source never blanks the page.

    source_url "" means the panel's stand-in is not part of this stack (the real service is).
    """
    if source_url == "":
        return {"items": [], "error": "not a stand-in here: the real service receives these"}
    try:
        return {"items": load(settings), "error": None}
    except (BotoCoreError, ClientError, urllib.error.URLError, OSError, ValueError) as error:
        return {"items": [], "error": f"unavailable: {error}"}


bp = Blueprint("console", __name__)


@bp.get("/")
def page() -> str:
    return render_template(
        "console.html", refresh=_settings().console_refresh_seconds, priorities=list(Priority)
    )


@bp.get("/panels")
def panels() -> str:
    """The live part of the page, fetched by the page every few seconds."""
    settings = _settings()
    return render_template(
        "console_panels.html",
        queues=_panel(queue_rows, settings),
        slack=_panel(slack_messages, settings, settings.slack_standin_url),
        trello=_panel(trello_cards, settings, settings.trello_standin_url),
        s3=_panel(s3_tickets, settings),
        updated=time.strftime("%H:%M:%S"),
    )


@bp.post("/submit")
def submit() -> tuple[Response, int]:
    """Submit a test ticket of the chosen priority through ingest; answers ingest's message."""
    settings = _settings()
    priority = (request.get_json(silent=True) or {}).get("priority")
    if priority not in TEST_TICKETS or settings.ingest_api_token is None:
        reason = (
            "priority must be high, medium or low"
            if priority not in TEST_TICKETS
            else "INGEST_API_TOKEN unset"
        )
        return jsonify({"error": "bad_request", "message": reason}), 400
    ticket = {**TEST_TICKETS[priority], "priority": priority, "source": "console", "requester": "Dev Console"}
    call = urllib.request.Request(
        f"{settings.ingest_url}/tickets",
        data=json.dumps(ticket).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {settings.ingest_api_token.get_secret_value()}",
        },
    )
    try:
        with urllib.request.urlopen(call, timeout=10) as response:
            return jsonify(json.load(response)), response.status
    except urllib.error.HTTPError as error:
        return jsonify({"error": "ingest_refused", "message": error.read().decode(errors="replace")}), 502
    except (urllib.error.URLError, OSError) as error:
        return jsonify({"error": "ingest_unreachable", "message": str(error)}), 502


@bp.get("/_fake/identity")
def identity() -> Response:
    return jsonify({"service": current_app.config["SERVICE"]})


def create_app(settings: ConsoleSettings | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SERVICE"] = "ticketrouter-console"
    settings = settings or ConsoleSettings.load()
    app.extensions["console_settings"] = settings
    app.extensions["console_aws"] = ConsoleAws.build(settings)
    app.after_request(label_service)
    app.register_blueprint(bp)
    return app
