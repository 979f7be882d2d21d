"""make check-live: each check against the real Slack and Trello stand-ins, and moto for AWS."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import check_live
import pytest
import requests
from moto import mock_aws

from livecheck import aws as live_aws
from livecheck import slack as live_slack
from livecheck import trello as live_trello
from standins import slack, trello
from tests.support import dead_endpoint, serve
from ticketrouter.config import RouterSettings
from ticketrouter.provision import provision
from worker_slack.destination import slack_client

SLACK_TOKEN = "xoxb-check-live-secret-1234"
TRELLO_KEY, TRELLO_TOKEN = "key-check-live-5f1e", "token-check-live-9a7c"


@pytest.fixture
def slack_url() -> Iterator[str]:
    with serve(slack.create_app()) as url:
        yield url


@pytest.fixture
def client(slack_url):
    return slack_client(SLACK_TOKEN, f"{slack_url}/api/", max_retries=0)


@pytest.fixture
def trello_url() -> Iterator[str]:
    with serve(trello.create_app()) as url:
        yield url


@pytest.fixture
def trello_api(trello_url):
    return live_trello.Trello(
        requests.Session(), trello_url, live_trello.auth_header(TRELLO_KEY, TRELLO_TOKEN), 5
    )


def grant(slack_url: str, *scopes: str) -> None:
    requests.post(f"{slack_url}/_fake/scopes", json={"scopes": list(scopes)}, timeout=5).raise_for_status()


def fail(url: str, path: str, status: int, body: object) -> None:
    spec = {"status": status, "body": body, "count": None, "path": path}
    requests.post(f"{url}/_fake/fail", json=spec, timeout=5).raise_for_status()


# --- Slack -------------------------------------------------------------------------------


def test_slack_token_ok_names_the_workspace_and_bot(client):
    result = live_slack.check_slack_token(client)
    assert result.ok and "workspace Stand-in (T00000000), bot user ticket-router" in result.detail


def test_slack_bad_token_says_what_to_set(slack_url, client):
    fail(slack_url, "/api/auth.test", 200, {"ok": False, "error": "invalid_auth"})
    result = live_slack.check_slack_token(client)
    assert not result.ok and "invalid_auth" in result.detail and "SLACK_BOT_TOKEN" in result.detail


def test_slack_unreachable_is_a_problem_line_not_a_traceback():
    with dead_endpoint() as url:
        result = live_slack.check_slack_token(slack_client(SLACK_TOKEN, f"{url}/api/", max_retries=0))
    assert not result.ok and result.detail.startswith("could not ask: URLError")


def test_slack_channel_ok(client):
    result = live_slack.check_slack_channel(client, "C0TICKETS1")
    assert result.ok and result.detail == "#tickets-high (C0TICKETS1, public): exists, the bot is a member"


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("C0NOSUCH01", "no channel C0NOSUCH01 the bot can see"),
        ("#tickets-high", "SLACK_CHANNEL=#tickets-high is not a channel id"),
        ("C0GENERAL1", "the bot is not a member of #general (C0GENERAL1, public): type /invite"),
    ],
)
def test_slack_channel_problems(client, channel, expected):
    result = live_slack.check_slack_channel(client, channel)
    assert not result.ok and expected in result.detail


def test_slack_channel_unreadable_without_channels_read_says_so(slack_url, client):
    grant(slack_url, "chat:write", "channels:history")
    result = live_slack.check_slack_channel(client, "C0TICKETS1")
    assert not result.ok and "needs the channels:read scope" in result.detail


def test_slack_scopes_ok(client):
    result = live_slack.check_slack_scopes(client, "C0TICKETS1")
    assert result.ok and result.detail == "chat:write and channels:history granted"


def test_slack_without_history_scope_warns_of_a_doubled_post(slack_url, client):
    grant(slack_url, "chat:write", "channels:read")
    result = live_slack.check_slack_scopes(client, "C0TICKETS1")
    assert not result.ok
    assert "lacks channels:history" in result.detail and "may be posted twice" in result.detail


def test_slack_without_chat_write_no_ticket_can_be_posted(slack_url, client):
    grant(slack_url, "channels:history", "channels:read")
    result = live_slack.check_slack_scopes(client, "C0TICKETS1")
    assert not result.ok and "lacks chat:write: no ticket can be posted" in result.detail


def test_slack_private_channel_needs_groups_history(slack_url, client):
    grant(slack_url, "chat:write", "channels:history", "groups:read")
    missing = live_slack.check_slack_scopes(client, "C0PRIVATE1")
    assert not missing.ok and "lacks groups:history" in missing.detail
    grant(slack_url, "chat:write", "groups:history", "groups:read")
    assert live_slack.check_slack_scopes(client, "C0PRIVATE1").ok


# --- Trello ------------------------------------------------------------------------------


def test_trello_credentials_ok(trello_api):
    result = live_trello.check_trello_credentials(trello_api)
    assert result.ok and "member ticketrouter" in result.detail


def test_trello_bad_token_says_where_they_come_from(trello_url, trello_api):
    fail(trello_url, "/1/members/me", 401, "invalid token")
    result = live_trello.check_trello_credentials(trello_api)
    assert not result.ok and "401 'invalid token'" in result.detail and ".env.example" in result.detail


def test_trello_list_ok_names_its_board(trello_api):
    result = live_trello.check_trello_list(trello_api, "dev-list")
    assert result.ok and result.detail == f"'Tickets (stand-in)' (dev-list) on board {trello.BOARD['id']}"


def test_trello_missing_list_points_at_trello_discover(trello_url, trello_api):
    fail(trello_url, "/1/lists/no-such-list", 404, "The requested resource was not found.")
    result = live_trello.check_trello_list(trello_api, "no-such-list")
    assert (
        not result.ok and "no list no-such-list" in result.detail and "make trello-discover" in result.detail
    )


def test_trello_label_of_the_board_ok(trello_api):
    result = live_trello.check_trello_label(trello_api, "dev-list", "TRELLO_LABEL_HIGH", "dev-label-high")
    assert result.subject == "trello TRELLO_LABEL_HIGH"
    assert result.ok and result.detail == f"label 'High' (red) of board {trello.BOARD['id']}"


def test_trello_unknown_label_is_named(trello_api):
    result = live_trello.check_trello_label(trello_api, "dev-list", "TRELLO_LABEL_LOW", "label-elsewhere")
    assert not result.ok and f"label-elsewhere is not a label of board {trello.BOARD['id']}" in result.detail


# --- AWS ---------------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[RouterSettings]:
    with mock_aws():
        yield RouterSettings.load()


def clients(settings: RouterSettings):
    return (boto3.client(name, region_name=settings.aws_region) for name in ("sts", "sqs", "s3"))


def test_aws_all_ok_after_provisioning(aws):
    provision(aws)
    results = live_aws.aws_checks(os.environ)
    assert [r.subject for r in results] == [
        "aws identity",
        *(f"queue {q}" for p in ("high", "medium", "low") for q in (f"tickets-{p}", f"tickets-{p}-dlq")),
        "bucket tickets (TICKETS_BUCKET)",
        "bucket tickets-ledger (LEDGER_BUCKET)",
    ]
    assert all(r.ok for r in results), [r.line() for r in results]
    assert results[0].detail.startswith("account 123456789012 as arn:aws:")


def test_aws_missing_queue_and_bucket_say_make_provision_aws(aws):
    sts, sqs, s3 = clients(aws)
    queue = live_aws.check_queue(sqs, "tickets-high")
    assert not queue.ok and queue.detail == f"does not exist: {live_aws.CREATE_IT}"
    bucket = live_aws.check_bucket(s3, sts, "TICKETS_BUCKET", "tickets")
    assert not bucket.ok and bucket.detail == f"does not exist: {live_aws.CREATE_IT}"


def test_aws_bucket_of_another_account_is_reported_as_taken(aws, monkeypatch):
    # moto ignores ExpectedBucketOwner; with cross-account access off it answers a foreign bucket
    # 403, as S3 does for a bucket someone else owns (or one these credentials may not read).
    monkeypatch.setenv("MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS", "false")
    sts, _, s3 = clients(aws)
    other = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/other", RoleSessionName="other")
    keys = other["Credentials"]
    boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    ).create_bucket(Bucket="tickets")
    result = live_aws.check_bucket(s3, sts, "TICKETS_BUCKET", "tickets")
    assert not result.ok
    assert (
        "exists but is not account 123456789012's" in result.detail and "set TICKETS_BUCKET" in result.detail
    )


def test_aws_bucket_check_asks_s3_to_refuse_a_bucket_of_another_owner(aws):
    # moto does not enforce ExpectedBucketOwner, so this checks that the header is sent: with it,
    # S3 answers 403 for a bucket owned by any account but ours, even one we may read.
    provision(aws)
    sts, _, s3 = clients(aws)
    sent = []
    s3.meta.events.register("provide-client-params.s3.HeadBucket", lambda params, **_: sent.append(params))
    assert live_aws.check_bucket(s3, sts, "LEDGER_BUCKET", "tickets-ledger").ok
    assert sent == [{"Bucket": "tickets-ledger", "ExpectedBucketOwner": "123456789012"}]


def test_aws_without_credentials_says_how_to_provide_them(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with dead_endpoint() as url:  # nothing may leave this test, credentials or not
        sts = boto3.session.Session().client("sts", region_name="us-east-1", endpoint_url=url)
        result = live_aws.check_aws_identity(sts)
    assert not result.ok and result.detail.startswith("no AWS credentials")


# --- the command -------------------------------------------------------------------------


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """choose() makes the target's environment the process's: put the test's back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def live_env(monkeypatch, slack_url: str, trello_url: str) -> None:
    values = {
        "TARGET": "aws",  # mock_aws answers in-process: nothing leaves the test
        "SLACK_API_URL": f"{slack_url}/api/",
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_CHANNEL": "C0TICKETS1",
        "TRELLO_API_URL": trello_url,
        "TRELLO_KEY": TRELLO_KEY,
        "TRELLO_TOKEN": TRELLO_TOKEN,
        "TRELLO_LIST_ID": "dev-list",
        "TRELLO_LABEL_HIGH": "dev-label-high",
        "TRELLO_LABEL_MEDIUM": "dev-label-medium",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_the_command_names_its_target_passes_and_prints_no_secret(
    aws, slack_url, trello_url, monkeypatch, capsys, restored_environ
):
    live_env(monkeypatch, slack_url, trello_url)
    provision(aws)
    assert check_live.main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "target: REAL AWS (TARGET=aws), region us-east-1"
    assert lines[-1] == "all 16 checks passed"
    assert all(line.startswith("ok ") for line in lines[1:-1]), lines
    assert not any(secret in "\n".join(lines) for secret in (SLACK_TOKEN, TRELLO_KEY, TRELLO_TOKEN))


def test_the_command_exits_1_naming_each_problem(
    aws, slack_url, trello_url, monkeypatch, capsys, restored_environ
):
    live_env(monkeypatch, slack_url, trello_url)
    monkeypatch.setenv("TRELLO_LABEL_LOW", "label-elsewhere")
    grant(slack_url, "chat:write", "channels:read")
    assert check_live.main() == 1  # nothing provisioned: six queues and two buckets missing
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1 + 1 + 6 + 2, out
    assert out.splitlines()[-1] == "10 problem(s) of 17 checks"


def test_the_command_without_a_target_refuses_and_asks_nothing(monkeypatch, capsys):
    assert "TARGET" not in os.environ
    with pytest.raises(SystemExit) as stopped:
        check_live.main()
    assert stopped.value.code == 2 and "TARGET=aws" in capsys.readouterr().err
