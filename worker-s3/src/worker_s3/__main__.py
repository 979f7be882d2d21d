"""python -m worker_s3: drain the low-priority queue into the tickets bucket."""

import sys

from ticketrouter.aws import aws_client
from ticketrouter.config import WorkerSettings
from ticketrouter.ticket import Priority
from ticketrouter.worker import run_worker
from worker_s3.destination import S3Destination


def build_destination(settings: WorkerSettings) -> S3Destination:
    return S3Destination(aws_client("s3", settings), settings.tickets_bucket)


if __name__ == "__main__":
    sys.exit(run_worker("worker-s3", Priority.LOW, WorkerSettings, build_destination))
