"""/metrics of ingest (gunicorn, several processes, on its internal port) and of each worker, and the
workers' probes."""

from __future__ import annotations

import re

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.system.conftest import Router

WORKERS = ("worker-slack", "worker-trello", "worker-s3")


def ingest_metrics_url(router: Router) -> str:
    """ingest's /metrics: served by the gunicorn master on INGEST_METRICS_PORT, not the public port."""
    return f"{router.stack.url(router.stack.ports.ingest_metrics)}/metrics"


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a /metrics page, keyed by name and labels."""
    response = requests.get(url, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    """Sum of the samples of name whose labels include the given ones."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


def test_ingest_counts_accepted_and_rejected_tickets_across_gunicorn_workers(router: Router):
    before = scrape(ingest_metrics_url(router))
    for i in range(6):  # more than one gunicorn worker process takes these
        # Distinct bodies: an identical keyless body within the dedup window is a replay, not a ticket.
        assert router.submit({"title": f"m{i}", "priority": "low", "description": "d"}).status_code == 202
    assert router.submit({"title": "m", "priority": "urgent", "description": "d"}).status_code == 422
    assert router.submit({"title": "m"}, headers={}).status_code == 401
    after = scrape(ingest_metrics_url(router))
    accepted = "ticketrouter_tickets_accepted_total"
    assert value(after, accepted, priority="low") - value(before, accepted, priority="low") == 6
    rejected = "ticketrouter_tickets_rejected_total"
    assert (
        value(after, rejected, reason="validation_failed")
        - value(before, rejected, reason="validation_failed")
        == 1
    )
    assert value(after, rejected, reason="unauthorized") - value(before, rejected, reason="unauthorized") == 1
    latency = value(
        after, "ticketrouter_http_request_duration_seconds_count", endpoint="/tickets", status="202"
    )
    assert latency >= 6


def test_ingest_metrics_are_off_the_public_port(router: Router):
    response = requests.get(f"{router.stack.ingest_url}/metrics", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"
    assert "ticketrouter_tickets_accepted_total" in requests.get(ingest_metrics_url(router), timeout=5).text


def test_no_label_takes_text_a_client_chose(router: Router):
    before = scrape(ingest_metrics_url(router))
    for i in range(5):
        ticket = {"title": "m", "priority": "low", "description": "d", "source": f"secret-customer-note-{i}"}
        assert router.submit(ticket).status_code == 202
    assert router.submit({"title": "m", "priority": "low", "description": "d", "source": "teams-card"}).ok
    assert requests.request("BREW", f"{router.stack.ingest_url}/tickets", timeout=5).status_code == 405
    after = scrape(ingest_metrics_url(router))
    accepted = "ticketrouter_tickets_accepted_total"
    assert value(after, accepted, source="other") - value(before, accepted, source="other") == 5
    assert value(after, accepted, source="teams-card") - value(before, accepted, source="teams-card") == 1
    labels = {v for (_, found) in after for _, v in found}
    assert not any("secret-customer-note" in v or "BREW" in v for v in labels)
    sources = {dict(found).get("source") for (n, found) in after if n == accepted}
    assert sources <= {"api", "teams-card", "teams-webhook", "power-automate", "other"}


def test_each_worker_exposes_deliveries_latency_and_queue_depths(router: Router):
    ids = [
        router.submit({"title": "metrics", "priority": p, "description": "d"}).json()["ticket_id"]
        for p in ("high", "medium", "low")
    ]
    router.wait_for(lambda: all(router.status(t)["status"] == "delivered" for t in ids), what="deliveries")
    for name, destination, queue in zip(
        WORKERS, ("slack", "trello", "s3"), ("high", "medium", "low"), strict=True
    ):
        base = router.stack.url(router.stack.worker_metrics_port(name))
        samples = scrape(f"{base}/metrics")
        assert (
            value(samples, "ticketrouter_deliveries_total", destination=destination, outcome="delivered") >= 1
        )
        assert value(samples, "ticketrouter_delivery_latency_seconds_count", destination=destination) >= 1
        for queue_name in (f"tickets-{queue}", f"tickets-{queue}-dlq"):
            for state in ("visible", "in_flight"):
                assert ("ticketrouter_queue_messages", (("queue", queue_name), ("state", state))) in samples
        assert value(samples, "ticketrouter_worker_heartbeat_timestamp_seconds") > 0
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        router.wait_for(
            lambda b=base: requests.get(f"{b}/readyz", timeout=5).status_code == 200, what="ready"
        )


def test_metric_names_follow_prometheus_conventions(router: Router):
    text = requests.get(ingest_metrics_url(router), timeout=5).text
    names = set(re.findall(r"^(ticketrouter_[a-z_]+)", text, flags=re.MULTILINE))
    assert names and all(re.fullmatch(r"ticketrouter_[a-z_]+", n) for n in names)


def test_status_shows_depths_and_the_last_deliveries(router: Router):
    import subprocess
    import sys

    tid = router.submit({"title": "status", "priority": "low", "description": "d"}).json()["ticket_id"]
    router.wait_for(lambda: router.status(tid)["status"] == "delivered", what="delivered")
    result = subprocess.run([sys.executable, "-m", "ticketrouter.status"], env=router.stack.env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0] == f"target: AWS_ENDPOINT_URL={router.stack.env['AWS_ENDPOINT_URL']} (from the environment)"
    )
    assert lines[1].split() == ["priority", "queue", "visible", "in", "flight", "DLQ", "oldest", "waiting*"]
    assert any(line.startswith("low") and "tickets-low" in line for line in lines)
    assert any(tid in line and "s3://" in line for line in lines)
