"""Slack Block Kit and mrkdwn rendered as HTML, the way a person sees the message in Slack.

Used by the Slack stand-in's page and the dev console. Every piece of message text is
HTML-escaped after Slack's own entities (&amp; &lt; &gt;) are decoded, so a ticket titled
``<b>`` shows those three characters, never a bold tag and never ``&lt;b&gt;``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup, escape

# The emoji the router's messages use, plus a few common ones; others stay as :name:.
EMOJI = {
    "rotating_light": "🚨",
    "large_orange_circle": "🟠",
    "white_circle": "⚪",
    "red_circle": "🔴",
    "warning": "⚠️",
    "white_check_mark": "✅",
    "x": "❌",
    "ticket": "🎫",
    "fire": "🔥",
}
_ANGLE = re.compile(r"<([^<>]+)>")
_CODE = re.compile(r"`([^`\n]+)`")
_STYLES = (
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])"), "s"),
)
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_SAFE_LINK = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


def decode_entities(text: str) -> str:
    """Slack's three escapes back to the characters the sender meant."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _styled(text: str) -> str:
    """Plain mrkdwn text (no <…> sequences) as escaped HTML with bold, italic, strike, emoji."""
    html = str(escape(decode_entities(text)))
    for pattern, tag in _STYLES:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    html = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), html)
    return html.replace("\n", "<br>")


def _plain(text: str) -> str:
    """Text between code spans: styles apply, code spans are taken literally."""
    parts = []
    last = 0
    for match in _CODE.finditer(text):
        parts.append(_styled(text[last : match.start()]))
        parts.append(f"<code>{escape(decode_entities(match.group(1)))}</code>")
        last = match.end()
    parts.append(_styled(text[last:]))
    return "".join(parts)


def _angle(inner: str) -> str:
    """A <…> sequence: a link, a user/channel mention or a special mention."""
    target, _, label = inner.partition("|")
    if target.startswith("!"):
        return f'<span class="mention">@{escape(target[1:])}</span>'
    if target.startswith(("@", "#")):
        shown = label or target[1:]
        return f'<span class="mention">{escape(target[0])}{escape(decode_entities(shown))}</span>'
    if _SAFE_LINK.match(target):
        shown = decode_entities(label or target)
        return f'<a href="{escape(decode_entities(target))}" rel="noopener">{escape(shown)}</a>'
    return str(escape(decode_entities(f"<{inner}>")))


def mrkdwn(text: str) -> Markup:
    """Slack mrkdwn as safe HTML."""
    parts = []
    last = 0
    for match in _ANGLE.finditer(text):
        parts.append(_plain(text[last : match.start()]))
        parts.append(_angle(match.group(1)))
        last = match.end()
    parts.append(_plain(text[last:]))
    return Markup("".join(parts))  # noqa: S704 — every piece above is escaped


def text_object(obj: dict[str, Any]) -> Markup:
    """A Block Kit text object: mrkdwn is parsed, plain_text only escaped."""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn(text)
    return escape(text)


def render_block(block: dict[str, Any]) -> Markup:
    kind = block.get("type")
    if kind == "header":
        return Markup('<div class="bk-header">{}</div>').format(text_object(block.get("text", {})))
    if kind == "divider":
        return Markup('<hr class="bk-divider">')
    if kind == "context":
        items = Markup(" ").join(text_object(e) for e in block.get("elements", []) if "text" in e)
        return Markup('<div class="bk-context">{}</div>').format(items)
    if kind == "section":
        html = Markup("")
        if "text" in block:
            html += Markup('<div class="bk-text">{}</div>').format(text_object(block["text"]))
        if block.get("fields"):
            cells = Markup("").join(
                Markup('<div class="bk-field">{}</div>').format(text_object(f)) for f in block["fields"]
            )
            html += Markup('<div class="bk-fields">{}</div>').format(cells)
        return Markup('<div class="bk-section">{}</div>').format(html)
    return Markup('<div class="bk-unknown">[{} block]</div>').format(kind)


def render_message(body: dict[str, Any]) -> Markup:
    """A chat.postMessage body as Slack shows it: its blocks, or its text when it has none."""
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):  # form-encoded calls send blocks as a JSON string
        blocks = json.loads(blocks)
    if not blocks:
        return Markup('<div class="bk-text">{}</div>').format(mrkdwn(str(body.get("text", ""))))
    return Markup('<div class="bk-message">{}</div>').format(Markup("").join(map(render_block, blocks)))
