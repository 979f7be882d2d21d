"""The books of a fault test: what was accepted, what each destination really holds, and
the check every such test ends with: accepted = delivered + dead-lettered, duplicates = 0.

Effects are counted at the destinations themselves, never from our own records: messages in
the Slack stand-in's channel, cards on the Trello stand-in's board, and, for S3 (where a second
write of the same key leaves one object), the PutObject requests that went through a proxy and
that S3 applied (answered 2xx: a create-only PUT refused with 412 wrote nothing).
"""

from __future__ import annotations

import collections
import uuid
from typing import Any

import requests

from tests.faultproxy import FaultProxy
from tests.system.conftest import Router
from ticketrouter.ticket import Priority

FINAL = {"delivered", "dead-lettered"}


def tag() -> str:
    return uuid.uuid4().hex[:10]


def submit_many(router: Router, priority: Priority, count: int, marker: str) -> list[str]:
    ids = []
    for i in range(count):
        response = router.submit(
            {"title": f"{marker} #{i}", "priority": priority.value, "description": marker}
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["ticket_id"])
    return ids


def slack_channel(router: Router) -> list[dict[str, Any]]:
    """Every message the Slack stand-in's channel holds (refused posts are not in it)."""
    answer = requests.post(
        f"{router.stack.url(router.stack.ports.slack)}/api/conversations.history",
        json={"channel": router.stack.env["SLACK_CHANNEL"], "limit": 999},
        headers={"Authorization": "Bearer reader"},
        timeout=5,
    ).json()
    assert answer["ok"], answer
    return answer["messages"]


def trello_board(router: Router) -> list[dict[str, Any]]:
    """Every card on the Trello stand-in's list, including those created by a call answered 5xx."""
    return requests.get(
        f"{router.stack.url(router.stack.ports.trello)}/1/lists/{router.stack.env['TRELLO_LIST_ID']}/cards",
        headers={"Authorization": 'OAuth oauth_consumer_key="reader", oauth_token="reader"'},
        timeout=5,
    ).json()


def s3_puts(proxy: FaultProxy, ticket_id: str) -> int:
    """PutObject requests for the ticket's object in the tickets bucket that went through proxy
    and were applied (answered 2xx, whether or not the worker lived to read the answer)."""
    return sum(
        1
        for method, path, status in proxy.answered
        if method == "PUT" and path.startswith("/tickets/tickets/") and ticket_id in path and status < 300
    )


def effects(
    router: Router, priority: Priority, ids: list[str], proxy: FaultProxy | None = None
) -> collections.Counter:
    """How many times each ticket took effect at its destination."""
    if priority is Priority.HIGH:
        texts = [message["text"] for message in slack_channel(router)]
    elif priority is Priority.MEDIUM:
        texts = [card["desc"] for card in trello_board(router)]
    else:
        if proxy is not None:
            return collections.Counter({tid: s3_puts(proxy, tid) for tid in ids if s3_puts(proxy, tid)})
        keys = router.s3_objects()
        texts = list(keys)
    return collections.Counter(tid for tid in ids for text in texts if tid in text)


def states(router: Router, ids: list[str]) -> dict[str, str]:
    return {tid: router.status(tid)["status"] for tid in ids}


def wait_until_settled(router: Router, ids: list[str], timeout: float = 90) -> dict[str, str]:
    router.wait_for(lambda: set(states(router, ids).values()) <= FINAL, timeout, "tickets settled")
    return states(router, ids)


def settle_and_count(
    capsys, name: str, router: Router, tickets: dict[str, Priority], proxy: FaultProxy | None = None
) -> collections.Counter:
    """Wait until every ticket is delivered or dead-lettered, print the books, check them.

    Returns how often each ticket took effect at its destination.
    """
    final = wait_until_settled(router, list(tickets))
    counts: collections.Counter = collections.Counter()
    for priority in set(tickets.values()):
        counts.update(effects(router, priority, [tid for tid, p in tickets.items() if p is priority], proxy))
    delivered = sum(state == "delivered" for state in final.values())
    dead = sum(state == "dead-lettered" for state in final.values())
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost = len(tickets) - delivered - dead
    with capsys.disabled():
        books = f"accepted={len(tickets)} delivered={delivered} duplicates={duplicates}"
        print(f"\n[{name}] {books} dead-lettered={dead} lost={lost}")
    assert lost == 0
    assert duplicates == 0, counts
    return counts
