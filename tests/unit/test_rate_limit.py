"""Per-client rate limits (INGEST_RATE_LIMIT), through Flask's test client against moto."""

from __future__ import annotations

import pytest

from ingest import create_app
from ticketrouter.config import ConfigurationError

TOKEN = "rate-limit-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VALID = {"title": "Printer on fire", "priority": "low", "description": "Third floor"}


def make_client(**config):
    return create_app({"ingest_api_token": TOKEN, **config}).test_client()


def submit(client, address="198.51.100.7", headers=AUTH):
    return client.post("/tickets", json=VALID, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_past_the_limit_a_client_gets_429_json_with_retry_after(ingest_aws):
    client = make_client(ingest_rate_limit="3/minute")
    assert [submit(client).status_code for _ in range(3)] == [202] * 3
    refused = submit(client)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    assert "3 per 1 minute" in refused.get_json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_each_source_address_has_its_own_budget_without_a_token(ingest_aws):
    client = make_client(ingest_rate_limit="2/minute")
    wrong = {"Authorization": "Bearer guess"}
    assert [submit(client, "203.0.113.1", wrong).status_code for _ in range(3)] == [401, 401, 429]
    assert submit(client, "203.0.113.2", wrong).status_code == 401  # another address: its own budget


def test_the_bearer_identity_has_one_budget_across_addresses(ingest_aws):
    client = make_client(ingest_rate_limit="2/minute")
    statuses = [submit(client, f"192.0.2.{i}").status_code for i in range(1, 4)]
    assert statuses == [202, 202, 429]


def test_a_flood_of_bad_tokens_does_not_spend_the_token_holders_budget(ingest_aws):
    client = make_client(ingest_rate_limit="2/minute")
    flood = [submit(client, "203.0.113.9", {"Authorization": "Bearer guess"}).status_code for _ in range(5)]
    assert flood == [401, 401, 429, 429, 429]
    # The same address (a shared proxy, say): the token holder still has its own budget.
    assert submit(client, "203.0.113.9").status_code == 202


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(ingest_aws):
    client = make_client(ingest_rate_limit="1/minute")
    spoofed = {"Authorization": "Bearer guess", "X-Forwarded-For": "198.51.100.1"}
    assert submit(client, "10.9.9.9", spoofed).status_code == 401
    # A new forged address does not buy a new budget: the TCP peer is what counts.
    other = {**spoofed, "X-Forwarded-For": "198.51.100.2"}
    assert submit(client, "10.9.9.9", other).status_code == 429


def test_with_one_trusted_proxy_the_forwarded_client_address_counts(ingest_aws):
    client = make_client(ingest_rate_limit="1/minute", ingest_trusted_proxies=1)
    first = {"Authorization": "Bearer guess", "X-Forwarded-For": "198.51.100.1"}
    assert submit(client, "10.9.9.9", first).status_code == 401
    assert submit(client, "10.9.9.9", first).status_code == 429
    # The proxy appends the real peer last; an address the client wrote before it is not trusted.
    forged = {"Authorization": "Bearer guess", "X-Forwarded-For": "198.51.100.1, 198.51.100.3"}
    assert submit(client, "10.9.9.9", forged).status_code == 401


def test_health_is_never_limited_but_readiness_is(ingest_aws):
    client = make_client(ingest_rate_limit="1/minute")
    assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3
    assert [client.get("/readyz").status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize("setting", ["", "0"])
def test_no_limit_unless_configured(ingest_aws, setting):
    client = make_client(ingest_rate_limit=setting)
    assert {submit(client).status_code for _ in range(30)} == {202}


def test_an_unreadable_limit_is_refused_at_start():
    with pytest.raises(ConfigurationError, match="INGEST_RATE_LIMIT"):
        make_client(ingest_rate_limit="lots")
