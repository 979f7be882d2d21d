"""Every make target that runs Python reads .env the way Compose does: the shell wins over the file."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import boto3
import pytest

from supervise import Service, running
from tests.support import free_port
from tests.system.test_devstack import make


@pytest.fixture
def moto_url(tmp_path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = Service(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        lambda service: f"Running on {url}" in service.log_text(),
    )
    with running(moto, os.environ, tmp_path / "moto.log", timeout=30):
        yield url


def queue_names(url: str) -> set[str]:
    sqs = boto3.client(
        "sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    return {u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", [])}


def test_make_provision_reads_env_file_and_the_shell_wins(tmp_path, moto_url):
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"AWS_ENDPOINT_URL={moto_url}\nAWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\n"
        "QUEUE_HIGH=dotenv-high\nQUEUE_MEDIUM=dotenv-medium\n"
    )
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUEUE_"))}
    shell.update(ENV_FILE=str(env_file), DEV_STATE_DIR=str(tmp_path / ".dev"), QUEUE_MEDIUM="shell-medium")
    result = make("provision", shell)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"target: AWS_ENDPOINT_URL={moto_url} (from the {env_file})"
    names = queue_names(moto_url)
    assert {"dotenv-high", "shell-medium", "tickets-low"} <= names
    assert "dotenv-medium" not in names
