"""The token bucket, on a fake clock: every figure is exact, nothing depends on real time."""

from __future__ import annotations

import random
import threading

import pytest

from tests.support import FakeClock
from ticketrouter.pacing import TokenBucket, busiest_window


def bucket(rate: float, burst: int, clock: FakeClock) -> TokenBucket:
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)


def starts(pacer: TokenBucket, clock: FakeClock, arrivals: list[float]) -> list[float]:
    """When each request, arriving at these times one after another, may start."""
    started = []
    for arrival in arrivals:
        clock.now = max(clock.now, arrival)
        pacer.acquire()
        started.append(clock.now)
    return started


def test_a_burst_goes_at_once_then_one_per_interval():
    clock = FakeClock()
    pacer = bucket(rate=2, burst=3, clock=clock)
    assert [pacer.acquire() for _ in range(3)] == [0, 0, 0]
    assert [pacer.acquire() for _ in range(3)] == [0.5, 0.5, 0.5]
    assert clock.now == 1001.5


def test_idle_time_refills_up_to_the_burst_and_no_further():
    clock = FakeClock()
    pacer = bucket(rate=1, burst=2, clock=clock)
    starts(pacer, clock, [clock.now] * 2)
    clock.now += 3600  # an hour idle earns 3 600 tokens, but the bucket holds 2
    assert [pacer.acquire() for _ in range(3)] == [0, 0, 1]


def test_a_partly_refilled_bucket_waits_only_for_the_missing_part():
    clock = FakeClock()
    pacer = bucket(rate=4, burst=1, clock=clock)
    pacer.acquire()
    clock.now += 0.1  # 0.4 of a token back
    assert pacer.acquire() == pytest.approx(0.15)


@pytest.mark.parametrize(("rate", "burst"), [(1, 3), (20, 5), (9, 10), (0.5, 1)])
def test_no_window_ever_holds_more_than_burst_plus_rate_times_its_length(rate, burst):
    clock = FakeClock()
    pacer = bucket(rate, burst, clock)
    rng = random.Random(42)
    arrivals, t = [], clock.now
    for _ in range(400):  # bursts and lulls: arrivals far faster than the rate, then pauses
        t += rng.choice([0, 0, 0, 0.01, 0.2, 2 / rate, 10 / rate])
        arrivals.append(t)
    started = starts(pacer, clock, arrivals)
    for window in (1 / rate, 1, 10, 60):
        assert busiest_window(started, window) <= burst + rate * window + 1e-9, window


def test_concurrent_requests_each_get_their_own_slot():
    clock = FakeClock()  # frozen: no time passes while 200 threads reserve at once
    pacer = bucket(rate=10, burst=5, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()
    gate = threading.Barrier(8)

    def reserve_many() -> None:
        gate.wait()
        for _ in range(25):
            wait = pacer.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=reserve_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Five tokens at once, then each reservation one interval after the one before: no two
    # requests share a slot, none is lost.
    assert sorted(round(w, 9) for w in waits) == [0.0] * 5 + [round(k / 10, 9) for k in range(1, 196)]


def test_waiting_is_counted_per_destination():
    from prometheus_client import REGISTRY

    def waited() -> float:
        labels = {"destination": "pacing-test"}
        return REGISTRY.get_sample_value("ticketrouter_pacing_wait_seconds_total", labels) or 0.0

    clock = FakeClock()
    pacer = TokenBucket(2, 1, destination="pacing-test", clock=clock, sleep=clock.sleep)
    before = waited()
    for _ in range(3):
        pacer.acquire()
    assert waited() - before == pytest.approx(1.0)
    assert clock.slept == [0.5, 0.5]


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_a_rate_or_burst_that_could_never_send_is_refused(rate, burst):
    with pytest.raises(ValueError, match="rate must be > 0 and burst"):
        TokenBucket(rate, burst)


def test_the_busiest_window_counts_both_ends():
    assert busiest_window([], 1) == 0
    assert busiest_window([0, 0.5, 1.0, 1.01, 5], 1) == 3
    assert busiest_window([0, 2, 4], 1) == 1


def test_the_workers_pace_at_their_destinations_limits_unless_configured_otherwise():
    from worker_slack.__main__ import SlackSettings
    from worker_slack.__main__ import build_destination as slack_destination
    from worker_trello.__main__ import TrelloSettings
    from worker_trello.__main__ import build_destination as trello_destination

    slack_env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL": "C1"}
    trello_env = {"TRELLO_KEY": "k", "TRELLO_TOKEN": "t", "TRELLO_LIST_ID": "l"}
    slack = slack_destination(SlackSettings.load(slack_env)).pacer
    trello = trello_destination(TrelloSettings.load(trello_env)).pacer
    assert (slack.rate, slack.burst) == (1, 3)  # Slack: about one message a second per channel
    assert trello.burst + trello.rate * 10 == 100  # Trello: 100 requests per 10 s per token
    assert (trello.rate, trello.burst) == (9, 10)
    slack = slack_destination(
        SlackSettings.load({**slack_env, "SLACK_RATE_PER_SECOND": "0.5", "SLACK_BURST": "1"})
    )
    trello = trello_destination(
        TrelloSettings.load({**trello_env, "TRELLO_RATE_PER_10S": "50", "TRELLO_BURST": "2"})
    )
    assert (slack.pacer.rate, slack.pacer.burst, trello.pacer.rate, trello.pacer.burst) == (0.5, 1, 5, 2)


@pytest.mark.parametrize("variable", ["SLACK_RATE_PER_SECOND=0", "SLACK_BURST=0", "TRELLO_RATE_PER_10S=-1"])
def test_a_rate_that_could_never_send_is_a_configuration_error(variable):
    from ticketrouter.config import ConfigurationError
    from worker_slack.__main__ import SlackSettings
    from worker_trello.__main__ import TrelloSettings

    name, value = variable.split("=")
    settings = SlackSettings if name.startswith("SLACK") else TrelloSettings
    env = {
        "SLACK_BOT_TOKEN": "x",
        "SLACK_CHANNEL": "C",
        "TRELLO_KEY": "k",
        "TRELLO_TOKEN": "t",
        "TRELLO_LIST_ID": "l",
    }
    with pytest.raises(ConfigurationError, match=name):
        settings.load({**env, name: value})
