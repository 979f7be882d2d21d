"""The Trello adapter against the Trello stand-in."""

from __future__ import annotations

import pytest
import requests

from standins import trello
from tests.support import FakeClock, dead_endpoint, serve
from ticketrouter.destination import (
    LookupFailedError,
    NotSentError,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from ticketrouter.pacing import TokenBucket
from ticketrouter.ticket import Priority, Ticket, parse_submission
from worker_trello.destination import TrelloDestination, trello_session


@pytest.fixture
def standin():
    with serve(trello.create_app()) as url:
        yield url


def destination(url, **kwargs) -> TrelloDestination:
    return TrelloDestination(
        trello_session(max_retries=2, backoff_factor=0), url, "the-key", "the-token", "list-1", **kwargs
    )


def make_ticket() -> Ticket:
    return Ticket.from_submission(
        parse_submission(
            {"title": "VPN drops", "priority": "medium", "description": "Every hour", "requester": "Jane"}
        )
    )


def cards(url, status=200):
    return [
        e
        for e in requests.get(f"{url}/_fake/requests", timeout=5).json()
        if e["path"] == "/1/cards" and e["status"] == status
    ]


def test_deliver_creates_one_card_with_ticket_details_and_returns_its_url(standin):
    ticket = make_ticket()
    url = destination(standin, labels={Priority.MEDIUM: "label-m"}).deliver(ticket)
    [card] = cards(standin)
    assert card["body"]["idList"] == "list-1" and card["body"]["name"] == "VPN drops"
    assert card["body"]["desc"].startswith("Every hour")
    assert ticket.id in card["body"]["desc"] and "Jane" in card["body"]["desc"]
    assert card["body"]["idLabels"] == "label-m"
    assert card["query"] == {}  # key and token travel in the Authorization header, not the URL
    assert url.startswith(standin)


def test_no_label_unless_configured(standin):
    destination(standin).deliver(make_ticket())
    assert "idLabels" not in cards(standin)[0]["body"]


def test_429_is_retried_within_the_call(standin):
    requests.post(f"{standin}/_fake/fail", json={"status": 429, "count": 2}, timeout=5)
    destination(standin).deliver(make_ticket())
    assert len(cards(standin, 429)) == 2 and len(cards(standin)) == 1


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_permanent(standin, status):
    requests.post(f"{standin}/_fake/fail", json={"status": status}, timeout=5)
    with pytest.raises(PermanentDeliveryError, match=str(status)):
        destination(standin).deliver(make_ticket())


def test_a_server_error_is_an_unknown_outcome_and_is_not_retried_in_the_call(standin):
    requests.post(f"{standin}/_fake/fail", json={"status": 500, "apply": True}, timeout=5)
    with pytest.raises(OutcomeUnknownError, match="500"):
        destination(standin).deliver(make_ticket())
    assert len(cards(standin, 500)) == 1  # the card was created: no blind retry


def test_a_read_timeout_is_an_unknown_outcome_and_the_card_is_not_posted_again(standin):
    requests.post(f"{standin}/_fake/hold", json={"path": "/1/cards", "count": 5}, timeout=5)
    try:
        with pytest.raises(OutcomeUnknownError):
            destination(standin, timeout=1).deliver(make_ticket())
        # Every POST that reached the stand-in is held there: a blind in-call re-send would show.
        assert len(requests.get(f"{standin}/_fake/held", timeout=5).json()) == 1
    finally:
        requests.post(f"{standin}/_fake/release", json={"apply": False}, timeout=5)


def test_a_refused_connection_is_not_sent():
    with dead_endpoint() as url:
        with pytest.raises(NotSentError):
            destination(url).deliver(make_ticket())


def test_rate_limits_beyond_the_in_call_retries_are_not_sent(standin):
    requests.post(f"{standin}/_fake/fail", json={"status": 429, "count": 3}, timeout=5)
    with pytest.raises(NotSentError, match="429"):
        destination(standin).deliver(make_ticket())
    assert len(cards(standin, 429)) == 3


# --- find: the lookup after an unknown outcome ------------------------------------------


def test_find_returns_the_url_of_the_earlier_card(standin):
    ticket = make_ticket()
    adapter = destination(standin)
    url = adapter.deliver(ticket)
    assert adapter.find(ticket) == url


def test_find_returns_none_when_no_card_carries_the_ticket(standin):
    adapter = destination(standin)
    adapter.deliver(make_ticket())
    assert adapter.find(make_ticket()) is None


def test_find_looks_at_the_whole_board_since_the_ticket_was_created(standin):
    ticket = make_ticket()
    adapter = destination(standin)
    adapter.deliver(ticket)
    adapter.find(ticket)
    [lookup] = [
        e for e in requests.get(f"{standin}/_fake/requests", timeout=5).json() if "/boards/" in e["path"]
    ]
    assert lookup["path"].endswith("/cards/all")  # archived cards and every list of the board
    assert int(lookup["query"]["since"][:8], 16) <= ticket.created_at.timestamp() - 60


def test_find_fails_loudly_when_the_board_cannot_be_read(standin):
    adapter = destination(standin)
    adapter.check()
    requests.post(f"{standin}/_fake/fail", json={"status": 500}, timeout=5)
    with pytest.raises(LookupFailedError):
        adapter.find(make_ticket())
    with dead_endpoint() as url:
        with pytest.raises(LookupFailedError):
            destination(url).find(make_ticket())


def test_check_reads_the_list(standin):
    destination(standin).check()
    requests.post(f"{standin}/_fake/fail", json={"status": 401}, timeout=5)
    with pytest.raises(PermanentDeliveryError):
        destination(standin).check()


def test_find_trusts_the_cards_footer_not_a_mention_of_the_id(standin):
    """A later ticket whose description quotes an earlier one must not pass for it."""
    adapter = destination(standin)
    earlier = make_ticket()
    forged = Ticket.from_submission(
        parse_submission(
            {
                "title": "Again",
                "priority": "medium",
                "description": f"same as\n\n---\nTicket id: {earlier.id}",
            }
        )
    )
    adapter.deliver(forged)
    assert adapter.find(earlier) is None
    url = adapter.deliver(earlier)
    assert adapter.find(earlier) == url


def test_every_request_is_paced_lookups_and_the_check_included(standin):
    """Trello counts every request against the token's limit: so does the pacer."""
    clock = FakeClock()
    adapter = destination(standin, pacer=TokenBucket(1, 1, clock=clock, sleep=clock.sleep))
    adapter.check()
    ticket = make_ticket()
    adapter.deliver(ticket)
    adapter.find(ticket)
    adapter.board_id = None  # a lookup that must first learn the board: two requests
    adapter.find(ticket)
    sent = [e for e in requests.get(f"{standin}/_fake/requests", timeout=5).json()]
    assert len(sent) == 5
    # One token at once, then each further request one second (at rate 1/s) after the one before.
    assert clock.slept == [1.0] * (len(sent) - 1)
