"""python -m worker_slack: drain the high-priority queue into Slack."""

import sys

from pydantic import Field, SecretStr

from ticketrouter.config import WorkerSettings
from ticketrouter.pacing import TokenBucket
from ticketrouter.ticket import Priority
from ticketrouter.worker import run_worker
from worker_slack.destination import SlackDestination, slack_client


class SlackSettings(WorkerSettings):
    slack_bot_token: SecretStr
    slack_channel: str
    slack_api_url: str = "https://slack.com/api/"
    slack_max_retries: int = Field(3, ge=0)
    slack_timeout_seconds: int = Field(10, gt=0)
    # Slack takes about one message a second per channel, short bursts tolerated.
    slack_rate_per_second: float = Field(1.0, gt=0)
    slack_burst: int = Field(3, ge=1)


def build_destination(settings: SlackSettings) -> SlackDestination:
    client = slack_client(
        settings.slack_bot_token.get_secret_value(),
        settings.slack_api_url,
        settings.slack_max_retries,
        settings.slack_timeout_seconds,
    )
    pacer = TokenBucket(settings.slack_rate_per_second, settings.slack_burst, destination="slack")
    return SlackDestination(client, settings.slack_channel, pacer)


if __name__ == "__main__":
    sys.exit(run_worker("worker-slack", Priority.HIGH, SlackSettings, build_destination))
