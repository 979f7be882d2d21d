"""Stand-in for the Trello REST API subset the Trello worker uses (POST /1/cards, GET /1/lists/{id})
and `make trello-discover` and `make check-live` read (the member, boards, their lists and labels)."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from standins.recorder import request_body
from standins.standin_app import create_standin_app
from ticketrouter.ticket import Priority

api = Blueprint("trello_api", __name__, url_prefix="/1")
_OAUTH_FIELD = re.compile(r'(oauth_consumer_key|oauth_token)="([^"]*)"')


def _authorized() -> bool:
    """Key and token, in the OAuth header or the query string (Trello accepts both)."""
    fields = dict(_OAUTH_FIELD.findall(request.headers.get("Authorization", "")))
    key = fields.get("oauth_consumer_key") or request.args.get("key")
    token = fields.get("oauth_token") or request.args.get("token")
    return bool(key and token)


def _text(status: int, text: str) -> Response:
    # Trello answers errors in plain text.
    return Response(text, status=status, mimetype="text/plain")


@api.before_request
def _refuse_without_credentials() -> Response | None:
    """Every API call needs a key and a token, as on Trello."""
    return None if _authorized() else _text(401, "invalid key")


@api.get("/lists/<list_id>")
def get_list(list_id: str) -> Response:
    return jsonify({"id": list_id, "name": "Tickets (stand-in)", "closed": False, "idBoard": BOARD["id"]})


@api.post("/cards")
def create_card() -> Response:
    body = request_body()
    fields = {**request.args.to_dict(), **(body if isinstance(body, dict) else {})}
    fields.pop("key", None)
    fields.pop("token", None)
    if not fields.get("idList"):
        return _text(400, "invalid value for idList")
    # Like Trello's: 24 hex digits that begin with the creation time, so `since` can use them.
    card_id = f"{int(time.time()):08x}{secrets.token_hex(8)}"
    short = secrets.token_urlsafe(6)
    labels = fields.get("idLabels") or ""
    card = {
        "id": card_id,
        "idList": fields["idList"],
        "name": fields.get("name", ""),
        "desc": fields.get("desc", ""),
        "idLabels": [label for label in str(labels).split(",") if label],
        "shortLink": short,
        "shortUrl": f"{request.host_url}c/{short}",
        "url": f"{request.host_url}c/{short}/card",
    }
    _cards().append(card)
    return jsonify(card)


@api.get("/lists/<list_id>/cards")
def list_cards(list_id: str) -> Response:
    return jsonify([card for card in _cards() if card["idList"] == list_id])


# One board with the list the dev stack uses and a label per priority, for `make trello-discover`.
BOARD = {"id": "b" * 24, "name": "Tickets (stand-in)", "url": "http://stand-in/b/tickets"}
LABELS = [
    {"id": f"dev-label-{p.value}", "name": p.display.label, "color": p.display.trello_colour}
    for p in Priority
]


@api.get("/members/me")
def me() -> Response:
    return jsonify({"id": "c" * 24, "username": "ticketrouter", "fullName": "Ticket Router (stand-in)"})


@api.get("/members/me/boards")
def my_boards() -> Response:
    return jsonify([BOARD])


@api.get("/boards/<board_id>/lists")
def board_lists(board_id: str) -> Response:
    if board_id != BOARD["id"]:
        return _text(404, "board not found")
    return jsonify([{"id": "dev-list", "name": "Tickets (stand-in)", "closed": False}])


@api.get("/boards/<board_id>/labels")
def board_labels(board_id: str) -> Response:
    if board_id != BOARD["id"]:
        return _text(404, "board not found")
    return jsonify(LABELS)


@api.get("/boards/<board_id>/cards/<card_filter>")
def board_cards(board_id: str, card_filter: str) -> Response:
    """The board's cards (this stand-in archives none), created since the `since` card id."""
    if board_id != BOARD["id"] or card_filter not in {"all", "open", "closed", "visible"}:
        return _text(404, "board not found")
    since = request.args.get("since", "")
    limit = int(request.args.get("limit", 1000))
    cards = [card for card in _cards() if card["id"] > since and card_filter != "closed"]
    return jsonify(cards[:limit])


def _cards() -> list[dict[str, Any]]:
    return cast("list[dict[str, Any]]", current_app.extensions.setdefault("trello_cards", []))


def default_failure_body(status: int) -> Any:
    if status == 429:
        return "API_TOKEN_LIMIT_EXCEEDED"
    return "Internal Server Error" if status >= 500 else "invalid request"


def summarize(entry: dict[str, Any]) -> tuple[str, str]:
    body = entry["body"] if isinstance(entry["body"], dict) else {}
    return body.get("name", ""), body.get("desc", "")


def create_app() -> Flask:
    return create_standin_app("Trello", api, default_failure_body, summarize)
