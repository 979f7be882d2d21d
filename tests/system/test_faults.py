"""Fault injection on real processes. Every test counts: accepted = delivered + dead-lettered,
and duplicates at the destinations = 0. Each prints its counts."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.system.conftest import Router, running_router
from ticketrouter.ticket import Priority


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    # Short visibility so that a killed worker's messages come back within seconds.
    env = {"QUEUE_VISIBILITY_TIMEOUT": "4", "WORKER_WAIT_SECONDS": "1", "WORKER_RETRY_BASE_SECONDS": "1"}
    with running_router(tmp_path_factory.mktemp("faults") / "logs", **env) as running:
        yield running


def tag() -> str:
    return uuid.uuid4().hex[:10]


def submit_many(router: Router, priority: Priority, count: int, marker: str) -> list[str]:
    ids = []
    for i in range(count):
        response = router.submit(
            {"title": f"{marker} #{i}", "priority": priority.value, "description": marker}
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["ticket_id"])
    return ids


def deliveries(router: Router, priority: Priority, ids: list[str]) -> collections.Counter:
    """How many times each ticket id reached the destination (S3 keys are idempotent: 0 or 1)."""
    if priority is Priority.LOW:
        keys = router.s3_objects()
        return collections.Counter(tid for tid in ids for key in keys if key.endswith(f"/{tid}.json"))
    if priority is Priority.HIGH:
        # What the channel holds: refused posts (ok=false answers) are not in it.
        history = requests.post(
            f"{router.stack.url(router.stack.ports.slack)}/api/conversations.history",
            json={"channel": router.stack.env["SLACK_CHANNEL"]},
            headers={"Authorization": "Bearer reader"},
            timeout=5,
        ).json()
        bodies = [message["text"] for message in history["messages"]]
    else:
        bodies = [str(call["body"]) for call in router.standin_calls("trello", "/1/cards")]
    return collections.Counter(tid for tid in ids for body in bodies if tid in body)


def settled(router: Router, ids: list[str]) -> dict[str, str]:
    return {tid: router.status(tid)["status"] for tid in ids}


def settle_and_count(capsys, name: str, router: Router, tickets: dict[str, Priority]) -> collections.Counter:
    """Wait until every ticket is delivered or dead-lettered, print the counts, check the books.

    Returns how often each ticket reached its destination.
    """
    states = wait_until_settled(router, list(tickets))
    counts = collections.Counter()
    for priority in set(tickets.values()):
        counts.update(deliveries(router, priority, [tid for tid, p in tickets.items() if p is priority]))
    delivered = sum(state == "delivered" for state in states.values())
    dead = sum(state == "dead-lettered" for state in states.values())
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    with capsys.disabled():
        books = f"accepted={len(tickets)} delivered={delivered} duplicates={duplicates} dead-lettered={dead}"
        print(f"\n[{name}] {books}")
    assert len(tickets) == delivered + dead
    assert duplicates == 0
    return counts


def wait_until_settled(router: Router, ids: list[str], timeout: float = 90) -> dict[str, str]:
    final = {"delivered", "dead-lettered"}
    router.wait_for(lambda: set(settled(router, ids).values()) <= final, timeout, "tickets settled")
    return settled(router, ids)


def test_power_automate_retries_of_one_submission_make_one_ticket(router: Router, capsys):
    marker = tag()
    ticket = {"title": f"retried {marker}", "priority": "high", "description": marker}
    run_headers = {
        **router.auth,
        "x-ms-workflow-run-id": f"run-{marker}",
        "x-ms-workflow-operation-name": "HTTP",
    }
    answers = [router.submit(ticket, headers=run_headers) for _ in range(4)]
    keyed = {**router.auth, "Idempotency-Key": f"key-{marker}"}
    answers += [router.submit({**ticket, "title": f"keyed {marker}"}, headers=keyed) for _ in range(3)]
    assert all(a.status_code == 202 for a in answers)
    ids = sorted({a.json()["ticket_id"] for a in answers})
    assert len(ids) == 2
    counts = settle_and_count(capsys, "flow retries", router, dict.fromkeys(ids, Priority.HIGH))
    assert counts == {tid: 1 for tid in ids}


def test_sigkill_mid_batch_loses_nothing_and_posts_nothing_twice(router: Router, capsys):
    marker = tag()
    router.control("trello", "slow", {"seconds": 0.4})
    try:
        ids = submit_many(router, Priority.MEDIUM, 12, marker)
        router.wait_for(
            lambda: 2 <= sum(deliveries(router, Priority.MEDIUM, ids).values()) < 12, 30, "batch under way"
        )
        worker = router.stack.service("worker-trello")
        assert router.stack.stop_service(worker, signal.SIGKILL) == -signal.SIGKILL
    finally:
        router.control("trello", "slow", {"seconds": 0})
    router.stack.restart("worker-trello")
    counts = settle_and_count(capsys, "SIGKILL mid-batch", router, dict.fromkeys(ids, Priority.MEDIUM))
    assert counts == {tid: 1 for tid in ids}


def test_slack_429_with_retry_after_then_recovery(router: Router, capsys):
    marker = tag()
    router.control("slack", "fail", {"status": 429, "retry_after": 1, "count": 4})
    ids = submit_many(router, Priority.HIGH, 5, marker)
    counts = settle_and_count(capsys, "Slack 429", router, dict.fromkeys(ids, Priority.HIGH))
    rate_limited = [
        c
        for c in requests.get(
            f"{router.stack.url(router.stack.ports.slack)}/_fake/requests", timeout=5
        ).json()
        if c["status"] == 429
    ]
    assert counts == {tid: 1 for tid in ids}
    assert len(rate_limited) >= 4


def test_trello_down_for_a_while_then_back(router: Router, capsys):
    marker = tag()
    router.control("trello", "fail", {"status": 503, "count": None})
    try:
        ids = submit_many(router, Priority.MEDIUM, 4, marker)
        router.wait_for(
            lambda: set(settled(router, ids).values()) == {"failed"}, 30, "every ticket failed once"
        )
        assert all(router.status(tid)["attempts"] >= 1 for tid in ids)
    finally:
        router.control("trello", "fail")
    counts = settle_and_count(capsys, "Trello down", router, dict.fromkeys(ids, Priority.MEDIUM))
    assert counts == {tid: 1 for tid in ids}
    assert all(router.status(tid)["reference"].startswith("http") for tid in ids)


def test_a_permanently_refused_ticket_is_dead_lettered_then_redriven(router: Router, capsys):
    marker = tag()
    router.control("slack", "fail", {"status": 200, "body": {"ok": False, "error": "channel_not_found"}})
    [tid] = submit_many(router, Priority.HIGH, 1, marker)
    counts = settle_and_count(capsys, "permanent refusal", router, {tid: Priority.HIGH})
    assert counts == {} and router.status(tid)["status"] == "dead-lettered"
    assert "channel_not_found" in router.status(tid)["last_error"]

    redrive = subprocess.run([sys.executable, "-m", "ticketrouter.dlq", "redrive", "--priority", "high"],
                             env=router.stack.env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert redrive.returncode == 0 and "1 message(s) moved back" in redrive.stdout, redrive.stderr
    router.wait_for(lambda: router.status(tid)["status"] == "delivered", 30, "redriven ticket delivered")
    assert deliveries(router, Priority.HIGH, [tid]) == {tid: 1}


def test_aws_down_and_back_under_ingest(router: Router, capsys):
    marker = tag()
    aws = router.stack.service("aws")
    router.stack.stop_service(aws)
    tickets = [{"title": f"outage {marker} #{i}", "priority": p, "description": marker}
               for i, p in enumerate(["high", "medium", "low"])]  # fmt: skip
    keys = [f"{marker}-{i}" for i in range(len(tickets))]
    during = [
        router.submit(t, headers={**router.auth, "Idempotency-Key": k})
        for t, k in zip(tickets, keys, strict=True)
    ]
    assert [r.status_code for r in during] == [503, 503, 503]
    assert all(r.headers["Retry-After"] == "5" for r in during)

    router.stack.restart("aws")  # a fresh emulator: queues and buckets are made again
    router.stack.provision()
    after = [
        router.submit(t, headers={**router.auth, "Idempotency-Key": k})
        for t, k in zip(tickets, keys, strict=True)
    ]
    assert [r.status_code for r in after] == [202, 202, 202]
    ids = [r.json()["ticket_id"] for r in after]
    counts = settle_and_count(capsys, "AWS outage", router, dict(zip(ids, Priority, strict=True)))
    assert counts == {tid: 1 for tid in ids}
    ready = requests.get(f"{router.stack.ingest_url}/readyz", timeout=10)
    assert ready.status_code == 200
