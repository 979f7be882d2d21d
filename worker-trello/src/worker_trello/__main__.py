"""python -m worker_trello: drain the medium-priority queue into Trello."""

import sys

from pydantic import Field, SecretStr

from ticketrouter.config import WorkerSettings, per_priority
from ticketrouter.pacing import TokenBucket
from ticketrouter.ticket import Priority
from ticketrouter.worker import run_worker
from worker_trello.destination import TrelloDestination, trello_session


class TrelloSettings(WorkerSettings):
    trello_key: SecretStr
    trello_token: SecretStr
    trello_list_id: str
    trello_api_url: str = "https://api.trello.com"
    trello_label_high: str | None = None
    trello_label_medium: str | None = None
    trello_label_low: str | None = None
    trello_max_retries: int = Field(3, ge=0)
    trello_timeout_seconds: float = Field(10, gt=0)
    # Trello allows 100 requests per 10 s per token: 90 per 10 s plus a burst of 10 stays within it.
    trello_rate_per_10s: float = Field(90, gt=0)
    trello_burst: int = Field(10, ge=1)

    def label_ids(self) -> dict[Priority, str]:
        """The label id set for each priority (TRELLO_LABEL_<PRIORITY>), unset ones left out."""
        return {p: label for p, label in per_priority(self, "trello_label").items() if label}


def build_destination(settings: TrelloSettings) -> TrelloDestination:
    return TrelloDestination(
        trello_session(settings.trello_max_retries),
        settings.trello_api_url,
        settings.trello_key.get_secret_value(),
        settings.trello_token.get_secret_value(),
        settings.trello_list_id,
        labels=settings.label_ids(),
        timeout=settings.trello_timeout_seconds,
        pacer=TokenBucket(settings.trello_rate_per_10s / 10, settings.trello_burst, destination="trello"),
    )


if __name__ == "__main__":
    sys.exit(run_worker("worker-trello", Priority.MEDIUM, TrelloSettings, build_destination))
