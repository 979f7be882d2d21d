"""`make dev`: the whole router on one machine without Docker.

Starts the Stack (stack.py): an AWS emulator (MiniStack: see emulator.py), provisioning, the Slack
and Trello stand-ins, gunicorn ingest, the three workers and the dev console; prints where to look;
stops every process it started on Ctrl-C, SIGTERM or SIGHUP. Variables are read from the shell and
then from .env the way Compose reads it; unset (or empty) ones get the development defaults
printed at start.

While it runs, `.dev/env` (DEV_STATE_DIR) records its endpoints for `make status`, `make dlq`,
`make demo`…; each run logs into a fresh `.dev/logs/<time>/` (the last KEEP_LOG_RUNS are kept).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from types import FrameType

from stack import Stack
from stack_services import Ports

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "common" / "src"))
from ticketrouter.target import state_dir, with_dotenv  # noqa: E402 — after the path above

KEEP_LOG_RUNS = 5


def describe(stack: Stack) -> str:
    """What the user needs to know once the stack is up."""
    env = stack.env
    console = [f"  dev console     {stack.console_url}   (queues, deliveries, submit a test ticket)"]
    lines = [
        "Ticket router is running (Ctrl-C stops everything).",
        "",
        *(console if stack.with_console else []),
        f"  ingest API      {stack.ingest_url}   (POST /tickets; docs: {stack.ingest_url}/docs)",
        f"  Slack           {env['SLACK_API_URL']}"
        + ("   stand-in page: " + stack.url(stack.ports.slack) if stack.local_slack else ""),
        f"  Trello          {env['TRELLO_API_URL']}"
        + ("   stand-in page: " + stack.url(stack.ports.trello) if stack.local_trello else ""),
        f"  AWS endpoint    {env['AWS_ENDPOINT_URL']}"
        + (f"   ({stack.emulator.name})" if stack.emulator else ""),
        f"  metrics         {stack.url(stack.ports.ingest_metrics)}/metrics (ingest), workers on "
        + ", ".join(f"{stack.url(p)}/metrics" for p in stack.ports.worker_metrics),
        f"  logs            {stack.log_dir}/",
        "",
    ]
    if stack.defaulted:
        lines.append("Development defaults for unset variables:")
        lines += [f"  {name}={env[name]}" for name in stack.defaulted]
        lines.append("")
    # A token from the environment may be a real one: never print it.
    token = stack.token if "INGEST_API_TOKEN" in stack.defaulted else "$INGEST_API_TOKEN"
    lines += [
        "In another terminal, with no exports: make demo | make status | make dlq",
        f'   or:   curl -s -X POST {stack.ingest_url}/tickets -H "Authorization: Bearer {token}" \\',
        "              -H 'Content-Type: application/json' \\",
        '              -d \'{"title": "Printer on fire", "priority": "high", "description": "Third floor"}\'',
    ]
    return "\n".join(lines)


def state_lines(stack: Stack) -> list[str]:
    """What `.dev/env` records for the ops commands: endpoints, and dev credentials only."""
    state = {
        "DEVSTACK_PID": str(os.getpid()),
        "AWS_ENDPOINT_URL": stack.env["AWS_ENDPOINT_URL"],
        "AWS_REGION": stack.env.get("AWS_REGION", "us-east-1"),
        "INGEST_URL": stack.ingest_url,
        "SLACK_STANDIN_URL": stack.url(stack.ports.slack) if stack.local_slack else "",
        "TRELLO_STANDIN_URL": stack.url(stack.ports.trello) if stack.local_trello else "",
        "CONSOLE_URL": stack.console_url if stack.with_console else "",
        "DEV_LOG_DIR": str(stack.log_dir),
    }
    for name in ("QUEUE_HIGH", "QUEUE_MEDIUM", "QUEUE_LOW", "TICKETS_BUCKET", "LEDGER_BUCKET"):
        if stack.env.get(name):
            state[name] = stack.env[name]
    # Secrets only where make dev made them up itself: a real one never lands in a file.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "INGEST_API_TOKEN"):
        if name in stack.defaulted:
            state[name] = stack.env[name]
    return [f"{name}={value}" for name, value in state.items()]


def write_state(path: Path, stack: Stack) -> None:
    """Record the running stack for the ops commands (owner-only: it may hold dev credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write("\n".join(state_lines(stack)) + "\n")


def remove_state(path: Path) -> None:
    """Remove the state file if it is this process's."""
    try:
        if f"DEVSTACK_PID={os.getpid()}\n" in path.read_text():
            path.unlink()
    except FileNotFoundError:
        pass


def fresh_log_dir(logs: Path, keep: int = KEEP_LOG_RUNS) -> Path:
    """A new folder for this run's logs; older runs beyond the last keep are removed."""
    logs.mkdir(parents=True, exist_ok=True)
    while True:
        # Names sort in time order: the oldest are the first to go.
        run = logs / datetime.now().strftime("%Y%m%d-%H%M%S.%f")
        try:
            run.mkdir()
            break
        except FileExistsError:
            continue
    runs = sorted(p for p in logs.iterdir() if p.is_dir() and not p.is_symlink())
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    latest = logs / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(run.name)
    return run


class StopRequested(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived: stop the stack."""


def main() -> int:
    env = with_dotenv(os.environ)
    state = (ROOT / state_dir(env)).resolve()
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only the first signal interrupts; later ones (a second Ctrl-C, make passing the
        # group's SIGTERM on) must not abandon a stop that is under way.
        nonlocal stopping
        if stopping:
            print(f"(signal {signum} ignored: already stopping)", file=sys.stderr, flush=True)
            return
        stopping = True
        raise StopRequested

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    stack = Stack(
        log_dir=state / "logs",
        ports=Ports.from_env(env),
        env=env,
        with_console=True,
        progress=lambda line: print(line, flush=True),
    )
    try:
        stack.log_dir = fresh_log_dir(state / "logs")
        print("Starting the ticket router (moto, stand-ins, ingest, workers, console)...", flush=True)
        stack.start()
        write_state(state / "env", stack)
        print(describe(stack), flush=True)
        while not (crashed := stack.crashed()):
            time.sleep(0.5)
        for service in crashed:
            print(
                f"\n{service.name} exited with {service.exit_code()}; last log lines:\n"
                f"{service.log_text()[-2000:]}",
                file=sys.stderr,
            )
        return 1
    except StopRequested:
        print("\nStopping...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"Start-up failed: {error}", file=sys.stderr)
        return 1
    finally:
        stopping = True
        remove_state(state / "env")
        stack.stop()
        print("All processes stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
