"""The ingest HTTP contract, through Flask's test client against moto's in-process SQS."""

from __future__ import annotations

import collections
import json
import logging
import threading
from datetime import timedelta

import pytest
from botocore.client import BaseClient
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from ingest import create_app, resolve_queues
from ingest.services import services_of
from tests.support import dead_endpoint
from ticketrouter import ledger
from ticketrouter.destination import AttemptOutcome
from ticketrouter.ledger import Status
from ticketrouter.queues import QueueDirectory
from ticketrouter.send_outcome import SendFailed, SendOutcome
from ticketrouter.ticket import Priority, Ticket, parse_submission

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VALID = {"title": "Printer on fire", "priority": "High", "description": "Third floor"}


@pytest.fixture
def aws(ingest_aws):
    return ingest_aws


@pytest.fixture
def app(aws):
    return create_app({"ingest_api_token": TOKEN})


@pytest.fixture
def client(app):
    return app.test_client()


def ledger_of(app) -> ledger.Ledger:
    return services_of(app).tickets.ledger


def queued(sqs) -> dict[str, list[Ticket]]:
    """Every ticket on every priority queue, by priority (missing queue = none)."""
    found = {}
    for priority in Priority:
        urls = sqs.list_queues(QueueNamePrefix=f"tickets-{priority.value}").get("QueueUrls", [])
        url = next((u for u in urls if u.endswith(f"tickets-{priority.value}")), None)
        messages = []
        if url:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        found[priority.value] = [Ticket.from_message(m["Body"]) for m in messages]
    return found


def post(client, body=None, headers=AUTH, **kwargs):
    if body is not None:
        kwargs["data"] = body if isinstance(body, str | bytes) else json.dumps(body)
        kwargs.setdefault("content_type", "application/json")
    return client.post("/tickets", headers=headers, **kwargs)


def test_a_valid_ticket_is_queued_on_its_priority_queue_and_acknowledged(client, aws):
    response = post(client, {**VALID, "requester": {"name": "Jane", "email": "jane@example.com"}})
    assert response.status_code == 202
    body = response.get_json()
    assert list(body) == ["ticket_id", "priority", "status", "message", "reply_card"]
    assert body["reply_card"]["type"] == "AdaptiveCard"
    assert {"title": "Ticket id", "value": body["ticket_id"]} in body["reply_card"]["body"][1]["facts"]
    assert body["priority"] == "high" and body["status"] == "queued"
    assert body["ticket_id"] in body["message"] and "Printer on fire" in body["message"]
    tickets = queued(aws)
    assert [t.id for t in tickets["high"]] == [body["ticket_id"]]
    assert tickets["high"][0].requester.email == "jane@example.com"
    assert tickets["medium"] == [] and tickets["low"] == []


