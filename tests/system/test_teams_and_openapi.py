"""The Teams front door against the running stack, and schemathesis fuzzing from /openapi.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tests.system.conftest import Router


def test_a_teams_webhook_message_reaches_slack(router: Router):
    title = f"Webhook {uuid.uuid4().hex[:8]}"
    activity = {
        "type": "message",
        "id": uuid.uuid4().hex,
        "timestamp": datetime.now(UTC).isoformat(),
        "text": f"<p><at>TicketBot</at> Tittle: {title}</p><p>Priorty: P1</p><p>Desc: VPN&nbsp;down</p>",
        "from": {"name": "Sam Teams"},
    }
    response = router.post_webhook(json.dumps(activity).encode())
    assert response.status_code == 200
    reply = response.json()
    assert reply["type"] == "message" and "high priority" in reply["text"]
    router.wait_for(
        lambda: any(title in str(p["body"]) for p in router.slack_posts()), what="webhook ticket in Slack"
    )
    [post] = [p for p in router.slack_posts() if title in str(p["body"])]
    assert "Sam Teams" in json.dumps(post["body"]["blocks"])
    assert "VPN down" in json.dumps(post["body"]["blocks"])


def schemathesis_command() -> list[str]:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a test dependency (requirements-dev.txt)"
    return [st]


def test_schemathesis_finds_no_server_error_and_no_response_outside_the_document(router: Router, tmp_path):
    # Every check except the two that judge whether the document's request schema is exact
    # (trimming and case-insensitive priorities are more lenient than JSON Schema can say).
    result = subprocess.run(
        [
            *schemathesis_command(), "run", f"{router.stack.ingest_url}/openapi.json",
            "--url", router.stack.ingest_url,
            "--checks", "all", "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
            "-H", f"Authorization: Bearer {router.stack.token}",
            "--max-examples", "100", "--seed", "20261128", "--request-timeout", "10",
        ],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache folder stays out of the repo
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
