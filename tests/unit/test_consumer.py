"""The consumer loop against moto's in-process SQS, with a destination double."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from moto import mock_aws

from tests.support import wait_until
from ticketrouter.backoff import compute_backoff
from ticketrouter.config import RouterSettings
from ticketrouter.consumer import Consumer, ConsumerOptions, Outcome
from ticketrouter.delivery import DeliveryOptions
from ticketrouter.destination import (
    AlreadyDeliveredError,
    AttemptOutcome,
    NotSentError,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from ticketrouter.ledger import Ledger, Status
from ticketrouter.observability import DELIVERIES, Health
from ticketrouter.queues import ensure_queue_pair
from ticketrouter.ticket import Ticket, parse_submission

BURST = ConsumerOptions(wait_seconds=0, burst=True)


class RecordingDestination:
    """Delivers by remembering; fails as told by the ticket's title."""

    name = "recording"
    can_find = True
    max_concurrency = 1

    def __init__(self, found: str | None = None) -> None:
        self.delivered: list[Ticket] = []
        self.found = found
        self.lookups = 0

    def check(self) -> None:
        pass

    def deliver(self, ticket: Ticket) -> str:
        if ticket.title == "transient":
            raise ConnectionError("destination down")
        if ticket.title == "permanent":
            raise PermanentDeliveryError("channel_not_found")
        if ticket.title == "unknown":
            raise OutcomeUnknownError("read timed out")
        if ticket.title == "not sent":
            raise NotSentError("connection refused")
        self.delivered.append(ticket)
        return f"ref-{ticket.id}"

    def find(self, ticket: Ticket) -> str | None:
        self.lookups += 1
        if self.found == "fail":
            raise LookupError("history unreadable")
        return self.found


@pytest.fixture
def sqs():
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def ledger(sqs):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="ledger")
    return Ledger(s3, "ledger")


@pytest.fixture
def queues(sqs):
    return ensure_queue_pair(sqs, RouterSettings.load(), "tickets-high", reconcile=False)


def ticket(title: str = "ok") -> Ticket:
    return Ticket.from_submission(parse_submission({"title": title, "priority": "high", "description": "d"}))


def send(sqs, queues, body: str) -> None:
    sqs.send_message(QueueUrl=queues.url, MessageBody=body)


def counts(sqs, url) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def dlq_messages(sqs, queues):
    return sqs.receive_message(
        QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])


def test_delivered_messages_are_deleted_and_content_is_intact(sqs, queues, ledger):
    sent = [ticket(f"t{i}") for i in range(12)]
    for t in sent:
        send(sqs, queues, t.to_message())
    destination = RecordingDestination()
    result = Consumer(sqs, queues, destination, ledger, BURST).run()
    assert result[Outcome.DELIVERED] == 12
    assert sorted(t.id for t in destination.delivered) == sorted(t.id for t in sent)
    assert {t.id: t for t in destination.delivered} == {t.id: t for t in sent}
    assert counts(sqs, queues.url) == (0, 0)


def sqs_calls(sqs) -> list[str]:
    """The SQS operations the client makes from now on, by name."""
    calls: list[str] = []
    sqs.meta.events.register("before-call.sqs.*", lambda model, **_: calls.append(model.name))
    return calls


def test_a_batch_settled_messages_leave_in_one_delete_and_a_retry_stays(sqs, queues, ledger):
    for title in ("a", "b", "transient", "c"):
        send(sqs, queues, ticket(title).to_message())
    calls = sqs_calls(sqs)
    result = Consumer(sqs, queues, RecordingDestination(), ledger, BURST).run()
    assert (result[Outcome.DELIVERED], result[Outcome.RETRY]) == (3, 1)
    assert calls.count("DeleteMessageBatch") == 1 and "DeleteMessage" not in calls
    assert counts(sqs, queues.url) == (0, 1)  # the retry is hidden for its backoff, not deleted


