"""The stacks the benchmark runs: their environment, free ports, and LocalStack in Docker when asked."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from emulator import chosen_emulator

from probes import free_port, http_ok
from stack_services import Ports
from supervise import wait_until

BENCH = Path(__file__).resolve().parent
TOKEN = "bench-token"


@contextmanager
def localstack(image: str, logs: Path) -> Iterator[str]:
    """LocalStack in a container, its port published on loopback only."""
    port = free_port()
    name = f"ticketrouter-bench-localstack-{port}"
    token = os.environ.get("LOCALSTACK_AUTH_TOKEN", "")
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:4566",
                    "-e", "SERVICES=sqs,s3", "-e", "SQS_ENDPOINT_STRATEGY=path", "-e", f"LOCALSTACK_AUTH_TOKEN={token}",
                    image], check=True, capture_output=True, timeout=120)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{url}/_localstack/health"), 180, "LocalStack")
        yield url
    finally:
        logs_text = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout
        (logs / f"localstack-{port}.log").write_text(logs_text)
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def base_env(endpoint: str | None, **extra: str) -> dict[str, str]:
    """The stack's environment; endpoint None lets the Stack start make dev's own emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUEUE_", "SLACK_", "TRELLO_"))}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               INGEST_API_TOKEN=TOKEN, WORKER_WAIT_SECONDS="20", PYTHONPATH=str(BENCH), **extra)  # fmt: skip
    # The isolation runs send high tickets at 5/s: they measure the queues, not Slack's 1/s (drain.py does).
    env.setdefault("SLACK_RATE_PER_SECOND", "100")
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def ports() -> Ports:
    return Ports(aws=free_port(), ingest=free_port(), slack=free_port(), trello=free_port(),
                 worker_metrics=(free_port(), free_port(), free_port()), ingest_metrics=free_port())  # fmt: skip


def aws_endpoints(
    emulator: str, image: str, logs: Path
) -> tuple[Callable[[], AbstractContextManager[str | None]], str]:
    """A fresh AWS endpoint per stack (None: the Stack starts make dev's emulator), and its name."""
    if emulator == "localstack":
        return (lambda: localstack(image, logs)), f"LocalStack ({image}) in Docker"
    chosen = chosen_emulator()
    return contextlib.nullcontext, f"{chosen.name} {chosen.version()} (embedded, on loopback)"
