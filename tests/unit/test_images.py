"""The one Dockerfile, how compose and `make images-push` build from it, and what the images keep."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import slim_venv
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


def test_services_create_only_aws_clients_whose_models_the_images_keep():
    pattern = re.compile(r"""(?:aws_client|\.client)\(\s*["']([a-z0-9-]+)["']""")
    sources = [p for f in SOURCE_FOLDERS for p in (ROOT / f / "src").rglob("*.py")]
    created = {name for path in sources for name in pattern.findall(path.read_text())}
    assert created == {"s3", "sqs"}  # the scan finds them: it would find a third
    assert created <= slim_venv.KEPT_AWS_MODELS


def test_slim_venv_removes_unused_aws_models_and_bundled_test_suites(tmp_path: Path):
    site = tmp_path / "lib" / "python3.12" / "site-packages"
    files = [
        "botocore/data/endpoints.json",
        "botocore/data/_retry.json",
        "botocore/data/s3/2006-03-01/service-2.json.gz",
        "botocore/data/sqs/2012-11-05/service-2.json.gz",
        "botocore/data/sts/2011-06-15/service-2.json.gz",
        "botocore/data/ec2/2016-11-15/service-2.json.gz",
        "gevent/__init__.py",
        "gevent/tests/test__core.py",
        "somedata/tests/fixture.json",
        "tests/__init__.py",
    ]
    for name in files:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text("x")

    assert slim_venv.main(str(tmp_path)) == 0

    kept = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    removed = {"botocore/data/ec2/2016-11-15/service-2.json.gz", "gevent/tests/test__core.py"}
    assert kept == sorted(set(files) - removed)
