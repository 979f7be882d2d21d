"""The ticket model: what is accepted, how it is normalised, and what errors say."""

from __future__ import annotations

import json
import uuid
from datetime import UTC

import pytest
from pydantic import ValidationError

from ticketrouter.ticket import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    Priority,
    Ticket,
    field_errors,
    parse_submission,
)

VALID = {"title": "Printer on fire", "priority": "high", "description": "Third floor, by the window"}


def errors_for(**changes) -> dict[str, str]:
    payload = {**VALID, **changes}
    payload = {k: v for k, v in payload.items() if v is not ...}
    with pytest.raises(ValidationError) as caught:
        parse_submission(payload)
    return field_errors(caught.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("high", Priority.HIGH),
        ("High", Priority.HIGH),
        ("HIGH", Priority.HIGH),
        (" high ", Priority.HIGH),
        ("medium", Priority.MEDIUM),
        ("Medium", Priority.MEDIUM),
        ("low", Priority.LOW),
        ("LOW", Priority.LOW),
        ("1", Priority.HIGH),
        ("2", Priority.MEDIUM),
        ("3", Priority.LOW),
        (1, Priority.HIGH),
        (2, Priority.MEDIUM),
        (3, Priority.LOW),
    ],
)
def test_priority_accepts_card_and_flow_spellings(given, expected):
    assert parse_submission({**VALID, "priority": given}).priority is expected


@pytest.mark.parametrize("given", ["urgent", "hi", "", "0", "4", 0, 4, 1.0, True, None, [], {}])
def test_priority_outside_the_set_is_rejected_with_the_allowed_values(given):
    assert errors_for(priority=given) == {"priority": "must be one of high, medium, low (or 1, 2, 3)"}


def test_text_fields_are_trimmed():
    submission = parse_submission({**VALID, "title": "  Printer  ", "description": "\n fire \n"})
    assert (submission.title, submission.description) == ("Printer", "fire")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": ...}, {"title": "is required"}),
        ({"title": "   "}, {"title": "must not be empty"}),
        ({"title": "x" * (TITLE_MAX + 1)}, {"title": f"must be at most {TITLE_MAX} characters"}),
        ({"title": 42}, {"title": "must be a string"}),
        ({"description": ...}, {"description": "is required"}),
        ({"description": ""}, {"description": "must not be empty"}),
        (
            {"description": "x" * (DESCRIPTION_MAX + 1)},
            {"description": f"must be at most {DESCRIPTION_MAX} characters"},
        ),
        ({"priority": ...}, {"priority": "is required"}),
        ({"requester": 7}, {"requester": "must be a JSON object"}),
    ],
)
def test_field_errors_name_the_field_and_the_reason(changes, expected):
    assert errors_for(**changes) == expected


def test_every_bad_field_is_reported_at_once():
    payload = {"title": "", "priority": "urgent"}
    with pytest.raises(ValidationError) as caught:
        parse_submission(payload)
    assert set(field_errors(caught.value)) == {"title", "priority", "description"}


def test_limits_are_inclusive():
    submission = parse_submission({**VALID, "title": "t" * TITLE_MAX, "description": "d" * DESCRIPTION_MAX})
    assert len(submission.title) == TITLE_MAX and len(submission.description) == DESCRIPTION_MAX


@pytest.mark.parametrize(
    ("given", "name", "email"),
    [
        ("Jane Doe", "Jane Doe", None),
        ("jane@example.com", None, "jane@example.com"),
        ({"name": "Jane", "email": "jane@example.com"}, "Jane", "jane@example.com"),
        ({"name": "Jane", "unknown": 1}, "Jane", None),
    ],
)
def test_requester_as_string_or_object(given, name, email):
    requester = parse_submission({**VALID, "requester": given}).requester
    assert (requester.name, requester.email) == (name, email)


def test_unknown_fields_are_ignored():
    submission = parse_submission({**VALID, "actionId": "submit", "cardTypeId": "x"})
    assert "actionId" not in submission.model_dump()


def test_ticket_gets_identity_and_round_trips_through_the_queue_body():
    ticket = Ticket.from_submission(parse_submission({**VALID, "requester": "Jane", "source": "teams"}))
    assert uuid.UUID(ticket.id).version == 4
    assert ticket.created_at.tzinfo is not None and ticket.created_at.utcoffset() == UTC.utcoffset(None)
    body = json.loads(ticket.to_message())
    assert body["schema_version"] == 1
    assert body["priority"] == "high"
    assert Ticket.from_message(ticket.to_message()) == ticket


def test_two_tickets_never_share_an_id():
    submission = parse_submission(VALID)
    assert Ticket.from_submission(submission).id != Ticket.from_submission(submission).id


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        json.dumps({**VALID, "id": "x", "created_at": "2026-01-01T00:00:00Z", "schema_version": 2}),
    ],
)
def test_a_body_that_is_not_a_ticket_envelope_is_rejected(body):
    with pytest.raises(ValidationError):
        Ticket.from_message(body)


@pytest.mark.parametrize("missing", ["id", "created_at", "schema_version"])
def test_an_envelope_without_its_identity_is_rejected(missing):
    body = json.loads(Ticket.from_submission(parse_submission(VALID)).to_message())
    del body[missing]
    with pytest.raises(ValidationError):
        Ticket.from_message(json.dumps(body))


def test_the_queue_body_is_ascii_whatever_the_text():
    text = "ünïcödé \uffff \u200b\t😀"  # U+FFFF: SQS refuses it raw
    ticket = Ticket.from_submission(parse_submission({**VALID, "description": text}))
    body = ticket.to_message()
    assert body.isascii()
    assert Ticket.from_message(body).description == text


def test_lone_surrogates_are_rejected():
    assert errors_for(title="bad \ud800 text") == {"title": "must be valid Unicode text"}


def test_each_priority_is_shown_one_way_everywhere():
    """Labels, ranks, emoji, Trello colours and destination words are defined once, per priority."""
    from ticketrouter.ticket import PRIORITY_DISPLAY, PRIORITY_HINT, Priority, parse_priority

    assert set(PRIORITY_DISPLAY) == set(Priority)
    shown = [p.display for p in Priority]
    for field in ("label", "rank", "emoji", "trello_colour", "destination"):
        assert len({getattr(d, field) for d in shown}) == len(shown), field  # no two alike
    assert [p.display.rank for p in Priority] == [1, 2, 3]
    assert [p.display.label for p in Priority] == ["High", "Medium", "Low"]
    assert all(parse_priority(p.display.rank) is p and parse_priority(p.display.label) is p for p in Priority)
    assert PRIORITY_HINT == "must be one of high, medium, low (or 1, 2, 3)"
