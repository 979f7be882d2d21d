"""The container stack: images built from this checkout, LocalStack with its ready hook, the stand-ins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections import Counter

import pytest

from devstack import ROOT
from images import SERVICES, build_command
from tests.containers.conftest import IMAGE_TAG, TICKETS_BUCKET, Stack, docker, doubled, poll

ROUTER_SERVICES = ("ingest", "worker-slack", "worker-trello", "worker-s3")
IMAGE_BOUND_BYTES = 200_000_000  # 200 MB as `docker image ls` counts them (issue 11)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    "profiles", ["offline", "tunnel", "live", "observability", "offline,tunnel,observability", "live,tunnel"]
)
def test_compose_file_validates_in_every_profile(profiles):
    result = subprocess.run(
        ["docker", "compose", "--env-file", ".env.example", "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**_path_env(), "COMPOSE_PROFILES": profiles},
    )
    assert result.returncode == 0, result.stderr


def _path_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}


def test_tickets_of_each_priority_reach_their_destination_through_the_containers(stack: Stack):
    high = stack.submit({"title": unique("container high"), "priority": "High", "description": "d"})
    medium = stack.submit({"title": unique("container medium"), "priority": "2", "description": "d"})
    low = stack.submit({"title": unique("container low"), "priority": "low", "description": "d"})

    poll(
        lambda: any(high in b for b in stack.standin_bodies("standin-slack", 9001, "/api/chat.postMessage")),
        "high ticket in the Slack stand-in",
    )
    poll(
        lambda: any(medium in b for b in stack.standin_bodies("standin-trello", 9002, "/1/cards")),
        "medium ticket in the Trello stand-in",
    )
    s3 = stack.aws("s3")

    def low_object() -> list[str]:
        listing = s3.list_objects_v2(Bucket=TICKETS_BUCKET, Prefix="tickets/low/").get("Contents", [])
        return [o["Key"] for o in listing if o["Key"].endswith(f"/{low}.json")]

    poll(lambda: bool(low_object()), "low ticket in the LocalStack bucket")
    stored = json.loads(s3.get_object(Bucket=TICKETS_BUCKET, Key=low_object()[0])["Body"].read())
    assert stored["id"] == low and stored["priority"] == "low"
    # Exactly once at each destination.
    assert sum(high in b for b in stack.standin_bodies("standin-slack", 9001, "/api/chat.postMessage")) == 1
    assert sum(medium in b for b in stack.standin_bodies("standin-trello", 9002, "/1/cards")) == 1
    assert stack.s3_puts()[low] == 1
    sent = (high, medium, low)
    poll(lambda: all(stack.ledger_records()[t]["status"] == "delivered" for t in sent), "all three settled")
    records = stack.ledger_records()
    assert [doubled(records[t]) for t in sent] == [None, None, None]


def test_a_stopped_worker_container_loses_nothing(stack: Stack):
    stack.run("stop", "worker-trello")
    # `ps` without --all hides a stopped container; the test must see the one it stopped.
    [container] = stack.container_ids("worker-trello", stopped_too=True)
    state = stack.container_state(container)
    assert (state["Status"], state["ExitCode"]) == ("exited", 0), state  # not killed: it left its poll
    tickets = [
        stack.submit({"title": unique(f"while stopped {i}"), "priority": "medium", "description": "wait"})
        for i in range(3)
    ]
    poll(lambda: stack.queue_counts("tickets-medium") == (3, 0), "tickets waiting on the queue")
    assert not any(t in b for b in stack.standin_bodies("standin-trello", 9002, "/1/cards") for t in tickets)

    stack.run("start", "worker-trello")
    poll(lambda: stack.queue_counts("tickets-medium") == (0, 0), "queue drained after the restart")
    cards = stack.standin_bodies("standin-trello", 9002, "/1/cards")
    assert {t: sum(t in card for card in cards) for t in tickets} == dict.fromkeys(tickets, 1)
    records = stack.ledger_records()
    assert {t: (records[t]["status"], doubled(records[t])) for t in tickets} == dict.fromkeys(
        tickets, ("delivered", None)
    )


def test_router_images_run_as_a_non_root_user(stack: Stack):
    for service in ROUTER_SERVICES:
        [container] = stack.container_ids(service)
        assert docker("inspect", "-f", "{{.Config.User}}", container).strip() == "app"
        assert stack.run("exec", "-T", service, "id", "-u").stdout.strip() == "10001"


# In each running container of every image: the AWS clients the services create and STS (the
# credential providers that assume a role) work against LocalStack; a model the image left out
# (scripts/slim_venv.py) is really gone.
CLIENTS_CHECK = """
import botocore.exceptions
from ticketrouter.aws import aws_client
from ticketrouter.config import RouterSettings
settings = RouterSettings.load()
aws_client("sqs", settings).get_queue_url(QueueName="tickets-high")
aws_client("s3", settings).head_bucket(Bucket="tickets-ledger")
print(aws_client("sts", settings).get_caller_identity()["Account"])
try:
    aws_client("ec2", settings)
