"""The Teams guide names everything the flow refers to, so an admin can follow it to the end."""

from __future__ import annotations

import json
import re

from devstack import ROOT

GUIDE = (ROOT / "teams" / "README.md").read_text()
ACTION_FILE = (ROOT / "teams" / "power-automate-http-action.json").read_text()


def referenced(kind: str, text: str) -> set[str]:
    return set(re.findall(rf"{kind}\('([^']+)'\)", text))


def test_every_parameter_the_flow_uses_is_created_in_the_guide_by_that_name():
    for name in referenced("parameters", ACTION_FILE + GUIDE):
        assert f"**Create the parameter `{name}`.**" in GUIDE, name


def test_every_action_referred_to_is_given_that_name_in_the_guide():
    [action_name] = json.loads(ACTION_FILE)
    names = referenced("body", ACTION_FILE + GUIDE) | referenced("outputs", GUIDE) | {action_name}
    for internal in names:
        display = internal.replace("_", " ")
        assert f"| `{display}`" in GUIDE, f"{internal}: no row giving the display name `{display}`"


def test_the_trigger_is_chosen_and_the_reply_is_private():
    assert "### The trigger, and why this one" in GUIDE and "When keywords are mentioned" in GUIDE
    assert "Reply privately." in GUIDE and "Chat with Flow bot" in GUIDE


def test_troubleshooting_covers_what_the_submitter_sees_for_each_failure():
    table = GUIDE[GUIDE.index("### Troubleshooting") :]
    for status in ("**401**", "**422**", "**503**", "**timeout**"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {status}"))
        submitter_sees = row.split("|")[4]
        assert row.count("|") == 6 and submitter_sees.count('"') >= 2  # quotes what they read, row
