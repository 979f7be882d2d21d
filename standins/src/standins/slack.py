"""Stand-in for the Slack Web API subset the Slack worker uses (auth.test, chat.postMessage,
conversations.history) and `make check-live` reads (auth.test's scopes, conversations.info)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from markupsafe import Markup

from standins.blockkit import decode_entities, render_message
from standins.recorder import request_body
from standins.standin_app import create_standin_app

api = Blueprint("slack_api", __name__, url_prefix="/api")
_ts_counter = itertools.count(1)
DEFAULT_SCOPES = ("chat:write", "channels:history", "channels:read")
# The workspace's channels, by id (conversations.info knows ids only, as Slack's does): one the
# bot is in, a private one it is in, and a public one it was never invited to.
CHANNELS = {
    "C0TICKETS1": {"name": "tickets-high", "is_private": False, "is_member": True},
    "C0PRIVATE1": {"name": "tickets-private", "is_private": True, "is_member": True},
    "C0GENERAL1": {"name": "general", "is_private": False, "is_member": False},
}


def _token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    body = request_body()
    return body.get("token") if isinstance(body, dict) else None


def _fail(error: str) -> Response:
    # Slack answers API errors with HTTP 200 and ok=false.
    return jsonify({"ok": False, "error": error})


@api.post("/auth.test")
def auth_test() -> Response:
    if not _token():
        return _fail("not_authed")
    response = jsonify(
        {
            "ok": True,
            "url": request.host_url,
            "team": "Stand-in",
            "user": "ticket-router",
            "team_id": "T00000000",
            "user_id": "U00000000",
            "bot_id": "B00000000",
        }
    )
    # Slack names the token's scopes in this header of every Web API answer.
    response.headers["x-oauth-scopes"] = ",".join(sorted(_scopes()))
    return response


@api.route("/conversations.info", methods=["GET", "POST"])
def conversations_info() -> Response:
    """A channel by id; a private one only to a member (others get channel_not_found, as on Slack)."""
    if not _token():
        return _fail("not_authed")
    params = {**request.args.to_dict(), **(request_body() if isinstance(request_body(), dict) else {})}
    channel = CHANNELS.get(str(params.get("channel", "")))
    if channel is None or (channel["is_private"] and not channel["is_member"]):
        return _fail("channel_not_found")
    if ("groups:read" if channel["is_private"] else "channels:read") not in _scopes():
        return _fail("missing_scope")
    return jsonify(
        {
            "ok": True,
            "channel": {"id": params["channel"], "is_channel": True, "is_archived": False, **channel},
        }
    )


@api.post("/chat.postMessage")
def post_message() -> Response:
    if not _token():
        return _fail("not_authed")
    body = request_body()
    if not isinstance(body, dict) or not body.get("channel"):
        return _fail("channel_not_found")
    blocks = body.get("blocks")
    if isinstance(blocks, str):  # form-encoded calls send blocks as a JSON string
        blocks = json.loads(blocks)
    if not body.get("text") and not blocks:
        return _fail("no_text")
    # Unique, increasing, in Slack's "seconds.micro" shape.
    ts = f"{int(time.time())}.{next(_ts_counter):06d}"
    metadata = body.get("metadata")
    if isinstance(metadata, str):  # form-encoded calls send it as a JSON string
        metadata = json.loads(metadata)
    _channel_messages().append(
        {"channel": body["channel"], "ts": ts, "text": body.get("text", ""), "blocks": blocks or [],
         "metadata": metadata}
    )  # fmt: skip
    return jsonify(
        {
            "ok": True,
            "channel": body["channel"],
            "ts": ts,
            "message": {"type": "message", "text": body.get("text", ""), "blocks": blocks or [], "ts": ts},
        }
    )


@api.route("/conversations.history", methods=["GET", "POST"])
def conversations_history() -> Response:
    """Messages this stand-in accepted for the channel, newest first, since `oldest`, a page
    of `limit` at a time (`cursor` from `response_metadata.next_cursor`)."""
    if not _token():
        return _fail("not_authed")
    if "channels:history" not in _scopes():
        return _fail("missing_scope")
    params = {**request.args.to_dict(), **(request_body() if isinstance(request_body(), dict) else {})}
    oldest = float(params.get("oldest") or 0)
    with_metadata = str(params.get("include_all_metadata", "")).lower() in {"1", "true"}
    messages = [
        {"type": "message", "ts": m["ts"], "text": m["text"]}
        | ({"metadata": m["metadata"]} if with_metadata and m.get("metadata") else {})
        for m in reversed(_channel_messages())
        if m["channel"] == params.get("channel") and float(m["ts"]) >= oldest
    ]
    start = int(params.get("cursor") or 0)
    limit = max(1, min(int(params.get("limit") or 100), 999))
    page = messages[start : start + limit]
    more = start + limit < len(messages)
    return jsonify(
        {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }
    )


def _scopes() -> set[str]:
    return cast("set[str]", current_app.extensions.setdefault("slack_scopes", set(DEFAULT_SCOPES)))


def _channel_messages() -> list[dict[str, Any]]:
    return cast("list[dict[str, Any]]", current_app.extensions.setdefault("slack_messages", []))


@api.route("/<method>", methods=["GET", "POST"])
def unknown_method(method: str) -> Response:
    return _fail("unknown_method")


def default_failure_body(status: int) -> Any:
    if status == 429:
        return {"ok": False, "error": "ratelimited"}
    return "Internal Server Error" if status >= 500 else {"ok": False, "error": "fatal_error"}


def summarize(entry: dict[str, Any]) -> tuple[str, Markup | str]:
    """Title and detail of a recorded call for the HTML page: a posted message as Slack shows it."""
    body = entry["body"] if isinstance(entry["body"], dict) else {}
    if entry["path"] != "/api/chat.postMessage":
        return "", ""
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    header = next((b["text"]["text"] for b in blocks if b.get("type") == "header"), "")
    channel = Markup('<div class="bk-channel">channel {}</div>').format(body.get("channel", ""))
    return header or decode_entities(str(body.get("text", ""))), channel + render_message(body)


def create_app() -> Flask:
    return create_standin_app("Slack", api, default_failure_body, summarize)
