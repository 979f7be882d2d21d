"""Configuration flows one way: defaults → environment → explicit overrides."""

from __future__ import annotations

import pytest

from ingest.settings import IngestSettings
from ticketrouter.config import ConfigurationError, RouterSettings, WorkerSettings
from ticketrouter.ticket import Priority


def test_defaults_apply_when_nothing_is_set():
    settings = RouterSettings.load()
    assert settings.aws_endpoint_url is None  # real AWS
    assert [settings.queue_name(p) for p in Priority] == ["tickets-high", "tickets-medium", "tickets-low"]
    assert (settings.tickets_bucket, settings.queue_max_receives) == ("tickets", 5)


def test_environment_overrides_defaults_and_overrides_beat_environment(monkeypatch):
    monkeypatch.setenv("QUEUE_HIGH", "urgent-q")
    monkeypatch.setenv("TICKETS_BUCKET", "from-env")
    settings = RouterSettings.load(tickets_bucket="from-test")
    assert settings.queue_high == "urgent-q"
    assert settings.tickets_bucket == "from-test"


def test_empty_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    monkeypatch.setenv("QUEUE_LOW", "")
    settings = RouterSettings.load()
    assert settings.aws_endpoint_url is None and settings.queue_low == "tickets-low"


def test_aws_default_region_is_honoured(monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert RouterSettings.load().aws_region == "eu-west-1"


def test_bad_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("WORKER_BATCH_SIZE", "11")
    with pytest.raises(ConfigurationError, match="WORKER_BATCH_SIZE"):
        WorkerSettings.load()


def test_missing_required_secret_is_named():
    with pytest.raises(ConfigurationError, match="INGEST_API_TOKEN: Field required"):
        IngestSettings.load()


def test_secrets_are_listed_for_scrubbing_and_hidden_from_repr(monkeypatch):
    monkeypatch.setenv("INGEST_API_TOKEN", "s3cr3t-value")
    settings = IngestSettings.load()
    assert settings.secrets() == ["s3cr3t-value"]
    assert "s3cr3t-value" not in repr(settings)