def test_a_transient_failure_leaves_the_message_for_a_later_retry(sqs, queues, ledger):
    send(sqs, queues, ticket("transient").to_message())
    result = Consumer(sqs, queues, RecordingDestination(), ledger, BURST).run()
    assert result[Outcome.RETRY] == 1
    assert counts(sqs, queues.url) == (0, 1)  # hidden for the backoff, not deleted
    assert dlq_messages(sqs, queues) == []


def test_a_permanent_failure_is_parked_with_its_reason(sqs, queues, ledger):
    parked = ticket("permanent")
    send(sqs, queues, parked.to_message())
    result = Consumer(sqs, queues, RecordingDestination(), ledger, BURST).run()
    assert result[Outcome.PARKED] == 1
    assert counts(sqs, queues.url) == (0, 0)
    [message] = dlq_messages(sqs, queues)
    assert Ticket.from_message(message["Body"]).id == parked.id
    assert "channel_not_found" in message["MessageAttributes"]["park_reason"]["StringValue"]


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        json.dumps({"hello": "world"}),
        json.dumps({**json.loads(ticket().to_message()), "schema_version": 9}),
    ],
)
def test_a_poison_message_goes_to_the_dlq_at_once_and_does_not_block_the_batch(sqs, queues, ledger, body):
    good = ticket("good")
    send(sqs, queues, body)
    send(sqs, queues, good.to_message())
    destination = RecordingDestination()
    result = Consumer(sqs, queues, destination, ledger, BURST).run()
    assert (result[Outcome.PARKED], result[Outcome.DELIVERED]) == (1, 1)
    assert [t.id for t in destination.delivered] == [good.id]
    [message] = dlq_messages(sqs, queues)
    assert message["Body"] == body
    assert message["MessageAttributes"]["park_reason"]["StringValue"].startswith("not a ticket envelope")


def test_stop_request_while_busy_finishes_the_message_in_hand_and_stops(sqs, queues, ledger):
    for _ in range(3):
        send(sqs, queues, ticket().to_message())

    class StopAfterFirst(RecordingDestination):
        def deliver(self, t):
            consumer.request_stop()
            return super().deliver(t)

    destination = StopAfterFirst()
    consumer = Consumer(sqs, queues, destination, ledger, ConsumerOptions(wait_seconds=0, batch_size=10))
    result = consumer.run()
    assert result[Outcome.DELIVERED] == 1
    assert len(destination.delivered) == 1
    assert sum(counts(sqs, queues.url)) == 2  # the rest stay on the queue


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 2, 5), (2, 5, 10), (3, 10, 20), (4, 20, 40), (10, 450, 900), (50, 450, 900)],
)
def test_backoff_grows_exponentially_with_jitter_and_is_capped(attempt, low, high):
    assert compute_backoff(attempt, 5, 900, rand=lambda: 0.0) == low
    assert compute_backoff(attempt, 5, 900, rand=lambda: 0.999999) in (high - 1, high)


def test_the_loop_beats_and_counts_its_outcomes(sqs, queues, ledger):
    health = Health(max_silence_seconds=60)
    health.last_beat -= 120
    assert not health.alive()
    before = DELIVERIES.labels("recording", "delivered")._value.get()
    send(sqs, queues, ticket().to_message())
    Consumer(sqs, queues, RecordingDestination(), ledger, BURST, health).run()
    assert health.alive()
    assert DELIVERIES.labels("recording", "delivered")._value.get() == before + 1


# --- the ledger: nothing doubled -------------------------------------------------------


def test_delivery_is_recorded_in_the_ledger_with_its_reference(sqs, queues, ledger):
    sent = ticket()
    send(sqs, queues, sent.to_message())
    Consumer(sqs, queues, RecordingDestination(), ledger, BURST).run()
    record = ledger.get(sent.id)
    assert (record["status"], record["reference"], record["attempts"]) == ("delivered", f"ref-{sent.id}", 1)
    assert [h["status"] for h in record["history"]] == ["queued", "delivering", "delivered"]


