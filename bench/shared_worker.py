"""The design the router replaces: every ticket on one queue, drained by workers that hand
each ticket to its destination. Same consumer loop, ledger and adapters as the real workers;
only the routing differs. bench/run.py runs three of them (as many as the router's workers),
each with WORKER_CONCURRENCY=5, so that they have the router's 15 deliveries in flight.
"""

import sys

from ticketrouter.config import WorkerSettings
from ticketrouter.ticket import Priority, Ticket
from ticketrouter.worker import run_worker
from worker_s3.__main__ import build_destination as s3_destination
from worker_slack.__main__ import SlackSettings
from worker_slack.__main__ import build_destination as slack_destination
from worker_trello.__main__ import TrelloSettings
from worker_trello.__main__ import build_destination as trello_destination


class SharedSettings(SlackSettings, TrelloSettings, WorkerSettings):
    pass


class RoutingDestination:
    """Delivers each ticket to the destination of its priority."""

    name = "shared"
    max_concurrency = 1  # bench/run.py raises it with WORKER_CONCURRENCY
    can_find = True

    def __init__(self, settings: SharedSettings) -> None:
        self.by_priority = {
            Priority.HIGH: slack_destination(settings),
            Priority.MEDIUM: trello_destination(settings),
            Priority.LOW: s3_destination(settings),
        }

    def check(self) -> None:
        for destination in self.by_priority.values():
            destination.check()

    def deliver(self, ticket: Ticket) -> str:
        return self.by_priority[ticket.priority].deliver(ticket)

    def find(self, ticket: Ticket) -> str | None:
        return self.by_priority[ticket.priority].find(ticket)


if __name__ == "__main__":
    # All three queue names point at the shared queue, so the high one is the shared one.
    sys.exit(run_worker("worker-shared", Priority.HIGH, SharedSettings, RoutingDestination))
