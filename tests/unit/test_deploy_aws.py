"""scripts/deploy_aws.py against moto's CloudFormation, Secrets Manager and S3 (in-process).

Real AWS cannot be reached from here: these tests cover the change-set flow, the secrets
handling and the bucket-keeping of `make destroy-aws` on moto; the LocalStack container test
deploys the real templates (and covers what moto's change sets do not: stack outputs, and a
change set without changes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws

import deploy_aws
from awsdeploy.changesets import stack_status, template_body
from awsdeploy.images import IMAGES, image_reference
from awsdeploy.secret_values import SECRET_OUTPUTS

QUEUE_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Timeout: { Type: Number, Default: 30 }
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: { VisibilityTimeout: !Ref Timeout }
  TicketsBucket:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
  LedgerBucket:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
Outputs:
  QueueName: { Value: !GetAtt Queue.QueueName }
  TicketsBucketName: { Value: !Ref TicketsBucket }
  LedgerBucketName: { Value: !Ref LedgerBucket }
"""


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        yield lambda service: session.client(service)


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(QUEUE_TEMPLATE)
    return path


def visibility_timeout(aws) -> str:
    [url] = aws("sqs").list_queues()["QueueUrls"]
    return aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"][
        "VisibilityTimeout"
    ]


def deploy(aws, template, parameters=None, confirm=lambda lines: True) -> tuple[dict[str, str], list[str]]:
    said: list[str] = []
    outputs = deploy_aws.deploy_stack(
        aws("cloudformation"), "st", template, parameters or {}, confirm, said.append, poll_seconds=1
    )
    return outputs, said


def test_a_new_stack_is_created_through_a_change_set_that_is_shown_first(aws, template):
    shown: list[list[str]] = []
    _, said = deploy(aws, template, confirm=lambda lines: shown.append(lines) or True)
    assert sorted(line.split()[:3] for line in shown[0]) == [
        ["Add", "LedgerBucket", "AWS::S3::Bucket"],
        ["Add", "Queue", "AWS::SQS::Queue"],
        ["Add", "TicketsBucket", "AWS::S3::Bucket"],
    ]
    assert shown[0] == said[1:4], "shown before the question"
    assert "create change set" in said[0]
    assert visibility_timeout(aws) == "30"


def test_an_existing_stack_is_updated_through_a_change_set(aws, template):
    deploy(aws, template)
    _, said = deploy(aws, template, {"Timeout": "45"})
    assert "update change set" in said[0]
    assert visibility_timeout(aws) == "45"


def test_a_declined_change_set_is_deleted_and_changes_nothing(aws, template):
    deploy(aws, template)
    with pytest.raises(deploy_aws.DeployError, match="not executed"):
        deploy(aws, template, {"Timeout": "45"}, confirm=lambda lines: False)
    cfn = aws("cloudformation")
    pending = [
        c for c in cfn.list_change_sets(StackName="st")["Summaries"] if c["ExecutionStatus"] == "AVAILABLE"
    ]
    assert pending == []
    assert visibility_timeout(aws) == "30"
    assert cfn.describe_stacks(StackName="st")["Stacks"][0]["Parameters"][0]["ParameterValue"] == "30"


class RolledBack:
    """A CloudFormation client whose stack failed its creation."""

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 — boto3's keyword
        return {"Stacks": [{"StackStatus": "ROLLBACK_COMPLETE"}]}


def test_a_rolled_back_stack_must_be_deleted_before_deploying_again(template):
    with pytest.raises(deploy_aws.DeployError, match="delete it first"):
        deploy_aws.deploy_stack(RolledBack(), "st", template, {}, lambda lines: True, print)


def generated_secrets(aws) -> dict[str, str]:
    """What the bootstrap stack creates: one secret per variable, holding a generated value."""
    secretsmanager = aws("secretsmanager")
    return {
        output: secretsmanager.create_secret(Name=f"boot/{variable}", SecretString="generated")["ARN"]
        for variable, output in SECRET_OUTPUTS.items()
    }


def test_secrets_come_from_the_environment_and_unset_ones_block_the_deployment(aws, capsys):
    outputs = generated_secrets(aws)
    secretsmanager = aws("secretsmanager")
    assert deploy_aws.secrets_never_set(secretsmanager, outputs) == [
        "SLACK_BOT_TOKEN",
        "TRELLO_KEY",
        "TRELLO_TOKEN",
    ]

    env = {"SLACK_BOT_TOKEN": "xoxb-secret-value-1", "TRELLO_KEY": "", "PATH": "/bin"}
    assert deploy_aws.set_secrets(secretsmanager, outputs, env) == ["SLACK_BOT_TOKEN"]
    stored = secretsmanager.get_secret_value(SecretId=outputs["SlackBotTokenSecretArn"])["SecretString"]
    assert stored == "xoxb-secret-value-1"
    assert deploy_aws.secrets_never_set(secretsmanager, outputs) == ["TRELLO_KEY", "TRELLO_TOKEN"]
    assert deploy_aws.set_secrets(secretsmanager, outputs, env) == [], (
        "an unchanged value is not stored again"
    )
    versions = secretsmanager.list_secret_version_ids(SecretId=outputs["SlackBotTokenSecretArn"])["Versions"]
    assert len(versions) == 2
    assert "xoxb-secret-value-1" not in capsys.readouterr().out


