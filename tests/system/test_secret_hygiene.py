"""No configured secret leaves any process, even when a destination echoes every one of them.

The Slack and Trello stand-ins answer with error bodies that carry every configured secret,
first as a transient failure (the ticket is retried: ledger `last_error`, worker logs), then
as a permanent refusal (the ticket is parked: DLQ `park_reason`). Then every place text leaves
is read: each process's log, each ledger object, each DLQ message, and the HTTP answers of
ingest (GET /tickets/<id>, the webhook's reply, /metrics) and of the workers (/metrics).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from tests.system.conftest import Router, running_router
from ticketrouter.ticket import Priority

SECRETS = {
    "INGEST_API_TOKEN": "hygiene-ingest-token-1a2b3c4d",
    "SLACK_BOT_TOKEN": "xoxb-hygiene-slack-5e6f7a8b",
    "TRELLO_KEY": "hygienetrellokey9c0d1e2f",
    "TRELLO_TOKEN": "hygiene-trello-token-3a4b5c6d",
    "TEAMS_WEBHOOK_SECRET": base64.b64encode(b"hygiene-teams-webhook-secret-7e8f").decode(),
    "AWS_SECRET_ACCESS_KEY": "hygiene-aws-secret-access-key-9a0b1c2d",
}
# What a misbehaving destination answers: every configured secret, next to words that look harmless.
ECHO = "; ".join(f"invalid {name.lower()} {value}" for name, value in SECRETS.items())
# The harmless words of the echo: they show it reached a sink, whether the secrets were redacted or not.
ECHOED = "invalid trello_token"


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    # A transient failure's outcome is unknown: the next attempt looks first, 1 s later.
    env = {
        **SECRETS,
        "WORKER_WAIT_SECONDS": "1",
        "WORKER_RETRY_BASE_SECONDS": "1",
        "WORKER_UNKNOWN_RETRY_SECONDS": "1",
    }
    with running_router(tmp_path_factory.mktemp("hygiene") / "logs", **env) as running:
        yield running


def leaked(text: str) -> list[str]:
    """The names of the configured secrets found in text."""
    return [name for name, value in SECRETS.items() if value in text]


def submit(router: Router, priority: Priority) -> str:
    marker = uuid.uuid4().hex[:8]
    response = router.submit(
        {"title": f"hygiene {marker}", "priority": priority.value, "description": marker}
    )
    assert response.status_code == 202, response.text
    return response.json()["ticket_id"]


def ledger_objects(router: Router) -> dict[str, str]:
    s3 = router.aws("s3")
    listing = s3.list_objects_v2(Bucket="tickets-ledger").get("Contents", [])
    return {
        o["Key"]: s3.get_object(Bucket="tickets-ledger", Key=o["Key"])["Body"].read().decode()
        for o in listing
    }


def dlq_messages(router: Router) -> list[dict]:
    sqs = router.aws("sqs")
    messages = []
    for priority in Priority:
        url = sqs.get_queue_url(QueueName=f"tickets-{priority.value}-dlq")["QueueUrl"]
        messages += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
    return messages


def signed_webhook(router: Router, text: str) -> requests.Response:
    activity = {"type": "message", "id": uuid.uuid4().hex, "timestamp": datetime.now(UTC).isoformat(),
                "text": text, "from": {"name": SECRETS["SLACK_BOT_TOKEN"]}}  # fmt: skip
    return router.post_webhook(json.dumps(activity).encode())


POST_PATH = "/api/chat.postMessage"


def test_secrets_echoed_by_destinations_appear_nowhere(router: Router):
    # Transient: Slack answers ok=false with an error it does not call permanent, Trello a 503.
    slack_error = {"ok": False, "error": "internal_error", "detail": ECHO}
    # Only the delivery calls fail: the lookups that follow an unknown outcome still answer.
    router.control("slack", "fail", {"status": 200, "count": None, "body": slack_error, "path": POST_PATH})
    router.control("trello", "fail", {"status": 503, "count": None, "body": ECHO, "path": "/1/cards"})
    high, medium = submit(router, Priority.HIGH), submit(router, Priority.MEDIUM)
    router.wait_for(
        lambda: {router.status(t)["status"] for t in (high, medium)} == {"failed"}, 60, "both failed once"
    )
    transient = router.status(high)["last_error"]
    assert "internal_error" in transient and ECHOED in transient  # the echo reached the ledger

    # Permanent: both refuse for good, still echoing; the tickets are parked.
    slack_refusal = {"ok": False, "error": "invalid_auth", "detail": ECHO}
    router.control("slack", "fail", {"status": 200, "count": None, "body": slack_refusal, "path": POST_PATH})
    router.control("trello", "fail", {"status": 401, "count": None, "body": ECHO, "path": "/1/cards"})
    try:
        router.wait_for(
            lambda: {router.status(t)["status"] for t in (high, medium)} == {"dead-lettered"},
            90,
            "both dead-lettered",
        )
    finally:
        router.control("slack", "fail")
        router.control("trello", "fail")

    ingest = router.stack.ingest_url
    answers = {
        f"GET /tickets/{t}": requests.get(f"{ingest}/tickets/{t}", headers=router.auth, timeout=10).text
        for t in (high, medium)
    }
    assert ECHOED in answers[f"GET /tickets/{medium}"]  # Trello's 401 body reached the record
    webhook = signed_webhook(router, f"<p>Title: {ECHO}</p><p>Priority: {ECHO}</p><p>Description: d</p>")
    assert webhook.status_code == 200
    answers["webhook reply"] = webhook.text
    answers["ingest /metrics"] = requests.get(f"{ingest}/metrics", timeout=10).text
    for name in ("worker-slack", "worker-trello", "worker-s3"):
        port = router.stack.worker_metrics_port(name)
        answers[f"{name} /metrics"] = requests.get(f"{router.stack.url(port)}/metrics", timeout=10).text

    parked = dlq_messages(router)
    reasons = [m["MessageAttributes"]["park_reason"]["StringValue"] for m in parked]
    assert len(parked) == 2 and any(ECHOED in r for r in reasons), reasons  # Trello's 401 body
    ledger = ledger_objects(router)
    assert any(ECHOED in text for text in ledger.values())
    logs = {s.name: s.log_text() for s in router.stack.services}
    logs["provision"] = (router.stack.log_dir / "provision.log").read_text()
    assert all(ECHOED in logs[w] for w in ("worker-slack", "worker-trello"))

    found = {
        **{f"log of {name}": leaked(text) for name, text in logs.items()},
        **{f"ledger {key}": leaked(text) for key, text in ledger.items()},
        **{f"DLQ message {m['MessageId']}": leaked(json.dumps(m)) for m in parked},
        **{f"answer {name}": leaked(text) for name, text in answers.items()},
    }
    assert {where: names for where, names in found.items() if names} == {}
