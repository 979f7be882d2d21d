"""End to end through real processes: ingest (gunicorn) → SQS (MiniStack) → workers → destinations."""

from __future__ import annotations

import json
import signal
import uuid

import pytest

from tests.system.conftest import SECRETS, Router
from ticketrouter.ticket import Priority, Ticket


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def test_probes_answer(router: Router):
    import requests

    assert requests.get(f"{router.stack.ingest_url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{router.stack.ingest_url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_each_priority_lands_at_its_destination_exactly_once_with_content_intact(router: Router):
    sent: dict[str, dict] = {}
    for i in range(5):
        for priority in ("High", "2", "low"):
            ticket = {
                "title": unique(f"E2E {priority} #{i}"),
                "priority": priority,
                "description": f"Line one\nLine two with <!channel> & ünïcödé #{i}",
                "requester": {"name": "Jane Doe", "email": "jane@example.com"},
            }
            response = router.submit(ticket)
            assert response.status_code == 202, response.text
            sent[response.json()["ticket_id"]] = {**ticket, "priority": response.json()["priority"]}
    by_priority = {
        p: {tid for tid, t in sent.items() if t["priority"] == p} for p in ("high", "medium", "low")
    }

    def slack_ids():
        return [tid for post in router.slack_posts() for tid in sent if tid in post["body"]["text"]]

    def trello_ids():
        return [tid for card in router.trello_cards() for tid in sent if tid in card["body"]["desc"]]

    def s3_tickets():
        return {
            t.id: t
            for t in (Ticket.from_message(body.decode()) for body in router.s3_objects().values())
            if t.id in sent
        }

    router.wait_for(lambda: set(slack_ids()) == by_priority["high"], what="high tickets in Slack")
    router.wait_for(lambda: set(trello_ids()) == by_priority["medium"], what="medium tickets in Trello")
    router.wait_for(lambda: set(s3_tickets()) == by_priority["low"], what="low tickets in S3")
    for priority in Priority:
        router.wait_for(lambda p=priority: router.queue_counts(p) == (0, 0), what=f"{priority} queue drained")

    # Exactly once, and only at the right place.
    assert sorted(slack_ids()) == sorted(by_priority["high"])
    assert sorted(trello_ids()) == sorted(by_priority["medium"])
    # Content intact.
    for post in router.slack_posts():
        tid = next((t for t in sent if t in post["body"]["text"]), None)
        if tid:
            blocks = json.dumps(post["body"]["blocks"], ensure_ascii=False)
            assert sent[tid]["title"] in blocks
            assert "Line two with &lt;!channel&gt; &amp; ünïcödé" in blocks
    for card in router.trello_cards():
        tid = next((t for t in sent if t in card["body"]["desc"]), None)
        if tid:
            assert card["body"]["name"] == sent[tid]["title"]
            assert card["body"]["desc"].startswith(sent[tid]["description"])
    for tid, ticket in s3_tickets().items():
        assert (ticket.title, ticket.description) == (sent[tid]["title"], sent[tid]["description"])
        assert ticket.requester.email == "jane@example.com"


def test_bad_input_gets_its_error_and_nothing_reaches_a_queue(router: Router):
    marker = unique("BAD-INPUT")
    good = {"title": marker, "priority": "high", "description": marker}
    json_headers = {**router.auth, "Content-Type": "application/json"}
    cases = [
        (router.submit(good, headers={}), 401),
        (router.submit(good, headers={"Authorization": "Bearer nope"}), 401),
        (router.post_raw(json.dumps(good), {**router.auth, "Content-Type": "text/plain"}), 415),
        (router.post_raw(json.dumps({**good, "description": marker * 10_000}), json_headers), 413),
        (router.post_raw('{"title": "' + marker, json_headers), 400),
        (router.submit({**good, "priority": "urgent"}), 422),
        (router.submit({"title": marker}), 422),
        (router.post_raw(json.dumps([good]), json_headers), 422),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"]
    assert cases[5][0].json()["fields"] == {"priority": "must be one of high, medium, low (or 1, 2, 3)"}

    # A good ticket sent after the bad ones overtakes nothing: once it has landed, nothing else has.
    landed = router.submit({**good, "title": "after " + marker}).json()["ticket_id"]
    router.wait_for(lambda: any(landed in p["body"]["text"] for p in router.slack_posts()), what="marker")
    carried = [p for p in router.slack_posts() + router.trello_cards() if marker in json.dumps(p["body"])]
    assert len(carried) == 1
    assert not any(marker.encode() in body for body in router.s3_objects().values())
    for priority in Priority:
        assert router.queue_counts(priority) == (0, 0)


def test_a_stopped_worker_loses_nothing_and_exits_cleanly_on_sigterm(router: Router):
    worker = router.stack.service("worker-slack")
    assert router.stack.stop_service(worker, signal.SIGTERM) == 0  # 0, not killed: it left the poll
    assert '"message": "consumer stopped"' in worker.log_text()

    response = router.submit(
        {"title": unique("while down"), "priority": "high", "description": "wait for me"}
    )
    tid = response.json()["ticket_id"]
    router.wait_for(lambda: router.queue_counts(Priority.HIGH) == (1, 0), what="ticket waiting on the queue")
    assert not any(tid in p["body"]["text"] for p in router.slack_posts())

    router.stack.start_worker("worker_slack")
    router.wait_for(
        lambda: any(tid in p["body"]["text"] for p in router.slack_posts()), what="delivery after restart"
    )
    assert sum(tid in p["body"]["text"] for p in router.slack_posts()) == 1


@pytest.mark.parametrize("priority", list(Priority))
def test_a_poison_message_is_parked_with_a_reason_and_the_worker_carries_on(router: Router, priority):
    sqs = router.aws("sqs")
    url = sqs.get_queue_url(QueueName=f"tickets-{priority.value}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"not": "a ticket"}')
    router.wait_for(lambda: router.queue_counts(priority, dlq=True)[0] >= 1, what="poison parked")
    dlq = sqs.get_queue_url(QueueName=f"tickets-{priority.value}-dlq")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])[
        "Messages"
    ]
    poison = [m for m in messages if m["Body"] == '{"not": "a ticket"}']
    assert poison and "not a ticket envelope" in poison[0]["MessageAttributes"]["park_reason"]["StringValue"]
    for m in messages:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
    tid = router.submit(
        {"title": unique("after poison"), "priority": priority.value, "description": "d"}
    ).json()["ticket_id"]
    router.wait_for(lambda: router.queue_counts(priority) == (0, 0), what="worker still draining")
    assert tid


def test_every_log_line_is_json_and_no_secret_is_logged(router: Router):
    # Its own deliveries (one per priority) and a refusal, so it checks real lines when run alone.
    sent = {
        router.submit({"title": unique(f"logged {p.value}"), "priority": p.value, "description": "d"}).json()[
            "ticket_id"
        ]: p
        for p in Priority
    }
    assert router.submit({"title": unique("logged refusal"), "priority": "urgent"}).status_code == 422
    worker_of = {Priority.HIGH: "worker-slack", Priority.MEDIUM: "worker-trello", Priority.LOW: "worker-s3"}

    def delivered_lines(service: str) -> list[dict]:
        text = router.stack.service(service).log_text()
        return [json.loads(line) for line in text.splitlines() if '"message": "delivered"' in line]

    for tid, priority in sent.items():
        router.wait_for(
            lambda t=tid, p=priority: any(r.get("ticket_id") == t for r in delivered_lines(worker_of[p])),
            what=f"{priority.value} ticket's delivered log line",
        )
    services = [s for s in router.stack.services if s.name != "aws"]  # the emulator's own log is not ours
    logs = {s.name: s.log_text() for s in services}
    logs["provision"] = (router.stack.log_dir / "provision.log").read_text()
    for name, text in logs.items():
        assert text, f"{name} wrote no log"
        for secret in SECRETS.values():
            assert secret not in text, f"{name} logged a secret"
        for line in text.splitlines():
            record = json.loads(line)
            if record.get("message") == "delivered":
                assert record["ticket_id"]
    [stored] = [r for r in delivered_lines("worker-s3") if r.get("ticket_id") in sent]
    assert stored["ticket_id"] in stored["reference"]
