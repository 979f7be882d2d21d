"""The dev console in a real headless Chromium, against a real stack: what a person sees.

Needs Debian's `chromium` and `chromium-driver` (`make browser` installs them). Without them
the tests are skipped with that one reason, unless REQUIRE_BROWSER_TESTS=1 (CI), which turns
a missing browser into a failure. CONSOLE_SCREENSHOT=path saves the page (docs/console.png).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stack import Stack
from tests.support import wait_until
from tests.system.conftest import Router, free_ports, stack_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
        pytest.fail(
            "REQUIRE_BROWSER_TESTS=1 but chromium/chromedriver are missing (make browser)", pytrace=False
        )
    pytest.skip("no chromium + chromedriver here: `make browser` installs them", allow_module_level=True)

from selenium import webdriver  # noqa: E402 — only where a browser exists
from selenium.webdriver.chrome.service import Service as DriverService  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

LABELS = {"TRELLO_LABEL_HIGH": "lbl-high", "TRELLO_LABEL_MEDIUM": "lbl-medium", "TRELLO_LABEL_LOW": "lbl-low"}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    env = {**stack_env(), **LABELS, "WORKER_WAIT_SECONDS": "1"}
    logs = tmp_path_factory.mktemp("console") / "logs"
    with Stack(log_dir=logs, ports=free_ports(), env=env, with_console=True) as stack:
        yield Router(stack)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1500,1150"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=DriverService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def text_of(browser: webdriver.Chrome, css: str) -> str:
    """The rendered text of every match, read in one script run (a refresh cannot land midway)."""
    script = "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText).join('\\n');"
    return browser.execute_script(script, css)


def test_the_console_shows_queues_and_each_destination_as_a_person_sees_it(console, browser):
    tricky = console.submit(
        {
            "title": "<b>Printer</b> & scanner",
            "priority": "high",
            "description": "Ask *Bob* at <https://example.com|the desk> :fire:",
            "requester": "Ann Example",
        }
    ).json()
    browser.get(console.stack.console_url)
    for priority in ("high", "medium", "low"):
        browser.find_element(By.CSS_SELECTOR, f'#submit button[data-priority="{priority}"]').click()
        wait_until(
            lambda p=priority: f"with {p} priority" in text_of(browser, "#submit-result"), 20, priority
        )

    def everything_arrived() -> bool:
        return (
            browser.execute_script("return document.querySelectorAll('#slack .slack-message').length") == 2
            and "Console test: VPN drops" in text_of(browser, "#trello")
            and "Console test: typo on *About*" in text_of(browser, "#s3")
        )

    wait_until(everything_arrived, 60, "the live refresh to show every delivery", interval=0.5)
    browser.find_element(By.ID, "live").click()  # freeze the page to read it, as a person would
    assert everything_arrived()

    rows = browser.find_elements(By.CSS_SELECTOR, "#queues tr[data-priority]")
    assert [r.get_attribute("data-priority") for r in rows] == ["high", "medium", "low"]
    assert all(r.find_element(By.CSS_SELECTOR, ".dlq").text == "0" for r in rows)

    slack = browser.find_elements(By.CSS_SELECTOR, "#slack .slack-message")[-1]  # the oldest: the tricky one
    assert slack.find_element(By.CSS_SELECTOR, ".bk-header").text == "<b>Printer</b> & scanner"
    fields = slack.find_element(By.CSS_SELECTOR, ".bk-fields").text
    assert "🚨 high" in fields and "Ann Example" in fields and tricky["ticket_id"] in fields
    description = slack.find_elements(By.CSS_SELECTOR, ".bk-section .bk-text")[-1]
    assert description.find_element(By.TAG_NAME, "b").text == "Bob"
    # The worker escapes user text, so a link typed by the submitter stays text, as in Slack.
    assert "<https://example.com|the desk>" in description.text
    assert not description.find_elements(By.TAG_NAME, "a")
    assert "🔥" in description.text
    assert "&lt;" not in slack.text and "&amp;" not in slack.text  # entities decoded, never shown

    card = browser.find_element(By.CSS_SELECTOR, "#trello .trello-card")
    assert card.find_element(By.CSS_SELECTOR, ".label").text == "medium"
    assert card.find_element(By.CSS_SELECTOR, ".card-name").text == "Console test: VPN drops"

    ticket = browser.find_element(By.CSS_SELECTOR, "#s3 .s3-ticket")
    ticket.find_element(By.TAG_NAME, "summary").click()
    assert '"title": "Console test: typo on *About*"' in ticket.find_element(By.TAG_NAME, "pre").text
    assert "s3://tickets/tickets/low/" in ticket.text

    if path := os.environ.get("CONSOLE_SCREENSHOT"):
        browser.save_screenshot(str(Path(path)))


def test_the_console_refuses_a_bad_priority_with_a_json_error(console):
    response = requests.post(f"{console.stack.console_url}/submit", json={"priority": "urgent"}, timeout=10)
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "message": "priority must be high, medium or low"}
