"""Free-text Teams messages: each one is parsed to the right ticket or answered with the right
correction. Never a silent misroute: a priority that cannot be read is a problem, not a guess."""

from __future__ import annotations

import pytest

from ingest.freetext import field_for_label, html_to_text, parse_message, priority_for_text

AT = "<at>TicketBot</at>"


def ok(title: str, priority: str, description: str) -> dict:
    return {"title": title, "priority": priority, "description": description}


def wrong(**problems: str) -> dict:
    return {"problems": problems}


MESSAGES = [
    # The seed's own example, as Teams sends it.
    (
        f"<p>{AT} Title: Lost password</p><p>Priority: Medium</p><p>Description: I lost my password and can't login</p>",
        ok("Lost password", "medium", "I lost my password and can't login"),
    ),
    # Line breaks as <br>, entities, non-breaking spaces.
    (
        f"{AT}<br>Title: VPN &amp; Wi-Fi down<br>Priority:&nbsp;High<br>Description: Nobody on floor 3 can connect",
        ok("VPN & Wi-Fi down", "high", "Nobody on floor 3 can connect"),
    ),
    # Any order.
    (
        f"{AT} <p>Priority: low</p><p>Description: Typo on About page</p><p>Title: Typo</p>",
        ok("Typo", "low", "Typo on About page"),
    ),
    (
        f"{AT} <p>Description: Printer jams</p><p>Title: Printer</p><p>Priority: 2</p>",
        ok("Printer", "medium", "Printer jams"),
    ),
    # Case and spacing.
    (
        f"{AT} <p>TITLE : Laptop slow</p><p>PRIORITY : LOW</p><p>DESCRIPTION : Takes 10 min to boot</p>",
        ok("Laptop slow", "low", "Takes 10 min to boot"),
    ),
    (
        f"{AT} <p>title:Outlook crash</p><p>priority:high</p><p>description:Crashes on start</p>",
        ok("Outlook crash", "high", "Crashes on start"),
    ),
    # Typos in field names.
    (
        f"{AT} <p>Tittle: Badge reader broken</p><p>Priority: High</p><p>Description: Door 2 stays shut</p>",
        ok("Badge reader broken", "high", "Door 2 stays shut"),
    ),
    (
        f"{AT} <p>Title: Monitor flicker</p><p>Priorty: Low</p><p>Description: Every few seconds</p>",
        ok("Monitor flicker", "low", "Every few seconds"),
    ),
    (
        f"{AT} <p>Title: Slow Wi-Fi</p><p>Priority: Medium</p><p>Descripton: Meeting room B only</p>",
        ok("Slow Wi-Fi", "medium", "Meeting room B only"),
    ),
    (
        f"{AT} <p>Titel: Keyboard</p><p>Prority: Low</p><p>Desription: Missing key</p>",
        ok("Keyboard", "low", "Missing key"),
    ),
    (
        f"{AT} <p>Tilte: Mouse</p><p>Proirity: Low</p><p>Decsription: Double clicks</p>",
        ok("Mouse", "low", "Double clicks"),
    ),
    # Short and alternative field names.
    (
        f"{AT} <p>Title: Server room hot</p><p>Prio: High</p><p>Desc: 31 degrees and rising</p>",
        ok("Server room hot", "high", "31 degrees and rising"),
    ),
    (
        f"{AT} <p>Subject: Payroll export fails</p><p>Severity: P1</p><p>Details: Month-end run blocked</p>",
        ok("Payroll export fails", "high", "Month-end run blocked"),
    ),
    (
        f"{AT} <p>Summary: New starter laptop</p><p>Urgency: normal</p><p>Problem: Needs setup by Monday</p>",
        ok("New starter laptop", "medium", "Needs setup by Monday"),
    ),
    # Priority synonyms.
    (
        f"{AT} <p>Title: DB down</p><p>Priority: P1</p><p>Description: Production database unreachable</p>",
        ok("DB down", "high", "Production database unreachable"),
    ),
    (
        f"{AT} <p>Title: Share drive</p><p>Priority: p2</p><p>Description: Read-only since noon</p>",
        ok("Share drive", "medium", "Read-only since noon"),
    ),
    (
        f"{AT} <p>Title: Wallpaper</p><p>Priority: P3</p><p>Description: Wrong logo</p>",
        ok("Wallpaper", "low", "Wrong logo"),
    ),
    (
        f"{AT} <p>Title: Site down</p><p>Priority: urgent</p><p>Description: 502 on every page</p>",
        ok("Site down", "high", "502 on every page"),
    ),
    (
        f"{AT} <p>Title: Site down</p><p>Priority: CRITICAL!!</p><p>Description: 502 everywhere</p>",
        ok("Site down", "high", "502 everywhere"),
    ),
    (f"{AT} <p>Title: Chair</p><p>Priority: 3</p><p>Description: Squeaks</p>", ok("Chair", "low", "Squeaks")),
    (
        f"{AT} <p>Title: Phones</p><p>Priority: 1</p><p>Description: No dial tone</p>",
        ok("Phones", "high", "No dial tone"),
    ),
    (
        f"{AT} <p>Title: Licence</p><p>Priority: P 2</p><p>Description: Renewal due</p>",
        ok("Licence", "medium", "Renewal due"),
    ),
    (
        f"{AT} <p>Title: Font</p><p>Priority: minor</p><p>Description: Too small</p>",
        ok("Font", "low", "Too small"),
    ),
    (
        f"{AT} <p>Title: Backup</p><p>Priority: High - nightly job failed</p><p>Description: Since Tuesday</p>",
        ok("Backup", "high", "Since Tuesday"),
    ),
    (
        f"{AT} <p>Title: Scanner</p><p>Priority: Meduim</p><p>Description: Streaks on scans</p>",
        ok("Scanner", "medium", "Streaks on scans"),
    ),
    (
        f"{AT} <p>Title: Kettle</p><p>Priority: Low.</p><p>Description: Kitchen kettle broken</p>",
        ok("Kettle", "low", "Kitchen kettle broken"),
    ),
    # Multi-line descriptions, with colons inside.
    (
        f"{AT} <p>Title: Deploy failed</p><p>Priority: High</p><p>Description: Pipeline red.</p>"
        "<p>Error: exit code 137</p><p>Log: https://ci.example/123</p>",
        ok("Deploy failed", "high", "Pipeline red.\nError: exit code 137\nLog: https://ci.example/123"),
    ),
    (
        f"{AT}<br>Title: Access request<br>Priority: Low<br>Description:<br>Please add me to group X.<br>Thanks!",
        ok("Access request", "low", "Please add me to group X.\nThanks!"),
    ),
    # Everything on one line.
    (
        f"{AT} Title: Projector Priority: Medium Description: Room 4 projector has no signal",
        ok("Projector", "medium", "Room 4 projector has no signal"),
    ),
    # Other separators.
    (
        f"{AT} <p>Title = Coffee machine</p><p>Priority = low</p><p>Description = Out of beans</p>",
        ok("Coffee machine", "low", "Out of beans"),
    ),
    (
        f"{AT} <p>Title - Door sensor</p><p>Priority - medium</p><p>Description - Alarm goes off at 9</p>",
        ok("Door sensor", "medium", "Alarm goes off at 9"),
    ),
    # Greeting before the fields, label repeated inside the description.
    (
        f"{AT} <p>Hi team, please help!</p><p>Title: Email bounce</p><p>Priority: High</p>"
        "<p>Description: Every mail to partner X bounces. Title: of the bounce is 550</p>",
        ok("Email bounce", "high", "Every mail to partner X bounces. Title: of the bounce is 550"),
    ),
    # HTML formatting inside values.
    (
        f"{AT} <p>Title: <b>Urgent</b> SSO broken</p><p>Priority: <i>High</i></p><p>Description: Login loops</p>",
        ok("Urgent SSO broken", "high", "Login loops"),
    ),
    (
        f"<div>{AT}</div><div>Title: Printer &lt;3F&gt;</div><div>Priority: Low</div><div>Description: Toner low</div>",
        ok("Printer <3F>", "low", "Toner low"),
    ),
    # Missing fields: the reply names exactly which.
    (f"{AT} <p>Title: Lost password</p><p>Description: Can't log in</p>", wrong(priority="is missing")),
    (f"{AT} <p>Priority: High</p><p>Description: Everything is down</p>", wrong(title="is missing")),
    (f"{AT} <p>Title: Help</p><p>Priority: High</p>", wrong(description="is missing")),
    (
        f"{AT} I lost my password and can't login",
        wrong(title="is missing", priority="is missing", description="is missing"),
    ),
    (f"{AT}", wrong(title="is missing", priority="is missing", description="is missing")),
    (f"{AT} <p>Title:</p><p>Priority: Low</p><p>Description: Empty title</p>", wrong(title="is empty")),
    (f"{AT} <p>Title: X</p><p>Priority:</p><p>Description: Empty priority</p>", wrong(priority="is empty")),
    # Priorities outside the set: reported, never guessed.
    (
        f"{AT} <p>Title: Lamp</p><p>Priority: whenever-ish maybe</p><p>Description: Dim</p>",
        {"title": "Lamp", "priority": "low", "description": "Dim"},
    ),
    (
        f"{AT} <p>Title: Lamp</p><p>Priority: 4</p><p>Description: Dim</p>",
        wrong(priority="not a priority I know"),
    ),
    (
        f"{AT} <p>Title: Lamp</p><p>Priority: super</p><p>Description: Dim</p>",
        wrong(priority="not a priority I know"),
    ),
    (
        f"{AT} <p>Title: Lamp</p><p>Priority: hgih</p><p>Description: Dim</p>",
        wrong(priority="not a priority I know"),
    ),
    (
        f"{AT} <p>Title: Lamp</p><p>Priority: ??</p><p>Description: Dim</p>",
        wrong(priority="not a priority I know"),
    ),
    (
        f"{AT} <p>Title: Lamp</p><p>Priority: P0</p><p>Description: Dim</p>",
        wrong(priority="not a priority I know"),
    ),
]


