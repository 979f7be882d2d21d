"""The Trello destination: POST /1/cards with requests.

How each failure is classified (see ticketrouter.destination): 400/401/403/404/422 are
*refused*; a 429 (after the in-call retries) and a connection that was never made are
*not sent*; a read timeout, a connection dropped mid-answer, a 5xx or an unreadable answer
are *unknown*, and the next attempt looks for the card on the board before creating another.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from ticketrouter.destination import (
    LookupFailedError,
    NotSentError,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from ticketrouter.pacing import TokenBucket
from ticketrouter.ticket import Priority, Ticket

# Statuses that mean the request itself is wrong (bad key/token, missing list, bad value):
# retrying cannot help.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 422})
NAME_MAX = 16_384
DESC_MAX = 16_384
# Cards looked at per lookup; a board with more cards created since the ticket cannot be checked.
LOOKUP_LIMIT = 1000
LOOKUP_MARGIN = timedelta(minutes=1)


def trello_session(max_retries: int, backoff_factor: float = 1.0) -> requests.Session:
    """A session whose in-call retries are limited to what provably did not create a card:
    connections never made, and 429s (with backoff, honouring Retry-After).

    A read timeout or a 5xx is never retried here (read=0): the card may have been created.
    """
    retry = Retry(
        total=max_retries,
        connect=max_retries,
        read=0,
        other=0,
        status=max_retries,
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


def auth_header(key: str, token: str) -> dict[str, str]:
    """Key and token in the Authorization header, so the secrets never appear in a URL or log."""
    return {"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'}


def _never_connected(error: requests.RequestException) -> bool:
    """True when the request provably never reached Trello (refused, DNS, connect timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", error.args[0]) if error.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


FOOTER_RULE = "\n\n---\n"


def card_description(ticket: Ticket) -> str:
    """The description, then our footer (after the last rule): the lookup reads only the footer."""
    requester = ticket.requester.display() if ticket.requester else "not given"
    footer = (
        f"{FOOTER_RULE}Ticket id: {ticket.id}\nRequester: {requester}\n"
        f"Submitted: {ticket.created_at.isoformat()}"
    )
    return ticket.description[: DESC_MAX - len(footer)] + footer


def carries(description: str, ticket_id: str) -> bool:
    """True when the card's footer, which follows everything users typed, names the ticket.

    A description that merely mentions the id ("same as ticket <id>") does not count.
    """
    _, rule, footer = description.rpartition(FOOTER_RULE)
    return bool(rule) and footer.split("\n", 1)[0] == f"Ticket id: {ticket_id}"


def object_id_since(ticket: Ticket) -> str:
    """A Trello object id as of a minute before the ticket's creation (ids begin with their time)."""
    return f"{int((ticket.created_at - LOOKUP_MARGIN).timestamp()):08x}" + "0" * 16


class TrelloDestination:
    name = "trello"
    # Trello allows 100 requests per 10 s per token (the pacer keeps to it).
    max_concurrency = 4
    can_find = True

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        key: str,
        token: str,
        list_id: str,
        labels: Mapping[Priority, str] | None = None,
        timeout: float = 10,
        pacer: TokenBucket | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.list_id = list_id
        self.labels = dict(labels or {})
        self.timeout = timeout
        self.board_id: str | None = None  # learnt from the list; cards may move between its lists
        self._auth = auth_header(key, token)
        # Paces every request (lookups and the start-up check included): Trello counts them all.
        self.pacer = pacer

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer; raises PermanentDeliveryError, NotSentError or OutcomeUnknownError."""
        if self.pacer is not None:
            self.pacer.acquire()
        try:
            response = self.session.request(
                method, f"{self.base_url}{path}", headers=self._auth, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as error:
            if _never_connected(error):
                raise NotSentError(f"{method} {path}: not sent: {error}") from error
            raise OutcomeUnknownError(f"{method} {path}: {type(error).__name__}: {error}") from error
        if response.status_code in PERMANENT_STATUSES:
            raise PermanentDeliveryError(f"{method} {path} → {response.status_code}: {response.text[:200]}")
        if response.status_code == 429:
            raise NotSentError(f"{method} {path} → 429: {response.text[:200]}")
        if not response.ok:
            raise OutcomeUnknownError(f"{method} {path} → {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError as error:
            raise OutcomeUnknownError(f"{method} {path}: unreadable answer") from error

    def check(self) -> None:
        """GET the list: the credentials work and the list exists; remember its board."""
        found = self._request("GET", f"/1/lists/{self.list_id}")
        self.board_id = found.get("idBoard") if isinstance(found, dict) else None

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
        """The URL of a card on the board (open or archived, on any list) whose description
        carries this ticket's id, among the cards created since a minute before the ticket."""
        try:
            if self.board_id is None:
                self.check()
            cards = self._request(
                "GET",
                f"/1/boards/{self.board_id}/cards/all",
                params={
                    "fields": "desc,shortUrl,url",
                    "since": object_id_since(ticket),
                    "limit": LOOKUP_LIMIT,
                },
            )
        except (NotSentError, OutcomeUnknownError, PermanentDeliveryError) as error:
            raise LookupFailedError(f"cards of board {self.board_id}: {error}") from error
        if len(cards) >= LOOKUP_LIMIT:
            raise LookupFailedError(f"more than {LOOKUP_LIMIT} cards to check")
        return next(
            (self._reference(card) for card in cards if carries(card.get("desc", ""), ticket.id)), None
        )

    @staticmethod
    def _reference(card: dict[str, Any]) -> str:
        return str(card.get("shortUrl") or card.get("url") or card["id"])
