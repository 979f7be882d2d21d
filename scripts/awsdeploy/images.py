"""The five service images: built for the stack's architecture, pushed to ECR, looked up, cleared."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from images import SERVICES, build_command

ROOT = Path(__file__).resolve().parents[2]
IMAGES = SERVICES
PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}


def empty_image_repositories(ecr: Any, prefix: str) -> None:
    for image in IMAGES:
        repository = f"{prefix}/{image}"
        try:
            ids = ecr.list_images(repositoryName=repository).get("imageIds", [])
        except ClientError as error:
            if "RepositoryNotFound" in str(error):
                continue
            raise
        if ids:
            ecr.batch_delete_image(repositoryName=repository, imageIds=ids)


def images_missing(ecr: Any, prefix: str, tag: str) -> list[str]:
    """The service images (not the stand-ins) that have no image tagged tag in ECR."""
    missing = []
    for image in IMAGES[:4]:
        try:
            ecr.describe_images(repositoryName=f"{prefix}/{image}", imageIds=[{"imageTag": tag}])
        except ClientError as error:
            if error.response["Error"]["Code"] not in (
                "ImageNotFoundException",
                "RepositoryNotFoundException",
            ):
                raise
            missing.append(image)
    return missing


def image_reference(registry: str, prefix: str, image: str, tag: str) -> str:
    """The same reference the main template's task definitions use."""
    return f"{registry}/{prefix}/{image}:{tag}"


def registry_login(ecr: Any) -> str:
    """Log docker in to the account's ECR registry; returns the registry host."""
    authorization = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(authorization["authorizationToken"]).decode().split(":", 1)
    registry = authorization["proxyEndpoint"].removeprefix("https://")
    subprocess.run(
        ["docker", "login", "--username", user, "--password-stdin", registry],
        input=password.encode(),
        check=True,
        capture_output=True,
    )
    return registry


def build_and_push(
    registry: str, prefix: str, tag: str, architecture: str, say: Callable[[str], None]
) -> None:
    """Build the five images for the architecture and push them (tags are immutable in ECR)."""
    for image in IMAGES:
        reference = image_reference(registry, prefix, image, tag)
        say(f"building {reference} ({PLATFORMS[architecture]})")
        build = build_command(image, reference, platform=PLATFORMS[architecture])
        subprocess.run(build, cwd=ROOT, check=True)
        subprocess.run(["docker", "push", reference], check=True)
