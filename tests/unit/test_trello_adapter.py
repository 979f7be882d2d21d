"""The Trello adapter against the Trello stand-in."""

from __future__ import annotations

import pytest
import requests

from standins import trello
from tests.support import serve
from ticketrouter.destination import PermanentDeliveryError
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


def test_server_errors_are_transient_and_not_retried_in_the_call(standin):
    requests.post(f"{standin}/_fake/fail", json={"status": 500}, timeout=5)
    with pytest.raises(requests.HTTPError):
        destination(standin).deliver(make_ticket())
    assert len(cards(standin, 500)) == 1  # a 5xx POST may have created the card: no blind retry


def test_check_reads_the_list(standin):
    destination(standin).check()
    requests.post(f"{standin}/_fake/fail", json={"status": 401}, timeout=5)
    with pytest.raises(PermanentDeliveryError):
        destination(standin).check()
