"""The Teams kit: the card validates with Microsoft's library, and card, flow, guide and API agree."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from devstack import ROOT
from ingest.replies import reply_card
from ticketrouter.ticket import DESCRIPTION_MAX, TITLE_MAX, Priority, Ticket, parse_submission

TEAMS = ROOT / "teams"
CARD = json.loads((TEAMS / "ticket-card.json").read_text())
ACTION = json.loads((TEAMS / "power-automate-http-action.json").read_text())["HTTP_-_submit_ticket"]
INPUTS = {element["id"]: element for element in CARD["body"] if element["type"].startswith("Input.")}


def validate_with_adaptivecards(*paths) -> list[dict]:
    """Run Microsoft's adaptivecards library (installed by `make test` from teams/package-lock.json)."""
    if shutil.which("node") is None:
        pytest.skip("card validation skipped: Node.js is not installed")
    if not (TEAMS / "node_modules" / "adaptivecards").exists():
        pytest.skip("card validation skipped: run `npm ci --prefix teams` (make test does)")
    result = subprocess.run(
        ["node", str(TEAMS / "validate-card.cjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == (1 if any(r["problems"] for r in reports) else 0), result.stderr
    return reports


def test_the_card_validates_against_its_declared_schema_version():
    [report] = validate_with_adaptivecards(TEAMS / "ticket-card.json")
    assert report == {"file": str(TEAMS / "ticket-card.json"), "version": CARD["version"], "problems": []}


def test_the_validator_does_report_a_broken_card(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**CARD, "body": [*CARD["body"], {"type": "Input.Text", "id": "title"}]}))
    [report] = validate_with_adaptivecards(broken)
    assert report["problems"] == ['validate: Duplicate Id "title".']


def test_the_reply_card_validates_too(tmp_path):
    ticket = Ticket.from_submission(parse_submission({"title": "t", "priority": "low", "description": "d"}))
    path = tmp_path / "reply.json"
    path.write_text(json.dumps(reply_card(ticket)))
    [report] = validate_with_adaptivecards(path)
    assert report["problems"] == []


def test_card_inputs_are_the_api_fields_with_the_api_limits():
    assert set(INPUTS) == {"title", "priority", "description"}
    assert all(element["isRequired"] for element in INPUTS.values())
    assert INPUTS["title"]["maxLength"] == TITLE_MAX
    assert INPUTS["description"]["maxLength"] == DESCRIPTION_MAX and INPUTS["description"]["isMultiline"]


def test_every_priority_choice_value_is_accepted_by_the_api_as_its_title():
    choices = {choice["title"]: choice["value"] for choice in INPUTS["priority"]["choices"]}
    assert {title.lower() for title in choices} == {p.value for p in Priority}
    for title, value in choices.items():
        assert (
            parse_submission({"title": "t", "priority": value, "description": "d"}).priority.value
            == title.lower()
        )


def test_what_the_card_submits_is_a_valid_submission():
    [submit] = CARD["actions"]
    data = {"title": "Printer", "priority": "high", "description": "On fire", **submit["data"]}
    assert parse_submission(data).source == "teams-card"


def test_the_http_action_sends_what_ingest_expects():
    inputs = ACTION["inputs"]
    assert inputs["method"] == "POST" and inputs["uri"].endswith("/tickets")
    assert inputs["headers"]["Content-Type"] == "application/json"
    assert inputs["headers"]["Authorization"].startswith("Bearer ")
    for field in INPUTS:
        assert f"['data']?['{field}']" in inputs["body"][field]
    assert set(inputs["body"]) >= {"title", "priority", "description"}


def test_the_guide_names_every_field_and_header_the_api_expects():
    guide = (TEAMS / "README.md").read_text()
    for word in (
        "Authorization: Bearer",
        "Content-Type: application/json",
        "`title`",
        "`priority`",
        "`description`",
        "`requester`",
        "`source`",
        "/tickets",
        "/teams/webhook",
        "TEAMS_WEBHOOK_SECRET",
        "premium",
        "Retry-After",
        "reply_card",
    ):
        assert word in guide, word
