"""What the submitter is told: a one-line confirmation and a small Adaptive Card to post back."""

from __future__ import annotations

from typing import Any

from ticketrouter.ticket import Priority, Ticket

DESTINATION_NAMES = {
    Priority.HIGH: "the Slack channel",
    Priority.MEDIUM: "the Trello board",
    Priority.LOW: "the ticket archive",
}
CARD_VERSION = "1.4"


def confirmation(ticket: Ticket) -> str:
    """One line fit to show the submitter."""
    return (
        f'Ticket "{ticket.title}" received with {ticket.priority.value} priority '
        f"and queued for {DESTINATION_NAMES[ticket.priority]} (id {ticket.id})."
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
                    {"title": "Priority", "value": ticket.priority.value.capitalize()},
                    {"title": "Queued for", "value": DESTINATION_NAMES[ticket.priority]},
                    {"title": "Ticket id", "value": ticket.id},
                ],
            },
        ],
    }
