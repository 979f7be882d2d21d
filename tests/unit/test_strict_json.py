"""Strict RFC 8259 JSON on POST /tickets and the signed POST /teams/webhook: UTF-8 only, no
duplicate keys, bounded nesting, chunked bodies held to the size limit, visible text."""

from __future__ import annotations

import base64
import codecs
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime

import pytest

from ingest import create_app
from ingest.body import MAX_JSON_DEPTH, nesting_depth

TOKEN = "strict-json-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = base64.b64encode(b"a-teams-security-token-of-32-bytes!").decode()
VALID = {"title": "Printer on fire", "priority": "High", "description": "Third floor"}
VALID_TEXT = json.dumps(VALID)
CONTROL = "must not contain control characters (other than tab and line breaks)"


@pytest.fixture
def client(ingest_aws):
    return create_app({"ingest_api_token": TOKEN, "teams_webhook_secret": SECRET}).test_client()


def queued_count(sqs) -> int:
    total = 0
    for url in sqs.list_queues().get("QueueUrls", []):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        total += int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return total


def post_ticket(client, data: bytes | str, content_type: str = "application/json", **headers):
    return client.post("/tickets", data=data, content_type=content_type, headers={**AUTH, **headers})


def nested(depth: int) -> str:
    """A ticket whose `requester` nests arrays `depth` levels deep in all (the object counts)."""
    return VALID_TEXT[:-1] + ', "extra": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def signed_webhook(client, body: bytes, content_type: str = "application/json"):
    signature = base64.b64encode(hmac.new(base64.b64decode(SECRET), body, hashlib.sha256).digest()).decode()
    return client.post(
        "/teams/webhook", data=body, content_type=content_type, headers={"Authorization": f"HMAC {signature}"}
    )


def activity_text(extra: str = "") -> str:
    activity = {
        "type": "message",
        "id": "strict-1",
        "timestamp": datetime.now(UTC).isoformat(),
        "text": "<p>Title: T</p><p>Priority: low</p><p>Description: D</p>",
    }
    return json.dumps(activity)[:-1] + extra + "}"


# --- encoding ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_bodies_with_or_without_bom_are_400(client, ingest_aws, encoding):
    response = post_ticket(client, VALID_TEXT.encode(encoding))
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
    assert "UTF-8" in response.get_json()["message"]
    assert queued_count(ingest_aws) == 0


def test_a_utf8_bom_is_400(client, ingest_aws):
    response = post_ticket(client, codecs.BOM_UTF8 + VALID_TEXT.encode())
    assert response.status_code == 400
    assert "byte order mark" in response.get_json()["message"]
    assert queued_count(ingest_aws) == 0


def test_bytes_that_are_not_utf8_are_400(client):
    response = post_ticket(
        client, VALID_TEXT.replace("Third", "Thi\udcffrd").encode("utf-8", "surrogateescape")
    )
    assert response.status_code == 400
    assert "UTF-8" in response.get_json()["message"]


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "us-ascii"])
def test_a_charset_other_than_utf8_is_415_even_with_a_utf8_body(client, ingest_aws, charset):
    response = post_ticket(client, VALID_TEXT, content_type=f"application/json; charset={charset}")
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"
    assert "UTF-8" in response.get_json()["message"]
    assert queued_count(ingest_aws) == 0


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
def test_utf8_charset_spellings_are_accepted(client, charset):
    response = post_ticket(client, VALID_TEXT, content_type=f"application/json; charset={charset}")
    assert response.status_code == 202


# --- duplicate keys, nesting -----------------------------------------------------------


