"""The compose stack, built from this checkout and started with testcontainers.

Skipped, with one reason, where no Docker engine or Compose v2 answers. In CI,
scripts/ci-container-engine.sh provides both, plus local base and LocalStack images
(BASE_IMAGE, LOCALSTACK_IMAGE), so these tests really run there.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from testcontainers.compose import DockerCompose

from devstack import ROOT
from supervise import wait_until

TOKEN = "container-test-token-4b1d"
TICKETS_BUCKET = "tickets"
LEDGER_BUCKET = "tickets-ledger"
# Images tagged per checkout: another checkout's test run on the same engine cannot swap them.
IMAGE_TAG = f"containertest-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"


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

    def queue_counts(self, queue: str) -> tuple[int, int]:
        """(waiting, in flight) messages on a queue."""
        sqs = self.aws("sqs")
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return int(attributes[names[0]]), int(attributes[names[1]])

    def container_ids(self, service: str, stopped_too: bool = False) -> list[str]:
        return self.run("ps", "-q", *(["--all"] if stopped_too else []), service).stdout.split()

    def container_state(self, container: str) -> dict[str, Any]:
        return json.loads(docker("inspect", "-f", "{{json .State}}", container))

    def ledger_records(self) -> dict[str, dict[str, Any]]:
        """Every ticket record in the ledger bucket, by ticket id."""
        s3 = self.aws("s3")
        records = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=LEDGER_BUCKET, Prefix="tickets/"):
            for item in page.get("Contents", []):
                record = json.loads(s3.get_object(Bucket=LEDGER_BUCKET, Key=item["Key"])["Body"].read())
                records[record["ticket_id"]] = record
        return records

    def s3_puts(self) -> Counter[str]:
        """How many times each ticket's object was written (the bucket keeps every version)."""
        s3 = self.aws("s3")
        puts: Counter[str] = Counter()
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=TICKETS_BUCKET):
            puts.update(Path(v["Key"]).stem for v in page.get("Versions", []))
        return puts


def doubled(record: dict[str, Any]) -> str | None:
    """Why a ledger record shows a second hand-over of its ticket, or None when it shows at most one."""
    statuses = [entry["status"] for entry in record.get("history", [])]
    if statuses.count("delivered") > 1:
        return f"delivered {statuses.count('delivered')} times: {statuses}"
    if "delivered" in statuses and "delivering" in statuses[statuses.index("delivered") :]:
        return f"delivering again after delivered: {statuses}"
    return None


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {
        "COMPOSE_PROJECT_NAME": f"trtest-{uuid.uuid4().hex[:6]}",
        "COMPOSE_PROFILES": "offline",
        "INGEST_API_TOKEN": TOKEN,
        "TAG": IMAGE_TAG,
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
            stack = Stack(compose, env)
            # A versioned bucket keeps one version per PutObject: the tests count writes, not keys.
            stack.aws("s3").put_bucket_versioning(
                Bucket=TICKETS_BUCKET, VersioningConfiguration={"Status": "Enabled"}
            )
            yield stack
        finally:
            compose.stop()


def poll(condition, what: str, timeout: float = 60) -> None:
    wait_until(condition, timeout, what, interval=0.3)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=600).stdout


@pytest.fixture(autouse=True)
def isolated_env() -> None:
    """Overrides the suite-wide one: the compose project's variables must stay set for testcontainers."""
