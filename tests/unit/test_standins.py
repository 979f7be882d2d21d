"""The stand-ins record what they receive, can be told to fail, and show it as JSON and HTML."""

from __future__ import annotations

import time

import pytest
import requests

from standins import slack, trello
from standins.recorder import RateLimit
from tests.support import serve


@pytest.fixture
def slack_url():
    with serve(slack.create_app()) as url:
        yield url


@pytest.fixture
def trello_url():
    with serve(trello.create_app()) as url:
        yield url


def recorded(url):
    return requests.get(f"{url}/_fake/requests", timeout=5).json()


def test_requests_are_recorded_oldest_first_with_parsed_bodies(slack_url):
    before = time.time()
    requests.post(
        f"{slack_url}/api/chat.postMessage",
        json={"channel": "C1", "text": "one"},
        headers={"Authorization": "Bearer xoxb-1"},
        timeout=5,
    )
    requests.post(
        f"{slack_url}/api/chat.postMessage?x=1",
        data={"channel": "C1", "text": "two", "token": "t"},
        timeout=5,
    )
    first, second = recorded(slack_url)
    assert set(first) >= {"method", "path", "query", "body", "received_at"}
    assert first["method"] == "POST" and first["path"] == "/api/chat.postMessage"
    assert first["body"] == {"channel": "C1", "text": "one"}
    assert second["body"]["text"] == "two" and second["query"] == {"x": "1"}
    assert before <= first["received_at"] <= second["received_at"] <= time.time()
    assert isinstance(first["received_at"], float)


def test_delete_clears_the_record(slack_url):
    requests.post(f"{slack_url}/api/auth.test", headers={"Authorization": "Bearer x"}, timeout=5)
    assert requests.delete(f"{slack_url}/_fake/requests", timeout=5).status_code == 204
    assert recorded(slack_url) == []


def test_slack_answers_like_slack(slack_url):
    auth = {"Authorization": "Bearer xoxb-1"}
    ok = requests.post(
        f"{slack_url}/api/chat.postMessage", json={"channel": "C1", "text": "hi"}, headers=auth, timeout=5
    ).json()
    assert ok["ok"] is True and ok["channel"] == "C1" and ok["ts"]
    no_auth = requests.post(
        f"{slack_url}/api/chat.postMessage", json={"channel": "C1", "text": "hi"}, timeout=5
    )
    assert no_auth.status_code == 200 and no_auth.json() == {"ok": False, "error": "not_authed"}
    no_text = requests.post(
        f"{slack_url}/api/chat.postMessage", json={"channel": "C1"}, headers=auth, timeout=5
    )
    assert no_text.json()["error"] == "no_text"


