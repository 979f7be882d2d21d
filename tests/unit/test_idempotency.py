"""Idempotency keys at intake: how the implicit key is derived, and how long a binding holds."""

from __future__ import annotations

import collections
import json
from datetime import timedelta

import boto3
import pytest
from flask import Flask

from ingest.auth import caller_identity
from ingest.idempotency import implicit_key
from ticketrouter import ledger as ledger_module
from ticketrouter.ledger import Ledger
from ticketrouter.ticket import Ticket, parse_submission

TOKEN = "secret-bearer-token-42"
BODY_SHA256 = "ab" * 32


def identity_of(authorization: str) -> str:
    with Flask(__name__).test_request_context(headers={"Authorization": authorization}):
        return caller_identity()


def a_ticket() -> Ticket:
    return Ticket.from_submission(parse_submission({"title": "t", "priority": "low", "description": "d"}))


def test_the_implicit_key_names_the_caller_and_the_body_but_never_the_token():
    key = implicit_key(identity_of(f"Bearer {TOKEN}"), BODY_SHA256)
    assert key == implicit_key(identity_of(f"Bearer {TOKEN}"), BODY_SHA256)
    assert TOKEN not in key and BODY_SHA256 in key
    assert key != implicit_key(identity_of("Bearer another-token"), BODY_SHA256)
    assert key != implicit_key(identity_of(f"Bearer {TOKEN}"), "cd" * 32)


@pytest.fixture
def ledger(ingest_aws) -> Ledger:
    return Ledger(boto3.client("s3", region_name="us-east-1"), "tickets-ledger")


def s3_calls(ledger: Ledger) -> collections.Counter:
    """Count the S3 operations the ledger makes from now on."""
    calls: collections.Counter = collections.Counter()
    ledger.s3.meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    return calls


def test_a_new_key_costs_one_conditional_put_and_a_taken_one_a_read(ledger):
    calls = s3_calls(ledger)
    first = ledger.remember_submission("k", BODY_SHA256, a_ticket(), timedelta(minutes=10))
    assert calls == {"PutObject": 1}
    again = ledger.remember_submission("k", BODY_SHA256, a_ticket(), timedelta(minutes=10))
    assert again == first
    assert calls == {"PutObject": 2, "GetObject": 1}


def test_a_binding_holds_for_its_window_then_the_key_starts_afresh(ledger, monkeypatch):
    started = ledger_module.utcnow()
    first = ledger.remember_submission("k", BODY_SHA256, a_ticket(), timedelta(seconds=600))
    monkeypatch.setattr(ledger_module, "utcnow", lambda: started + timedelta(seconds=599))
    assert ledger.remember_submission("k", BODY_SHA256, a_ticket(), timedelta(seconds=600)) == first
    monkeypatch.setattr(ledger_module, "utcnow", lambda: started + timedelta(seconds=601))
    later = ledger.remember_submission("k", BODY_SHA256, a_ticket(), timedelta(seconds=600))
    assert later["ticket"]["id"] != first["ticket"]["id"]


def test_a_binding_without_an_expiry_holds_24_hours(ledger, monkeypatch):
    """Bindings written before expires_at existed keep their 24 h window."""
    binding = ledger.remember_submission("k", BODY_SHA256, a_ticket())
    del binding["expires_at"]
    key = ledger._idempotency_key("k")
    ledger.s3.put_object(Bucket="tickets-ledger", Key=key, Body=json.dumps(binding).encode())
    started = ledger_module.utcnow()
    monkeypatch.setattr(ledger_module, "utcnow", lambda: started + timedelta(hours=23))
    assert ledger.remember_submission("k", BODY_SHA256, a_ticket())["ticket"] == binding["ticket"]
    monkeypatch.setattr(ledger_module, "utcnow", lambda: started + timedelta(hours=25))
    assert ledger.remember_submission("k", BODY_SHA256, a_ticket())["ticket"] != binding["ticket"]


def test_a_binding_a_retry_marked_as_resent_is_never_released_and_a_released_one_is_never_marked(ledger):
    """The first call releases its key only while no retry has resent its ticket; a retry that
    finds the key released must bind it afresh instead of sending the first call's ticket."""
    first = ledger.remember_submission("key:a", BODY_SHA256, a_ticket())
    assert ledger.resend_submission("key:a", first)
    ledger.forget_submission("key:a", first)  # the first call's send failed for sure: too late
    kept = ledger.remember_submission("key:a", BODY_SHA256, a_ticket())
    assert kept["ticket"]["id"] == first["ticket"]["id"] and "resent_at" in kept

    lone = ledger.remember_submission("key:b", BODY_SHA256, a_ticket())
    ledger.forget_submission("key:b", lone)
    assert not ledger.resend_submission("key:b", lone)
    afresh = ledger.remember_submission("key:b", BODY_SHA256, a_ticket())
    assert afresh["ticket"]["id"] != lone["ticket"]["id"]
