"""The Slack destination: chat.postMessage through slack_sdk's WebClient."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from ticketrouter.destination import PermanentDeliveryError
from ticketrouter.ticket import Ticket
from worker_slack.message import fallback_text, message_blocks

# Errors that no retry can fix: the message is parked and an operator must act.
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "invalid_auth",
        "invalid_blocks",
        "is_archived",
        "missing_scope",
        "msg_too_long",
        "no_text",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "token_revoked",
        "too_many_attachments",
    }
)


def slack_client(token: str, base_url: str, max_retries: int, timeout: int = 10) -> WebClient:
    """A WebClient that retries connection errors and honours 429 Retry-After, max_retries times."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=max_retries),
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ],
    )


def _api_error(error: SlackApiError) -> str:
    return str(error.response.get("error", "unknown_error"))


class SlackDestination:
    name = "slack"

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    def check(self) -> None:
        """auth.test: the token is valid."""
        try:
            self.client.auth_test()
        except SlackApiError as error:
            if _api_error(error) in PERMANENT_ERRORS:
                raise PermanentDeliveryError(_api_error(error)) from error
            raise

    def deliver(self, ticket: Ticket) -> str:
        """Post the ticket; returns the message ts (Slack's id of the message in the channel)."""
        try:
            response = self.client.chat_postMessage(
                channel=self.channel,
                text=fallback_text(ticket),
                blocks=message_blocks(ticket),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            if _api_error(error) in PERMANENT_ERRORS:
                raise PermanentDeliveryError(_api_error(error)) from error
            raise
        return str(response["ts"])

    def find(self, ticket: Ticket) -> str | None:
        """The ts of a message in the channel carrying this ticket's id, posted since it was created.

        Needs the channels:history scope and SLACK_CHANNEL as a channel id; without them this
        raises and the ticket is posted again (at least once rather than never).
        """
        oldest = f"{ticket.created_at.timestamp() - 60:.6f}"
        for page in self.client.conversations_history(channel=self.channel, oldest=oldest, limit=200):
            for message in page.get("messages", []):
                if ticket.id in message.get("text", ""):
                    return str(message["ts"])
        return None