@pytest.mark.parametrize(("priority", "queue"), [("1", "high"), ("Medium", "medium"), ("3", "low")])
def test_each_priority_reaches_its_own_queue(client, aws, priority, queue):
    response = post(client, {**VALID, "priority": priority})
    assert response.status_code == 202
    assert [t.id for t in queued(aws)[queue]] == [response.get_json()["ticket_id"]]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer " + TOKEN + "x"},
        {"Authorization": "Bearer ünïcode"},
    ],
)
def test_missing_or_wrong_token_is_401_and_nothing_is_queued(client, aws, headers):
    response = post(client, VALID, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert queued(aws) == {"high": [], "medium": [], "low": []}


def test_wrong_content_type_is_415(client, aws):
    response = post(client, json.dumps(VALID), content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"
    assert "text/plain" in response.get_json()["message"]
    assert queued(aws) == {"high": [], "medium": [], "low": []}


def test_json_with_charset_is_accepted(client):
    assert post(client, VALID, content_type="application/json; charset=utf-8").status_code == 202


def test_body_over_64_kib_is_413(client, aws):
    response = post(client, {**VALID, "description": "x" * (64 * 1024)})
    assert response.status_code == 413
    assert response.get_json() == {
        "error": "payload_too_large",
        "message": "request body exceeds 65536 bytes",
    }
    assert queued(aws) == {"high": [], "medium": [], "low": []}


@pytest.mark.parametrize("body", ['{"title": "x",', "", b"\xff\xfe{", "nul"])
def test_malformed_json_is_400(client, aws, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
    assert queued(aws) == {"high": [], "medium": [], "low": []}


def test_field_errors_are_422_with_every_field_named(client, aws):
    response = post(client, {"title": " ", "priority": "urgent"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["fields"] == {
        "title": "must not be empty",
        "priority": "must be one of high, medium, low (or 1, 2, 3)",
        "description": "is required",
    }
    assert queued(aws) == {"high": [], "medium": [], "low": []}


@pytest.mark.parametrize("body", [[VALID], "a string", 42, None])
def test_json_that_is_not_an_object_is_422(client, aws, body):
    response = post(client, json.dumps(body))
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"body": "must be a JSON object"}
    assert queued(aws) == {"high": [], "medium": [], "low": []}


def test_unreachable_sqs_is_503_with_retry_after():
    with dead_endpoint() as url:
        client = create_app({"ingest_api_token": TOKEN, "aws_endpoint_url": url}).test_client()
        response = post(client, VALID)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "queue_unavailable"
    assert response.get_json()["retry_safe"] is True


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "queues": {"high": "ok", "medium": "ok", "low": "ok"}}


def test_readyz_is_503_when_sqs_is_unreachable():
    with dead_endpoint() as url:
        client = create_app({"ingest_api_token": TOKEN, "aws_endpoint_url": url}).test_client()
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert set(response.get_json()["queues"]) == {"high", "medium", "low"}


def test_unknown_path_and_wrong_method_answer_json(client):
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong = client.get("/tickets", headers=AUTH)
    assert wrong.status_code == 405 and wrong.get_json()["error"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_ingest_creates_missing_queues_on_first_use(client, aws):
    assert aws.list_queues().get("QueueUrls", []) == []
    assert post(client, VALID).status_code == 202
    names = sorted(url.rsplit("/", 1)[1] for url in aws.list_queues()["QueueUrls"])
    assert names == ["tickets-high", "tickets-high-dlq"]


def test_the_token_never_reaches_a_log_line(aws, capfd):
    client = create_app({"ingest_api_token": TOKEN}).test_client()  # logs to the captured stderr
    post(client, VALID)
    post(client, VALID, headers={"Authorization": f"Bearer {TOKEN}-wrong"})
    logging.getLogger("test").info("leaking %s", TOKEN)
    err = capfd.readouterr().err
    assert "ticket queued" in err
    assert TOKEN not in err
    for line in err.splitlines():
        json.loads(line)  # every line is one JSON object


def test_openapi_document_is_served_valid_and_identical_to_the_teams_copy(client):
    from openapi_spec_validator import validate

    from devstack import ROOT

    served = client.get("/openapi.json")
    assert served.status_code == 200
    document = served.get_json()
    validate(document)
    assert document == json.loads((ROOT / "teams" / "openapi.json").read_text())
    assert set(document["paths"]) == {
        "/tickets",
        "/tickets/{ticket_id}",
        "/teams/webhook",
        "/healthz",
        "/readyz",
        "/openapi.json",
    }


def test_a_repeated_idempotency_key_returns_the_first_ticket_and_queues_nothing_new(client, aws):
    headers = {**AUTH, "Idempotency-Key": "flow-run-42"}
    answers = [post(client, VALID, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.get_json()["ticket_id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert len(queued(aws)["high"]) == 1


def test_an_idempotency_key_reused_for_another_ticket_is_409(client, aws):
    headers = {**AUTH, "Idempotency-Key": "k1"}
    assert post(client, VALID, headers=headers).status_code == 202
    response = post(client, {**VALID, "title": "Something else"}, headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"] == "idempotency_key_reused"
    assert len(queued(aws)["high"]) == 1


def test_power_automate_retries_are_recognised_by_their_run_headers(client, aws):
    headers = {**AUTH, "x-ms-workflow-run-id": "08585", "x-ms-workflow-operation-name": "HTTP"}
    first, retry = post(client, VALID, headers=headers), post(client, VALID, headers=headers)
    assert first.get_json()["ticket_id"] == retry.get_json()["ticket_id"]
    other_run = post(client, VALID, headers={**headers, "x-ms-workflow-run-id": "08586"})
    assert other_run.get_json()["ticket_id"] != first.get_json()["ticket_id"]
    assert len(queued(aws)["high"]) == 2


def test_a_keyless_repeat_of_the_same_body_returns_the_first_ticket(client, aws):
    first, repeat = post(client, VALID), post(client, VALID)
    assert [first.status_code, repeat.status_code] == [202, 202]
    assert repeat.get_json()["ticket_id"] == first.get_json()["ticket_id"]
    assert [first.headers.get("Idempotent-Replayed"), repeat.headers.get("Idempotent-Replayed")] == [
        None,
        "true",
    ]
    # No worker has seen the ticket, so the repeat cannot know that the first send landed: it
    # sends the same ticket again, and the workers' claim by ticket id drops the second copy.
    assert [t.id for t in queued(aws)["high"]] == [first.get_json()["ticket_id"]] * 2


def test_a_keyless_repeat_of_a_ticket_a_worker_has_seen_queues_nothing(app, client, aws):
    first = post(client, VALID).get_json()["ticket_id"]
    ticket = Ticket.from_submission(parse_submission(VALID)).model_copy(update={"id": first})
    ledger_of(app).change(ticket, lambda record: ({**record, "status": "delivering"}, None))
    repeat = post(client, VALID)
    assert repeat.get_json()["ticket_id"] == first and repeat.headers["Idempotent-Replayed"] == "true"
    assert len(queued(aws)["high"]) == 1


def aws_calls(monkeypatch) -> collections.Counter:
    """Count every AWS operation any boto3 client makes from now on."""
    calls: collections.Counter = collections.Counter()
    make_api_call = BaseClient._make_api_call

    def counted(self, operation_name, api_params):
        calls[operation_name] += 1
        return make_api_call(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return calls


def test_a_keyless_ticket_costs_two_aws_calls_its_record_and_its_message(app, client, aws, monkeypatch):
    resolve_queues(app)  # once per process, at start-up
    calls = aws_calls(monkeypatch)
    response = post(client, VALID)
    assert response.status_code == 202
    assert calls == {"PutObject": 1, "SendMessage": 1}
    assert ledger_of(app).get(response.get_json()["ticket_id"])["status"] == "queued"


def test_keyless_submissions_with_different_bodies_are_different_tickets(client, aws):
    other = post(client, {**VALID, "description": "Fourth floor"})
    assert post(client, VALID).get_json()["ticket_id"] != other.get_json()["ticket_id"]
    assert len(queued(aws)["high"]) == 2


def test_implicit_dedup_turned_off_makes_every_keyless_submission_a_new_ticket(aws):
    client = create_app({"ingest_api_token": TOKEN, "ingest_implicit_dedup_seconds": 0}).test_client()
    assert post(client, VALID).get_json()["ticket_id"] != post(client, VALID).get_json()["ticket_id"]


def test_a_keyless_repeat_after_the_window_is_a_new_ticket(aws, monkeypatch):
    client = create_app({"ingest_api_token": TOKEN, "ingest_implicit_dedup_seconds": 60}).test_client()
    first = post(client, VALID).get_json()["ticket_id"]
    started = ledger.utcnow()
    monkeypatch.setattr(ledger, "utcnow", lambda: started + timedelta(seconds=59))
    assert post(client, VALID).get_json()["ticket_id"] == first
    monkeypatch.setattr(ledger, "utcnow", lambda: started + timedelta(seconds=61))
    later = post(client, VALID)
    assert later.get_json()["ticket_id"] != first and "Idempotent-Replayed" not in later.headers
    retry = post(client, VALID)  # the later ticket is bound in turn
    assert retry.get_json()["ticket_id"] == later.get_json()["ticket_id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert {t.id for t in queued(aws)["high"]} == {first, later.get_json()["ticket_id"]}


def lose_sqs_answers(monkeypatch, outcome: SendOutcome, count: int = 1, stored: bool = True) -> None:
    """The next count sends reach SQS (NOT_SENT, or stored=False: do not), then fail with outcome."""
    send = QueueDirectory.send
    left = [count]

    def failing_send(self, ticket):
        if left[0] == 0:
            return send(self, ticket)
        left[0] -= 1
        if outcome is SendOutcome.UNKNOWN and stored:
            send(self, ticket)  # stored; only the answer is lost
        raise SendFailed(outcome, ReadTimeoutError(endpoint_url="http://sqs"))

    monkeypatch.setattr(QueueDirectory, "send", failing_send)


@pytest.mark.parametrize("headers", [AUTH, {**AUTH, "Idempotency-Key": "k-lost"}])
def test_a_lost_sqs_answer_is_503_outcome_unknown_and_the_retry_is_the_same_ticket(
    client, aws, monkeypatch, headers
):
    lose_sqs_answers(monkeypatch, SendOutcome.UNKNOWN)
    lost = post(client, VALID, headers=headers)
    assert lost.status_code == 503 and lost.headers["Retry-After"] == "5"
    body = lost.get_json()
    assert (body["error"], body["retry_safe"]) == ("queue_outcome_unknown", True)
    assert "may have been queued" in body["message"]
    retry = post(client, VALID, headers=headers)
    assert retry.status_code == 202 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["ticket_id"] == body["ticket_id"]
    # Two copies of one ticket id: the workers deliver it once (the ledger claims by id).
    assert [t.id for t in queued(aws)["high"]] == [body["ticket_id"]] * 2


def test_a_keyless_retry_queues_the_ticket_an_unconfirmed_first_send_never_stored(client, aws, monkeypatch):
    lose_sqs_answers(monkeypatch, SendOutcome.UNKNOWN, stored=False)
    lost = post(client, VALID).get_json()
    assert lost["error"] == "queue_outcome_unknown" and queued(aws)["high"] == []
    retry = post(client, VALID)
    assert retry.status_code == 202 and retry.get_json()["ticket_id"] == lost["ticket_id"]
    assert [t.id for t in queued(aws)["high"]] == [lost["ticket_id"]]  # a 202 means it is on its queue


def test_without_dedup_a_lost_sqs_answer_says_a_retry_may_duplicate(aws, monkeypatch):
    client = create_app({"ingest_api_token": TOKEN, "ingest_implicit_dedup_seconds": 0}).test_client()
    lose_sqs_answers(monkeypatch, SendOutcome.UNKNOWN)
    body = post(client, VALID).get_json()
    assert (body["error"], body["retry_safe"]) == ("queue_outcome_unknown", False)
    assert "may create a second ticket" in body["message"]


def test_a_provably_unsent_ticket_is_503_nothing_queued_and_releases_the_key(client, aws, monkeypatch):
    lose_sqs_answers(monkeypatch, SendOutcome.NOT_SENT)
    refused = post(client, VALID)
    assert refused.status_code == 503
    body = refused.get_json()
    assert (body["error"], body["retry_safe"]) == ("queue_unavailable", True)
    assert "nothing was queued" in body["message"] and "ticket_id" not in body
    assert queued(aws)["high"] == []
    retry = post(client, VALID)
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry.headers


@pytest.mark.parametrize(
    "headers", [AUTH, {**AUTH, "Idempotency-Key": "k-late"}], ids=["keyless", "idempotency-key"]
)
def test_a_first_send_refused_late_keeps_the_record_its_retry_got_delivered(
    app, client, aws, monkeypatch, headers
):
    """The first call's send hangs, then is refused (nothing queued). Meanwhile its retry found
    the ticket unconfirmed, sent it, and a worker delivered it. The refused send must not remove
    the keyless ticket's record (GET would say 404 for a delivered ticket, and the next identical
    body would create it afresh and send it again: two posts), nor release the key's binding
    (the next retry with that key would bind a new ticket: two tickets)."""
    send, sends = QueueDirectory.send, [0]
    held, release = threading.Event(), threading.Event()

    def hangs_then_refused(self, ticket):
        sends[0] += 1
        if sends[0] > 1:
            return send(self, ticket)
        held.set()
        release.wait(10)
        raise SendFailed(SendOutcome.NOT_SENT, EndpointConnectionError(endpoint_url="http://sqs"))

    monkeypatch.setattr(QueueDirectory, "send", hangs_then_refused)
    first: dict[str, object] = {}
    caller = threading.Thread(
        target=lambda: first.update(answer=post(app.test_client(), VALID, headers=headers))
    )
    caller.start()
    assert held.wait(10), "the first send never started"
    retry = post(client, VALID, headers=headers)
    assert retry.status_code == 202 and retry.headers["Idempotent-Replayed"] == "true"
    [ticket] = queued(aws)["high"]
    book = ledger_of(app)
    claim = book.claim(ticket, "slack", 60)  # what worker-slack does with the retry's copy
    book.settle(ticket, Status.DELIVERED, outcome=AttemptOutcome.DELIVERED, reference="1.000100", claim=claim)
    release.set()
    caller.join(10)
    assert first["answer"].status_code == 503
    assert book.get(ticket.id)["status"] == "delivered"
    again = post(client, VALID, headers=headers)
    assert again.get_json()["ticket_id"] == ticket.id and again.headers["Idempotent-Replayed"] == "true"
    assert sends[0] == 2  # the delivered ticket is not sent a third time


def test_an_overlong_idempotency_key_is_400(client):
    response = post(client, VALID, headers={**AUTH, "Idempotency-Key": "k" * 256})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_idempotency_key"


def test_ticket_status_shows_the_ledger_record(client):
    ticket_id = post(client, VALID).get_json()["ticket_id"]
    status = client.get(f"/tickets/{ticket_id}", headers=AUTH)
    assert status.status_code == 200
    body = status.get_json()
    assert (body["ticket_id"], body["status"], body["priority"], body["attempts"]) == (
        ticket_id,
        "queued",
        "high",
        0,
    )
    assert client.get(f"/tickets/{ticket_id}").status_code == 401
    missing = client.get("/tickets/00000000-0000-0000-0000-000000000000", headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    assert client.get("/tickets/..%2F..%2Fetc", headers=AUTH).status_code == 404
