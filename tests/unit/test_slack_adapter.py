"""The Slack adapter: message shape and escaping, and behaviour against the Slack stand-in."""

from __future__ import annotations

import html

import pytest
import requests

from standins import slack
from tests.support import FakeClock, dead_endpoint, serve
from ticketrouter.destination import (
    LookupFailedError,
    NotSentError,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from ticketrouter.pacing import TokenBucket
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


def test_a_server_error_is_an_unknown_outcome_and_is_not_retried_in_the_call(standin, destination):
    requests.post(
        f"{standin}/_fake/fail",
        json={"status": 500, "body": {"ok": False, "error": "fatal_error"}, "apply": True},
        timeout=5,
    )
    with pytest.raises(OutcomeUnknownError, match="fatal_error"):
        destination.deliver(make_ticket())
    assert len(posts(standin, 500)) == 1 and posts(standin) == []


def test_a_read_timeout_is_an_unknown_outcome_and_the_post_is_not_sent_again(standin):
    destination = SlackDestination(slack_client("xoxb-test", f"{standin}/api/", 2, timeout=1), "C1")
    requests.post(f"{standin}/_fake/hold", json={"path": "/api/chat.postMessage", "count": 5}, timeout=5)
    try:
        with pytest.raises(OutcomeUnknownError, match="TimeoutError|timed out"):
            destination.deliver(make_ticket())
        # Every post that reached the stand-in is held there: a blind in-call re-send would show.
        assert len(requests.get(f"{standin}/_fake/held", timeout=5).json()) == 1
    finally:
        requests.post(f"{standin}/_fake/release", json={"apply": False}, timeout=5)


def test_a_refused_connection_is_not_sent():
    with dead_endpoint() as url:
        destination = SlackDestination(slack_client("xoxb-test", f"{url}/api/", max_retries=1), "C1")
        with pytest.raises(NotSentError):
            destination.deliver(make_ticket())


def test_rate_limits_beyond_the_in_call_retries_are_not_sent(standin, destination):
    requests.post(f"{standin}/_fake/fail", json={"status": 429, "retry_after": 0, "count": 3}, timeout=5)
    with pytest.raises(NotSentError, match="ratelimited"):
        destination.deliver(make_ticket())
    assert len(posts(standin, 429)) == 3


# --- find: the lookup after an unknown outcome ------------------------------------------


def test_find_returns_the_ts_of_the_earlier_post(standin, destination):
    ticket = make_ticket()
    ts = destination.deliver(ticket)
    assert destination.find(ticket) == ts


def test_find_returns_none_when_the_ticket_was_never_posted(standin, destination):
    destination.deliver(make_ticket())
    assert destination.find(make_ticket()) is None


def test_find_pages_through_the_history(standin):
    client = slack_client("xoxb-test", f"{standin}/api/", max_retries=2)
    destination = SlackDestination(client, "C1")
    target = make_ticket()
    ts = destination.deliver(target)
    for _ in range(205):  # newest first, 200 a page: the target is on the second page
        destination.deliver(make_ticket())
    assert destination.find(target) == ts
    pages = [e for e in requests.get(f"{standin}/_fake/requests", timeout=5).json() if "history" in e["path"]]
    assert len(pages) == 2


def test_find_fails_loudly_when_the_history_cannot_be_read(standin, destination):
    requests.post(f"{standin}/_fake/fail", json={"status": 500, "count": 1}, timeout=5)
    with pytest.raises(LookupFailedError):
        destination.find(make_ticket())
    with dead_endpoint() as url:
        unreachable = SlackDestination(slack_client("xoxb-test", f"{url}/api/", max_retries=0), "C1")
        with pytest.raises(LookupFailedError):
            unreachable.find(make_ticket())


def test_without_channels_history_check_warns_once_and_disables_lookups(standin, destination, caplog):
    requests.post(f"{standin}/_fake/scopes", json={"scopes": ["chat:write"]}, timeout=5)
    destination.check()
    assert destination.can_find is False
    with pytest.raises(LookupFailedError, match="missing_scope"):
        destination.find(make_ticket())
    warnings = [r for r in caplog.records if "cannot read the channel's history" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"


def test_with_channels_history_lookups_stay_on(standin, destination):
    destination.check()
    assert destination.can_find is True


def test_check_verifies_the_token(standin, destination):
    destination.check()
    requests.post(
        f"{standin}/_fake/fail",
        json={"status": 200, "body": {"ok": False, "error": "invalid_auth"}},
        timeout=5,
    )
    with pytest.raises(PermanentDeliveryError):
        destination.check()


def test_find_trusts_the_posts_metadata_not_a_mention_of_the_id(standin, destination):
    """A later ticket titled after an earlier one must not pass for it (and hide its loss)."""
    earlier = make_ticket()
    destination.deliver(
        make_ticket(title=f"same as ticket {earlier.id}", description=f"(ticket {earlier.id})")
    )
    assert destination.find(earlier) is None
    ts = destination.deliver(earlier)
    assert destination.find(earlier) == ts


def test_posts_are_paced_to_the_channels_rate(standin):
    """Slack takes about one message a second per channel: each post waits for its token."""
    clock = FakeClock()
    pacer = TokenBucket(2, 2, clock=clock, sleep=clock.sleep)
    destination = SlackDestination(slack_client("xoxb-test", f"{standin}/api/", 2), "C1", pacer)
    for _ in range(5):
        destination.deliver(make_ticket())
    assert len(posts(standin)) == 5
    # A burst of two at once, then one every half second (rate 2/s).
    assert clock.slept == [0.5, 0.5, 0.5]
