"""deploy/aws/ deployed to LocalStack by `make deploy-localstack`'s code, then used by the router.

LocalStack's free edition emulates SQS, S3, IAM, Secrets Manager, CloudWatch, Logs, SNS, EC2
and CloudFormation; it reports ECS, load balancing, Application Auto Scaling and dashboards as
deployed without creating them. The test fails if it skips anything else, or if the properties
it is known to ignore change. The services then run as host processes (the same code as
`make dev`) against the stack's own queues, buckets and secrets, read from the stack outputs
and Secrets Manager, and a ticket of each priority is delivered.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import deploy_aws
from awsdeploy.changesets import stack_outputs
from awsdeploy.localstack import LOCALSTACK_SKIPPED
from awsdeploy.secret_values import SECRET_OUTPUTS
from probes import free_port, http_ok
from stack import Stack
from stack_services import Ports
from supervise import wait_until
from tests.conftest import _OUTSIDE_ENV
from tests.unit.test_aws_template import ROLE_ACTIONS
from ticketrouter import provision
from ticketrouter.config import RouterSettings
from ticketrouter.queues import dlq_attributes, queue_attributes

IMAGE = os.environ.get("LOCALSTACK_IMAGE", "localstack/localstack:4.14.0")
SERVICES = "cloudformation,sqs,s3,iam,sts,secretsmanager,logs,cloudwatch,sns,ec2,route53"
SECRET_VALUES = {
    "INGEST_API_TOKEN": "aws-test-ingest-token-61c0",
    "TEAMS_WEBHOOK_SECRET": "YXdzLXRlc3QtdGVhbXMtd2ViaG9vay1zZWNyZXQtNDI=",
    "SLACK_BOT_TOKEN": "xoxb-aws-test-slack-token",
    "TRELLO_KEY": "aws-test-trello-key",
    "TRELLO_TOKEN": "aws-test-trello-token",
}


class LocalStack:
    """One LocalStack container on a free loopback port, removed at the end."""

    def __init__(self) -> None:
        self.name = f"trtest-aws-{uuid.uuid4().hex[:6]}"
        started = subprocess.run(
            ["docker", "run", "-d", "--name", self.name, "-p", "127.0.0.1::4566"]
            + ["-e", f"SERVICES={SERVICES}", "-e", "SQS_ENDPOINT_STRATEGY=path"]
            + ["-e", "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=1", "-e", "EAGER_SERVICE_LOADING=1", IMAGE],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, f"cannot start {IMAGE} (set LOCALSTACK_IMAGE): {started.stderr}"
        port = subprocess.run(
            ["docker", "port", self.name, "4566/tcp"], check=True, capture_output=True, text=True
        ).stdout.split(":")[-1]
        self.url = f"http://127.0.0.1:{int(port)}"

    def ready(self) -> bool:
        try:
            services = requests.get(f"{self.url}/_localstack/health", timeout=2).json()["services"]
        except (requests.RequestException, ValueError, KeyError):
            return False
        return all(services.get(s) in ("available", "running") for s in SERVICES.split(","))

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, timeout=30)
        return result.stdout + result.stderr

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )


class DeployedStack(Stack):
    """The local router, minus provisioning: the queues and buckets are CloudFormation's."""

    def provision(self) -> None:
        pass


@pytest.fixture(scope="module")
def localstack() -> Iterator[LocalStack]:
    container = LocalStack()
    try:
        wait_until(container.ready, 120, "LocalStack answering with every service", interval=0.5)
        yield container
    finally:
        container.remove()


@pytest.fixture(scope="module")
def deployed(localstack: LocalStack) -> dict[str, Any]:
    """Deploys both stacks with the code of `make deploy-localstack` (twice: the second finds no change)."""
    arguments = ["--stack", "trtest", "--endpoint", localstack.url, "deploy-localstack"]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRET_VALUES.items():
            patch.setenv(name, value)
        patch.setenv("AWS_ACCESS_KEY_ID", "test")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        assert deploy_aws.main(arguments) == 0
        cfn = localstack.client("cloudformation")
        first_updates = cfn.describe_stacks(StackName="trtest")["Stacks"][0].get("LastUpdatedTime")
        assert deploy_aws.main(arguments) == 0
        assert cfn.describe_stacks(StackName="trtest")["Stacks"][0].get("LastUpdatedTime") == first_updates
    stack = cfn.describe_stacks(StackName="trtest")["Stacks"][0]
    return {
        "outputs": stack_outputs(cfn, "trtest"),
        "bootstrap": stack_outputs(cfn, "trtest-bootstrap"),
        "parameters": {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]},
    }


