"""ingest.services: one typed accessor, one client factory configured by who waits."""

from __future__ import annotations

import pytest
from flask import Flask

from ingest import create_app
from ingest.services import services, services_of
from ticketrouter.ticket import Priority

TOKEN = "services-token-1234"
SECRET = "c2VjcmV0LWZvci10ZWFtcw=="


def test_webhook_clients_make_one_short_attempt_and_ticket_clients_may_retry(ingest_aws):
    built = services_of(create_app({"ingest_api_token": TOKEN, "teams_webhook_secret": SECRET}))
    assert built is not None and built.webhook is not None
    webhook, tickets = built.webhook.ledger.s3.meta.config, built.tickets.ledger.s3.meta.config
    assert (webhook.connect_timeout, webhook.read_timeout, webhook.retries["total_max_attempts"]) == (1, 2, 1)
    assert tickets.read_timeout == built.settings.ingest_aws_read_timeout_seconds
    assert tickets.retries["total_max_attempts"] == 4


def test_the_webhook_reaches_the_queues_the_tickets_directory_resolved_without_asking_again(ingest_aws):
    built = services_of(create_app({"ingest_api_token": TOKEN, "teams_webhook_secret": SECRET}))
    assert built is not None and built.webhook is not None
    asked: list[str] = []
    built.webhook.queues._sqs.meta.events.register(
        "before-call.sqs", lambda model, **_: asked.append(model.name)
    )
    resolved = {priority: built.tickets.queues.pair(priority) for priority in Priority}  # as at start-up
    assert {priority: built.webhook.queues.pair(priority) for priority in Priority} == resolved
    assert asked == []


def test_without_a_webhook_secret_no_webhook_clients_are_built(ingest_aws):
    app = create_app({"ingest_api_token": TOKEN})
    assert services_of(app).webhook is None
    response = app.test_client().post("/teams/webhook", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.get_json()["error"] == "not_configured"


def test_handlers_reach_the_services_of_their_own_app(ingest_aws):
    app = create_app({"ingest_api_token": TOKEN})
    with app.app_context():
        assert services() is services_of(app)


def test_an_app_that_is_not_ingest_has_no_services():
    app = Flask(__name__)
    assert services_of(app) is None and services_of(object()) is None
    with app.app_context(), pytest.raises(RuntimeError, match="create_app"):
        services()
