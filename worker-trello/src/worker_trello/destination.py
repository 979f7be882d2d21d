"""The Trello destination: POST /1/cards with requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ticketrouter.destination import PermanentDeliveryError
from ticketrouter.ticket import Priority, Ticket

# Statuses that mean the request itself is wrong (bad key/token, missing list, bad value):
# retrying cannot help.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 422})
NAME_MAX = 16_384
DESC_MAX = 16_384


def trello_session(max_retries: int, backoff_factor: float = 1.0) -> requests.Session:
    """A session that retries connection errors and 429s with backoff, honouring Retry-After.

    Only 429 is retried at this level: a POST that failed with 5xx may have created the card.
    """
    retry = Retry(
        total=max_retries,
        status_forcelist=(429,),
        allowed_methods=frozenset({"GET", "POST"}),
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def card_description(ticket: Ticket) -> str:
    requester = ticket.requester.display() if ticket.requester else "not given"
    footer = (
        f"\n\n---\nTicket id: {ticket.id}\nRequester: {requester}\nSubmitted: {ticket.created_at.isoformat()}"
    )
    return ticket.description[: DESC_MAX - len(footer)] + footer


class TrelloDestination:
    name = "trello"

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        key: str,
        token: str,
        list_id: str,
        labels: Mapping[Priority, str] | None = None,
        timeout: float = 10,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.list_id = list_id
        self.labels = dict(labels or {})
        self.timeout = timeout
        # In a header rather than the query string, so the secrets never appear in a URL or log.
        self._auth = {"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'}

    def _request(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(
            method, f"{self.base_url}{path}", headers=self._auth, timeout=self.timeout, **kwargs
        )
        if response.status_code in PERMANENT_STATUSES:
            raise PermanentDeliveryError(f"{method} {path} → {response.status_code}: {response.text[:200]}")
        response.raise_for_status()
        return response.json()

    def check(self) -> None:
        """GET the list: the credentials work and the list exists."""
        self._request("GET", f"/1/lists/{self.list_id}")

    def deliver(self, ticket: Ticket) -> str:
        """Create the card; returns its URL."""
        card = {
            "idList": self.list_id,
            "name": ticket.title[:NAME_MAX],
            "desc": card_description(ticket),
        }
        label = self.labels.get(ticket.priority)
        if label:
            card["idLabels"] = label
        created = self._request("POST", "/1/cards", json=card)
        return self._reference(created)

    def find(self, ticket: Ticket) -> str | None:
        """The URL of a card on the list whose description carries this ticket's id."""
        cards = self._request("GET", f"/1/lists/{self.list_id}/cards", params={"fields": "desc,shortUrl,url"})
        return next((self._reference(card) for card in cards if ticket.id in card.get("desc", "")), None)

    @staticmethod
    def _reference(card: dict) -> str:
        return str(card.get("shortUrl") or card.get("url") or card["id"])
