"""The Slack destination: chat.postMessage through slack_sdk's WebClient.

How each failure is classified (see ticketrouter.destination): an ``ok: false`` error in
PERMANENT_ERRORS is *refused*; ``ratelimited`` (after the in-call retries) and errors raised
before the request was sent (``URLError``: refused connection, DNS, connect timeout) are
*not sent*; everything else (a read timeout, a reset mid-response, a 5xx, internal_error) is
*unknown*, and the next attempt looks in the channel before posting again.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from ticketrouter.destination import (
    LookupFailedError,
    NotSentError,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from ticketrouter.pacing import TokenBucket
from ticketrouter.ticket import Ticket
from worker_slack.message import fallback_text, message_blocks

log = logging.getLogger(__name__)

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
# Answered before anything was posted.
NOT_SENT_ERRORS = frozenset({"ratelimited", "request_timeout"})
# conversations.history answers that mean lookups cannot work with this token and channel.
LOOKUP_IMPOSSIBLE_ERRORS = frozenset(
    {"missing_scope", "channel_not_found", "not_in_channel", "not_allowed_token_type"}
)
# Carried by every post as message metadata: the lookup trusts only this, never the text, which
# holds what users typed (a ticket titled "same as ticket <id>" must not pass for that ticket).
METADATA_EVENT = "ticket_routed"
# How far back before a ticket's creation its message is looked for, and how many pages at most.
LOOKUP_MARGIN_SECONDS = 60
LOOKUP_MAX_PAGES = 50


def slack_client(token: str, base_url: str, max_retries: int, timeout: int = 10) -> WebClient:
    """A WebClient that retries, max_retries times, only what provably did not post:
    failures before the request was sent (URLError) and 429s (honouring Retry-After).

    A read timeout or a reset mid-response is not retried here: the post may have happened.
    """
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=max_retries, error_types=[URLError]),
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ],
    )


def _api_error(error: SlackApiError) -> str:
    data = error.response.data if isinstance(error.response.data, dict) else {}
    return str(data.get("error") or f"http_{error.response.status_code}")


def classified(error: Exception) -> Exception:
    """The delivery error a failed chat.postMessage stands for."""
    if isinstance(error, SlackApiError):
        code = _api_error(error)
        # Slack's whole answer, for the operator (redacted wherever it is written).
        detail = f"{code} (HTTP {error.response.status_code}): {error.response.data}"
        if code in PERMANENT_ERRORS:
            return PermanentDeliveryError(detail)
        if code in NOT_SENT_ERRORS or error.response.status_code == 429:
            return NotSentError(detail)
        return OutcomeUnknownError(detail)
    if isinstance(error, URLError):
        return NotSentError(f"not sent: {error.reason}")
    return OutcomeUnknownError(f"{type(error).__name__}: {error}")


def carries(message: dict[str, Any], ticket_id: str) -> bool:
    """True when the message is this router's post of that ticket (its metadata says so)."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == METADATA_EVENT and payload.get("ticket_id") == ticket_id


class SlackDestination:
    name = "slack"
    # Slack takes about one message a second per channel: more at once only meets its 429s.
    max_concurrency = 1

    def __init__(self, client: WebClient, channel: str, pacer: TokenBucket | None = None) -> None:
        self.client = client
        self.channel = channel
        # Paces chat.postMessage, the call Slack limits per channel; None: unpaced.
        self.pacer = pacer
        # Settled by check(): conversations.history needs channels:history and a channel id.
        self.can_find = True

    def check(self) -> None:
        """auth.test: the token is valid; then whether the channel's history can be read."""
        try:
            self.client.auth_test()
        except SlackApiError as error:
            if _api_error(error) in PERMANENT_ERRORS:
                raise PermanentDeliveryError(_api_error(error)) from error
            raise
        try:
            self.client.conversations_history(channel=self.channel, limit=1)
        except SlackApiError as error:
            if _api_error(error) in LOOKUP_IMPOSSIBLE_ERRORS:
                self._lookups_impossible(_api_error(error))
                return
            raise

    def _lookups_impossible(self, why: str) -> None:
        if self.can_find:
            log.warning(
                "cannot read the channel's history; after a timeout a ticket may be posted twice "
                "(grant channels:history and set SLACK_CHANNEL to the channel id)",
                extra={"error": why, "channel": self.channel},
            )
        self.can_find = False

    def deliver(self, ticket: Ticket) -> str:
        """Post the ticket; returns the message ts (Slack's id of the message in the channel)."""
        if self.pacer is not None:
            self.pacer.acquire()
        try:
            response = self.client.chat_postMessage(
                channel=self.channel,
                text=fallback_text(ticket),
                blocks=message_blocks(ticket),
                metadata={"event_type": METADATA_EVENT, "event_payload": {"ticket_id": ticket.id}},
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as error:  # noqa: BLE001 — every failure is classified, none is swallowed
            raise classified(error) from error
        return str(response["ts"])

    def find(self, ticket: Ticket) -> str | None:
        """The ts of our message for this ticket (by its metadata), posted since it was created.

        Pages through conversations.history from a minute before the ticket's creation (the
        client waits out 429s); raises LookupFailedError when it cannot tell.
        """
        oldest = f"{ticket.created_at.timestamp() - LOOKUP_MARGIN_SECONDS:.6f}"
        try:
            pages = self.client.conversations_history(
                channel=self.channel, oldest=oldest, limit=200, include_all_metadata=True
            )
            for number, page in enumerate(pages, start=1):
                for message in page.get("messages", []):
                    if carries(message, ticket.id):
                        return str(message["ts"])
                if number >= LOOKUP_MAX_PAGES:
                    raise LookupFailedError(f"more than {LOOKUP_MAX_PAGES} pages of history to check")
        except SlackApiError as error:
            if _api_error(error) in LOOKUP_IMPOSSIBLE_ERRORS:
                self._lookups_impossible(_api_error(error))
            raise LookupFailedError(f"conversations.history: {_api_error(error)}") from error
        except (URLError, OSError) as error:
            raise LookupFailedError(f"conversations.history: {error}") from error
        return None