def test_there_are_at_least_forty_messages():
    assert len(MESSAGES) >= 40


@pytest.mark.parametrize(("html", "expected"), MESSAGES)
def test_message_parses_to_the_right_ticket_or_the_right_correction(html, expected):
    parsed = parse_message(html)
    if "problems" in expected:
        assert set(parsed.problems) == set(expected["problems"]), parsed
        for name, reason in expected["problems"].items():
            assert reason in parsed.problems[name]
        # What was readable is still reported, but nothing is ticketed.
        assert not parsed.ok
    else:
        assert parsed.ok, parsed.problems
        assert parsed.values == expected


def test_html_to_text_drops_mentions_and_keeps_line_structure():
    assert (
        html_to_text("<p><at>Bot</at>&nbsp;Hello&amp;bye</p><p>next<br>line</p>") == "Hello&bye\nnext\nline"
    )


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ("Title", "title"),
        ("tittle", "title"),
        ("Priorty", "priority"),
        ("desc", "description"),
        ("Error", None),
        ("Log", None),
        ("http", None),
        ("Tit", None),
    ],
)
def test_labels_tolerate_typos_but_not_unrelated_words(label, field):
    assert field_for_label(label) == field


@pytest.mark.parametrize("text", ["", "4", "P0", "hgih", "super", "mild-ish", "p", "none"])
def test_unknown_priorities_are_not_guessed(text):
    assert priority_for_text(text) is None