def test_a_redelivered_message_of_a_delivered_ticket_is_dropped_without_a_second_delivery(
    sqs, queues, ledger
):
    sent = ticket()
    send(sqs, queues, sent.to_message())
    send(sqs, queues, sent.to_message())  # SQS at-least-once: the same ticket twice
    destination = RecordingDestination()
    result = Consumer(sqs, queues, destination, ledger, BURST).run()
    assert (result[Outcome.DELIVERED], result[Outcome.DUPLICATE]) == (1, 1)
    assert [t.id for t in destination.delivered] == [sent.id]
    assert counts(sqs, queues.url) == (0, 0)


def test_a_copy_being_delivered_elsewhere_is_left_for_later(sqs, queues, ledger):
    sent = ticket()
    ledger.claim(sent, "recording", stale_after=60)  # another worker holds it right now
    send(sqs, queues, sent.to_message())
    destination = RecordingDestination()
    result = Consumer(sqs, queues, destination, ledger, BURST).run()
    assert result[Outcome.RETRY] == 1 and destination.delivered == []
    assert counts(sqs, queues.url) == (0, 1)


def test_after_a_worker_died_mid_delivery_the_destination_is_checked_before_sending_again(
    sqs, queues, ledger
):
    sent = ticket()
    ledger.claim(sent, "recording", stale_after=60)  # then that worker was killed
    send(sqs, queues, sent.to_message())
    destination = RecordingDestination(found="ref-from-earlier")
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(stale_after_seconds=0))
    result = Consumer(sqs, queues, destination, ledger, options).run()
    assert result[Outcome.DELIVERED] == 1 and destination.delivered == []
    assert ledger.get(sent.id)["reference"] == "ref-from-earlier"


def test_after_a_worker_died_before_handing_over_the_ticket_is_delivered(sqs, queues, ledger):
    sent = ticket()
    ledger.claim(sent, "recording", stale_after=60)
    send(sqs, queues, sent.to_message())
    destination = RecordingDestination(found=None)
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(stale_after_seconds=0))
    Consumer(sqs, queues, destination, ledger, options).run()
    assert [t.id for t in destination.delivered] == [sent.id]
    assert ledger.get(sent.id)["attempts"] == 2


def test_a_transient_failure_is_recorded_as_failed(sqs, queues, ledger):
    sent = ticket("transient")
    send(sqs, queues, sent.to_message())
    Consumer(sqs, queues, RecordingDestination(), ledger, BURST).run()
    record = ledger.get(sent.id)
    assert record["status"] == "failed" and "destination down" in record["last_error"]


def test_the_last_allowed_attempt_parks_the_message_and_the_ledger_says_so(sqs, queues, ledger):
    sent = ticket("transient")
    send(sqs, queues, sent.to_message())
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(max_attempts=1))
    result = Consumer(sqs, queues, RecordingDestination(), ledger, options).run()
    assert result[Outcome.PARKED] == 1
    [message] = dlq_messages(sqs, queues)
    assert "gave up after 1 attempts" in message["MessageAttributes"]["park_reason"]["StringValue"]
    assert ledger.get(sent.id)["status"] == "dead-lettered"


def test_no_delivery_without_the_ledger(sqs, queues):
    send(sqs, queues, ticket().to_message())
    missing = Ledger(boto3.client("s3", region_name="us-east-1"), "no-such-bucket")
    destination = RecordingDestination()
    result = Consumer(sqs, queues, destination, missing, BURST).run()
    assert result[Outcome.RETRY] == 1 and destination.delivered == []


# --- outcomes: unknown means look before sending again ---------------------------------

NO_WAIT = DeliveryOptions(retry_base_seconds=0, unknown_retry_seconds=0, stale_after_seconds=60)


