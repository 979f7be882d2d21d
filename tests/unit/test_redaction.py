"""Redaction: one redactor, and every sink text leaves by (logs, ledger, DLQ, HTTP answers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from ticketrouter.config import RouterSettings
from ticketrouter.consumer import Consumer, ConsumerOptions
from ticketrouter.delivery import DeliveryOptions
from ticketrouter.destination import PermanentDeliveryError
from ticketrouter.dlq import describe
from ticketrouter.ledger import FAILED, Ledger
from ticketrouter.logs import JsonFormatter, configure_logging
from ticketrouter.queues import ensure_queue_pair
from ticketrouter.redaction import Redactor, redact, remember_secrets
from ticketrouter.ticket import Ticket, parse_submission

TRELLO_KEY = "unit-trello-key-4b1d0c"
TRELLO_TOKEN = "unit-trello-token-9f8e7d6c"
SLACK_TOKEN = "xoxb-unit-slack-1234-abcd"
SECRETS = (TRELLO_KEY, TRELLO_TOKEN, SLACK_TOKEN)
ECHO = f"invalid token {TRELLO_TOKEN} for key {TRELLO_KEY} (bot {SLACK_TOKEN})"


@pytest.fixture(autouse=True)
def known_secrets():
    remember_secrets(SECRETS)


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


# --- the redactor --------------------------------------------------------------------


def test_configured_values_are_replaced_wherever_they_appear():
    redactor = Redactor(["s3cr3t-value", "s3cr3t-value-longer"])
    assert redactor.text("a s3cr3t-value-longer and s3cr3t-value") == "a *** and ***"


def test_values_too_short_to_be_credentials_are_left_alone():
    assert Redactor(["test"]).text("a test line") == "a test line"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token xoxb-111-222-abcDEF here", "token *** here"),
        ("app xapp-1-A0-123-abc", "app ***"),
        ("Authorization: Bearer abc.def-ghi_123-jkl", "Authorization: Bearer ***"),
        ("Authorization: HMAC dGhpcyBpcyBub3QgcmVhbA==", "Authorization: HMAC ***"),
        (
            'OAuth oauth_consumer_key="k123", oauth_token="t456"',
            'OAuth oauth_consumer_key="***", oauth_token="***"',
        ),
        ("GET /1/cards?key=abc123&token=def456 HTTP/1.1", "GET /1/cards?key=***&token=*** HTTP/1.1"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=***"),
    ],
)
def test_well_known_credential_shapes_are_replaced_whoever_they_belong_to(text, expected):
    assert Redactor().text(text) == expected


@pytest.mark.parametrize("text", ["Basic printer setup needed", "bearer of bad news", "HMAC signature wrong"])
def test_ordinary_words_that_name_a_scheme_are_left_alone(text):
    assert Redactor().text(text) == text


def test_nested_values_are_redacted_keys_included_and_left_unchanged_otherwise():
    value = {"a": [ECHO, {"b": ECHO, TRELLO_TOKEN: 3}], "n": 1, "none": None}
    redacted = redact(value)
    assert leaks(json.dumps(redacted)) == []
    assert redacted["n"] == 1 and redacted["none"] is None
    assert value["a"][0] == ECHO  # a copy: the caller's value is untouched


def test_the_environment_s_secret_variables_are_known(monkeypatch):
    from ticketrouter.redaction import secrets_in_environment

    env = {"AWS_SECRET_ACCESS_KEY": "aws-secret-from-env-123", "QUEUE_HIGH": "tickets-high"}
    assert secrets_in_environment(env) == ["aws-secret-from-env-123"]


# --- sink: log records ---------------------------------------------------------------


def format_record(logger_call) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("unit"))
    logger = logging.getLogger("unit.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        logger_call(logger)
    finally:
        logger.handlers[:] = []
        logger.propagate = True
    return json.loads(stream.getvalue())


def test_a_log_record_is_redacted_in_its_message_every_extra_and_its_traceback():
    error = RuntimeError(ECHO)

    def log(logger: logging.Logger) -> None:
        try:
            raise error
        except RuntimeError as caught:
            logger.error(
                "delivery failed: %s",
                ECHO,
                exc_info=caught,
                extra={"error": str(caught), "cause": caught, "nested": {"body": [ECHO]}},
            )

    entry = format_record(log)
    assert leaks(json.dumps(entry)) == []
    assert entry["message"] == "delivery failed: invalid token *** for key *** (bot ***)"
    assert entry["error"] == entry["cause"] == "invalid token *** for key *** (bot ***)"
    assert "Traceback" in entry["exc_info"] and "***" in entry["exc_info"]


def test_configure_logging_teaches_the_redactor_the_service_s_secrets(capfd):
    configure_logging("unit", "INFO", ["a-service-secret-only-known-here"])
    logging.getLogger("unit").warning("x", extra={"error": "a-service-secret-only-known-here"})
    assert "a-service-secret-only-known-here" not in capfd.readouterr().err


# --- sinks: ledger, dead-letter queue ------------------------------------------------


class EchoingDestination:
    """A destination whose errors echo the credentials, as a misbehaving API might."""

    name = "echo"
    can_find = True
    max_concurrency = 1

    def __init__(self, permanent: bool) -> None:
        self.permanent = permanent

    def check(self) -> None:
        pass

    def deliver(self, ticket: Ticket) -> str:
        if self.permanent:
            raise PermanentDeliveryError(ECHO)
        raise ConnectionError(ECHO)

    def find(self, ticket: Ticket) -> str | None:
        return None


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="ledger")
        yield boto3.client("sqs", region_name="us-east-1"), s3


def a_ticket() -> Ticket:
    return Ticket.from_submission(parse_submission({"title": "t", "priority": "high", "description": "d"}))


def stored_record(s3, ticket: Ticket) -> str:
    return s3.get_object(Bucket="ledger", Key=f"tickets/{ticket.id}.json")["Body"].read().decode()


def test_the_ledger_never_stores_a_secret_in_last_error_or_history(aws):
    _, s3 = aws
    ledger, ticket = Ledger(s3, "ledger"), a_ticket()
    ledger.create(ticket)
    note = {"status": "note", "detail": ECHO}
    ledger.change(
        ticket,
        lambda r: ({**r, "status": FAILED, "last_error": ECHO, "history": [*r["history"], note]}, ECHO),
    )
    stored = stored_record(s3, ticket)
    assert leaks(stored) == []
    assert json.loads(stored)["last_error"] == "invalid token *** for key *** (bot ***)"


@pytest.mark.parametrize(
    ("permanent", "max_attempts", "parked"),
    [(False, 5, False), (False, 1, True), (True, 5, True)],
    ids=["transient", "exhausted", "permanent"],
)
def test_a_worker_stores_and_parks_an_echoed_secret_redacted(aws, permanent, max_attempts, parked):
    sqs, s3 = aws
    queues = ensure_queue_pair(sqs, RouterSettings.load(), "tickets-high", reconcile=False)
    ticket = a_ticket()
    sqs.send_message(QueueUrl=queues.url, MessageBody=ticket.to_message())
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(max_attempts=max_attempts))
    Consumer(sqs, queues, EchoingDestination(permanent), Ledger(s3, "ledger"), options).run()
    record = json.loads(stored_record(s3, ticket))
    assert "***" in record["last_error"] and leaks(json.dumps(record)) == []
    messages = sqs.receive_message(
        QueueUrl=queues.dlq_url, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    assert len(messages) == int(parked)
    for message in messages:
        reason = message["MessageAttributes"]["park_reason"]["StringValue"]
        assert "***" in reason and leaks(reason) == []
        assert leaks(json.dumps(describe(message))) == []


def test_make_dlq_shows_an_old_park_reason_redacted():
    message = {"Body": "{}", "MessageAttributes": {"park_reason": {"StringValue": ECHO}}}
    assert leaks(describe(message)["reason"]) == []


# --- sinks: HTTP answers of ingest ---------------------------------------------------

TEAMS_SECRET = base64.b64encode(b"unit-teams-secret-of-enough-bytes").decode()


@pytest.fixture
def ingest_client(ingest_aws):
    from ingest import create_app

    app = create_app({"ingest_api_token": "unit-ingest-token-77", "teams_webhook_secret": TEAMS_SECRET})
    return app.test_client(), boto3.client("s3", region_name="us-east-1")


def test_get_ticket_serves_a_record_redacted_even_if_stored_with_a_secret(ingest_client):
    client, s3 = ingest_client
    at = "2026-11-30T00:00:00+00:00"
    record = {"ticket_id": "abc", "priority": "high", "status": "failed", "attempts": 1, "last_error": ECHO,
              "history": [{"status": "failed", "at": at, "error": ECHO}],
              "created_at": at, "updated_at": at}  # fmt: skip
    # Written around the Ledger, as a record from before redaction would be.
    s3.put_object(Bucket="tickets-ledger", Key="tickets/abc.json", Body=json.dumps(record).encode())
    response = client.get("/tickets/abc", headers={"Authorization": "Bearer unit-ingest-token-77"})
    assert response.status_code == 200
    assert leaks(response.get_data(as_text=True)) == []
    assert response.get_json()["last_error"] == "invalid token *** for key *** (bot ***)"


def post_signed_activity(client, activity_id: str, text: str):
    activity = {
        "type": "message",
        "id": activity_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "text": text,
    }
    body = json.dumps(activity).encode()
    signature = base64.b64encode(hmac.new(base64.b64decode(TEAMS_SECRET), body, hashlib.sha256).digest())
    return client.post(
        "/teams/webhook", data=body, content_type="application/json",
        headers={"Authorization": "HMAC " + signature.decode()},
    )  # fmt: skip


def test_a_webhook_reply_never_carries_a_secret(ingest_client):
    client, _ = ingest_client
    fields = f"<p>Title: {TRELLO_TOKEN}</p><p>Priority: {SLACK_TOKEN}</p><p>Description: d</p>"
    response = post_signed_activity(client, "r1", fields)
    assert response.status_code == 200
    assert "is not a priority I know" in response.get_json()["text"]
    assert leaks(response.get_data(as_text=True)) == []


def test_a_secret_in_a_title_is_redacted_before_the_reply_escapes_it(ingest_client):
    client, _ = ingest_client
    fields = f"<p>Title: a {TRELLO_TOKEN}</p><p>Priority: low</p><p>Description: d</p>"
    reply = post_signed_activity(client, "r2", fields).get_json()["text"]
    assert "received with low priority" in reply
    # Escaping puts backslashes inside the token; without them it must still not be there.
    assert leaks(reply.replace("\\", "")) == []


def test_an_error_answer_never_carries_a_secret(ingest_client):
    client, _ = ingest_client
    body = '{"' + TRELLO_TOKEN + '": 1, "' + TRELLO_TOKEN + '": 2}'
    response = client.post(
        "/tickets", data=body, content_type="application/json",
        headers={"Authorization": "Bearer unit-ingest-token-77"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "duplicate key" in response.get_json()["message"]
    assert leaks(response.get_data(as_text=True)) == []


def test_an_accepted_ticket_s_answer_never_carries_a_secret(ingest_client):
    client, _ = ingest_client
    ticket = {"title": f"pasted {TRELLO_TOKEN}", "priority": "low", "description": "d"}
    response = client.post("/tickets", json=ticket, headers={"Authorization": "Bearer unit-ingest-token-77"})
    assert response.status_code == 202
    assert leaks(response.get_data(as_text=True)) == []
