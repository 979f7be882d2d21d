"""How the five images are built from the one Dockerfile: the `docker build` command and its stages.

docker-compose.yml spells the same thing in YAML (SERVICE build argument + target);
tests/unit/test_images.py checks that the two agree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# Each is a folder of the repository (its pyproject.toml and src/) and a stage of the Dockerfile.
SERVICES = ("ingest", "worker-slack", "worker-trello", "worker-s3", "standins")


def build_command(service: str, tag: str, context: Path = ROOT, platform: str | None = None) -> list[str]:
    """`docker build` for one service's image; BASE_IMAGE from the environment when set (CI)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    command = ["docker", "build", "--build-arg", f"SERVICE={service}", "--target", service]
    if os.environ.get("BASE_IMAGE"):
        command += ["--build-arg", f"BASE_IMAGE={os.environ['BASE_IMAGE']}"]
    if platform:
        command += ["--platform", platform]
    return [*command, "-f", str(context / "Dockerfile"), "-t", tag, str(context)]


def dockerfile_stages(text: str | None = None) -> dict[str, str]:
    """Stage name → the lines of that stage, from the Dockerfile."""
    text = DOCKERFILE.read_text() if text is None else text
    parts = re.split(r"^FROM \S+ AS (\S+)\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))
