"""Lost and refused AWS answers at intake, on real processes: ingest talks to the emulator
through a fault proxy (tests/faultproxy.py); the workers talk to it directly.

Each test prints its books and checks duplicates = 0 and lost = 0 at the destination,
counting posts by the submission's content (not by ticket id), so that a second ticket
made of one submission shows up as a duplicate.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.faultproxy import FaultProxy, Mode
from tests.system.books import slack_channel, trello_board, wait_until_settled
from tests.system.conftest import Router, free_ports, running_router
from ticketrouter.ticket import Priority

# Ingest gives up on a silent SQS after about 4 attempts x this; the test client waits longer.
READ_TIMEOUT_SECONDS = 1
CLIENT_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Router, FaultProxy]]:
    ports = free_ports()
    env = {"QUEUE_VISIBILITY_TIMEOUT": "4", "WORKER_WAIT_SECONDS": "1"}
    with FaultProxy(ports.aws) as proxy:
        ingest_env = {
            "AWS_ENDPOINT_URL": proxy.url,
            "INGEST_AWS_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
        }
        log_dir = tmp_path_factory.mktemp("intake-faults") / "logs"
        with running_router(log_dir, ports=ports, ingest_env=ingest_env, **env) as router:
            yield router, proxy


@pytest.fixture
def router(proxied: tuple[Router, FaultProxy]) -> Router:
    return proxied[0]


@pytest.fixture
def proxy(proxied: tuple[Router, FaultProxy]) -> Iterator[FaultProxy]:
    yield proxied[1]
    proxied[1].set_mode(Mode.PASS)


def new_ticket(priority: Priority) -> dict[str, Any]:
    marker = uuid.uuid4().hex[:12]
    return {"title": f"lost answer {marker}", "priority": priority.value, "description": marker}


def submit(
    router: Router, ticket: dict[str, Any], timeout: float = CLIENT_TIMEOUT_SECONDS
) -> requests.Response:
    """A keyless client: no Idempotency-Key, no Power Automate run headers."""
    return requests.post(
        f"{router.stack.ingest_url}/tickets", json=ticket, headers=router.auth, timeout=timeout
    )


def posts_by_marker(router: Router, priority: Priority, markers: list[str]) -> collections.Counter:
    """How many times each submission (by its marker) reached its destination."""
    if priority is Priority.HIGH:
        bodies = [message["text"] for message in slack_channel(router)]
    else:
        bodies = [card["desc"] for card in trello_board(router)]
    return collections.Counter(m for m in markers for body in bodies if m in body)


def queue_drained(router: Router, priority: Priority) -> bool:
    return router.queue_counts(priority) == (0, 0)


def check_books(
    capsys, name: str, router: Router, priority: Priority, markers: list[str], ids: set[str], note: str = ""
) -> None:
    """Wait until every ticket settled and every copy left the queue; print and check the books."""
    states = wait_until_settled(router, sorted(ids))
    router.wait_for(lambda: queue_drained(router, priority), 60, "queue drained")
    posts = posts_by_marker(router, priority, markers)
    delivered = sum(1 for m in markers if posts[m] >= 1)
    duplicates = sum(n - 1 for n in posts.values() if n > 1)
    dead = sum(state == "dead-lettered" for state in states.values())
    lost = len(markers) - delivered - dead
    with capsys.disabled():
        books = f"accepted={len(markers)} delivered={delivered} duplicates={duplicates} dead-lettered={dead}"
        print(f"\n[{name}] {books} lost={lost} ticket_ids={len(ids)} {note}".rstrip())
    assert duplicates == 0
    assert lost == 0


def test_a_keyless_ticket_costs_two_aws_calls_its_record_and_its_message(router: Router, proxy: FaultProxy):
    """Only ingest talks through the proxy, so what it counts is ingest's calls for this ticket."""
    before = collections.Counter(proxy.calls)
    accepted = submit(router, new_ticket(Priority.LOW))
    assert accepted.status_code == 202, accepted.text
    assert collections.Counter(proxy.calls) - before == {"S3 PUT": 1, "SendMessage": 1}
    assert router.status(accepted.json()["ticket_id"])["ticket_id"] == accepted.json()["ticket_id"]


@pytest.mark.parametrize("fault", [Mode.HOLD_ANSWERS, Mode.CLOSE_ANSWERS])
def test_a_keyless_retry_after_a_lost_sqs_answer_makes_one_ticket(
    router: Router, proxy: FaultProxy, fault, capsys
):
    ticket = new_ticket(Priority.HIGH)
    before = proxy.faulted
    proxy.set_mode(fault)
    first = submit(router, ticket)
    faulted = proxy.faulted - before
    proxy.set_mode(Mode.PASS)
    assert faulted >= 1, "the proxy never saw a SendMessage"
    assert first.status_code == 503, first.text
    body = first.json()
    assert (body["error"], body["retry_safe"]) == ("queue_outcome_unknown", True)
    assert first.headers["Retry-After"] == "5"
    # The message IS on the queue: a worker delivers it whatever the client does next.
    router.wait_for(
        lambda: router.status(body["ticket_id"])["status"] == "delivered", 30, "first copy delivered"
    )

    retry = submit(router, ticket)
    assert retry.status_code == 202, retry.text
    assert retry.json()["ticket_id"] == body["ticket_id"]
    assert retry.headers.get("Idempotent-Replayed") == "true"
    ids = {body["ticket_id"], retry.json()["ticket_id"]}
    check_books(
        capsys,
        f"lost SendMessage answer ({fault.value})",
        router,
        Priority.HIGH,
        [ticket["description"]],
        ids,
        f"answers_lost={faulted}",
    )


def test_a_client_that_times_out_and_retries_makes_one_ticket(router: Router, proxy: FaultProxy, capsys):
    ticket = new_ticket(Priority.HIGH)
    before = proxy.faulted
    proxy.set_mode(Mode.HOLD_ANSWERS)
    with pytest.raises(requests.ReadTimeout):
        submit(router, ticket, timeout=READ_TIMEOUT_SECONDS / 2)  # gives up before ingest answers
    router.wait_for(lambda: proxy.faulted > before, 10, "SendMessage held by the proxy")
    proxy.set_mode(Mode.PASS)
    retry = submit(router, ticket)
    assert retry.status_code == 202, retry.text
    check_books(
        capsys, "client timeout", router, Priority.HIGH, [ticket["description"]], {retry.json()["ticket_id"]}
    )


def test_refused_connections_answer_nothing_was_queued_and_a_retry_makes_one_ticket(
    router: Router, proxy: FaultProxy, capsys
):
    ticket = new_ticket(Priority.MEDIUM)
    proxy.set_mode(Mode.REFUSE)
    refused = submit(router, ticket)
    proxy.set_mode(Mode.PASS)
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert (body["error"], body["retry_safe"]) == ("queue_unavailable", True)
    assert "nothing was queued" in body["message"]
    assert "ticket_id" not in body
    assert posts_by_marker(router, Priority.MEDIUM, [ticket["description"]]) == {}

    retry = submit(router, ticket)
    assert retry.status_code == 202, retry.text
    assert "Idempotent-Replayed" not in retry.headers  # the refused call left no binding behind
    marker = ticket["description"]
    check_books(capsys, "refused connections", router, Priority.MEDIUM, [marker], {retry.json()["ticket_id"]})
