"""Fixtures for every tier."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Variables that would point a test at a real service, or change the defaults it relies on.
_OUTSIDE_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "QUEUE_HIGH",
    "QUEUE_MEDIUM",
    "QUEUE_LOW",
    "TICKETS_BUCKET",
    "INGEST_API_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_CHANNEL",
    "SLACK_API_URL",
    "TRELLO_KEY",
    "TRELLO_TOKEN",
    "TRELLO_LIST_ID",
    "TRELLO_API_URL",
    "LOG_LEVEL",
    "TARGET",
)


# Where a test that does not set its own looks for .env and make dev's state: nowhere real.
OUTSIDE_DOTENV = Path(tempfile.gettempdir()) / "ticketrouter-tests-no-such" / ".env"
OUTSIDE_STATE = Path(tempfile.gettempdir()) / "ticketrouter-tests-no-such" / ".dev"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never see the developer's real AWS/Slack/Trello configuration, .env or running make dev."""
    for name in _OUTSIDE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENV_FILE", str(OUTSIDE_DOTENV))
    monkeypatch.setenv("DEV_STATE_DIR", str(OUTSIDE_STATE))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield
