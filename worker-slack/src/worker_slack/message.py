"""A ticket as a Slack Block Kit message, with user text made harmless."""

from __future__ import annotations

from typing import Any

from ticketrouter.ticket import Ticket

HEADER_MAX = 150  # plain_text limit of a header block
SECTION_MAX = 3000  # text limit of a section block


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences.

    Without this a ticket could contain <!channel> and ping everyone, or <http://x|y> links.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escaped_chunks(text: str, limit: int = SECTION_MAX) -> list[str]:
    """Escape text and split it into pieces of at most limit characters, never inside an entity."""
    chunks: list[str] = []
    current = ""
    for char in text:
        piece = escape_mrkdwn(char)
        if len(current) + len(piece) > limit:
            chunks.append(current)
            current = ""
        current += piece
    if current or not chunks:
        chunks.append(current)
    return chunks


def fallback_text(ticket: Ticket) -> str:
    """The notification text (shown where blocks are not)."""
    return escape_mrkdwn(f"[{ticket.priority.value.upper()}] {ticket.title} (ticket {ticket.id})")


def message_blocks(ticket: Ticket) -> list[dict[str, Any]]:
    """Header with the title, a fields section, then the description in as many sections as it needs."""
    requester = ticket.requester.display() if ticket.requester else "not given"
    fields = [
        f"*Priority:*\n{ticket.priority.display.emoji} {ticket.priority.value}",
        f"*Requester:*\n{escape_mrkdwn(requester)}",
        f"*Ticket id:*\n`{ticket.id}`",
        f"*Submitted:*\n{ticket.created_at.strftime('%Y-%m-%d %H:%M:%S UTC')}",
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            # plain_text is never parsed for mentions or links, so the title needs no escaping.
            "text": {"type": "plain_text", "text": truncate(ticket.title, HEADER_MAX), "emoji": False},
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "divider"},
    ]
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in escaped_chunks(ticket.description)
    ]
    return blocks