def template_types(name: str) -> dict[str, str]:
    from cfnlint.decode import decode

    template, _ = decode(str(deploy_aws.DEPLOY / name))
    return {logical: resource["Type"] for logical, resource in template["Resources"].items()}


def test_localstack_skips_exactly_ecs_load_balancing_auto_scaling_and_the_dashboard(localstack, deployed):
    cfn = localstack.client("cloudformation")
    skipped = deploy_aws.localstack_skips(cfn, "trtest")
    expected = {
        name: kind for name, kind in template_types("router.yaml").items() if kind in LOCALSTACK_SKIPPED
    }
    print("LocalStack skipped:", ", ".join(f"{name} ({kind})" for name, kind in sorted(skipped.items())))
    assert skipped == expected
    assert deploy_aws.localstack_skips(cfn, "trtest-bootstrap") == {}
    for stack in ("trtest", "trtest-bootstrap"):
        statuses = {
            r["ResourceStatus"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        }
        assert statuses == {"CREATE_COMPLETE"}, stack
    # The ECR repositories are LocalStack's stand-ins (its free edition has no ECR API).
    assert "Creating a Mock ECR Repository" in localstack.logs()
    assert deploy_aws.LOCALSTACK_MOCKED == {"AWS::ECR::Repository"}


def test_queues_have_the_attributes_of_provisioning(localstack, deployed):
    sqs = localstack.client("sqs")
    outputs = deployed["outputs"]
    for priority in ("High", "Medium", "Low"):
        queue = sqs.get_queue_url(QueueName=outputs[f"{priority}QueueName"])["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName=outputs[f"{priority}DeadLetterQueueName"])["QueueUrl"]
        got = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        got_dlq = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
        wanted = queue_attributes(RouterSettings(), got_dlq["QueueArn"])
        redrive = json.loads(got["RedrivePolicy"])
        assert {k: v for k, v in redrive.items()} | {
            "maxReceiveCount": str(redrive["maxReceiveCount"])
        } == json.loads(wanted.pop("RedrivePolicy"))
        assert {k: got[k] for k in wanted} == wanted
        assert {k: got_dlq[k] for k in dlq_attributes()} == dlq_attributes()


def test_buckets_are_private_encrypted_and_tls_only(localstack, deployed):
    s3 = localstack.client("s3")
    for key in ("TicketsBucketName", "LedgerBucketName"):
        bucket = deployed["outputs"][key]
        assert (
            s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            == provision.PUBLIC_ACCESS_BLOCK
        )
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert [
            {"ApplyServerSideEncryptionByDefault": r["ApplyServerSideEncryptionByDefault"]} for r in rules
        ] == (provision.DEFAULT_ENCRYPTION["Rules"])
        [deny] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_what_localstack_ignores_is_exactly_the_documented_list(localstack, deployed):
    ignored = set()
    s3 = localstack.client("s3")
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=deployed["outputs"]["LedgerBucketName"])["Rules"]
        assert [{k: r[k] for k in provision.IDEMPOTENCY_KEY_EXPIRY} for r in rules] == [
            provision.IDEMPOTENCY_KEY_EXPIRY
        ]
    except ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        ignored.add("AWS::S3::Bucket.LifecycleConfiguration")
    groups = localstack.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/trtest/")["logGroups"]
    assert len(groups) == 4
    if all(g.get("retentionInDays") is None for g in groups):
        ignored.add("AWS::Logs::LogGroup.RetentionInDays")
    else:
        assert {g["retentionInDays"] for g in groups} == {30}
    security_groups = localstack.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["trtest-*"]}]
    )["SecurityGroups"]
    assert len(security_groups) == 3
    if not any(g["IpPermissions"] for g in security_groups):
        ignored.add("AWS::EC2::SecurityGroup.SecurityGroupIngress")
    assert ignored == deploy_aws.LOCALSTACK_IGNORED


