"""The AWS emulator that `make dev`, the system tests and `make bench` start: MiniStack.

Why MiniStack rather than moto server: moto's SQS slows down with queue depth (about 3 batch
calls/s once ~1 000 messages wait) and every service shares its one process, so on `make dev`
a flood of low tickets delayed high ones 10-20x and held ingest to ~15 tickets/s: the emulator,
not the router, decided priority isolation. MiniStack keeps its speed at depth and serves what
the router relies on (long poll that wakes on send, visibility and ChangeMessageVisibility,
redrive to the DLQ at maxReceiveCount, message attributes, DeleteMessageBatch, S3 conditional
PUTs IfNoneMatch/IfMatch answered PreconditionFailed, HeadObject 404, path-style buckets).

It runs from its own virtualenv (.venv-emulator, requirements-emulator.txt) because it pins
botocore and graphql-core exactly, at versions the router's pinned set cannot share.
``DEV_EMULATOR=moto`` runs moto server instead (in .venv), for comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_VENV = ROOT / ".venv-emulator"


@dataclass(frozen=True)
class Emulator:
    """How to start one emulator on a port and how to tell that it is ready."""

    name: str
    python: Path  # the interpreter of the virtualenv it is installed in
    package: str  # its distribution name, to read its version
    health_path: str  # answers 2xx once it serves requests

    def argv(self, port: int) -> list[str]:
        if self.package == "moto":
            return [str(self.python), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        return [str(self.python), "-m", "ministack"]

    def env(self, port: int) -> dict[str, str]:
        """Variables on top of the stack's: loopback only, in memory, only the services we use."""
        if self.package == "moto":
            return {}
        return {
            "BIND_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "SERVICES": "sqs,s3",
            "PERSIST_STATE": "0",
            "S3_PERSIST": "0",
            "LOCALSTACK_PERSISTENCE": "0",
        }

    def installed(self) -> bool:
        return self.python.exists()

    def version(self) -> str:
        """The installed version, read from the package metadata (not typed by hand)."""
        code = f"import importlib.metadata as m; print(m.version({self.package!r}))"
        result = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True, timeout=30)
        return result.stdout.strip() or "unknown"


MINISTACK = Emulator("MiniStack", EMULATOR_VENV / "bin" / "python", "ministack", "/_ministack/health")
MOTO = Emulator("moto server", Path(sys.executable), "moto", "/moto-api/")
EMULATORS = {"ministack": MINISTACK, "moto": MOTO}


def chosen_emulator(env: Mapping[str, str] = os.environ) -> Emulator:
    """DEV_EMULATOR (ministack by default, or moto); a clear error when it is not installed."""
    choice = env.get("DEV_EMULATOR", "ministack")
    if choice not in EMULATORS:
        raise RuntimeError(f"DEV_EMULATOR={choice!r}: expected one of {', '.join(EMULATORS)}")
    emulator = EMULATORS[choice]
    if not emulator.installed():
        raise RuntimeError(f"{emulator.name} is not installed at {emulator.python}: run `make venv`")
    return emulator
