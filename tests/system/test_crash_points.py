"""A worker killed at each step of the delivery protocol, for each destination, on real
processes: the ticket still takes effect exactly once.

The kill lands at a known point, never by timing: after the claim, after the destination
answered, after the ledger recorded (the worker SIGKILLs itself there: TICKETROUTER_CRASH_AT),
and while the destination holds the request (the Slack or Trello stand-in, or a proxy in front
of S3, holds it until released; the test SIGKILLs the worker, then lets the request through).

S3 is an idempotent destination: on a first receive its create-only PUT is the claim and the
ledger is not written before it, so its first step is "before_send" (the ledger still says
queued, nothing was sent) where Slack and Trello have "after_claim". Its effects are the PUTs S3
applied (2xx), so a second write that S3 refused (412) is no effect, and one it took is.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import requests

from stack import Stack
from tests.faultproxy import FaultProxy, Mode, request_to
from tests.support import wait_until
from tests.system.books import effects, slack_channel, submit_many, tag, trello_board
from tests.system.conftest import Router, free_ports, stack_env
from ticketrouter.faults import VARIABLE as CRASH_AT
from ticketrouter.ticket import Priority

WORKERS = {Priority.HIGH: "worker_slack", Priority.MEDIUM: "worker_trello", Priority.LOW: "worker_s3"}
HELD_PATHS = {Priority.HIGH: "/api/chat.postMessage", Priority.MEDIUM: "/1/cards"}
# Where the lookup must have run after the restart, and what the ledger's history then says.
NOTES = {
    "after_claim": "not found; re-sent",
    "while_held": "found; not re-sent",
    "after_send": "found; not re-sent",
}
# The step before the send: after the ledger claim, or, at S3, before its claiming write.
FIRST_STEP = {Priority.HIGH: "after_claim", Priority.MEDIUM: "after_claim", Priority.LOW: "before_send"}
CASES = [
    pytest.param(priority, point, id=f"{WORKERS[priority]}-{point}")
    for priority in WORKERS
    for point in (FIRST_STEP[priority], "while_held", "after_send", "after_record")
]


class CrashRouter(Router):
    proxy: FaultProxy  # worker-s3 reaches AWS through it

    def worker_env(self, priority: Priority) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.proxy.url} if priority is Priority.LOW else {}

    def restart_worker(self, priority: Priority, **env: str) -> None:
        module = WORKERS[priority]
        self.stack.start_worker(module, {**self.worker_env(priority), **env})

    def worker(self, priority: Priority):
        return self.stack.service(WORKERS[priority].replace("_", "-"))


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashRouter]:
    ports = free_ports()
    # Short visibility: a killed worker's message comes back within seconds.
    env = {**stack_env(), "QUEUE_VISIBILITY_TIMEOUT": "3", "WORKER_WAIT_SECONDS": "1"}
    # worker-s3's requests to the tickets bucket are the ones the proxy may hold.
    with FaultProxy(ports.aws, matcher=request_to("PUT", "/tickets/tickets/")) as proxy:
        with Stack(log_dir=tmp_path_factory.mktemp("crash") / "logs", ports=ports, env=env) as stack:
            running = CrashRouter(stack)
            running.proxy = proxy
            running.stack.stop_service(running.worker(Priority.LOW))
            running.restart_worker(Priority.LOW)
            yield running


def hold_at_destination(router: CrashRouter, priority: Priority) -> None:
    if priority is Priority.LOW:
        router.proxy.set_mode(Mode.HOLD_REQUESTS)
    else:
        router.control(
            "slack" if priority is Priority.HIGH else "trello", "hold", {"path": HELD_PATHS[priority]}
        )


def held_at_destination(router: CrashRouter, priority: Priority) -> int:
    if priority is Priority.LOW:
        return router.proxy.holding
    port = router.stack.ports.slack if priority is Priority.HIGH else router.stack.ports.trello
    return len(requests.get(f"{router.stack.url(port)}/_fake/held", timeout=5).json())


def release_at_destination(router: CrashRouter, priority: Priority) -> None:
    """Let the held request through: it takes effect, and its answer goes to a dead worker."""
    if priority is Priority.LOW:
        router.proxy.set_mode(Mode.PASS)
    else:
        router.control("slack" if priority is Priority.HIGH else "trello", "release", {"apply": True})


def reference_at_destination(router: CrashRouter, priority: Priority, ticket_id: str) -> str:
    """The destination's own reference of the ticket's one effect."""
    if priority is Priority.HIGH:
        [message] = [m for m in slack_channel(router) if ticket_id in m["text"]]
        return message["ts"]
    if priority is Priority.MEDIUM:
        [card] = [c for c in trello_board(router) if ticket_id in c["desc"]]
        return card["shortUrl"]
    [key] = [k for k in router.s3_objects() if k.endswith(f"/{ticket_id}.json")]
    return f"s3://tickets/{key}"


def ticket_lines(service, ticket_id: str) -> list[str]:
    """The service's log lines about this ticket (its log file spans restarts)."""
    return [line for line in service.log_text().splitlines() if ticket_id in line]