def first_attempt(sqs, queues, ledger, sent: Ticket) -> None:
    """Run one failing attempt on the ticket, then make its message visible again at once,
    as its retry delay running out would."""
    send(sqs, queues, sent.to_message())
    consumer = Consumer(sqs, queues, RecordingDestination(), ledger, ConsumerOptions(wait_seconds=0))
    [message] = consumer.queue.receive()
    consumer.handle(message)
    sqs.change_message_visibility(
        QueueUrl=queues.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


def test_an_unknown_outcome_is_recorded_and_retried_no_sooner_than_the_unknown_delay(sqs, queues, ledger):
    sent = ticket("unknown")
    send(sqs, queues, sent.to_message())
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(unknown_retry_seconds=45))
    consumer = Consumer(sqs, queues, RecordingDestination(), ledger, options)
    delays = []
    consumer.queue.hide = lambda message, delay: delays.append(delay)
    assert consumer.run()[Outcome.RETRY] == 1
    record = ledger.get(sent.id)
    assert (record["status"], record["last_outcome"]) == ("failed", "unknown")
    assert delays and delays[0] >= 45


@pytest.mark.parametrize(
    ("found", "sends", "note"),
    [("ref-earlier", 0, "found; not re-sent"), (None, 1, "not found; re-sent")],
)
def test_after_an_unknown_outcome_the_destination_is_asked_first(sqs, queues, ledger, found, sends, note):
    sent = ticket("unknown")
    first_attempt(sqs, queues, ledger, sent)
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=NO_WAIT)
    # The next attempt's destination delivers fine: "unknown" is looked up, then maybe sent.
    destination = RecordingDestination(found=found)
    destination.deliver = lambda t: destination.delivered.append(t) or "ref-new"
    assert Consumer(sqs, queues, destination, ledger, options).run()[Outcome.DELIVERED] == 1
    record = ledger.get(sent.id)
    assert destination.lookups == 1 and len(destination.delivered) == sends
    assert (record["status"], record["last_outcome"]) == ("delivered", "delivered")
    assert record["reference"] == (found or "ref-new")
    assert note in record["history"][-1]["note"]
    assert [h.get("outcome") for h in record["history"][1:]] == [None, "unknown", None, "delivered"]


def test_a_failed_lookup_sends_nothing_and_keeps_the_outcome_unknown(sqs, queues, ledger):
    sent = ticket("unknown")
    first_attempt(sqs, queues, ledger, sent)
    options = ConsumerOptions(wait_seconds=0, burst=True)
    destination = RecordingDestination(found="fail")
    assert Consumer(sqs, queues, destination, ledger, options).run()[Outcome.RETRY] == 1
    record = ledger.get(sent.id)
    assert destination.delivered == [] and destination.lookups == 1
    assert (record["status"], record["last_outcome"]) == ("failed", "unknown")
    assert record["last_error"].startswith("lookup failed")


def test_a_destination_that_cannot_look_gets_the_ticket_again(sqs, queues, ledger):
    sent = ticket("unknown")
    first_attempt(sqs, queues, ledger, sent)
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=NO_WAIT)
    blind = RecordingDestination()
    blind.can_find = False
    blind.deliver = lambda t: blind.delivered.append(t) or "ref"
    assert Consumer(sqs, queues, blind, ledger, options).run()[Outcome.DELIVERED] == 1
    assert blind.lookups == 0 and len(blind.delivered) == 1
    assert "cannot be checked" in ledger.get(sent.id)["history"][-1]["note"]


def test_after_a_not_sent_outcome_the_ticket_is_sent_without_a_lookup(sqs, queues, ledger):
    sent = ticket("not sent")
    first_attempt(sqs, queues, ledger, sent)
    assert ledger.get(sent.id)["last_outcome"] == "not_sent"
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=NO_WAIT)
    destination = RecordingDestination(found="ref-earlier")
    destination.deliver = lambda t: destination.delivered.append(t) or "ref"
    Consumer(sqs, queues, destination, ledger, options).run()
    assert destination.lookups == 0 and len(destination.delivered) == 1


