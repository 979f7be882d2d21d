"""The container stack: images built from this checkout, LocalStack with its ready hook, the stand-ins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from devstack import ROOT
from tests.containers.conftest import Stack, docker, poll

ROUTER_SERVICES = ("ingest", "worker-slack", "worker-trello", "worker-s3")


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
        listing = s3.list_objects_v2(Bucket="tickets", Prefix="tickets/low/").get("Contents", [])
        return [o["Key"] for o in listing if o["Key"].endswith(f"/{low}.json")]

    poll(lambda: bool(low_object()), "low ticket in the LocalStack bucket")
    stored = json.loads(s3.get_object(Bucket="tickets", Key=low_object()[0])["Body"].read())
    assert stored["id"] == low and stored["priority"] == "low"
    # Exactly once at each destination.
    assert sum(high in b for b in stack.standin_bodies("standin-slack", 9001, "/api/chat.postMessage")) == 1
    assert sum(medium in b for b in stack.standin_bodies("standin-trello", 9002, "/1/cards")) == 1


def test_a_stopped_worker_container_loses_nothing(stack: Stack):
    stack.run("stop", "worker-trello")
    [container] = stack.container_ids("worker-trello") or [""]
    if container:  # a stopped container is still listed by `ps -q` on some compose versions
        assert docker("inspect", "-f", "{{.State.ExitCode}}", container).strip() == "0"
    ticket = stack.submit({"title": unique("while stopped"), "priority": "medium", "description": "wait"})
    poll(lambda: stack.visible("tickets-medium") == 1, "ticket waiting on the queue")
    assert not any(ticket in b for b in stack.standin_bodies("standin-trello", 9002, "/1/cards"))

    stack.run("start", "worker-trello")
    poll(
        lambda: any(ticket in b for b in stack.standin_bodies("standin-trello", 9002, "/1/cards")),
        "delivery after the worker came back",
    )
    assert sum(ticket in b for b in stack.standin_bodies("standin-trello", 9002, "/1/cards")) == 1


def test_router_images_run_as_a_non_root_user(stack: Stack):
    for service in ROUTER_SERVICES:
        [container] = stack.container_ids(service)
        assert docker("inspect", "-f", "{{.Config.User}}", container).strip() == "app"
        assert stack.run("exec", "-T", service, "id", "-u").stdout.strip() == "10001"


def test_workers_scale_and_still_deliver_each_ticket_once(stack: Stack):
    stack.run("up", "-d", "--no-recreate", "--wait", "--scale", "worker-s3=3", "worker-s3")
    assert len(stack.container_ids("worker-s3")) == 3
    ids = [
        stack.submit({"title": unique(f"scaled {i}"), "priority": "low", "description": "d"})
        for i in range(9)
    ]
    s3 = stack.aws("s3")

    def stored() -> set[str]:
        listing = s3.list_objects_v2(Bucket="tickets", Prefix="tickets/low/").get("Contents", [])
        return {Path(o["Key"]).stem for o in listing}

    poll(lambda: set(ids) <= stored(), "all low tickets stored by three workers")
    poll(lambda: stack.visible("tickets-low") == 0, "low queue drained")


def test_a_code_only_change_rebuilds_only_the_source_layers(tmp_path):
    """Build ingest twice from a copy of the context, changing only a source file in between."""
    context = tmp_path / "context"
    for name in ("Dockerfile", "constraints.txt", "scripts/service_requirements.py", "common", "ingest"):
        source = ROOT / name
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, target)
    tag = f"ticketrouter/ingest:layers-{uuid.uuid4().hex[:6]}"
    build = ["build", "-q", "--build-arg", "SERVICE=ingest", "--target", "ingest", "-t", tag, str(context)]
    if os.environ.get("BASE_IMAGE"):
        build[1:1] = ["--build-arg", f"BASE_IMAGE={os.environ['BASE_IMAGE']}"]
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
