"""A storm of high tickets against a Slack stand-in that enforces a rate limit, on real processes.

The worker paces chat.postMessage to SLACK_RATE_PER_SECOND with SLACK_BURST (20/s and 5 here,
so the test is quick; the default is Slack's 1/s). The stand-in answers 429 above 30 posts in
any second, a little above what the pacer allows. Paced, the storm drains at the configured
rate without a single 429; with the pacer set far above the limit, the same storm meets 429s,
and the 429 handling (in-call retries after Retry-After, then message-level retries) still
delivers every ticket once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.system.books import effects, submit_many, tag, wait_until_settled
from tests.system.conftest import Router, running_router
from ticketrouter.pacing import busiest_window
from ticketrouter.ticket import Priority

RATE, BURST = 20, 5
# The stand-in's own limit: posts accepted in any second.
STANDIN_LIMIT = 30
# A request paced at t reaches the stand-in a little later; scheduling on a busy 2-core machine
# can delay one request more than the next. This much arrival jitter is allowed for.
JITTER_SECONDS = 0.1
WINDOWS = (1.0, 5.0)
POSTS = "/api/chat.postMessage"


def storm_env(rate: float, burst: int) -> dict[str, str]:
    return {
        "SLACK_RATE_PER_SECOND": str(rate),
        "SLACK_BURST": str(burst),
        # Ten deliveries in flight share the one pacer (the default for Slack is one).
        "WORKER_CONCURRENCY": "10",
        "WORKER_WAIT_SECONDS": "1",
    }


def post_calls(router: Router) -> list[dict]:
    """Every chat.postMessage the stand-in received, refused ones included, by arrival."""
    port = router.stack.ports.slack
    calls = requests.get(f"{router.stack.url(port)}/_fake/requests", timeout=10).json()
    return sorted((c for c in calls if c["path"] == POSTS), key=lambda c: c["received_at"])


def allowed(window: float) -> float:
    """What the pacer lets through in any window, plus the arrival jitter allowance."""
    return BURST + RATE * (window + JITTER_SECONDS)


def storm(router: Router, count: int, limit: int) -> tuple[list[str], dict[str, str], list[dict]]:
    """Submit count high tickets with the stand-in limited to `limit` posts a second; wait until
    they are settled. Returns their ids, final states and the posts the stand-in received."""
    router.control("slack", "rate_limit", {"limit": limit, "window_seconds": 1, "path": POSTS})
    ids = submit_many(router, Priority.HIGH, count, f"storm {tag()}")
    final = wait_until_settled(router, ids, timeout=count / RATE + 120)
    return ids, final, post_calls(router)


@pytest.fixture(scope="module")
def paced(tmp_path_factory: pytest.TempPathFactory):
    with running_router(tmp_path_factory.mktemp("pacing") / "logs", **storm_env(RATE, BURST)) as running:
        yield running


def test_a_storm_of_300_drains_at_the_configured_rate_without_a_429(paced: Router, capsys):
    ids, final, calls = storm(paced, 300, STANDIN_LIMIT)
    times = [c["received_at"] for c in calls]
    busiest_by_window = {w: busiest_window(times, w) for w in WINDOWS}
    with capsys.disabled():
        span = times[-1] - times[0]
        print(f"\n[paced storm] {len(calls)} posts in {span:.1f} s ({(len(calls) - BURST) / span:.1f}/s "
              f"after the burst; configured {RATE}/s + {BURST}); busiest windows {busiest_by_window}; "
              f"429s {sum(c['status'] == 429 for c in calls)}")  # fmt: skip
    assert set(final.values()) == {"delivered"}  # 0 failed, 0 parked
    assert effects(paced, Priority.HIGH, ids) == dict.fromkeys(ids, 1)  # each posted exactly once
    assert [c["status"] for c in calls] == [200] * len(ids)  # one post each, never a 429
    for window, most in busiest_by_window.items():
        assert most <= allowed(window), (window, most, allowed(window))


def test_without_pacing_the_same_storm_meets_429s_and_the_fallback_still_delivers_once(
    tmp_path: Path, capsys
):
    """The pacer set far above a stand-in limited to 15 posts a second (ten deliveries in
    flight post faster than that): 429s, and still every ticket once."""
    limit = 15
    with running_router(tmp_path / "logs", **storm_env(100_000, 100_000)) as router:
        ids, final, calls = storm(router, 100, limit)
        times = [c["received_at"] for c in calls]
        refused = sum(c["status"] == 429 for c in calls)
        with capsys.disabled():
            print(f"\n[unpaced storm] {len(calls)} posts, {refused} answered 429; busiest 1 s window "
                  f"{busiest_window(times, 1.0)} (the stand-in accepts {limit})")  # fmt: skip
        assert refused > 0
        assert busiest_window(times, 1.0) > limit
        assert set(final.values()) == {"delivered"}
        assert effects(router, Priority.HIGH, ids) == dict.fromkeys(ids, 1)
