"""One worker's queue as the consumer loop uses it: long-poll a batch, hide a message until
its retry, copy it to the dead-letter queue, delete settled ones in batches.

An SQS error never escapes: it is logged, and the message stays where SQS keeps it (it comes
back after its visibility timeout, and the ledger drops it if it was settled), which is safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ticketrouter.errors import AWS_ERRORS
from ticketrouter.queues import QueuePair
from ticketrouter.redaction import redact

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

# Pause after a failed receive so an unreachable queue does not become a busy loop.
RECEIVE_ERROR_PAUSE_SECONDS = 2.0
Message = dict[str, Any]


class WorkQueue:
    """The SQS calls of one worker on its queue pair."""

    def __init__(self, sqs: SQSClient, queues: QueuePair, batch_size: int, wait_seconds: int) -> None:
        self.sqs = sqs
        self.queues = queues
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds

    def _call(self, failure: str, operation: Callable[..., Any], **params: Any) -> Any:
        """One SQS call; an AWS error is logged as failure (with params' count) and yields None."""
        try:
            return operation(**params)
        except AWS_ERRORS as error:
            count = {"count": len(params["Entries"])} if "Entries" in params else {}
            log.error(failure, extra={"error": str(error), **count})
            return None

    def receive(self) -> list[Message]:
        """One long poll; after an SQS error (logged), an empty batch after a pause."""
        response = self._call(
            "receive failed",
            self.sqs.receive_message,
            QueueUrl=self.queues.url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        if response is None:
            time.sleep(RECEIVE_ERROR_PAUSE_SECONDS)
            return []
        return list(response.get("Messages", []))

    def delete(self, messages: list[Message]) -> None:
        """Delete settled messages, up to 10 per DeleteMessageBatch call.

        One that fails stays settled but not deleted: SQS redelivers it, and the ledger drops it.
        """
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]}
                for i, message in enumerate(messages[start : start + 10])
            ]
            failure = "delete failed after settling"
            response = self._call(
                failure, self.sqs.delete_message_batch, QueueUrl=self.queues.url, Entries=entries
            )
            for failed in (response or {}).get("Failed", []):
                log.error(failure, extra={"error": f"{failed.get('Code')}: {failed.get('Message', '')}"})

    def hide(self, message: Message, seconds: int) -> None:
        """Keep the message invisible for seconds (a retry's delay, or a lease's renewal)."""
        self._call(
            "could not schedule retry; default visibility applies",
            self.sqs.change_message_visibility,
            QueueUrl=self.queues.url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=seconds,
        )

    def park(self, message: Message, reason: str) -> bool:
        """Copy the message to the dead-letter queue with its reason attached; False if it stays
        on the queue (the caller deletes the original only on True)."""
        attributes = dict(message.get("MessageAttributes", {}))
        attributes["park_reason"] = {"DataType": "String", "StringValue": redact(reason)[:1000]}
        sent = self._call(
            "could not park message; it stays on the queue",
            self.sqs.send_message,
            QueueUrl=self.queues.dlq_url,
            MessageBody=message["Body"],
            MessageAttributes=attributes,
        )
        return sent is not None