def test_on_the_last_attempt_an_unreachable_ledger_parks_the_ticket_with_its_reason(sqs, queues, caplog):
    sent = ticket()
    send(sqs, queues, sent.to_message())
    missing = Ledger(boto3.client("s3", region_name="us-east-1"), "no-such-bucket")
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(max_attempts=1))
    destination = RecordingDestination()
    assert Consumer(sqs, queues, destination, missing, options).run()[Outcome.PARKED] == 1
    assert destination.delivered == []
    [message] = dlq_messages(sqs, queues)
    assert message["MessageAttributes"]["park_reason"]["StringValue"].startswith("ledger unavailable: ")
    assert any(r.levelname == "ERROR" and "ledger unavailable" in r.getMessage() for r in caplog.records)


class CountingS3:
    """Counts the S3 calls the ledger makes."""

    def __init__(self, s3) -> None:
        self.s3, self.calls = s3, []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self.s3, name)


def test_a_first_delivery_costs_the_ledger_two_writes(sqs, queues, ledger):
    sent = ticket()
    ledger.create(sent)
    counting = CountingS3(ledger.s3)
    send(sqs, queues, sent.to_message())
    Consumer(sqs, queues, RecordingDestination(), Ledger(counting, ledger.bucket), BURST).run()
    # claim = one conditional write on the record as ingest created it; settle = one write
    assert counting.calls == ["put_object", "put_object"]
    record = ledger.get(sent.id)
    assert record["status"] == "delivered" and record["attempts"] == 1
    assert [h["status"] for h in record["history"]] == ["queued", "delivering", "delivered"]


def test_a_record_changed_since_ingest_is_read_before_it_is_claimed(sqs, queues, ledger):
    sent = ticket()
    ledger.create(sent)
    ledger.settle(sent, Status.FAILED, outcome=AttemptOutcome.UNKNOWN, error="timed out")
    counting = CountingS3(ledger.s3)
    send(sqs, queues, sent.to_message())
    destination = RecordingDestination(found="ref-earlier")
    Consumer(sqs, queues, destination, Ledger(counting, ledger.bucket), BURST).run()
    # the blind claim is refused (the record changed), then read: unknown → look, found → not re-sent
    assert counting.calls[:3] == ["put_object", "get_object", "put_object"]
    assert destination.lookups == 1 and destination.delivered == []
    assert ledger.get(sent.id)["reference"] == "ref-earlier"


# --- an idempotent destination: its create-only write is the first claim --------------


class CreateOnlyDestination(RecordingDestination):
    """Idempotent, as S3 with IfNoneMatch: a second copy of a ticket is refused by the
    destination itself. `writes` counts what it really wrote; `held` is what it holds."""

    idempotent = True

    def __init__(self, held: list[Ticket] | None = None) -> None:
        super().__init__()
        self.held = {t.id for t in held or []}
        self.writes = 0
        self.seen_status: list[str] = []
        self.ledger: Ledger | None = None

    def deliver(self, ticket: Ticket) -> str:
        if self.ledger is not None:
            self.seen_status.append((self.ledger.get(ticket.id) or {}).get("status", "none"))
        if ticket.id in self.held:
            raise AlreadyDeliveredError(f"ref-{ticket.id}")
        reference = super().deliver(ticket)
        self.held.add(ticket.id)
        self.writes += 1
        return reference


def redelivered(sqs, queues, sent: Ticket) -> None:
    """Put the ticket's message on the queue and receive it once without handling it, as a
    worker killed mid-attempt would: the next receive is its second (attempt 2)."""
    send(sqs, queues, sent.to_message())
    [message] = sqs.receive_message(QueueUrl=queues.url, WaitTimeSeconds=0)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=queues.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


