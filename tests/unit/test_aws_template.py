"""The CloudFormation templates under deploy/aws/, read as data: the policy the README promises.

Templates are parsed with cfn-lint's decoder (it understands !Ref, !Sub, !GetAtt…). Values that
must equal the code's (queue and bucket attributes, setting names) are taken from the code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from ingest.settings import IngestSettings
from ticketrouter import provision
from ticketrouter.config import RouterSettings, WorkerSettings
from ticketrouter.queues import dlq_attributes, dlq_name, queue_attributes
from worker_slack.__main__ import SlackSettings
from worker_trello.__main__ import TrelloSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "aws"
SECRET_NAMES = {"INGEST_API_TOKEN", "TEAMS_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "TRELLO_KEY", "TRELLO_TOKEN"}

# The documented action list of each role (README, "Deploy on AWS" → Identities). A role may
# hold exactly these actions: adding one means updating the README and this table together.
ROLE_ACTIONS = {
    "ExecutionRole": {
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
    },
    "IngestTaskRole": {
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    },
    **{
        role: {
            "sqs:GetQueueUrl",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",
            "s3:ListBucket",
            "s3:GetObject",
            "s3:PutObject",
        }
        for role in ("WorkerSlackTaskRole", "WorkerTrelloTaskRole", "WorkerS3TaskRole")
    },
}
# The only actions AWS accepts solely on Resource "*".
RESOURCE_STAR_ALLOWED = {"ecr:GetAuthorizationToken"}

SERVICES = {
    # task definition → (settings class, its own queue variable, variables read outside the settings)
    "IngestTaskDefinition": (IngestSettings, None, {"INGEST_BIND", "INGEST_WORKERS", "INGEST_THREADS"}),
    "WorkerSlackTaskDefinition": (SlackSettings, "QUEUE_HIGH", set()),
    "WorkerTrelloTaskDefinition": (TrelloSettings, "QUEUE_MEDIUM", set()),
    "WorkerS3TaskDefinition": (WorkerSettings, "QUEUE_LOW", set()),
}


def load(name: str) -> dict[str, Any]:
    template, problems = decode(str(DEPLOY / name))
    assert not problems, problems
    return template


@pytest.fixture(scope="module")
def router() -> dict[str, Any]:
    return load("router.yaml")


@pytest.fixture(scope="module")
def bootstrap() -> dict[str, Any]:
    return load("bootstrap.yaml")


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def resolve_defaults(value: Any, template: dict[str, Any]) -> Any:
    """Replace each {"Ref": parameter} by the parameter's default, recursively."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in template["Parameters"]:
            return template["Parameters"][value["Ref"]]["Default"]
        return {k: resolve_defaults(v, template) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_defaults(v, template) for v in value]
    return value


def as_sqs_attributes(properties: dict[str, Any], dlq_arn: str) -> dict[str, str]:
    """CloudFormation queue properties in the SQS API's shape (strings, RedrivePolicy as JSON)."""
    attributes = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in properties.items()}
    attributes.pop("QueueName")
    if "RedrivePolicy" in properties:
        redrive = properties["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(redrive["maxReceiveCount"])}
        )
    return attributes


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ one source of truth


def test_parameter_defaults_are_the_settings_defaults(router):
    defaults = RouterSettings()
    assert router["Parameters"]["QueueVisibilityTimeout"]["Default"] == defaults.queue_visibility_timeout
    assert router["Parameters"]["QueueMaxReceives"]["Default"] == defaults.queue_max_receives