def test_a_duplicate_key_is_400_naming_the_key_and_nothing_is_routed(client, ingest_aws):
    body = '{"title": "t", "priority": "low", "description": "d", "priority": "high"}'
    response = post_ticket(client, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
    assert 'duplicate key "priority"' in response.get_json()["message"]
    assert queued_count(ingest_aws) == 0


def test_a_duplicate_key_in_a_nested_object_is_400_too(client):
    body = VALID_TEXT[:-1] + ', "requester": {"name": "a", "name": "b"}}'
    response = post_ticket(client, body)
    assert response.status_code == 400
    assert 'duplicate key "name"' in response.get_json()["message"]


def test_nesting_up_to_the_bound_is_accepted(client):
    assert nesting_depth(nested(MAX_JSON_DEPTH)) == MAX_JSON_DEPTH
    assert post_ticket(client, nested(MAX_JSON_DEPTH)).status_code == 202


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 30_000])
def test_nesting_past_the_bound_is_400_without_recursion(client, ingest_aws, depth):
    response = post_ticket(client, nested(depth))
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
    assert f"at most {MAX_JSON_DEPTH}" in response.get_json()["message"]
    assert queued_count(ingest_aws) == 0


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert nesting_depth('{"a": "[[[[{{{{\\"]]]]", "b": ["x"]}') == 2
    assert nesting_depth('"' + "[" * 1000 + '"') == 0


def test_a_deep_unsigned_webhook_body_never_reaches_the_parser(client):
    response = client.post("/teams/webhook", data="[" * 5000, content_type="application/json")
    assert response.status_code == 401


def test_a_deep_signed_webhook_body_is_400(client):
    response = signed_webhook(client, ("[" * 5000 + "]" * 5000).encode())
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
    assert response.get_json()["type"] == "message"  # Teams can show it


def test_the_signed_webhook_refuses_duplicate_keys_and_utf16(client):
    duplicate = signed_webhook(client, activity_text(', "id": "strict-2"').encode())
    assert duplicate.status_code == 400 and 'duplicate key "id"' in duplicate.get_json()["message"]
    utf16 = signed_webhook(client, activity_text().encode("utf-16"))
    assert utf16.status_code == 400 and "UTF-8" in utf16.get_json()["message"]
    charset = signed_webhook(client, activity_text().encode(), "application/json; charset=utf-16")
    assert charset.status_code == 415


# --- size: chunked bodies --------------------------------------------------------------


def chunked(data: bytes):
    """A WSGI input with no Content-Length, as gunicorn hands over a chunked body."""
    return {"wsgi.input_terminated": True, "CONTENT_TYPE": "application/json"}, data


def post_chunked(client, data: bytes):
    """A body with no Content-Length, as gunicorn hands over a chunked request."""
    headers = {**AUTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    environ = {"wsgi.input": io.BytesIO(data), "wsgi.input_terminated": True}
    return client.post("/tickets", headers=headers, environ_overrides=environ)


def test_a_chunked_body_over_the_limit_is_413_not_cut(client, ingest_aws):
    body = json.dumps({**VALID, "description": "x" * (64 * 1024)}).encode()
    response = post_chunked(client, body)
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"
    assert queued_count(ingest_aws) == 0


def test_a_chunked_body_within_the_limit_is_accepted_up_to_the_last_byte(client):
    assert post_chunked(client, VALID_TEXT.encode()).status_code == 202
    exact = VALID_TEXT[:-1] + ', "pad": "' + "p" * 65536
    exact = exact[: 65536 - 2] + '"}'
    assert len(exact.encode()) == 65536
    assert post_chunked(client, exact.encode()).status_code == 202


# --- field text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("title", "\u200b", "must contain visible characters"),
        ("title", "\u200b\u200c\u200d\u2060\ufeff", "must contain visible characters"),
        ("description", "\u3164\u2800", "must contain visible characters"),
        ("title", "\x00", CONTROL),
        ("title", "bad\x00title", CONTROL),
        (
            "description",
            "ring \x07 bell",
            CONTROL,
        ),
        (
            "description",
            "\x1b[31mred",
            CONTROL,
        ),
    ],
)
def test_invisible_or_control_character_text_is_422_naming_the_field(
    client, ingest_aws, field, value, reason
):
    response = post_ticket(client, json.dumps({**VALID, field: value}))
    assert response.status_code == 422
    assert response.get_json()["fields"] == {field: reason}
    assert queued_count(ingest_aws) == 0


def test_an_escaped_nul_in_the_title_is_422(client):
    response = post_ticket(client, '{"title": "a\\u0000b", "priority": "low", "description": "d"}')
    assert response.status_code == 422
    assert "title" in response.get_json()["fields"]
