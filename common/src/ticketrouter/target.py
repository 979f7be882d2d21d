"""Which stack an ops command (status, dlq, redrive, provision, demo) talks to.

In order, the first that applies:

1. ``TARGET=dev|compose|aws|env``: that one, explicitly (``aws`` = real AWS, never implicit);
2. ``AWS_ENDPOINT_URL`` set in the shell (or a container's environment): that endpoint;
3. a running ``make dev`` (its state file ``.dev/env``, written at start, removed at stop);
4. the compose stack, when ``.env`` exists and does not select the live profile;
5. nothing: the command refuses and says how to start a stack or choose AWS.

``.env`` (``ENV_FILE``) is read the way Compose reads it: a variable set in the shell wins
over the file. Empty variables count as unset, here as everywhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

EXIT_NO_TARGET = 2


class Target(StrEnum):
    DEV = "dev"
    COMPOSE = "compose"
    AWS = "aws"
    ENV = "env"


class NoTarget(Exception):
    """No stack could be found and real AWS was not chosen; the message says what to do."""


@dataclass(frozen=True)
class Resolved:
    target: Target
    env: dict[str, str]  # the whole environment the command should run with
    where: str  # one line for the user: what, and at which endpoint

    def banner(self) -> str:
        return f"target: {self.where}"

    def apply(self, environ: MutableMapping[str, str] = os.environ) -> None:
        """Make this the process's environment (boto3 reads credentials from it)."""
        environ.clear()
        environ.update(self.env)


def state_dir(env: Mapping[str, str]) -> Path:
    """Where `make dev` keeps its state file and logs."""
    return Path(env.get("DEV_STATE_DIR") or ".dev")


def dotenv_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("ENV_FILE") or ".env")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env-style file (comments and blank lines skipped); {} if absent."""
    if not path.is_file():
        return {}
    # Imported here: this module is also on LocalStack's interpreter, which lacks python-dotenv.
    from dotenv import dotenv_values

    return {name: value or "" for name, value in dotenv_values(path).items()}


def with_dotenv(env: Mapping[str, str]) -> dict[str, str]:
    """The environment plus .env's variables that the shell does not set (Compose's precedence)."""
    return {**read_env_file(dotenv_path(env)), **env}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_dev_stack(env: Mapping[str, str]) -> dict[str, str] | None:
    """The state a running `make dev` recorded; None if there is none or its process is gone."""
    state = read_env_file(state_dir(env) / "env")
    pid = state.get("DEVSTACK_PID", "")
    return state if pid.isdigit() and pid_alive(int(pid)) else None


def _compose(env: dict[str, str]) -> Resolved:
    def local(port_variable: str, default: int) -> str:
        return f"http://127.0.0.1:{env.get(port_variable) or default}"

    chosen = {
        "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID") or "test",
        "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY") or "test",
        "AWS_ENDPOINT_URL": local("LOCALSTACK_HOST_PORT", 4566),
        "INGEST_URL": env.get("INGEST_URL") or local("INGEST_HOST_PORT", 8080),
        "SLACK_STANDIN_URL": env.get("SLACK_STANDIN_URL") or local("SLACK_STANDIN_HOST_PORT", 9001),
        "TRELLO_STANDIN_URL": env.get("TRELLO_STANDIN_URL") or local("TRELLO_STANDIN_HOST_PORT", 9002),
        "CONSOLE_URL": env.get("CONSOLE_URL") or local("CONSOLE_HOST_PORT", 9000),
    }
    return Resolved(
        Target.COMPOSE,
        {**env, **chosen},
        f"compose stack (LocalStack at {chosen['AWS_ENDPOINT_URL']}, from {dotenv_path(env)})",
    )


def _dev(env: dict[str, str], state: dict[str, str]) -> Resolved:
    return Resolved(
        Target.DEV,
        {**env, **{k: v for k, v in state.items() if v}},
        f"make dev stack (pid {state['DEVSTACK_PID']}, AWS emulator at {state['AWS_ENDPOINT_URL']})",
    )


def _aws(env: dict[str, str]) -> Resolved:
    chosen = {k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"}
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return Resolved(Target.AWS, chosen, f"REAL AWS (TARGET=aws), region {region}")


def resolve(shell: Mapping[str, str]) -> Resolved:
    """Pick the stack as the module docstring says; NoTarget if there is none."""
    env = with_dotenv(shell)
    explicit = env.get("TARGET", "")
    if explicit and explicit not in set(Target):
        raise NoTarget(f"TARGET={explicit} is not one of {', '.join(Target)}")
    state = running_dev_stack(env)
    if explicit == Target.AWS:
        return _aws(env)
    if explicit == Target.DEV or (not explicit and not shell.get("AWS_ENDPOINT_URL") and state):
        if state is None:
            raise NoTarget(f"TARGET=dev but no make dev is running (no live {state_dir(env) / 'env'})")
        return _dev(env, state)
    if explicit == Target.ENV or (not explicit and env.get("AWS_ENDPOINT_URL")):
        if not env.get("AWS_ENDPOINT_URL"):
            raise NoTarget("TARGET=env but AWS_ENDPOINT_URL is not set")
        origin = "environment" if shell.get("AWS_ENDPOINT_URL") else str(dotenv_path(env))
        return Resolved(Target.ENV, env, f"AWS_ENDPOINT_URL={env['AWS_ENDPOINT_URL']} (from the {origin})")
    if explicit == Target.COMPOSE or dotenv_path(env).is_file():
        if not explicit and "live" in env.get("COMPOSE_PROFILES", "").split(","):
            raise NoTarget(f"{dotenv_path(env)} selects the live profile: say TARGET=aws to talk to real AWS")
        return _compose(env)
    raise NoTarget(
        f"no stack found: make dev is not running (no {state_dir(env) / 'env'}) and there is no "
        f"{dotenv_path(env)} for the compose stack. Start one with `make dev` or `make up`, "
        "or choose real AWS explicitly with TARGET=aws."
    )


def choose(shell: Mapping[str, str] | None = None) -> Resolved:
    """Resolve the target, make it this process's environment, and announce it on stdout.

    Exits with EXIT_NO_TARGET, saying why on stderr, when there is no target.
    """
    try:
        resolved = resolve(os.environ if shell is None else shell)
    except NoTarget as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_NO_TARGET) from None
    resolved.apply()
    print(resolved.banner(), flush=True)
    return resolved