def test_planned_failures_answer_the_next_calls_then_stop(slack_url):
    plan = requests.post(
        f"{slack_url}/_fake/fail", json={"status": 429, "count": 2, "retry_after": 3}, timeout=5
    )
    assert plan.status_code == 201
    answers = [
        requests.post(f"{slack_url}/api/auth.test", headers={"Authorization": "Bearer x"}, timeout=5)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert answers[0].json() == {"ok": False, "error": "ratelimited"}
    assert [entry["status"] for entry in recorded(slack_url)] == [429, 429, 200]


def test_a_failure_without_count_lasts_until_cleared(trello_url):
    requests.post(f"{trello_url}/_fake/fail", json={"status": 503, "count": None}, timeout=5)
    assert all(
        requests.get(f"{trello_url}/1/lists/L?key=k&token=t", timeout=5).status_code == 503 for _ in range(3)
    )
    requests.delete(f"{trello_url}/_fake/fail", timeout=5)
    assert requests.get(f"{trello_url}/1/lists/L?key=k&token=t", timeout=5).status_code == 200


def test_a_bad_failure_plan_is_400(slack_url):
    assert requests.post(f"{slack_url}/_fake/fail", json={"status": "x"}, timeout=5).status_code == 400


def test_trello_creates_cards_with_header_or_query_auth(trello_url):
    header = {"Authorization": 'OAuth oauth_consumer_key="k", oauth_token="t"'}
    card = requests.post(
        f"{trello_url}/1/cards", json={"idList": "L1", "name": "n", "desc": "d"}, headers=header, timeout=5
    ).json()
    assert (card["idList"], card["name"], card["desc"]) == ("L1", "n", "d")
    assert card["shortUrl"].startswith(trello_url)
    by_query = requests.post(f"{trello_url}/1/cards?key=k&token=t&idList=L2&name=q", timeout=5)
    assert by_query.json()["idList"] == "L2"
    anonymous = requests.post(f"{trello_url}/1/cards", json={"idList": "L1"}, timeout=5)
    assert (anonymous.status_code, anonymous.text) == (401, "invalid key")
    no_list = requests.post(f"{trello_url}/1/cards", json={"name": "n"}, headers=header, timeout=5)
    assert no_list.status_code == 400


def test_html_page_lists_received_items_escaped(trello_url):
    requests.post(
        f"{trello_url}/1/cards?key=k&token=t",
        json={"idList": "L", "name": "<script>x</script>", "desc": "d"},
        timeout=5,
    )
    page = requests.get(trello_url, timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text
    assert "<script>x" not in page.text


def test_slow_mode_delays_answers_until_turned_off(slack_url):
    assert requests.post(f"{slack_url}/_fake/slow", json={"seconds": 0.3}, timeout=5).status_code == 200
    started = time.monotonic()
    requests.post(f"{slack_url}/api/auth.test", headers={"Authorization": "Bearer x"}, timeout=5)
    assert time.monotonic() - started >= 0.3
    requests.post(f"{slack_url}/_fake/slow", json={"seconds": 0}, timeout=5)
    assert requests.post(f"{slack_url}/_fake/slow", json={"seconds": "x"}, timeout=5).status_code == 400


def test_the_slack_page_shows_a_message_as_slack_does(slack_url):
    from ticketrouter.ticket import Ticket, parse_submission
    from worker_slack.message import fallback_text, message_blocks

    ticket = Ticket.from_submission(parse_submission(
        {"title": "Printer <b>on</b> fire", "priority": "high", "description": "Ask *Bob* & <!channel>",
         "requester": "Ann Example"}
    ))  # fmt: skip
    auth = {"Authorization": "Bearer xoxb-1"}
    requests.post(f"{slack_url}/api/auth.test", headers=auth, timeout=5)
    message = {"channel": "#t", "text": fallback_text(ticket), "blocks": message_blocks(ticket)}
    requests.post(f"{slack_url}/api/chat.postMessage", json=message, headers=auth, timeout=5)
    page = requests.get(slack_url, timeout=5).text
    assert "&amp;lt;" not in page  # entities decoded once, never shown raw
    assert "Printer &lt;b&gt;on&lt;/b&gt; fire" in page  # the title as typed, not as a bold tag
    assert "Ask <b>Bob</b> &amp; &lt;!channel&gt;" in page  # mrkdwn bold; the escaped ping stays text
    assert ticket.id in page and "Ann Example" in page and "🚨 high" in page
    assert "channel: \n" not in page and "channel: <" not in page  # no empty channel row for auth.test


def test_beyond_the_rate_limit_calls_are_answered_429_with_retry_after(slack_url, trello_url):
    limit = {"limit": 3, "window_seconds": 60, "path": "/api/chat.postMessage"}
    assert requests.post(f"{slack_url}/_fake/rate_limit", json=limit, timeout=5).status_code == 201
    auth = {"Authorization": "Bearer xoxb-1"}

    def post() -> requests.Response:
        return requests.post(f"{slack_url}/api/chat.postMessage", json={"channel": "C1", "text": "x"},
                             headers=auth, timeout=5)  # fmt: skip

    assert [post().status_code for _ in range(3)] == [200, 200, 200]
    refused = post()
    assert refused.status_code == 429 and refused.json() == {"ok": False, "error": "ratelimited"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Other paths are not limited; the refused call was recorded with its status.
    assert requests.post(f"{slack_url}/api/auth.test", headers=auth, timeout=5).status_code == 200
    assert [c["status"] for c in recorded(slack_url) if c["path"] == "/api/chat.postMessage"][-1] == 429
    assert requests.delete(f"{slack_url}/_fake/rate_limit", timeout=5).status_code == 204
    assert post().status_code == 200
    # Trello's: every path, its own 429 body.
    requests.post(f"{trello_url}/_fake/rate_limit", json={"limit": 1, "window_seconds": 60}, timeout=5)
    oauth = {"Authorization": 'OAuth oauth_consumer_key="k", oauth_token="t"'}
    assert requests.get(f"{trello_url}/1/lists/l1", headers=oauth, timeout=5).status_code == 200
    answer = requests.get(f"{trello_url}/1/members/me", headers=oauth, timeout=5)
    assert (answer.status_code, answer.text) == (429, "API_TOKEN_LIMIT_EXCEEDED")


def test_the_window_slides():
    """Once the oldest accepted call is a window old, one more call is accepted."""
    limit = RateLimit(limit=2, window_seconds=10)
    assert [limit.admit("/x", now) for now in (0, 1, 2)] == [None, None, 8]
    assert limit.admit("/x", 9.5) == 1  # Retry-After in whole seconds, at least 1
    assert limit.admit("/x", 10) is None  # the call at 0 left the window
    assert limit.admit("/x", 10.5) == 1
    assert RateLimit(1, 10, path="/only").admit("/other", 0) is None


@pytest.mark.parametrize(
    "body",
    [{"limit": 0, "window_seconds": 1}, {"limit": 2}, {"limit": 2, "window_seconds": -1}, [],
     {"limit": 2, "window_seconds": 1, "path": 3}, {"limit": True, "window_seconds": 1},
     {"limit": 2, "window_seconds": True}, {"limit": 2.5, "window_seconds": 1}],
)  # fmt: skip
def test_a_bad_rate_limit_is_400(slack_url, body):
    answer = requests.post(f"{slack_url}/_fake/rate_limit", json=body, timeout=5)
    assert answer.status_code == 400 and "limit" in answer.json()["error"]
