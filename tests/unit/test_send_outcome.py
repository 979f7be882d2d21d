"""Whether a failed SendMessage may have stored the message, judged over botocore's attempts.

The attempts go to a real moto server through the fault proxy, so botocore's own retries,
timeouts and errors are the real ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from moto.server import ThreadedMotoServer

from tests.faultproxy import FaultProxy, Mode
from tests.support import free_port
from ticketrouter.config import RouterSettings
from ticketrouter.queues import QueueDirectory
from ticketrouter.send_outcome import SendFailed, SendOutcome, attempt_may_have_applied
from ticketrouter.ticket import Ticket, parse_submission

RETRIES = {"mode": "standard", "max_attempts": 2}  # botocore: 2 retries, 3 attempts


@pytest.mark.parametrize(
    ("exception", "status", "may_have_applied"),
    [
        (EndpointConnectionError(endpoint_url="http://sqs"), None, False),
        (ConnectTimeoutError(endpoint_url="http://sqs"), None, False),
        (ReadTimeoutError(endpoint_url="http://sqs"), None, True),
        (ConnectionClosedError(endpoint_url="http://sqs"), None, True),
        (None, 400, False),  # SQS refused the request
        (None, 500, True),  # SQS failed, maybe after storing
        (None, 503, True),
    ],
)
def test_which_attempts_may_have_stored_the_message(exception, status, may_have_applied):
    assert attempt_may_have_applied(exception, status) is may_have_applied


@pytest.fixture(scope="module")
def emulator() -> Iterator[int]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield port
    server.stop()


@pytest.fixture
def proxy(emulator: int) -> Iterator[FaultProxy]:
    with FaultProxy(emulator) as running:
        yield running


def sqs_client(endpoint: str) -> Any:
    config = Config(connect_timeout=1, read_timeout=0.5, retries=RETRIES)
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", config=config)


def a_ticket() -> Ticket:
    return Ticket.from_submission(parse_submission({"title": "t", "priority": "high", "description": "d"}))


def stored(emulator: int, queues: QueueDirectory, ticket: Ticket) -> int:
    """Copies of the ticket SQS holds (read directly, not through the proxy)."""
    direct = sqs_client(f"http://127.0.0.1:{emulator}")
    url = queues.pair(ticket.priority).url
    messages = direct.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
    )
    return sum(ticket.id in m["Body"] for m in messages.get("Messages", []))


@pytest.mark.parametrize(
    ("fault", "outcome", "copies"),
    [
        (Mode.HOLD_ANSWERS, SendOutcome.UNKNOWN, 3),  # every attempt stored, every answer lost
        (Mode.CLOSE_ANSWERS, SendOutcome.UNKNOWN, 3),
        (Mode.REFUSE, SendOutcome.NOT_SENT, 0),
    ],
)
def test_a_failed_send_says_whether_the_message_may_be_queued(emulator, proxy, fault, outcome, copies):
    queues = QueueDirectory(sqs_client(proxy.url), RouterSettings(queue_high=f"q-{fault.value}"))
    queues.pair(a_ticket().priority)  # resolved while the proxy passes
    ticket = a_ticket()
    proxy.set_mode(fault)
    with pytest.raises(SendFailed) as failed:
        queues.send(ticket)
    proxy.set_mode(Mode.PASS)
    assert failed.value.outcome is outcome
    assert stored(emulator, queues, ticket) == copies


def test_a_lost_first_answer_stays_unknown_when_a_later_attempt_is_refused(emulator, proxy):
    """The last error alone (connection refused) would wrongly say nothing was queued."""
    queues = QueueDirectory(sqs_client(proxy.url), RouterSettings(queue_high="q-mixed"))
    ticket = a_ticket()
    queues.pair(ticket.priority)

    def refuse_after_the_first_attempt(**_: Any) -> None:
        proxy.set_mode(Mode.REFUSE)

    proxy.set_mode(Mode.CLOSE_ANSWERS)
    queues._sqs.meta.events.register("response-received.sqs.SendMessage", refuse_after_the_first_attempt)
    with pytest.raises(SendFailed) as failed:
        queues.send(ticket)
    proxy.set_mode(Mode.PASS)
    assert isinstance(failed.value.__cause__, EndpointConnectionError)
    assert failed.value.outcome is SendOutcome.UNKNOWN
    assert stored(emulator, queues, ticket) == 1


def test_a_successful_send_after_a_lost_answer_returns_normally(emulator, proxy):
    queues = QueueDirectory(sqs_client(proxy.url), RouterSettings(queue_high="q-recovered"))
    ticket = a_ticket()
    queues.pair(ticket.priority)

    def pass_after_the_first_attempt(**_: Any) -> None:
        proxy.set_mode(Mode.PASS)

    proxy.set_mode(Mode.CLOSE_ANSWERS)
    queues._sqs.meta.events.register("response-received.sqs.SendMessage", pass_after_the_first_attempt)
    assert queues.send(ticket)
    assert stored(emulator, queues, ticket) == 2  # botocore's retry: same body, same ticket id


def test_the_proxy_latency_delays_every_call_and_counts_it_by_operation(proxy):
    sqs = sqs_client(proxy.url)
    sqs.list_queues()  # connect first: the delay is per request, not per connection
    proxy.set_latency(0.3)
    started = time.perf_counter()
    sqs.list_queues()
    assert time.perf_counter() - started >= 0.3
    assert proxy.calls["ListQueues"] == 2
