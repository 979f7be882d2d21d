"""Secret values go from the environment straight to Secrets Manager, never into a template or output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Environment variable → the bootstrap stack's output holding that secret's ARN.
SECRET_OUTPUTS = {
    "INGEST_API_TOKEN": "IngestApiTokenSecretArn",
    "TEAMS_WEBHOOK_SECRET": "TeamsWebhookSecretArn",
    "SLACK_BOT_TOKEN": "SlackBotTokenSecretArn",
    "TRELLO_KEY": "TrelloKeySecretArn",
    "TRELLO_TOKEN": "TrelloTokenSecretArn",
}
# A generated value is fine for these two (a random bearer token; a webhook that refuses
# everything); the workers cannot start with a generated Slack or Trello credential.
MUST_BE_SET = ("SLACK_BOT_TOKEN", "TRELLO_KEY", "TRELLO_TOKEN")


def set_secrets(
    secretsmanager: Any, bootstrap_outputs: Mapping[str, str], env: Mapping[str, str]
) -> list[str]:
    """Store each secret given in env that differs from the current one; returns the names stored.

    An unchanged value is not stored again: every put is a new version, and a new version is
    what secrets_never_set() looks for.
    """
    stored = []
    for variable, output in SECRET_OUTPUTS.items():
        value = env.get(variable)
        if not value:
            continue
        current = secretsmanager.get_secret_value(SecretId=bootstrap_outputs[output])["SecretString"]
        if value != current:
            secretsmanager.put_secret_value(SecretId=bootstrap_outputs[output], SecretString=value)
            stored.append(variable)
    return stored


def secrets_never_set(secretsmanager: Any, bootstrap_outputs: Mapping[str, str]) -> list[str]:
    """Secrets in MUST_BE_SET that still hold only the value CloudFormation generated.

    Every put adds a version, so one version means nobody has set it (and no value is read).
    """
    unset = []
    for variable in MUST_BE_SET:
        described = secretsmanager.describe_secret(SecretId=bootstrap_outputs[SECRET_OUTPUTS[variable]])
        if len(described.get("VersionIdsToStages", {})) <= 1:
            unset.append(variable)
    return unset