except botocore.exceptions.UnknownServiceError:
    print("no ec2 model")
"""


@pytest.mark.parametrize("service", [*ROUTER_SERVICES, "console"])
def test_each_image_creates_its_aws_clients_and_reaches_localstack(stack: Stack, service: str):
    output = stack.run("exec", "-T", service, "python", "-c", CLIENTS_CHECK).stdout.split()
    assert output == ["000000000000", "no", "ec2", "model"]


def test_every_image_stays_within_its_size_bound(stack: Stack):
    """Issue 11's bound; bench/footprint.py reports the same sizes with the other footprint figures."""
    sizes = {
        s: int(docker("image", "inspect", "-f", "{{.Size}}", f"ticketrouter/{s}:{IMAGE_TAG}"))
        for s in SERVICES
    }
    assert {s: size for s, size in sizes.items() if size > IMAGE_BOUND_BYTES} == {}, sizes


def test_workers_scale_and_still_deliver_each_ticket_once(stack: Stack):
    """Three replicas race for tickets that SQS holds twice (at-least-once), as it may."""
    stack.run("stop", "worker-s3")
    ids = [
        stack.submit({"title": unique(f"scaled {i}"), "priority": "low", "description": "d"})
        for i in range(9)
    ]
    poll(lambda: stack.queue_counts("tickets-low") == (9, 0), "low tickets waiting on the queue")
    duplicate_every_message(stack, "tickets-low")
    assert stack.queue_counts("tickets-low") == (18, 0)

    stack.run("up", "-d", "--no-recreate", "--wait", "--scale", "worker-s3=3", "worker-s3")
    assert len(stack.container_ids("worker-s3")) == 3
    # A copy that met its twin mid-delivery waits out the visibility timeout (60 s) before it is dropped.
    poll(lambda: stack.queue_counts("tickets-low") == (0, 0), "both copies of every ticket settled", 180)

    records, puts = stack.ledger_records(), stack.s3_puts()
    # Per ticket: ledger status, claims, why the history shows a second hand-over, S3 writes.
    books = {t: (records[t]["status"], records[t]["attempts"], doubled(records[t]), puts[t]) for t in ids}
    print(f"accepted {len(ids)}, copies on the queue {2 * len(ids)}, books {dict(Counter(books.values()))}")
    assert books == dict.fromkeys(ids, ("delivered", 1, None, 1))
    # Nothing in the whole ledger (earlier tests' tickets too) was handed over twice.
    assert {t: reason for t, record in records.items() if (reason := doubled(record))} == {}


def duplicate_every_message(stack: Stack, queue: str) -> None:
    """Put a second copy of each waiting message on the queue; the originals stay as they were."""
    sqs = stack.aws("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    waiting = stack.queue_counts(queue)[0]
    held: list[dict] = []

    def read_all() -> bool:
        # Held hidden meanwhile, so each message is read once.
        held.extend(
            sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )
        return len(held) >= waiting

    poll(read_all, f"the {waiting} waiting messages read")
    assert len({m["MessageId"] for m in held}) == waiting
    for start in range(0, len(held), 10):
        batch = held[start : start + 10]
        sent = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": m["Body"], "MessageAttributes": m.get("MessageAttributes", {})}
                for i, m in enumerate(batch)
            ],
        )
        assert not sent.get("Failed"), sent["Failed"]
        released = sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(batch)
            ],
        )
        assert not released.get("Failed"), released["Failed"]


def test_a_code_only_change_rebuilds_only_the_source_layers(tmp_path):
    """Build ingest twice from a copy of the context, changing only a source file in between."""
    context = tmp_path / "context"
    copied = ("Dockerfile", "constraints.txt", "scripts/service_requirements.py", "scripts/slim_venv.py")
    for name in (*copied, "common", "ingest"):
        source = ROOT / name
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, target)
    tag = f"ticketrouter/ingest:layers-{uuid.uuid4().hex[:6]}"
    build = [*build_command("ingest", tag, context)[1:], "-q"]
    try:
        docker(*build)
        before = json.loads(docker("image", "inspect", tag))[0]["RootFS"]["Layers"]
        module = context / "ingest/src/ingest/health.py"
        module.write_text(module.read_text() + "\n# a code-only change\n")
        docker(*build)
        after = json.loads(docker("image", "inspect", tag))[0]["RootFS"]["Layers"]
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
    shared = next(i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b)
    # Base, user and the dependency venv are reused; only the copies of the source differ.
    assert len(before) == len(after)
    assert len(before) - shared <= 3, f"{len(before) - shared} layers rebuilt"
    assert shared >= 3
