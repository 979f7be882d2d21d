"""Run a worker process: logging, queue resolution, signals, then the consumer loop."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ticketrouter.aws import aws_client
from ticketrouter.config import ConfigurationError, WorkerSettings
from ticketrouter.consumer import Consumer, ConsumerOptions
from ticketrouter.destination import Destination, PermanentDeliveryError
from ticketrouter.ledger import Ledger
from ticketrouter.logs import configure_logging
from ticketrouter.observability import Health, serve_observability, watch_queue
from ticketrouter.queues import QueueDirectory, dlq_name
from ticketrouter.ticket import Priority

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_QUEUE_UNREACHABLE = 1
EXIT_DESTINATION_UNUSABLE = 2
EXIT_CONFIGURATION = 3
EXIT_METRICS_PORT_UNAVAILABLE = 4
EXIT_UNHANDLED = 70  # sysexits' EX_SOFTWARE: the loop died of an unexpected exception (logged)

S = TypeVar("S", bound=WorkerSettings)


def install_signal_handlers(consumer: Consumer) -> None:
    """First SIGTERM/SIGINT: finish the current poll and the message in hand, then stop.
    Second: stop now (the unfinished message reappears after its visibility timeout)."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if consumer.stopping:
            log.warning("second signal; exiting now", extra={"signal": signum})
            for handler in logging.getLogger().handlers:
                handler.flush()
            # Now, even with deliveries in flight on other threads (SystemExit would wait for
            # them); their messages reappear after the visibility timeout.
            os._exit(128 + signum)
        log.info("signal received; stopping after in-flight work", extra={"signal": signum})
        consumer.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def run_worker(
    service: str,
    priority: Priority,
    settings_class: type[S],
    build_destination: Callable[[S], Destination],
) -> int:
    """Drain the priority's queue into the destination until a signal; returns the exit code."""
    configure_logging(service)
    try:
        settings = settings_class.load()
    except ConfigurationError as error:
        log.critical("configuration invalid; not starting", extra={"error": str(error)})
        return EXIT_CONFIGURATION
    configure_logging(service, settings.log_level, settings.secrets())
    destination = build_destination(settings)
    try:
        destination.check()
    except PermanentDeliveryError as error:
        log.critical("destination unusable; not starting", extra={"error": str(error)})
        return EXIT_DESTINATION_UNUSABLE
    except Exception as error:  # noqa: BLE001 — a transient failure here must not stop the worker
        log.warning("destination check failed; starting anyway", exc_info=error)
    sqs = aws_client("sqs", settings)
    try:
        queues = QueueDirectory(sqs, settings).pair(priority)
    except (BotoCoreError, ClientError) as error:
        log.critical("queue unreachable; not starting", extra={"error": str(error)})
        return EXIT_QUEUE_UNREACHABLE
    ledger = Ledger(aws_client("s3", settings), settings.ledger_bucket)
    # Alive while the loop polls: a long poll, then a slow batch of deliveries, with room to spare.
    health = Health(max_silence_seconds=2 * settings.worker_wait_seconds + 120)
    if settings.worker_metrics_port is not None:
        try:
            server = serve_observability(settings.worker_metrics_port, health, settings.worker_metrics_host)
        except OSError as error:
            log.critical(
                "metrics port unavailable; not starting",
                extra={"port": settings.worker_metrics_port, "error": str(error)},
            )
            return EXIT_METRICS_PORT_UNAVAILABLE
        name = settings.queue_name(priority)
        watch_queue(sqs, queues, (name, dlq_name(name)), health, settings.worker_queue_metrics_seconds)
        log.info("metrics and health served", extra={"port": server.server_port})
    consumer = Consumer(sqs, queues, destination, ledger, ConsumerOptions.from_settings(settings), health)
    install_signal_handlers(consumer)
    log.info("worker ready", extra={"queue": queues.url, "priority": priority.value})
    consumer.run()
    return EXIT_UNHANDLED if consumer.crashed else EXIT_OK