def test_an_idempotent_destination_first_delivery_costs_the_ledger_one_write(sqs, queues, ledger):
    sent = ticket()
    ledger.create(sent)
    counting = CountingS3(ledger.s3)
    send(sqs, queues, sent.to_message())
    destination = CreateOnlyDestination()
    destination.ledger = ledger
    assert (
        Consumer(sqs, queues, destination, Ledger(counting, ledger.bucket), BURST).run()[Outcome.DELIVERED]
        == 1
    )
    # no claim before the send: one conditional write over ingest's record, after it
    assert counting.calls == ["put_object"]
    assert destination.seen_status == ["queued"]  # what GET /tickets/<id> says while in flight
    record = ledger.get(sent.id)
    assert (record["status"], record["attempts"], record["reference"]) == ("delivered", 1, f"ref-{sent.id}")
    assert [h["status"] for h in record["history"]] == ["queued", "delivering", "delivered"]


def test_a_copy_of_a_ticket_an_idempotent_destination_holds_is_dropped_not_rewritten(sqs, queues, ledger):
    sent = ticket()
    ledger.create(sent)
    send(sqs, queues, sent.to_message())
    send(sqs, queues, sent.to_message())  # SQS at-least-once: both are first receives
    destination = CreateOnlyDestination()
    result = Consumer(sqs, queues, destination, ledger, BURST).run()
    assert (result[Outcome.DELIVERED], result[Outcome.DUPLICATE]) == (1, 1)
    assert destination.writes == 1
    record = ledger.get(sent.id)
    assert [h["status"] for h in record["history"]] == ["queued", "delivering", "delivered"]


def test_after_a_crash_between_write_and_record_the_redelivery_finds_it_and_writes_nothing(
    sqs, queues, ledger
):
    sent = ticket()
    ledger.create(sent)  # untouched: the first attempt wrote the object and died before the record
    redelivered(sqs, queues, sent)
    destination = CreateOnlyDestination(held=[sent])
    assert Consumer(sqs, queues, destination, ledger, BURST).run()[Outcome.DELIVERED] == 1
    assert destination.writes == 0
    record = ledger.get(sent.id)
    assert (record["status"], record["attempts"], record["reference"]) == ("delivered", 1, f"ref-{sent.id}")
    assert "found; not re-sent" in record["history"][-1]["note"]


def test_a_failed_first_attempt_at_an_idempotent_destination_is_recorded_as_failed(sqs, queues, ledger):
    sent = ticket("transient")
    ledger.create(sent)
    send(sqs, queues, sent.to_message())
    assert Consumer(sqs, queues, CreateOnlyDestination(), ledger, BURST).run()[Outcome.RETRY] == 1
    record = ledger.get(sent.id)
    assert (record["status"], record["attempts"], record["last_outcome"]) == ("failed", 1, "unknown")
    assert [h["status"] for h in record["history"]] == ["queued", "delivering", "failed"]


@pytest.mark.parametrize("before", ["missing", "redriven"])
def test_a_first_write_over_a_record_changed_since_ingest_is_recorded_after_a_read(
    sqs, queues, ledger, before
):
    sent = ticket()
    if before == "redriven":
        ledger.create(sent)
        ledger.settle(sent, Status.DEAD_LETTERED, outcome=AttemptOutcome.REFUSED, error="AccessDenied")
        ledger.settle(sent, Status.QUEUED, outcome=AttemptOutcome.UNKNOWN, note="redriven")
    send(sqs, queues, sent.to_message())  # missing: ingest has not written the record yet
    destination = CreateOnlyDestination()
    assert Consumer(sqs, queues, destination, ledger, BURST).run()[Outcome.DELIVERED] == 1
    record = ledger.get(sent.id)
    assert (record["status"], record["attempts"], record["destination"]) == ("delivered", 1, "recording")
    assert destination.writes == 1