def test_roles_and_alarms_are_deployed_as_written(localstack, deployed):
    iam = localstack.client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("trtest-")]
    found = {}
    for role in roles:
        actions = set()
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            for statement in iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"][
                "Statement"
            ]:
                actions |= set(
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
        found[role.split("-")[1]] = actions
    assert found == ROLE_ACTIONS
    alarms = localstack.client("cloudwatch").describe_alarms(AlarmNamePrefix="trtest-")["MetricAlarms"]
    assert len(alarms) == 8
    assert {tuple(a["AlarmActions"]) for a in alarms} == {(deployed["outputs"]["AlarmTopicArn"],)}
    sns = localstack.client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=deployed["outputs"]["AlarmTopicArn"])[
        "Subscriptions"
    ]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [
        ("email", deployed["parameters"]["AlarmEmail"])
    ]


@pytest.fixture(scope="module")
def router(localstack: LocalStack, deployed: dict[str, Any], tmp_path_factory) -> Iterator[Stack]:
    """ingest, the three workers and the stand-ins as host processes, on the stack's resources."""
    secretsmanager = localstack.client("secretsmanager")
    secrets = {
        variable: secretsmanager.get_secret_value(SecretId=deployed["bootstrap"][output])["SecretString"]
        for variable, output in SECRET_OUTPUTS.items()
    }
    env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE_ENV}
    env.update(
        deploy_aws.service_environment(deployed["outputs"]),
        **secrets,
        AWS_ENDPOINT_URL=localstack.url,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        SLACK_CHANNEL=deployed["parameters"]["SlackChannel"],
        TRELLO_LIST_ID=deployed["parameters"]["TrelloListId"],
        WORKER_WAIT_SECONDS="2",
    )
    ports = Ports(
        aws=free_port(),
        ingest=free_port(),
        slack=free_port(),
        trello=free_port(),
        worker_metrics=(free_port(), free_port(), free_port()),
    )
    log_dir: Path = tmp_path_factory.mktemp("aws-router") / "logs"
    with DeployedStack(log_dir=log_dir, ports=ports, env=env) as stack:
        yield stack


def test_a_ticket_of_each_priority_is_delivered_through_the_deployed_stack(localstack, deployed, router):
    assert router.env["INGEST_API_TOKEN"] == SECRET_VALUES["INGEST_API_TOKEN"], (
        "read back from Secrets Manager"
    )
    headers = {"Authorization": f"Bearer {router.token}"}
    ids = {}
    for priority in ("high", "medium", "low"):
        title = f"deployed {priority} {uuid.uuid4().hex[:8]}"
        response = requests.post(
            f"{router.ingest_url}/tickets",
            json={"title": title, "priority": priority, "description": "through the CloudFormation stack"},
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 202, response.text
        ids[priority] = response.json()["ticket_id"]

    def delivered(ticket_id: str) -> bool:
        record = requests.get(f"{router.ingest_url}/tickets/{ticket_id}", headers=headers, timeout=10).json()
        return record["status"] == "delivered"

    for priority, ticket_id in ids.items():
        wait_until(lambda t=ticket_id: delivered(t), 60, f"{priority} ticket delivered", interval=0.3)

    def posted(port: int, path: str, ticket_id: str) -> int:
        calls = requests.get(f"{router.url(port)}/_fake/requests", timeout=5).json()
        return sum(ticket_id in str(c["body"]) for c in calls if c["path"] == path and c["status"] == 200)

    assert posted(router.ports.slack, "/api/chat.postMessage", ids["high"]) == 1
    assert posted(router.ports.trello, "/1/cards", ids["medium"]) == 1
    bucket = deployed["outputs"]["TicketsBucketName"]
    keys = [o["Key"] for o in localstack.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert [k for k in keys if k.endswith(f"/{ids['low']}.json")] == [k for k in keys if ids["low"] in k]
    assert len([k for k in keys if ids["low"] in k]) == 1
    # The ledger is the stack's own bucket.
    ledger = localstack.client("s3").list_objects_v2(
        Bucket=deployed["outputs"]["LedgerBucketName"], Prefix="tickets/"
    )
    assert {f"tickets/{t}.json" for t in ids.values()} <= {o["Key"] for o in ledger.get("Contents", [])}
    assert http_ok(f"{router.ingest_url}/readyz")
