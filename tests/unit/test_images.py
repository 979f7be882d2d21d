"""The one Dockerfile, how compose and `make images-push` build from it, and what the images keep."""

from __future__ import annotations

import pytest
import yaml

from devstack import ROOT
from images import SERVICES, build_command, dockerfile_stages

SOURCE_FOLDERS = ("common", "ingest", "worker-slack", "worker-trello", "worker-s3", "standins")


def compose_builds() -> dict[str, dict]:
    """Compose service → its build section (YAML anchors and merge keys resolved)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name: spec["build"] for name, spec in services.items() if "build" in spec}


def recipe(build: dict) -> tuple[str | None, str | None, str | None]:
    return build.get("dockerfile"), build.get("target"), build.get("args", {}).get("SERVICE")


def test_every_compose_build_names_the_one_dockerfile_a_stage_and_the_same_folder():
    builds = compose_builds()
    stages = dockerfile_stages()
    # (dockerfile, target, SERVICE) per compose service; the target must name the SERVICE folder.
    recipes = {name: recipe(build) for name, build in builds.items()}
    wrong = {n: r for n, r in recipes.items() if r[0] != "Dockerfile" or r[1] not in stages or r[1] != r[2]}
    assert wrong == {}
    assert {r[1] for r in recipes.values()} == set(SERVICES)


def test_no_service_folder_keeps_a_dockerfile_of_its_own():
    assert [str(p.relative_to(ROOT)) for f in SOURCE_FOLDERS for p in (ROOT / f).rglob("Dockerfile*")] == []


def test_the_build_command_names_the_service_as_folder_and_stage(monkeypatch):
    monkeypatch.setenv("BASE_IMAGE", "local/base:1")
    command = build_command("worker-s3", "registry/worker-s3:v1", platform="linux/arm64")
    assert command[:6] == ["docker", "build", "--build-arg", "SERVICE=worker-s3", "--target", "worker-s3"]
    assert "BASE_IMAGE=local/base:1" in command and "linux/arm64" in command
    assert command[-3:] == ["-t", "registry/worker-s3:v1", str(ROOT)]
    with pytest.raises(ValueError, match="unknown service 'console'"):
        build_command("console", "t")