def test_an_idempotent_delivery_over_another_worker_claim_is_recorded_once(ledger):
    sent = ticket()
    ledger.create(sent)
    presumed = ledger.presume_claim(sent, "s3")  # a first receive, writing the object...
    other = ledger.claim(sent, "s3", stale_after=60)  # ...while a copy's worker claims the ticket
    ledger.settle(sent, Status.DELIVERED, outcome=AttemptOutcome.DELIVERED, reference="ref", claim=presumed)
    # the copy's write was refused ("already there"): it records the same delivery
    ledger.settle(sent, Status.DELIVERED, outcome=AttemptOutcome.DELIVERED, reference="ref", claim=other)
    record = ledger.get(sent.id)
    assert (record["status"], record["attempts"]) == ("delivered", 1)
    assert [h["status"] for h in record["history"]] == ["queued", "delivering", "delivered"]


def test_an_unexpected_exception_is_logged_once_and_stops_the_loop_cleanly(sqs, queues, ledger, caplog):
    send(sqs, queues, ticket().to_message())
    consumer = Consumer(sqs, queues, RecordingDestination(), ledger, BURST)
    consumer.delivery.attempt = lambda t, attempt: 1 / 0
    consumer.run()
    assert consumer.crashed
    [last_resort] = [r for r in caplog.records if r.getMessage() == "unhandled exception, quitting"]
    assert last_resort.levelname == "CRITICAL" and last_resort.exc_info[0] is ZeroDivisionError
    assert counts(sqs, queues.url) == (0, 1)  # the message in hand stays on the queue


def test_a_batch_is_delivered_concurrently_up_to_the_bound(sqs, queues, ledger):
    """Each delivery waits until `bound` of them are under way at once: sequential would block."""
    bound = 4
    barrier = threading.Barrier(bound, timeout=10)

    class Gathering(RecordingDestination):
        max_concurrency = bound

        def deliver(self, t):
            barrier.wait()  # raises BrokenBarrierError unless `bound` deliveries overlap
            return super().deliver(t)

    for i in range(8):
        send(sqs, queues, ticket(f"c{i}").to_message())
    destination = Gathering()
    options = ConsumerOptions(wait_seconds=0, burst=True, batch_size=10)
    result = Consumer(sqs, queues, destination, ledger, options).run()
    assert result[Outcome.DELIVERED] == 8 and len(destination.delivered) == 8
    assert counts(sqs, queues.url) == (0, 0)


def test_worker_concurrency_overrides_the_destination_bound(sqs, queues, ledger):
    options = ConsumerOptions(concurrency=3)
    assert Consumer(sqs, queues, RecordingDestination(), ledger, options).concurrency == 3
    assert Consumer(sqs, queues, RecordingDestination(), ledger).concurrency == 1


def test_a_delivery_longer_than_the_visibility_timeout_keeps_its_message_hidden_and_its_claim_fresh(
    sqs, queues, ledger
):
    sent = ticket()
    send(sqs, queues, sent.to_message())
    started, finish = threading.Event(), threading.Event()

    class Slow(RecordingDestination):
        def deliver(self, t):
            started.set()
            finish.wait(30)
            return super().deliver(t)

    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(stale_after_seconds=1))
    consumer = Consumer(sqs, queues, Slow(), ledger, options)
    worker = threading.Thread(target=consumer.run)
    worker.start()
    try:
        assert started.wait(10)
        stamps = {ledger.get(sent.id)["updated_at"]}
        # Three claims seen = over a second since the receive: past the visibility timeout.
        wait_until(lambda: stamps.add(ledger.get(sent.id)["updated_at"]) or len(stamps) >= 3, 10, "renewals")
        assert sqs.receive_message(QueueUrl=queues.url, WaitTimeSeconds=0).get("Messages", []) == []
        assert ledger.get(sent.id)["status"] == "delivering"
    finally:
        finish.set()
        worker.join(10)
    assert ledger.get(sent.id)["status"] == "delivered"
    assert counts(sqs, queues.url) == (0, 0)


