"""Reading request bodies: size limit, content type, strict RFC 8259 JSON — each with its own clear error.

Strict because lenient parsing changes meaning: with duplicate keys the last one silently wins
(a "low" ticket routed high), and UTF-16/32 bodies or a charset other than UTF-8 are read by
guesswork. Nesting is bounded before parsing, so a deep body never reaches the recursive parser.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from ingest.errors import ApiError

MAX_JSON_DEPTH = 32
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF8_NAMES = {"utf-8", "utf8"}
# A complete JSON string (linear: the unrolled loop never backtracks), and the brackets outside strings.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class DuplicateKey(ValueError):
    """An object names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f'duplicate key "{key}"')
        self.key = key


def require_utf8_charset() -> None:
    """415 when the Content-Type names a charset other than UTF-8 (RFC 8259: JSON is UTF-8)."""
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.strip().lower() not in _UTF8_NAMES:
        raise ApiError(
            415, "unsupported_media_type", f"JSON must be UTF-8; charset={charset} is not accepted"
        )


def require_json_content_type() -> None:
    """415 unless the body is declared as JSON (application/json or any +json type), in UTF-8."""
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, not {request.mimetype or 'missing'}",
        )
    require_utf8_charset()


def read_raw_body() -> bytes:
    """The body's bytes, or 413 past the configured limit (with or without Content-Length)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    too_large = ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes")
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        # Chunked (gunicorn ends the stream): read one byte past the limit ourselves, so a body
        # over it is refused rather than cut, and one of exactly the limit is accepted.
        raw = _read_at_most(request.environ["wsgi.input"], limit + 1)
        if len(raw) > limit:
            raise too_large
        return raw
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None


def _read_at_most(stream: Any, size: int) -> bytes:
    """Up to size bytes: a stream may return fewer per read than asked before its end."""
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def decode_json(raw: bytes) -> Any:
    """The decoded JSON value (UTF-8, no BOM, no duplicate key, nesting ≤ MAX_JSON_DEPTH), or 400."""
    text = _utf8_text(raw)
    if nesting_depth(text, stop_above=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ApiError(
            400,
            "malformed_json",
            f"too deep: arrays and objects may nest at most {MAX_JSON_DEPTH} levels",
        )
    try:
        return json.loads(text, object_pairs_hook=_object_without_duplicates)
    except ValueError as error:  # JSONDecodeError and DuplicateKey
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {error}") from None


def _utf8_text(raw: bytes) -> str:
    """The body as text, refusing BOMs and anything that is not UTF-8 (UTF-16/32 included)."""
    if raw.startswith(_UTF8_BOM):
        raise ApiError(400, "malformed_json", "JSON must be UTF-8 without a byte order mark (BOM)")
    # JSON text never holds a raw NUL byte; UTF-16 and UTF-32 text of ASCII characters always does.
    if b"\x00" in raw:
        raise ApiError(400, "malformed_json", "JSON must be UTF-8 (the body looks like UTF-16 or UTF-32)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, "malformed_json", f"JSON must be UTF-8: invalid byte at position {error.start}"
        ) from None


def nesting_depth(text: str, stop_above: int | None = None) -> int:
    """How deeply arrays and objects nest in JSON text, found without recursion.

    With stop_above, counting stops at the first level past it (a hostile body is not scanned to the end).
    """
    brackets = _BRACKETS.findall(_JSON_STRING.sub('""', text))
    deepest = 0
    for level in itertools.accumulate(1 if b in "[{" else -1 for b in brackets):
        deepest = max(deepest, level)
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj
