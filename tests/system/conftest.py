"""A whole router of real processes (the AWS emulator, stand-ins, gunicorn, workers) per test module."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from stack import Stack
from stack_services import Ports
from tests.conftest import _OUTSIDE_ENV, OUTSIDE_DOTENV, OUTSIDE_STATE
from tests.support import free_port, wait_until
from ticketrouter.ticket import Priority

SECRETS = {
    "INGEST_API_TOKEN": "system-ingest-token-7f1c",
    "SLACK_BOT_TOKEN": "xoxb-system-slack-token-93ab",
    "TRELLO_TOKEN": "system-trello-token-5d2e",
    "TEAMS_WEBHOOK_SECRET": "c3lzdGVtLXRlYW1zLXdlYmhvb2stc2VjcmV0LTQyNDI=",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/system" in str(item.path):
            item.add_marker(pytest.mark.system)


def stack_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE_ENV}
    env.update(SECRETS, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1")
    # Never the developer's .env or running make dev.
    env.update(ENV_FILE=str(OUTSIDE_DOTENV), DEV_STATE_DIR=str(OUTSIDE_STATE))
    # Quick retries keep fault tests short; the defaults are for production.
    env["WORKER_RETRY_BASE_SECONDS"] = "1"
    return env


def free_ports() -> Ports:
    return Ports(
        aws=free_port(),
        ingest=free_port(),
        slack=free_port(),
        trello=free_port(),
        worker_metrics=(free_port(), free_port(), free_port()),
        ingest_metrics=free_port(),
        console=free_port(),
    )


@dataclass
class Router:
    """Drives a running stack from the outside, as a user or the Power Automate flow would."""

    stack: Stack

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token}"}

    def submit(self, ticket: dict[str, Any], **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", self.auth)
        return requests.post(f"{self.stack.ingest_url}/tickets", json=ticket, timeout=10, **kwargs)

    def post_webhook(self, body: bytes) -> requests.Response:
        """POST body to /teams/webhook, signed as Teams signs it (HMAC-SHA256, TEAMS_WEBHOOK_SECRET)."""
        key = base64.b64decode(self.stack.env["TEAMS_WEBHOOK_SECRET"])
        signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        headers = {"Authorization": f"HMAC {signature}", "Content-Type": "application/json"}
        return requests.post(f"{self.stack.ingest_url}/teams/webhook", data=body, headers=headers, timeout=10)

    def post_raw(self, data: bytes | str, headers: dict[str, str]) -> requests.Response:
        return requests.post(f"{self.stack.ingest_url}/tickets", data=data, headers=headers, timeout=10)

    def standin_calls(self, service: str, path: str) -> list[dict[str, Any]]:
        port = self.stack.ports.slack if service == "slack" else self.stack.ports.trello
        calls = requests.get(f"{self.stack.url(port)}/_fake/requests", timeout=5).json()
        return [c for c in calls if c["path"] == path and c["status"] == 200]

    def slack_posts(self) -> list[dict[str, Any]]:
        return self.standin_calls("slack", "/api/chat.postMessage")

    def trello_cards(self) -> list[dict[str, Any]]:
        return self.standin_calls("trello", "/1/cards")

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.stack.env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )

    def s3_objects(self) -> dict[str, bytes]:
        s3 = self.aws("s3")
        listing = s3.list_objects_v2(Bucket="tickets").get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket="tickets", Key=o["Key"])["Body"].read() for o in listing}

    def queue_counts(self, priority: Priority, dlq: bool = False) -> tuple[int, int]:
        sqs = self.aws("sqs")
        name = f"tickets-{priority.value}" + ("-dlq" if dlq else "")
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def status(self, ticket_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.stack.ingest_url}/tickets/{ticket_id}", headers=self.auth, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def control(self, service: str, action: str, body: dict[str, Any] | None = None) -> None:
        """Drive a stand-in's failure controls: fail, slow, or clear a planned failure."""
        port = self.stack.ports.slack if service == "slack" else self.stack.ports.trello
        base = f"{self.stack.url(port)}/_fake/{action}"
        response = (
            requests.delete(base, timeout=5) if body is None else requests.post(base, json=body, timeout=5)
        )
        assert response.status_code < 300, response.text

    def wait_for(self, condition, timeout: float = 30, what: str = "condition") -> None:
        wait_until(condition, timeout, what, interval=0.2)


@contextlib.contextmanager
def running_router(
    log_dir: Path, ports: Ports | None = None, ingest_env: dict[str, str] | None = None, **env: str
) -> Iterator[Router]:
    """A started stack on free ports (or these), stopped (every process) on exit."""
    with Stack(
        log_dir=log_dir,
        ports=ports or free_ports(),
        env={**stack_env(), **env},
        ingest_env=ingest_env or {},
    ) as stack:
        yield Router(stack)


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    with running_router(tmp_path_factory.mktemp("stack") / "logs") as running:
        yield running
