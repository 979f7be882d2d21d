"""Is a live configuration ready? `make check-live TARGET=aws` asks Slack, Trello and AWS what
the services will need, without sending a ticket, and says what is wrong and what to do.

Settings are the services' own (their settings classes, from the shell, then .env); AWS is the
ops commands' target, named on the first line (real AWS only with TARGET=aws). One line per
check, `ok` or `PROBLEM`; exit 0 when every check passes, 1 otherwise, 2 without a target.
Every line passes through the project's redactor: no secret is printed.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from ticketrouter.aws import aws_client, error_code
from ticketrouter.config import ConfigurationError, RouterSettings
from ticketrouter.queues import dlq_name
from ticketrouter.redaction import Redactor, secrets_in_environment
from ticketrouter.target import choose
from ticketrouter.ticket import Priority
from worker_slack.__main__ import SlackSettings
from worker_slack.destination import slack_client
from worker_trello.__main__ import TrelloSettings
from worker_trello.destination import auth_header, trello_session

# Slack channel ids: C… (channels, public or private), G… (older private channels).
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{8,}")
# What the README's Guarantees ("Not promised") say happens without the history scope.
HISTORY_RISK = (
    "without it the worker cannot look in the channel before posting again, so a ticket whose "
    "post timed out (outcome unknown) may be posted twice (README: Guarantees, Not promised)"
)
CREATE_IT = "`make provision-aws` (TARGET=aws make provision) creates it"


@dataclass(frozen=True)
class Result:
    ok: bool
    subject: str
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM':<8} {self.subject}: {self.detail}"


def reported(subject: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """A check that could not reach its service reports that, rather than a traceback."""

    def wrap(check: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Result:
            try:
                return check(*args, **kwargs)
            except (
                OSError,
                SlackClientError,
                requests.RequestException,
                BotoCoreError,
                ClientError,
            ) as error:
                return Result(False, subject, f"could not ask: {type(error).__name__}: {error}")

        return run

    return wrap


# --- Slack -------------------------------------------------------------------------------


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


# --- Trello ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trello:
    """GETs with the worker's own session (its retries) and Authorization header."""

    session: requests.Session
    base_url: str
    headers: dict[str, str]
    timeout: float

    @classmethod
    def from_settings(cls, settings: TrelloSettings) -> Trello:
        return cls(
            trello_session(settings.trello_max_retries),
            settings.trello_api_url.rstrip("/"),
            auth_header(settings.trello_key.get_secret_value(), settings.trello_token.get_secret_value()),
            settings.trello_timeout_seconds,
        )

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", headers=self.headers, timeout=self.timeout)


def answered(response: requests.Response) -> str:
    return f"{response.status_code} {response.text[:80].strip()!r}"


@reported("trello credentials")
def check_trello_credentials(trello: Trello) -> Result:
    """GET /1/members/me: the key and token are valid, and whose they are."""
    response = trello.get("/1/members/me")
    if not response.ok:
        return Result(
            False,
            "trello credentials",
            f"Trello answered {answered(response)}: TRELLO_KEY is your Power-Up's API key and "
            "TRELLO_TOKEN a token generated for that key (.env.example says where each comes from)",
        )
    member = response.json()
    return Result(
        True, "trello credentials", f"valid: member {member.get('username')} ({member.get('fullName')})"
    )


@reported("trello list")
def check_trello_list(trello: Trello, list_id: str) -> Result:
    """GET /1/lists/{id}: the list exists and is open; names its board."""
    response = trello.get(f"/1/lists/{list_id}")
    if response.status_code in (400, 404):
        return Result(
            False,
            "trello list",
            f"no list {list_id} (Trello answered {answered(response)}): `make trello-discover` lists your "
            "boards' lists with their ids for TRELLO_LIST_ID",
        )
    if not response.ok:
        return Result(False, "trello list", f"GET /1/lists/{list_id} answered {answered(response)}")
    found = response.json()
    if found.get("closed"):
        return Result(
            False,
            "trello list",
            f"list {found.get('name')!r} ({list_id}) is archived: reopen it or choose another",
        )
    return Result(True, "trello list", f"{found.get('name')!r} ({list_id}) on board {found.get('idBoard')}")


@reported("trello label")
def check_trello_label(trello: Trello, list_id: str, variable: str, label_id: str) -> Result:
    """The label is one of the board of TRELLO_LIST_ID (GET /1/boards/{id}/labels)."""
    subject = f"trello {variable}"
    listing = trello.get(f"/1/lists/{list_id}")
    if not listing.ok:
        return Result(False, subject, "cannot be checked: the list's board is unknown (see trello list)")
    board = listing.json().get("idBoard")
    response = trello.get(f"/1/boards/{board}/labels")
    if not response.ok:
        return Result(False, subject, f"GET /1/boards/{board}/labels answered {answered(response)}")
    label = next((item for item in response.json() if item.get("id") == label_id), None)
    if label is None:
        return Result(
            False,
            subject,
            f"{label_id} is not a label of board {board}: "
            "`make trello-discover` lists its labels with their ids",
        )
    return Result(True, subject, f"label {label.get('name')!r} ({label.get('color')}) of board {board}")


def trello_checks(env: Mapping[str, str]) -> list[Result]:
    try:
        settings = TrelloSettings.load(env)
    except ConfigurationError as error:
        return [Result(False, "trello settings", f"{error} (README: Going live, step 3)")]
    trello = Trello.from_settings(settings)
    credentials = check_trello_credentials(trello)
    if not credentials.ok:
        return [credentials]
    labels = {f"TRELLO_LABEL_{priority.name}": label for priority, label in settings.label_ids().items()}
    return [
        credentials,
        check_trello_list(trello, settings.trello_list_id),
        *(
            check_trello_label(trello, settings.trello_list_id, name, label)
            for name, label in labels.items()
            if label
        ),
    ]


# --- AWS ---------------------------------------------------------------------------------


@reported("aws identity")
def check_aws_identity(sts: Any) -> Result:
    """sts:GetCallerIdentity: the credentials work, and which account they belong to."""
    try:
        identity = sts.get_caller_identity()
    except NoCredentialsError:
        return Result(
            False,
            "aws identity",
            "no AWS credentials: provide them the usual boto3 way "
            "(AWS_PROFILE, aws configure, AWS_ACCESS_KEY_ID…)",
        )
    except ClientError as error:
        return Result(
            False, "aws identity", f"AWS refused the credentials ({error_code(error)}): renew or replace them"
        )
    return Result(True, "aws identity", f"account {identity['Account']} as {identity['Arn']}")


@reported("aws queue")
def check_queue(sqs: Any, name: str) -> Result:
    """GetQueueUrl and GetQueueAttributes: the queue exists and these credentials may read it."""
    subject = f"queue {name}"
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if error_code(error) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return Result(False, subject, f"does not exist: {CREATE_IT}")
        return Result(
            False,
            subject,
            f"GetQueueUrl refused ({error_code(error)}): the services need sqs:GetQueueUrl on it",
        )
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    except ClientError as error:
        return Result(
            False,
            subject,
            f"GetQueueAttributes refused ({error_code(error)}): "
            "the services need sqs:GetQueueAttributes on it",
        )
    waiting = attributes["Attributes"].get("ApproximateNumberOfMessages", "?")
    return Result(True, subject, f"reachable ({waiting} waiting)")


@reported("aws bucket")
def check_bucket(s3: Any, sts: Any, variable: str, name: str) -> Result:
    """HeadBucket with ExpectedBucketOwner = our account: it exists and it is ours."""
    subject = f"bucket {name} ({variable})"
    account = sts.get_caller_identity()["Account"]
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or error_code(error) in ("404", "NoSuchBucket"):
            return Result(False, subject, f"does not exist: {CREATE_IT}")
        if status == 403 or error_code(error) in ("403", "AccessDenied"):
            return Result(
                False,
                subject,
                f"exists but is not account {account}'s, or these credentials may not read it (403): "
                "bucket names are global, so choose one with a unique prefix (e.g. acme-ticketrouter-…) "
                f"and set {variable}",
            )
        if status == 301:
            return Result(
                False, subject, "is in another region than AWS_REGION: set AWS_REGION to the bucket's"
            )
        raise
    return Result(True, subject, f"exists and belongs to account {account}")


def aws_checks(env: Mapping[str, str]) -> list[Result]:
    try:
        settings = RouterSettings.load(env)
    except ConfigurationError as error:
        return [Result(False, "aws settings", str(error))]
    sts, sqs, s3 = (aws_client(service, settings) for service in ("sts", "sqs", "s3"))
    identity = check_aws_identity(sts)
    if not identity.ok:
        return [identity]
    queues = [settings.queue_name(priority) for priority in Priority]
    return [
        identity,
        *(check_queue(sqs, name) for queue in queues for name in (queue, dlq_name(queue))),
        check_bucket(s3, sts, "TICKETS_BUCKET", settings.tickets_bucket),
        check_bucket(s3, sts, "LEDGER_BUCKET", settings.ledger_bucket),
    ]


def run_checks(env: Mapping[str, str]) -> list[Result]:
    return [*slack_checks(env), *trello_checks(env), *aws_checks(env)]


def main() -> int:
    choose()  # announces the target; real AWS only with TARGET=aws
    env = dict(os.environ)
    redactor = Redactor(secrets_in_environment(env))
    results = run_checks(env)
    for result in results:
        print(redactor.text(result.line()), flush=True)
    problems = sum(not result.ok for result in results)
    print(
        f"{problems} problem(s) of {len(results)} checks" if problems else f"all {len(results)} checks passed"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