def crash(router: CrashRouter, priority: Priority, point: str) -> str:
    """Start the worker set to die at point, submit one ticket, kill it there; returns the id."""
    router.stack.stop_service(router.worker(priority))
    if point == "while_held":
        router.restart_worker(priority)
        hold_at_destination(router, priority)
    else:
        router.restart_worker(priority, **{CRASH_AT: point})
    [ticket_id] = submit_many(router, priority, 1, f"crash {point} {tag()}")
    worker = router.worker(priority)
    if point == "while_held":
        wait_until(lambda: held_at_destination(router, priority) == 1, 30, "request held at the destination")
        assert router.stack.stop_service(worker, signal.SIGKILL) == -signal.SIGKILL
        release_at_destination(router, priority)
    else:
        wait_until(lambda: not worker.running(), 30, f"worker killed {point}")
        assert worker.process.returncode == -signal.SIGKILL
        assert any(f'"crash_point": "{point}"' in line for line in ticket_lines(worker, ticket_id))
    router.restart_worker(priority)
    return ticket_id


@pytest.mark.parametrize(("priority", "point"), CASES)
def test_a_worker_killed_at_each_step_delivers_the_ticket_exactly_once(router, priority, point, capsys):
    ticket_id = crash(router, priority, point)
    router.wait_for(lambda: router.status(ticket_id)["status"] == "delivered", 60, "ticket delivered")

    record = router.status(ticket_id)
    count = effects(router, priority, [ticket_id], router.proxy)[ticket_id]
    with capsys.disabled():
        print(f"\n[{WORKERS[priority]} killed {point}] accepted=1 effects={count} status={record['status']}")
    assert count == 1
    assert record["reference"] == reference_at_destination(router, priority, ticket_id)
    router.wait_for(lambda: router.queue_counts(priority) == (0, 0), 30, "message deleted")
    notes = [entry.get("note", "") for entry in record["history"]]
    if point in NOTES:
        assert any(NOTES[point] in note for note in notes), record["history"]
    elif point == "before_send":  # nothing written anywhere: the redelivery claims and sends as new
        assert [entry["status"] for entry in record["history"]] == ["queued", "delivering", "delivered"]
        assert not any(notes), record["history"]
    else:  # recorded before the kill: the redelivered message is dropped, nothing is looked up
        assert [entry["status"] for entry in record["history"]].count("delivering") == 1
        worker = router.worker(priority)
        router.wait_for(
            lambda: any("already settled; dropping" in line for line in ticket_lines(worker, ticket_id)),
            30,
            "duplicate dropped",
        )
        assert not any("found the earlier delivery" in line for line in ticket_lines(worker, ticket_id))
