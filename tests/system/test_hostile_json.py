"""Hostile and lenient JSON against the real gunicorn ingest, from the outside: each gets a JSON
4xx, none reaches a destination, and ingest logs no traceback."""

from __future__ import annotations

import codecs
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import requests

from tests.system.conftest import Router
from ticketrouter.ticket import Priority


def in_chunks(data: bytes, size: int = 4096) -> Iterator[bytes]:
    """A generator body: requests sends it with Transfer-Encoding: chunked, no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def activity(text: str, **fields: str | None) -> bytes:
    body = {"type": "message", "id": uuid.uuid4().hex, "timestamp": datetime.now(UTC).isoformat(),
            "text": text, **fields}  # fmt: skip
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def test_hostile_json_gets_a_json_4xx_and_reaches_no_destination(router: Router):
    marker = f"HOSTILE-{uuid.uuid4().hex[:8]}"
    good = {"title": marker, "priority": "low", "description": marker}
    text = json.dumps(good)
    headers = {**router.auth, "Content-Type": "application/json"}
    deep = text[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
    url = f"{router.stack.ingest_url}/tickets"
    cases = {
        "nested 5 000 deep": (router.post_raw(deep, headers), 400),
        "duplicate priority": (router.post_raw(text[:-1] + ', "priority": "high"}', headers), 400),
        "utf-16 with BOM": (router.post_raw(text.encode("utf-16"), headers), 400),
        "utf-16 without BOM": (router.post_raw(text.encode("utf-16-le"), headers), 400),
        "utf-32": (router.post_raw(text.encode("utf-32"), headers), 400),
        "utf-8 BOM": (router.post_raw(codecs.BOM_UTF8 + text.encode(), headers), 400),
        "charset=utf-16": (
            router.post_raw(text, {**headers, "Content-Type": "application/json; charset=utf-16"}),
            415,
        ),
        "chunked over 64 KiB": (
            requests.post(
                url,
                data=in_chunks(json.dumps({**good, "description": "x" * 70_000}).encode()),
                headers=headers,
                timeout=10,
            ),
            413,
        ),  # fmt: skip
        "zero-width title": (router.submit({**good, "title": "\u200b"}), 422),
        "escaped NUL title": (router.post_raw(text.replace(marker, "a\\u0000b", 1), headers), 422),
        "signed webhook nested 5 000 deep": (router.post_webhook(("[" * 5000 + "]" * 5000).encode()), 400),
        "signed webhook without id": (
            router.post_webhook(activity(f"Title: {marker}<br>Priority: low<br>Description: d", id=None)),
            400,
        ),
    }
    for name, (response, status) in cases.items():
        assert response.status_code == status, (name, response.status_code, response.text[:300])
        assert response.headers["Content-Type"].startswith("application/json"), name
        assert response.json()["error"], name
    assert 'duplicate key "priority"' in cases["duplicate priority"][0].json()["message"]
    assert cases["zero-width title"][0].json()["fields"] == {"title": "must contain visible characters"}

    # A chunked body within the limit still passes, and lands; nothing before it did.
    landed = requests.post(url, data=in_chunks(json.dumps({**good, "title": f"after {marker}"}).encode()),
                           headers=headers, timeout=10)  # fmt: skip
    assert landed.status_code == 202, landed.text
    name = f"/{landed.json()['ticket_id']}.json"
    router.wait_for(lambda: any(k.endswith(name) for k in router.s3_objects()), what="the good ticket in S3")
    carried = [b for b in router.s3_objects().values() if marker.encode() in b]
    carried += [p for p in router.slack_posts() + router.trello_cards() if marker in json.dumps(p["body"])]
    assert len(carried) == 1
    for priority in Priority:
        assert router.queue_counts(priority) == (0, 0)
    ingest_log = router.stack.service("ingest").log_text()
    assert "Traceback" not in ingest_log and "RecursionError" not in ingest_log


def test_a_markdown_link_in_a_webhook_title_comes_back_as_text(router: Router):
    body = activity("<p>Title: [Reset](https://evil.example/x)</p><p>Priority: low</p><p>Description: d</p>")
    response = router.post_webhook(body)
    assert response.status_code == 200
    reply = response.json()["text"]
    assert "](" not in reply and r"\[Reset\]\(https://evil\.example/x\)" in reply
    again = router.post_webhook(body)  # the same signed activity, replayed
    assert again.status_code == 200 and again.json()["text"] == reply
