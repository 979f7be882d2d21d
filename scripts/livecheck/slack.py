"""Slack: the bot token, the channel, and the scopes the worker's lookup needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from livecheck.result import Result, reported
from ticketrouter.config import ConfigurationError
from worker_slack.__main__ import SlackSettings
from worker_slack.destination import slack_client

# Slack channel ids: C… (channels, public or private), G… (older private channels).
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{8,}")
# What the README's Guarantees ("Not promised") say happens without the history scope.
HISTORY_RISK = (
    "without it the worker cannot look in the channel before posting again, so a ticket whose "
    "post timed out (outcome unknown) may be posted twice (README: Guarantees, Not promised)"
)


def slack_error(error: SlackApiError) -> str:
    return str(error.response.get("error", "unknown_error"))


def granted_scopes(response: Any) -> set[str] | None:
    """The token's scopes from an answer's `x-oauth-scopes` header; None when Slack sent none."""
    headers = {name.lower(): value for name, value in (response.headers or {}).items()}
    value = headers.get("x-oauth-scopes")
    if isinstance(value, list):  # slack_sdk keeps repeated headers as lists
        value = ",".join(value)
    return None if value is None else {scope.strip() for scope in value.split(",") if scope.strip()}


def channel_is_private(client: WebClient, channel: str) -> bool | None:
    """From conversations.info; None when it cannot tell."""
    try:
        return bool(client.conversations_info(channel=channel)["channel"].get("is_private"))
    except SlackApiError:
        return None


@reported("slack token")
def check_slack_token(client: WebClient) -> Result:
    """auth.test: the token is valid, and whose it is."""
    try:
        auth = client.auth_test()
    except SlackApiError as error:
        return Result(
            False,
            "slack token",
            f"auth.test answered {slack_error(error)}: set SLACK_BOT_TOKEN to the app's Bot User OAuth "
            "Token (xoxb-…, OAuth & Permissions) and check that the app is installed in the workspace",
        )
    return Result(
        True,
        "slack token",
        f"valid: workspace {auth.get('team')} ({auth.get('team_id')}), bot user {auth.get('user')} "
        f"({auth.get('user_id')})",
    )


@reported("slack channel")
def check_slack_channel(client: WebClient, channel: str) -> Result:
    """conversations.info: the channel exists, the bot sees it, is in it, and it is not archived."""
    if not CHANNEL_ID.fullmatch(channel):
        return Result(
            False,
            "slack channel",
            f"SLACK_CHANNEL={channel} is not a channel id: set the id (C…, at the bottom of the channel's "
            "details in Slack); the worker's lookup after a timeout needs it",
        )
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as error:
        code = slack_error(error)
        hints = {
            "channel_not_found": f"no channel {channel} the bot can see: check the id; a private channel "
            "must first invite the bot (/invite @your-bot)",
            "missing_scope": "conversations.info needs the channels:read scope (groups:read for a private "
            "channel) to check the channel: grant it, or make sure by hand that the bot is a member",
        }
        return Result(
            False, "slack channel", hints.get(code, f"conversations.info answered {code} for {channel}")
        )
    name = f"#{info.get('name')} ({channel}, {'private' if info.get('is_private') else 'public'})"
    if info.get("is_archived"):
        return Result(False, "slack channel", f"{name} is archived: unarchive it or choose another channel")
    if not info.get("is_member"):
        return Result(
            False,
            "slack channel",
            f"the bot is not a member of {name}: type /invite @your-bot in the channel "
            "(posting would fail with not_in_channel, the lookup too)",
        )
    return Result(True, "slack channel", f"{name}: exists, the bot is a member")


@reported("slack scopes")
def check_slack_scopes(client: WebClient, channel: str) -> Result:
    """auth.test's x-oauth-scopes: chat:write to post, and the history scope for the lookup."""
    granted = granted_scopes(client.auth_test())
    if granted is None:
        return Result(
            False, "slack scopes", "Slack did not say the token's scopes (no x-oauth-scopes header)"
        )
    private = channel_is_private(client, channel)
    history = {True: {"groups:history"}, False: {"channels:history"}}.get(
        private, {"channels:history", "groups:history"}
    )
    missing = []
    if "chat:write" not in granted:
        missing.append("chat:write: no ticket can be posted")
    if not history & granted:
        missing.append(f"{' or '.join(sorted(history))}: {HISTORY_RISK}")
    if missing:
        return Result(
            False,
            "slack scopes",
            "the token lacks " + "; and ".join(missing) + " (add the scopes under OAuth & Permissions, "
            "Bot Token Scopes, and reinstall the app)",
        )
    return Result(True, "slack scopes", f"chat:write and {' / '.join(sorted(history & granted))} granted")


def slack_checks(env: Mapping[str, str]) -> list[Result]:
    try:
        settings = SlackSettings.load(env)
    except ConfigurationError as error:
        return [Result(False, "slack settings", f"{error} (README: Going live, step 2)")]
    client = slack_client(
        settings.slack_bot_token.get_secret_value(),
        settings.slack_api_url,
        settings.slack_max_retries,
        settings.slack_timeout_seconds,
    )
    token = check_slack_token(client)
    if not token.ok:  # every other call would fail the same way
        return [token]
    return [
        token,
        check_slack_channel(client, settings.slack_channel),
        check_slack_scopes(client, settings.slack_channel),
    ]
