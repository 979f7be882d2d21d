"""Fault injection on real processes. Every test counts: accepted = delivered + dead-lettered,
and duplicates at the destinations = 0. Each prints its counts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.faultproxy import FaultProxy, Mode, request_to
from tests.system.books import effects, settle_and_count, states, submit_many, tag
from tests.system.conftest import Router, running_router
from ticketrouter.ticket import Priority

# The destinations' client timeout, and how much longer the slowed stand-ins take to answer.
CLIENT_TIMEOUT_SECONDS = 2
SLOW_SECONDS = 3


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    env = {
        # Short visibility so that a killed worker's messages come back within seconds.
        "QUEUE_VISIBILITY_TIMEOUT": "4",
        "WORKER_WAIT_SECONDS": "1",
        "WORKER_RETRY_BASE_SECONDS": "1",
        "SLACK_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_SECONDS),
        "TRELLO_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_SECONDS),
        # Longer than a slowed request takes to be processed after our timeout.
        "WORKER_UNKNOWN_RETRY_SECONDS": str(SLOW_SECONDS + 1),
    }
    with running_router(tmp_path_factory.mktemp("faults") / "logs", **env) as running:
        yield running


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


def test_slow_destinations_beyond_the_client_timeout_get_every_ticket_once(router: Router, capsys):
    """Slack and Trello answer later than the workers wait, and process the call after the
    worker gave up: every attempt's outcome is unknown until they are fast again."""
    marker = tag()
    for service in ("slack", "trello"):
        router.control(service, "slow", {"seconds": SLOW_SECONDS})
    try:
        tickets = dict.fromkeys(submit_many(router, Priority.HIGH, 5, marker), Priority.HIGH)
        tickets |= dict.fromkeys(submit_many(router, Priority.MEDIUM, 5, marker), Priority.MEDIUM)
        router.wait_for(
            lambda: all(router.status(tid)["last_outcome"] == "unknown" for tid in tickets),
            90,
            "every ticket timed out once",
        )
    finally:
        for service in ("slack", "trello"):
            router.control(service, "slow", {"seconds": 0})
    counts = settle_and_count(capsys, "slow destinations", router, tickets)
    assert counts == {tid: 1 for tid in tickets}
    notes = [entry.get("note", "") for tid in tickets for entry in router.status(tid)["history"]]
    assert any("found; not re-sent" in note for note in notes)


@pytest.mark.parametrize(("service", "priority"), [("slack", Priority.HIGH), ("trello", Priority.MEDIUM)])
def test_a_5xx_after_the_effect_is_looked_up_not_reposted(router: Router, capsys, service, priority):
    marker = tag()
    router.control(service, "fail", {"status": 500, "count": 3, "apply": True})
    ids = submit_many(router, priority, 3, marker)
    counts = settle_and_count(capsys, f"{service} 5xx after the effect", router, dict.fromkeys(ids, priority))
    assert counts == {tid: 1 for tid in ids}
    for tid in ids:
        record = router.status(tid)
        assert record["status"] == "delivered"
        assert any("found; not re-sent" in entry.get("note", "") for entry in record["history"]), record


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
            lambda: set(states(router, ids).values()) == {"failed"}, 30, "every ticket failed once"
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
    assert effects(router, Priority.HIGH, [tid]) == {tid: 1}


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


def test_an_unreachable_ledger_parks_the_ticket_with_its_reason_and_it_stays_traceable(
    router: Router, capsys
):
    """worker-slack reaches AWS through a proxy that answers 503 to every ledger call."""
    stack = router.stack
    stack.stop_service(stack.service("worker-slack"))
    with FaultProxy(stack.ports.aws, matcher=request_to("", "/tickets-ledger/")) as proxy:
        proxy.set_mode(Mode.FAIL)
        worker = stack.start_worker("worker_slack", {"AWS_ENDPOINT_URL": proxy.url})
        [tid] = submit_many(router, Priority.HIGH, 1, tag())
        router.wait_for(lambda: router.queue_counts(Priority.HIGH, dlq=True)[0] == 1, 90, "ticket parked")
        stack.stop_service(worker)
    stack.start_worker("worker_slack")
    assert effects(router, Priority.HIGH, [tid]) == {}
    parking = [line for line in worker.log_text().splitlines() if tid in line and '"level": "ERROR"' in line]
    assert any("ledger unavailable on the last attempt; parking" in line for line in parking)

    assert router.status(tid)["status"] == "queued"  # the ledger never heard of the parking...
    listing = subprocess.run([sys.executable, "-m", "ticketrouter.dlq", "list", "--priority", "high"],
                             env=stack.env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listing.returncode == 0 and tid in listing.stdout and "ledger unavailable: " in listing.stdout
    record = router.status(tid)  # ...until an operator looks at the dead-letter queue
    assert record["status"] == "dead-lettered" and record["last_error"].startswith("ledger unavailable: ")
    with capsys.disabled():
        print("\n[ledger unreachable] accepted=1 delivered=0 duplicates=0 dead-lettered=1 lost=0")

    redrive = subprocess.run([sys.executable, "-m", "ticketrouter.dlq", "redrive", "--priority", "high"],
                             env=stack.env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert redrive.returncode == 0, redrive.stderr
    router.wait_for(lambda: router.status(tid)["status"] == "delivered", 60, "redriven ticket delivered")
    assert effects(router, Priority.HIGH, [tid]) == {tid: 1}


def test_a_redrive_while_the_ledger_is_unreachable_leaves_the_ticket_parked(router: Router, capsys):
    """A redriven message whose record still says dead-lettered is dropped by the workers as
    settled: moved back without its record changed, the ticket would be lost. The redrive
    reaches the ledger through a proxy that answers 503 to every ledger call."""
    router.control("slack", "fail", {"status": 200, "body": {"ok": False, "error": "channel_not_found"}})
    [tid] = submit_many(router, Priority.HIGH, 1, tag())
    router.wait_for(lambda: router.status(tid)["status"] == "dead-lettered", 60, "ticket parked")
    redrive = [sys.executable, "-m", "ticketrouter.dlq", "redrive", "--priority", "high"]
    with FaultProxy(router.stack.ports.aws, matcher=request_to("", "/tickets-ledger/")) as proxy:
        proxy.set_mode(Mode.FAIL)
        blocked = subprocess.run(redrive, env={**router.stack.env, "AWS_ENDPOINT_URL": proxy.url},
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proxy.calls["S3 GET"] >= 1  # the redrive did ask the ledger, through the proxy
    assert blocked.returncode == 0 and "0 message(s) moved back" in blocked.stdout, blocked.stderr
    assert tid in blocked.stderr and "left parked" in blocked.stderr
    assert router.queue_counts(Priority.HIGH, dlq=True)[0] == 1  # visible at once, for the next try
    assert router.status(tid)["status"] == "dead-lettered"

    moved = subprocess.run(redrive, env=router.stack.env, capture_output=True, text=True, timeout=60)
    assert moved.returncode == 0 and "1 message(s) moved back" in moved.stdout, moved.stderr
    router.wait_for(lambda: router.status(tid)["status"] == "delivered", 60, "redriven ticket delivered")
    assert effects(router, Priority.HIGH, [tid]) == {tid: 1}
    with capsys.disabled():
        print("\n[redrive, ledger unreachable] accepted=1 delivered=1 duplicates=0 lost=0")