def bucket_names(aws) -> set[str]:
    return {b["Name"] for b in aws("s3").list_buckets()["Buckets"]}


def test_destroy_keeps_the_buckets_unless_asked(aws, template):
    deploy(aws, template)
    kept = bucket_names(aws)
    assert len(kept) == 2
    aws("s3").put_object(Bucket=sorted(kept)[0], Key="tickets/low/t.json", Body=b"{}")

    said: list[str] = []
    deploy_aws.destroy(aws, "st", delete_buckets=False, say=said.append, poll_seconds=1)
    assert stack_status(aws("cloudformation"), "st") is None
    assert bucket_names(aws) == kept
    assert "kept buckets" in said[-1]

    deploy(aws, template)
    new = bucket_names(aws) - kept
    assert len(new) == 2
    aws("s3").put_object(Bucket=sorted(new)[0], Key="tickets/low/t.json", Body=b"{}")
    deploy_aws.destroy(aws, "st", delete_buckets=True, say=said.append, poll_seconds=1)
    assert bucket_names(aws) == kept, "only the stack's own buckets, emptied and deleted"


def test_deploying_needs_every_service_image_pushed_with_the_tag(aws):
    ecr = aws("ecr")
    for image in IMAGES:
        ecr.create_repository(repositoryName=f"tr/{image}")
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    )
    for image in ("ingest", "worker-slack", "worker-s3"):
        ecr.put_image(repositoryName=f"tr/{image}", imageManifest=manifest, imageTag="1.4.0")
    assert deploy_aws.images_missing(ecr, "tr", "1.4.0") == ["worker-trello"]
    assert deploy_aws.images_missing(ecr, "tr", "1.5.0") == [
        "ingest",
        "worker-slack",
        "worker-trello",
        "worker-s3",
    ]


def test_the_pushed_image_reference_is_the_one_the_task_definitions_pull():
    router, _ = decode(str(deploy_aws.ROUTER_TEMPLATE))
    [container] = router["Resources"]["WorkerS3TaskDefinition"]["Properties"]["ContainerDefinitions"]
    head, prefix, tail = container["Image"]["Fn::Join"][1]
    pseudo = {
        "${AWS::AccountId}": "123456789012",
        "${AWS::Region}": "eu-west-1",
        "${AWS::URLSuffix}": "amazonaws.com",
    }
    registry = head["Fn::Sub"]
    for name, value in pseudo.items():
        registry = registry.replace(name, value)
    assert prefix == {"Fn::ImportValue": {"Fn::Sub": "${BootstrapStackName}-RepositoryPrefix"}}
    pulled = registry + "ticketrouter" + tail["Fn::Sub"].replace("${ImageTag}", "1.4.0")
    registry_host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert pulled == image_reference(registry_host, "ticketrouter", "worker-s3", "1.4.0")


def test_templates_travel_as_compact_json_within_cloudformations_size_limit():
    for path in (deploy_aws.ROUTER_TEMPLATE, deploy_aws.BOOTSTRAP_TEMPLATE):
        body = template_body(path)
        assert len(body.encode()) < 51_200
        assert json.loads(body) == json.loads(json.dumps(decode(str(path))[0]))


def test_parameters_file_lists_become_comma_separated(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"ServiceSubnetIds": ["subnet-a", "subnet-b"], "IngestTasks": 3}))
    assert deploy_aws.read_parameters(path) == {"ServiceSubnetIds": "subnet-a,subnet-b", "IngestTasks": "3"}
    with pytest.raises(deploy_aws.DeployError, match="parameters.example.json"):
        deploy_aws.read_parameters(tmp_path / "missing.json")


def test_the_example_parameters_name_only_parameters_of_the_template():
    router, _ = decode(str(deploy_aws.ROUTER_TEMPLATE))
    example = deploy_aws.read_parameters(deploy_aws.DEPLOY / "parameters.example.json")
    assert set(example) <= set(router["Parameters"])
    required = {name for name, p in router["Parameters"].items() if "Default" not in p}
    assert required - set(example) == {"ImageTag"}, "make deploy-aws passes ImageTag itself"
