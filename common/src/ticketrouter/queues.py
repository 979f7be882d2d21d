"""SQS queues: get-or-create with a dead-letter queue, and sending tickets."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ticketrouter.aws import error_code
from ticketrouter.config import RouterSettings
from ticketrouter.send_outcome import SendFailed, SendWatch
from ticketrouter.ticket import Priority, Ticket

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.literals import QueueAttributeNameType

log = logging.getLogger(__name__)

DLQ_SUFFIX = "-dlq"
# Long enough that nothing parked expires unseen (the SQS maximum).
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
LONG_POLL_SECONDS = 20
# Server-side encryption with SQS-owned keys (free, no KMS permissions needed).
ENCRYPTION: dict[QueueAttributeNameType, str] = {"SqsManagedSseEnabled": "true"}
_MISSING_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


@dataclass(frozen=True)
class QueuePair:
    """A work queue and its dead-letter queue."""

    url: str
    dlq_url: str


def dlq_name(queue_name: str) -> str:
    return queue_name + DLQ_SUFFIX


def queue_attributes(settings: RouterSettings, dlq_arn: str) -> dict[QueueAttributeNameType, str]:
    """The attributes every work queue gets, wherever it is created."""
    return {
        "VisibilityTimeout": str(settings.queue_visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_SECONDS),
        "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
        **ENCRYPTION,
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.queue_max_receives)}
        ),
    }


def dlq_attributes() -> dict[QueueAttributeNameType, str]:
    """The attributes every dead-letter queue gets."""
    return {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS), **ENCRYPTION}


def find_queue_url(sqs: SQSClient, name: str) -> str | None:
    """The queue's URL, or None when it does not exist (other errors propagate)."""
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if error_code(error) in _MISSING_QUEUE_CODES:
            return None
        raise


def ensure_queue(
    sqs: SQSClient, name: str, attributes: dict[QueueAttributeNameType, str], reconcile: bool
) -> str:
    """Return the queue's URL, creating it with attributes if missing.

    With reconcile, an existing queue's attributes are set to the wanted ones
    (CreateQueue alone fails with QueueNameExists when they differ).
    """
    url = find_queue_url(sqs, name)
    if url is None:
        log.info("creating queue", extra={"queue": name})
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    if reconcile:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def ensure_queue_pair(sqs: SQSClient, settings: RouterSettings, name: str, reconcile: bool) -> QueuePair:
    """Get or create a work queue and its dead-letter queue, wired by a redrive policy."""
    dlq_url = ensure_queue(sqs, dlq_name(name), dlq_attributes(), reconcile)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = ensure_queue(sqs, name, queue_attributes(settings, dlq_arn), reconcile)
    return QueuePair(url=url, dlq_url=dlq_url)


def message_counts(sqs: SQSClient, url: str) -> tuple[int, int]:
    """A queue's approximate (visible, in flight) message counts."""
    names: list[QueueAttributeNameType] = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


class QueueDirectory:
    """Resolves (and if need be creates) the queue pair of each priority, once per process."""

    def __init__(self, sqs: SQSClient, settings: RouterSettings) -> None:
        self._sqs = sqs
        self._settings = settings
        self._pairs: dict[Priority, QueuePair] = {}
        self._lock = threading.Lock()
        self._sends = SendWatch(sqs)

    def pair(self, priority: Priority) -> QueuePair:
        with self._lock:
            if priority not in self._pairs:
                name = self._settings.queue_name(priority)
                self._pairs[priority] = ensure_queue_pair(self._sqs, self._settings, name, reconcile=False)
            return self._pairs[priority]

    def through(self, sqs: SQSClient) -> QueueDirectory:
        """The same queues through another client: the URLs resolved by either serve both."""
        other = QueueDirectory(sqs, self._settings)
        other._pairs, other._lock = self._pairs, self._lock
        return other

    def send(self, ticket: Ticket) -> str:
        """Put the ticket on its priority's queue; returns the SQS message id.

        Raises SendFailed, which tells whether the message may be on the queue anyway;
        errors while resolving the queue propagate as they are (nothing was sent).
        """
        url = self.pair(ticket.priority).url
        self._sends.begin()
        try:
            response = self._sqs.send_message(
                QueueUrl=url,
                MessageBody=ticket.to_message(),
                MessageAttributes={
                    "ticket_id": {"DataType": "String", "StringValue": ticket.id},
                    "priority": {"DataType": "String", "StringValue": ticket.priority.value},
                },
            )
        except (BotoCoreError, ClientError) as error:
            raise SendFailed(self._sends.outcome(), error) from error
        return response["MessageId"]

    def depth(self, priority: Priority) -> int:
        """Messages visible on the priority's queue (reachability probe for readiness)."""
        return message_counts(self._sqs, self.pair(priority).url)[0]
