"""What the submitter is told: a one-line confirmation and a small Adaptive Card to post back."""

from __future__ import annotations

import re
from typing import Any

from ticketrouter.redaction import redact
from ticketrouter.ticket import Ticket

CARD_VERSION = "1.4"
# Markdown punctuation Teams acts on (links, emphasis, code, headings, lists, quotes, tables).
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_HTML_SPECIALS = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_teams_markdown(text: str) -> str:
    """User text made literal in a Teams message: HTML entities, markdown punctuation backslashed.

    Redacted first: once escaped, a secret no longer reads as itself and would slip through.
    """
    text = "".join(_HTML_SPECIALS.get(c, c) for c in redact(text))
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def confirmation(ticket: Ticket, markdown: bool = False) -> str:
    """One line fit to show the submitter; markdown=True escapes the title for a Teams message."""
    title = escape_teams_markdown(ticket.title) if markdown else ticket.title
    return (
        f'Ticket "{title}" received with {ticket.priority.value} priority '
        f"and queued for {ticket.priority.display.destination} (id {ticket.id})."
    )


def reply_card(ticket: Ticket) -> dict[str, Any]:
    """An Adaptive Card the flow can post privately to the submitter."""
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": [
            {"type": "TextBlock", "text": "Ticket received", "weight": "Bolder", "size": "Medium"},
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Title", "value": ticket.title},
                    {"title": "Priority", "value": ticket.priority.display.label},
                    {"title": "Queued for", "value": ticket.priority.display.destination},
                    {"title": "Ticket id", "value": ticket.id},
                ],
            },
        ],
    }
