"""POST /teams/webhook: HMAC-signed Teams activities, free text in, a message reply out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ReadTimeoutError

from ingest import create_app
from tests.support import dead_endpoint
from ticketrouter.queues import QueueDirectory
from ticketrouter.send_outcome import SendFailed, SendOutcome
from ticketrouter.ticket import Ticket

SECRET = base64.b64encode(b"a-teams-security-token-of-32-bytes!").decode()


def activity(text: str, name: str = "Jane Doe", **fields) -> bytes:
    body = {
        "type": "message",
        "id": "1700000000000",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "text": text,
        "from": {"id": "29:abc", "name": name, "aadObjectId": "00000000-0000-0000-0000-000000000001"},
        "conversation": {"id": "19:channel@thread.skype"},
        "channelData": {"teamsTeamId": "19:team", "teamsChannelId": "19:channel@thread.skype"},
        **fields,
    }
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return (
        "HMAC " + base64.b64encode(hmac.new(base64.b64decode(secret), body, hashlib.sha256).digest()).decode()
    )


GOOD = "<p><at>TicketBot</at> Title: Lost password</p><p>Priority: Medium</p><p>Description: Can't log in</p>"


@pytest.fixture
def sqs(ingest_aws):
    return ingest_aws


@pytest.fixture
def client(sqs):
    return create_app({"ingest_api_token": "t", "teams_webhook_secret": SECRET}).test_client()


def post(client, body: bytes, authorization: str | None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.post("/teams/webhook", data=body, headers=headers, content_type="application/json")


def queued(sqs) -> list[Ticket]:
    tickets = []
    for url in sqs.list_queues().get("QueueUrls", []):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            tickets.append(Ticket.from_message(message["Body"]))
    return tickets


def test_a_signed_message_becomes_a_ticket_and_the_reply_names_it(client, sqs):
    body = activity(GOOD)
    response = post(client, body, sign(body))
    assert response.status_code == 200
    reply = response.get_json()
    assert reply["type"] == "message"
    [ticket] = queued(sqs)
    assert ticket.id in reply["text"]
    assert (ticket.title, ticket.priority.value, ticket.description) == (
        "Lost password",
        "medium",
        "Can't log in",
    )
    assert ticket.requester.name == "Jane Doe"
    assert ticket.source == "teams-webhook"


def test_one_changed_byte_is_401_and_no_ticket(client, sqs):
    body = activity(GOOD)
    signature = sign(body)
    tampered = body.replace(b"Medium", b"Mediun")
    assert len(tampered) == len(body) and tampered != body
    response = post(client, tampered, signature)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert queued(sqs) == []


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "HMAC ",
        "HMAC not-base64!!",
        "Bearer " + SECRET,
        sign(activity(GOOD), base64.b64encode(b"another-token").decode()),
        sign(activity(GOOD)).replace("HMAC", "hmac"),
    ],
)
def test_wrong_or_missing_signature_is_401_and_no_ticket(client, sqs, authorization):
    response = post(client, activity(GOOD), authorization)
    assert response.status_code == 401
    assert queued(sqs) == []


def test_a_message_missing_a_field_gets_the_correction_and_a_template(client, sqs):
    body = activity("<p><at>TicketBot</at> Title: Lost password</p><p>Description: Can't log in</p>")
    response = post(client, body, sign(body))
    assert response.status_code == 200
    text = response.get_json()["text"]
    assert "Priority is missing" in text
    assert "Priority: High | Medium | Low" in text
    assert queued(sqs) == []


def test_an_unknown_priority_is_corrected_not_guessed(client, sqs):
    body = activity("<p><at>TicketBot</at> Title: X</p><p>Priority: super</p><p>Description: d</p>")
    text = post(client, body, sign(body)).get_json()["text"]
    assert '"super" is not a priority I know' in text
    assert queued(sqs) == []


def test_a_title_over_the_limit_is_reported_by_its_limit(client, sqs):
    body = activity(f"<p><at>Bot</at> Title: {'x' * 201}</p><p>Priority: Low</p><p>Description: d</p>")
    text = post(client, body, sign(body)).get_json()["text"]
    assert "Title must be at most 200 characters" in text
    assert queued(sqs) == []


def test_malformed_json_with_a_valid_signature_is_400(client, sqs):
    body = b'{"text": '
    response = post(client, body, sign(body))
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"


def test_webhook_is_off_without_a_secret(sqs):
    client = create_app({"ingest_api_token": "t"}).test_client()
    body = activity(GOOD)
    response = post(client, body, sign(body))
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_configured"


def test_unreachable_queue_is_told_to_the_user_within_teams_time():
    with dead_endpoint() as url:
        client = create_app(
            {"ingest_api_token": "t", "teams_webhook_secret": SECRET, "aws_endpoint_url": url}
        )
        body = activity(GOOD)
        response = post(client.test_client(), body, sign(body))
    assert response.status_code == 200
    assert "NOT created" in response.get_json()["text"]


def test_a_resent_activity_creates_one_ticket(client, sqs):
    body = activity(GOOD)
    first = post(client, body, sign(body)).get_json()["text"]
    second = post(client, body, sign(body)).get_json()["text"]
    assert first == second
    assert len(queued(sqs)) == 1


def test_a_lost_queue_answer_is_told_as_maybe_created_and_teams_resending_it_makes_one_ticket(
    client, sqs, monkeypatch
):
    send = QueueDirectory.send
    lost = []

    def store_then_lose_the_answer(self, ticket):
        send(self, ticket)
        if not lost:
            lost.append(ticket.id)
            raise SendFailed(SendOutcome.UNKNOWN, ReadTimeoutError(endpoint_url="http://sqs"))
        return "message-id"

    monkeypatch.setattr(QueueDirectory, "send", store_then_lose_the_answer)
    body = activity(GOOD)
    text = post(client, body, sign(body)).get_json()["text"]
    assert "may have been created" in text and lost[0] in text and "NOT created" not in text
    assert lost[0] in post(client, body, sign(body)).get_json()["text"]  # Teams resends the activity
    assert {t.id for t in queued(sqs)} == {lost[0]}


# --- replay protection ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"id": None}, "invalid_activity"),
        ({"id": "  "}, "invalid_activity"),
        ({"timestamp": None}, "invalid_activity"),
        ({"timestamp": "yesterday"}, "invalid_activity"),
        ({"timestamp": "2026-11-28T10:00:00"}, "invalid_activity"),  # no time zone
    ],
)
def test_an_activity_without_id_or_timestamp_is_refused_and_creates_nothing(client, sqs, fields, error):
    body = activity(GOOD, **fields)
    for _ in range(3):  # replayed: still nothing
        response = post(client, body, sign(body))
        assert response.status_code == 400
        assert response.get_json()["error"] == error
        assert response.get_json()["type"] == "message" and response.get_json()["text"]
    assert queued(sqs) == []


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=-2)])
def test_an_activity_outside_the_window_is_401_and_creates_nothing(client, sqs, offset):
    stamp = (datetime.now(UTC) + offset).isoformat()
    body = activity(GOOD, timestamp=stamp)
    response = post(client, body, sign(body))
    assert response.status_code == 401
    assert response.get_json()["error"] == "stale_activity"
    assert "at most 300 s" in response.get_json()["message"]
    assert queued(sqs) == []


def test_an_activity_inside_the_window_with_teams_seven_digit_fractions_is_accepted(client, sqs):
    stamp = (datetime.now(UTC) - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z"
    body = activity(GOOD, timestamp=stamp)
    assert post(client, body, sign(body)).status_code == 200
    assert len(queued(sqs)) == 1


def test_the_window_is_configurable(sqs):
    client = create_app(
        {"ingest_api_token": "t", "teams_webhook_secret": SECRET, "teams_webhook_max_age_seconds": 30}
    ).test_client()
    body = activity(GOOD, timestamp=(datetime.now(UTC) - timedelta(seconds=60)).isoformat())
    assert post(client, body, sign(body)).status_code == 401


def test_a_replayed_id_with_another_body_is_409_and_creates_nothing_more(client, sqs):
    first = activity(GOOD, id="replayed-id")
    assert post(client, first, sign(first)).status_code == 200
    other = activity(GOOD.replace("Lost password", "Another"), id="replayed-id")
    response = post(client, other, sign(other))
    assert response.status_code == 409
    assert response.get_json()["error"] == "activity_replayed"
    assert response.get_json()["type"] == "message"
    assert len(queued(sqs)) == 1


def test_a_markdown_link_in_the_title_does_not_become_a_link_in_the_reply(client, sqs):
    text = "<p><at>Bot</at> Title: [Reset here](https://evil.example/login) **now**</p>"
    body = activity(text + "<p>Priority: Low</p><p>Description: d</p>")
    reply = post(client, body, sign(body)).get_json()["text"]
    [ticket] = queued(sqs)
    assert ticket.title == "[Reset here](https://evil.example/login) **now**"  # the ticket keeps its text
    assert "](" not in reply and "**" not in reply
    assert r"\[Reset here\]\(https://evil\.example/login\) \*\*now\*\*" in reply


def test_html_and_markdown_in_a_correction_are_escaped(client, sqs):
    body = activity("<p><at>Bot</at> Title: x</p><p>Priority: [p](http://e.example)</p><p>Description: d</p>")
    reply = post(client, body, sign(body)).get_json()["text"]
    assert "](" not in reply
    assert r"\[p\]\(http://e\.example\)" in reply