def test_messages_of_a_batch_waiting_their_turn_stay_hidden_past_the_visibility_timeout(
    sqs, ledger, monkeypatch
):
    """A paced destination delivers a batch one at a time (Slack: about a second each, more with
    a low SLACK_RATE_PER_SECOND or a 429's Retry-After): the batch can outlast the visibility
    timeout. A message not started yet must not reappear for another worker meanwhile; it would
    be received again, count a receive towards the dead-letter queue, and wait on the copy."""
    monkeypatch.setenv("QUEUE_VISIBILITY_TIMEOUT", "1")
    queues = ensure_queue_pair(sqs, RouterSettings.load(), "tickets-paced", reconcile=False)
    for title in ("a", "b", "c"):
        send(sqs, queues, ticket(title).to_message())
    blocked: list[Ticket] = []
    started, finish = threading.Event(), threading.Event()

    class Paced(RecordingDestination):  # one at a time; the first delivery waits for its token
        def deliver(self, t):
            if not blocked:
                blocked.append(t)
                started.set()
                finish.wait(30)
            return super().deliver(t)

    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(stale_after_seconds=1))
    destination = Paced()
    worker = threading.Thread(target=Consumer(sqs, queues, destination, ledger, options).run)
    worker.start()
    try:
        assert started.wait(10)
        stamps = {ledger.get(blocked[0].id)["updated_at"]}
        # Three claims seen = over a second since the receive: past the visibility timeout.
        wait_until(
            lambda: stamps.add(ledger.get(blocked[0].id)["updated_at"]) or len(stamps) >= 3, 10, "renewals"
        )
        assert sqs.receive_message(QueueUrl=queues.url, WaitTimeSeconds=0).get("Messages", []) == []
    finally:
        finish.set()
        worker.join(10)
    assert sorted(t.title for t in destination.delivered) == ["a", "b", "c"]
    assert counts(sqs, queues.url) == (0, 0)


def test_a_late_outcome_of_a_superseded_claim_does_not_overwrite_the_record(ledger):
    sent = ticket()
    ledger.create(sent)
    first = ledger.claim(sent, "recording", stale_after=0)  # then it stalls
    second = ledger.claim(sent, "recording", stale_after=0)  # another worker takes over
    ledger.settle(sent, "delivered", outcome="delivered", reference="ref-second", claim=second)
    ledger.settle(sent, "delivered", outcome="delivered", reference="ref-first", claim=first)
    ledger.settle(sent, "dead-lettered", error="parked copy")  # no claim: a parked duplicate
    record = ledger.get(sent.id)
    assert (record["status"], record["reference"]) == ("delivered", "ref-second")
    notes = [entry.get("note", "") for entry in record["history"]]
    assert sum("superseded" in note for note in notes) == 2
    assert any("ref-first" in note for note in notes)  # the second effect stays traceable


def test_a_copy_still_waiting_on_its_last_receive_is_parked_with_a_reason(sqs, queues, ledger):
    sent = ticket()
    ledger.claim(sent, "recording", stale_after=60)  # another worker is delivering it
    send(sqs, queues, sent.to_message())
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(max_attempts=1))
    assert Consumer(sqs, queues, RecordingDestination(), ledger, options).run()[Outcome.PARKED] == 1
    [message] = dlq_messages(sqs, queues)
    assert "another worker was delivering" in message["MessageAttributes"]["park_reason"]["StringValue"]
    assert ledger.get(sent.id)["status"] == "delivering"  # that worker's claim stands


def test_a_delivery_the_ledger_cannot_record_on_the_last_attempt_is_parked_with_its_reference(
    sqs, queues, ledger
):
    sent = ticket()
    send(sqs, queues, sent.to_message())
    options = ConsumerOptions(wait_seconds=0, burst=True, delivery=DeliveryOptions(max_attempts=1))
    consumer = Consumer(sqs, queues, RecordingDestination(), ledger, options)
    consumer.delivery._record = lambda *args, **kwargs: False  # the ledger fails after the send
    assert consumer.run()[Outcome.PARKED] == 1
    [message] = dlq_messages(sqs, queues)
    reason = message["MessageAttributes"]["park_reason"]["StringValue"]
    assert reason.startswith("delivered to recording as ref-") and "could not record" in reason