def test_every_queue_has_a_dead_letter_queue_with_the_attributes_of_provisioning(router):
    queues = of_type(router, "AWS::SQS::Queue")
    work = {name: q for name, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    dead = {name: q for name, q in queues.items() if name not in work}
    assert len(work) == 3 and len(dead) == 3
    targets = set()
    for queue in work.values():
        properties = resolve_defaults(queue["Properties"], router)
        target = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        targets.add(target)
        assert as_sqs_attributes(properties, "arn:dlq") == queue_attributes(RouterSettings(), "arn:dlq")
        # The services derive the DLQ's name from the queue's: <name>-dlq.
        name = properties["QueueName"]["Fn::Sub"]
        assert dead[target]["Properties"]["QueueName"]["Fn::Sub"] == dlq_name(name)
    assert targets == set(dead), "every DLQ serves exactly one queue"
    for queue in dead.values():
        assert as_sqs_attributes(queue["Properties"], "") == dlq_attributes()


def test_every_bucket_is_private_encrypted_kept_and_tls_only(router):
    buckets = of_type(router, "AWS::S3::Bucket")
    assert set(buckets) == {"TicketsBucket", "LedgerBucket"}
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p for p in of_type(router, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == provision.PUBLIC_ACCESS_BLOCK
        rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        api_shape = {
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]} for r in rules
            ]
        }
        assert api_shape == provision.DEFAULT_ENCRYPTION
        assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
        [deny] = policies[name]["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert len(deny["Resource"]) == 2, "the bucket and its objects"


def test_the_ledger_bucket_expires_idempotency_keys_like_provisioning(router):
    [rule] = router["Resources"]["LedgerBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    api_shape = {
        "ID": rule["Id"],
        "Filter": {"Prefix": rule["Prefix"]},
        "Status": rule["Status"],
        "Expiration": {"Days": rule["ExpirationInDays"]},
    }
    assert api_shape == provision.IDEMPOTENCY_KEY_EXPIRY


def test_idempotency_keys_live_under_the_prefix_that_expires():
    from ticketrouter.ledger import Ledger

    assert Ledger._idempotency_key("k").startswith(provision.IDEMPOTENCY_KEY_EXPIRY["Filter"]["Prefix"])


# ------------------------------------------------------------------ identities


@pytest.mark.parametrize("role", sorted(ROLE_ACTIONS))
def test_every_role_holds_exactly_its_documented_actions(router, role):
    granted = set()
    for statement in statements(router["Resources"][role]):
        assert statement["Effect"] == "Allow"
        actions = listed(statement["Action"])
        assert not any("*" in action for action in actions), actions
        if statement["Resource"] == "*":
            assert set(actions) <= RESOURCE_STAR_ALLOWED, f"{actions} on Resource '*'"
        granted |= set(actions)
    assert granted == ROLE_ACTIONS[role]


def test_no_role_exists_outside_the_documented_list(router):
    assert set(of_type(router, "AWS::IAM::Role")) == set(ROLE_ACTIONS)


def test_each_worker_touches_only_its_own_queue_pair(router):
    own = {"WorkerSlackTaskRole": "High", "WorkerTrelloTaskRole": "Medium", "WorkerS3TaskRole": "Low"}
    for role, priority in own.items():
        queues = {
            resource["Fn::GetAtt"][0]
            for statement in statements(router["Resources"][role])
            for resource in listed(statement["Resource"])
            if isinstance(resource, dict)
            and "Fn::GetAtt" in resource
            and "Queue" in resource["Fn::GetAtt"][0]
        }
        assert queues == {f"{priority}Queue", f"{priority}DeadLetterQueue"}, role


def test_only_worker_s3_may_write_the_tickets_bucket(router):
    for role in ROLE_ACTIONS:
        text = json.dumps(statements(router["Resources"][role]))
        assert ("TicketsBucket" in text) == (role == "WorkerS3TaskRole"), role


# ------------------------------------------------------------------ secrets and configuration


def test_no_secret_value_is_in_any_template(router, bootstrap):
    secrets = of_type(bootstrap, "AWS::SecretsManager::Secret")
    assert {s["Properties"]["Name"]["Fn::Sub"].split("/")[-1] for s in secrets.values()} == SECRET_NAMES
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"], "values are generated or set by deploy_aws.py"
        assert "GenerateSecretString" in secret["Properties"]
    for name in ("router.yaml", "bootstrap.yaml"):
        text = (DEPLOY / name).read_text()
        assert not re.search(r"xox[abp]-[0-9]|(?<![A-Za-z])SecretString:", text), name
        assert "NoEcho" not in text, "no secret travels as a parameter either"


@pytest.mark.parametrize("task", sorted(SERVICES))
def test_each_task_definition_sets_every_variable_its_service_needs_and_only_known_ones(router, task):
    settings, own_queue, outside = SERVICES[task]
    [container] = router["Resources"][task]["Properties"]["ContainerDefinitions"]
    environment = {e["Name"] for e in container["Environment"]}
    secrets = {s["Name"] for s in container.get("Secrets", [])}
    assert not environment & SECRET_NAMES, "secrets only through ECS secrets"
    assert secrets <= SECRET_NAMES
    known = {name.upper() for name in settings.model_fields} | outside
    assert environment | secrets <= known, (environment | secrets) - known
    required = {name.upper() for name, field in settings.model_fields.items() if field.is_required()}
    assert required <= environment | secrets, required - environment - secrets
    assert {"AWS_REGION", "LEDGER_BUCKET", "LOG_LEVEL"} <= environment
    if own_queue:
        assert own_queue in environment
    else:
        assert {"QUEUE_HIGH", "QUEUE_MEDIUM", "QUEUE_LOW", "INGEST_API_TOKEN"} <= environment | secrets
    for secret in container.get("Secrets", []):
        assert "Fn::ImportValue" in secret["ValueFrom"], "secret ARNs come from the bootstrap stack"


def test_every_log_group_has_a_retention_and_every_container_logs_to_one(router):
    groups = of_type(router, "AWS::Logs::LogGroup")
    assert groups and all(
        g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values()
    )
    for task in of_type(router, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            assert container["LogConfiguration"]["Options"]["awslogs-group"]["Ref"] in groups


# ------------------------------------------------------------------ compute, scaling, alarms


def test_ingest_is_behind_https_with_http_redirected_and_health_checked(router):
    listeners = {
        r["Properties"]["Port"]: r["Properties"]
        for r in of_type(router, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert router["Resources"]["IngestTargetGroup"]["Properties"]["HealthCheckPath"] == "/healthz"
    assert router["Parameters"]["IngestTasks"]["MinValue"] >= 2
    assert router["Resources"]["IngestService"]["Properties"]["DesiredCount"] == {"Ref": "IngestTasks"}


def test_each_task_runs_on_fargate_on_the_chosen_architecture(router):
    services = of_type(router, "AWS::ECS::Service")
    assert len(services) == 4 and all(s["Properties"]["LaunchType"] == "FARGATE" for s in services.values())
    for task in of_type(router, "AWS::ECS::TaskDefinition").values():
        assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == {"Ref": "CpuArchitecture"}
    assert set(router["Parameters"]["CpuArchitecture"]["AllowedValues"]) == {"X86_64", "ARM64"}


@pytest.mark.parametrize(
    "worker, queue, maximum",
    [
        ("WorkerSlack", "HighQueue", "SlackWorkerMaxTasks"),
        ("WorkerTrello", "MediumQueue", "WorkerMaxTasks"),
        ("WorkerS3", "LowQueue", "WorkerMaxTasks"),
    ],
)
def test_workers_scale_on_backlog_per_running_task_between_bounds(router, worker, queue, maximum):
    target = router["Resources"][f"{worker}ScalableTarget"]["Properties"]
    assert target["MinCapacity"] == {"Ref": "WorkerMinTasks"} and target["MaxCapacity"] == {"Ref": maximum}
    policy = router["Resources"][f"{worker}ScalingPolicy"]["Properties"]
    metrics = {
        m["Id"]: m
        for m in policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"][
            "Metrics"
        ]
    }
    visible = metrics["visible"]["MetricStat"]["Metric"]
    assert visible["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert visible["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert metrics["tasks"]["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    assert metrics["backlog_per_task"]["Expression"] == "visible / tasks"
    assert [m["Id"] for m in metrics.values() if m["ReturnData"]] == ["backlog_per_task"]


def test_worker_slack_is_capped_by_slacks_per_channel_rate_not_the_backlog(router):
    # About one message per second per channel; each task posts one ticket at a time.
    assert router["Parameters"]["SlackWorkerMaxTasks"]["MaxValue"] <= 2


def test_the_alarms_cover_dead_letters_slow_high_tickets_5xx_and_stopped_workers(router):
    alarms = of_type(router, "AWS::CloudWatch::Alarm")
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    dlq_alarms = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert dlq_alarms == {"HighDeadLetterQueue", "MediumDeadLetterQueue", "LowDeadLetterQueue"}
    oldest = alarms["OldestHighTicketAlarm"]["Properties"]
    assert oldest["MetricName"] == "ApproximateAgeOfOldestMessage" and oldest["Threshold"] == 60
    assert oldest["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["HighQueue", "QueueName"]}
    assert "5XX" in json.dumps(alarms["Ingest5xxAlarm"]["Properties"]["Metrics"])
    stopped = {
        a["Properties"]["Dimensions"][1]["Value"]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "RunningTaskCount"
    }
    assert stopped == {"worker-slack", "worker-trello", "worker-s3"}
    assert all(
        a["Properties"]["TreatMissingData"] == "breaching"
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "RunningTaskCount"
    )


def test_the_outputs_give_the_power_automate_url_and_every_queue_and_bucket(router):
    outputs = router["Outputs"]
    assert outputs["TicketsUrl"]["Value"] == {"Fn::Sub": "https://${DomainName}/tickets"}
    for name in ("High", "Medium", "Low"):
        assert f"{name}QueueName" in outputs and f"{name}DeadLetterQueueName" in outputs
    assert {"TicketsBucketName", "LedgerBucketName"} <= set(outputs)
