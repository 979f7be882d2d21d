"""The Slack adapter: message shape and escaping, and behaviour against the Slack stand-in."""

from __future__ import annotations

import html

import pytest
import requests
from slack_sdk.errors import SlackApiError

from standins import slack
from tests.support import serve
from ticketrouter.destination import PermanentDeliveryError
from ticketrouter.ticket import Ticket, parse_submission
from worker_slack.destination import SlackDestination, slack_client
from worker_slack.message import HEADER_MAX, SECTION_MAX, escape_mrkdwn, escaped_chunks, message_blocks


def make_ticket(**fields) -> Ticket:
    data = {"title": "Checkout down", "priority": "high", "description": "All card payments fail", **fields}
    return Ticket.from_submission(parse_submission(data))


@pytest.fixture
def standin():
    with serve(slack.create_app()) as url:
        yield url


@pytest.fixture
def destination(standin):
    return SlackDestination(slack_client("xoxb-test", f"{standin}/api/", max_retries=2), "#tickets-high")


def posts(standin, status=200):
    return [
        e
        for e in requests.get(f"{standin}/_fake/requests", timeout=5).json()
        if e["path"] == "/api/chat.postMessage" and e["status"] == status
    ]


def test_escaping_defuses_mentions_and_links():
    assert (
        escape_mrkdwn("<!channel> & <http://evil|click>")
        == "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;"
    )


def test_long_descriptions_are_split_into_sections_without_losing_text():
    text = ("a&b<c> " * 3000)[:10_000]
    chunks = escaped_chunks(text)
    assert all(len(chunk) <= SECTION_MAX for chunk in chunks)
    assert html.unescape("".join(chunks)) == text


def test_blocks_carry_title_priority_requester_description_and_id():
    ticket = make_ticket(requester={"name": "Jane", "email": "jane@example.com"}, title="T" * 200)
    blocks = message_blocks(ticket)
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) == HEADER_MAX
    fields = " ".join(f["text"] for f in blocks[1]["fields"])
    assert "high" in fields and "Jane &lt;jane@example.com&gt;" in fields and ticket.id in fields
    assert blocks[-1]["text"]["text"] == "All card payments fail"
    assert len(blocks) <= 50


def test_deliver_posts_once_and_returns_the_message_ts(standin, destination):
    ticket = make_ticket(description="<!channel> please look")
    ts = destination.deliver(ticket)
    [post] = posts(standin)
    assert post["body"]["channel"] == "#tickets-high"
    assert ticket.id in post["body"]["text"]
    assert "&lt;!channel&gt; please look" in str(post["body"]["blocks"])
    assert "<!channel>" not in str(post["body"])
    assert ts and "." in ts


def test_rate_limit_is_retried_after_retry_after(standin, destination):
    requests.post(f"{standin}/_fake/fail", json={"status": 429, "retry_after": 0, "count": 1}, timeout=5)
    destination.deliver(make_ticket())
    assert len(posts(standin, 429)) == 1 and len(posts(standin)) == 1


@pytest.mark.parametrize("error", ["channel_not_found", "invalid_auth", "not_in_channel"])
def test_permanent_slack_errors_raise_permanent(standin, destination, error):
    requests.post(
        f"{standin}/_fake/fail", json={"status": 200, "body": {"ok": False, "error": error}}, timeout=5
    )
    with pytest.raises(PermanentDeliveryError, match=error):
        destination.deliver(make_ticket())


def test_server_errors_are_transient(standin, destination):
    requests.post(
        f"{standin}/_fake/fail",
        json={"status": 500, "body": {"ok": False, "error": "fatal_error"}},
        timeout=5,
    )
    with pytest.raises(SlackApiError) as caught:
        destination.deliver(make_ticket())
    assert not isinstance(caught.value, PermanentDeliveryError)


def test_check_verifies_the_token(standin, destination):
    destination.check()
    requests.post(
        f"{standin}/_fake/fail",
        json={"status": 200, "body": {"ok": False, "error": "invalid_auth"}},
        timeout=5,
    )
    with pytest.raises(PermanentDeliveryError):
        destination.check()
