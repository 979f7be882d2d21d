"""The compose stack, built from this checkout and started with testcontainers.

Skipped, with one reason, where no Docker engine or Compose v2 answers. In CI,
scripts/ci-container-engine.sh provides both, plus local base and LocalStack images
(BASE_IMAGE, LOCALSTACK_IMAGE), so these tests really run there.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from testcontainers.compose import DockerCompose

from devstack import ROOT, wait_until

TOKEN = "container-test-token-4b1d"


def _engine_problem() -> str | None:
    """Why container tests cannot run here, or None when they can."""
    for command, what in (
        (["docker", "info"], "no Docker engine answers"),
        (["docker", "compose", "version"], "Docker Compose v2 is not installed"),
    ):
        try:
            if subprocess.run(command, capture_output=True, timeout=30).returncode != 0:
                return what
        except (FileNotFoundError, subprocess.TimeoutExpired):
            return what
    return None


ENGINE_PROBLEM = _engine_problem()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if ENGINE_PROBLEM and os.environ.get("REQUIRE_CONTAINER_TESTS"):
        # CI set up an engine on purpose: its absence is a failure, not a reason to skip.
        raise pytest.UsageError(f"REQUIRE_CONTAINER_TESTS is set but {ENGINE_PROBLEM}")
    for item in items:
        if "tests/containers" in str(item.path):
            item.add_marker(pytest.mark.containers)
            if ENGINE_PROBLEM:
                item.add_marker(pytest.mark.skip(reason=f"container tests skipped: {ENGINE_PROBLEM}"))


@dataclass
class Stack:
    """A running compose project, driven from the outside."""

    compose: DockerCompose
    env: dict[str, str]

    def url(self, service: str, port: int) -> str:
        host, published = self.compose.get_service_host_and_port(service, port)
        return f"http://{host}:{published}"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """A `docker compose` command on this project; fails with compose's own words."""
        command = [*self.compose.compose_command_property, *args]
        env = {**os.environ, **self.env}
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"docker compose {' '.join(args)}: {result.stderr}"
        return result

    def submit(self, ticket: dict[str, Any]) -> str:
        response = requests.post(
            f"{self.url('ingest', 8080)}/tickets",
            json=ticket,
            timeout=10,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 202, response.text
        return response.json()["ticket_id"]

    def standin_bodies(self, service: str, port: int, path: str) -> list[str]:
        calls = requests.get(f"{self.url(service, port)}/_fake/requests", timeout=5).json()
        return [str(c["body"]) for c in calls if c["path"] == path and c["status"] == 200]

    def aws(self, name: str) -> Any:
        return boto3.client(
            name,
            endpoint_url=self.url("localstack", 4566),
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )

    def visible(self, queue: str) -> int:
        sqs = self.aws("sqs")
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def container_ids(self, service: str) -> list[str]:
        return self.run("ps", "-q", service).stdout.split()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {
        "COMPOSE_PROJECT_NAME": f"trtest-{uuid.uuid4().hex[:6]}",
        "COMPOSE_PROFILES": "offline",
        "INGEST_API_TOKEN": TOKEN,
        "TAG": "containertest",
        # Port 0: Docker picks free host ports; the tests ask compose which.
        "INGEST_HOST_PORT": "0",
        "LOCALSTACK_HOST_PORT": "0",
        "SLACK_STANDIN_HOST_PORT": "0",
        "TRELLO_STANDIN_HOST_PORT": "0",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        compose = DockerCompose(
            ROOT, compose_file_name="docker-compose.yml", build=True, wait=True, profiles=["offline"]
        )
        try:
            compose.start()
            yield Stack(compose, env)
        finally:
            compose.stop()


def poll(condition, what: str, timeout: float = 60) -> None:
    wait_until(condition, timeout, what, interval=0.3)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=600).stdout


@pytest.fixture(autouse=True)
def isolated_env() -> None:
    """Overrides the suite-wide one: the compose project's variables must stay set for testcontainers."""
