"""The Grafana dashboard and Prometheus config speak of series the services really export."""

from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY

import ingest.metrics  # noqa: F401 — registers ingest's series
import ticketrouter.observability  # noqa: F401 — registers the workers' series
from devstack import ROOT
from images import dockerfile_stages

SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def exported_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES)
    return names


def test_every_series_on_the_dashboard_is_exported():
    dashboard = json.loads((ROOT / "ops/grafana/dashboards/ticket-router.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"ticketrouter_[a-z_]+", target["expr"])}  # fmt: skip
    assert used and used <= exported_names(), used - exported_names()


def test_prometheus_scrapes_ingest_and_every_worker_on_their_ports():
    config = (ROOT / "ops/prometheus.yml").read_text()
    assert '"ingest:9100"' in config and "ingest:8080" not in config  # metrics off the public port
    stages = dockerfile_stages()
    assert "INGEST_METRICS_PORT=9100" in stages["ingest"]
    assert all(name in config for name in ("worker-slack", "worker-trello", "worker-s3"))
    assert "port: 9100" in config
    assert "WORKER_METRICS_PORT=9100" in stages["worker"]
