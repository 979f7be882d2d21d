"""The router on AWS with CloudFormation: make deploy-aws, destroy-aws, images-push, deploy-localstack.

Two stacks from deploy/aws/: the bootstrap stack (ECR repositories and secrets) and the main
stack (everything else). Each is created or updated through a change set that is shown before
it runs. Secret values come from the environment (INGEST_API_TOKEN, TEAMS_WEBHOOK_SECRET,
SLACK_BOT_TOKEN, TRELLO_KEY, TRELLO_TOKEN) and go straight to Secrets Manager: never into a
template, a parameter or this program's output.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError
from cfnlint.decode import decode

from images import SERVICES, build_command

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "aws"
BOOTSTRAP_TEMPLATE = DEPLOY / "bootstrap.yaml"
ROUTER_TEMPLATE = DEPLOY / "router.yaml"
IMAGES = SERVICES
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
PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# Resource types LocalStack's free edition does not emulate: it reports them deployed "as a fallback".
LOCALSTACK_SKIPPED = frozenset(
    {
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::ECS::Service",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::CloudWatch::Dashboard",
    }
)
LOCALSTACK_SKIP_REASON = "is not supported but was deployed as a fallback"
# Deployed, but with these properties left out by LocalStack's resource providers (seen with
# localstack-core 2026.3.0; the container test fails when this list stops being true).
LOCALSTACK_IGNORED = frozenset(
    {
        "AWS::S3::Bucket.LifecycleConfiguration",
        "AWS::Logs::LogGroup.RetentionInDays",
        "AWS::EC2::SecurityGroup.SecurityGroupIngress",
    }
)
# Created as a stand-in without an ECR API behind it.
LOCALSTACK_MOCKED = frozenset({"AWS::ECR::Repository"})


class DeployError(Exception):
    """A deployment step failed; the message says which and why."""


def template_body(path: Path) -> str:
    """The template as compact JSON: the YAML with its comments is near CloudFormation's 51 200-byte limit."""
    template, problems = decode(str(path))
    if problems:
        raise DeployError(f"{path}: {problems[0]}")
    return json.dumps(template, separators=(",", ":"))


def read_parameters(path: Path) -> dict[str, str]:
    """A JSON object of parameter name → value (lists become comma-separated strings)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DeployError(
            f"{path} not found: copy deploy/aws/parameters.example.json and fill it in"
        ) from None
    return {key: ",".join(value) if isinstance(value, list) else str(value) for key, value in raw.items()}


def stack_status(cfn: Any, name: str) -> str | None:
    """The stack's status, or None when there is no such stack."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def describe_changes(changes: list[dict[str, Any]]) -> list[str]:
    """One line per resource change: action, logical id, type, and whether it is replaced."""
    lines = []
    for change in changes:
        resource = change["ResourceChange"]
        replacement = resource.get("Replacement")
        note = (
            "  (replaced)"
            if replacement == "True"
            else "  (may be replaced)"
            if replacement == "Conditional"
            else ""
        )
        lines.append(
            f"  {resource['Action']:<7} {resource['LogicalResourceId']:<32} {resource['ResourceType']}{note}"
        )
    return lines


def failure_events(cfn: Any, name: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [
        f"  {e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED")
    ][:10]


def deploy_stack(
    cfn: Any,
    name: str,
    template: Path,
    parameters: Mapping[str, str],
    confirm: Callable[[list[str]], bool],
    say: Callable[[str], None] = print,
    poll_seconds: int = 10,
) -> dict[str, str]:
    """Create or update the stack through a change set; returns its outputs."""
    status = stack_status(cfn, name)
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise DeployError(f"stack {name} is {status}: delete it first (make destroy-aws) and deploy again")
    change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    change_set = f"deploy-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    cfn.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType=change_type,
        TemplateBody=template_body(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": poll_seconds, "MaxAttempts": 60}
        )
    except WaiterError:
        described = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
            say(f"{name}: no changes")
            return stack_outputs(cfn, name)
        raise DeployError(f"change set for {name} failed: {reason}") from None
    changes = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)["Changes"]
    lines = describe_changes(changes)
    say(f"{name}: {change_type.lower()} change set {change_set}, {len(lines)} change(s):")
    for line in lines:
        say(line)
    if not confirm(lines):
        cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
        raise DeployError(f"{name}: change set not executed")
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    say(f"{name}: waiting for {waiter.replace('_', ' ')[6:]} …")
    try:
        # ECS services reach a steady state in minutes; 90 minutes covers a slow rollback too.
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": poll_seconds, "MaxAttempts": 540})
    except WaiterError:
        raise DeployError(
            f"{name} is {stack_status(cfn, name)}:\n" + "\n".join(failure_events(cfn, name))
        ) from None
    return stack_outputs(cfn, name)


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


def stack_buckets(cfn: Any, stack: str) -> list[str]:
    """Names of the stack's buckets (kept by their DeletionPolicy when the stack goes)."""
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    return [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::S3::Bucket"]


def empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def destroy(
    clients: Callable[[str], Any],
    stack: str,
    delete_buckets: bool,
    bootstrap: str | None = None,
    say: Callable[[str], None] = print,
    poll_seconds: int = 10,
    empty_repositories: bool = True,
) -> None:
    """Delete the main stack (keeping its buckets unless delete_buckets), then the named bootstrap stack.

    The repositories are emptied first (CloudFormation refuses to delete one with images);
    LocalStack only pretends to create them, hence empty_repositories=False there.
    """
    cfn = clients("cloudformation")
    if stack_status(cfn, stack) is not None:
        buckets = stack_buckets(cfn, stack)
        cfn.delete_stack(StackName=stack)
        say(f"{stack}: deleting …")
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack, WaiterConfig={"Delay": poll_seconds, "MaxAttempts": 360}
        )
        if delete_buckets:
            s3 = clients("s3")
            for bucket in buckets:
                empty_bucket(s3, bucket)
                s3.delete_bucket(Bucket=bucket)
                say(f"deleted bucket {bucket}")
        elif buckets:
            say(f"kept buckets {', '.join(buckets)} (DELETE_BUCKETS=1 deletes them)")
    else:
        say(f"{stack}: no such stack")
    if bootstrap and stack_status(cfn, bootstrap) is not None:
        if empty_repositories:
            empty_image_repositories(clients("ecr"), stack_outputs(cfn, bootstrap)["RepositoryPrefix"])
        cfn.delete_stack(StackName=bootstrap)
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=bootstrap, WaiterConfig={"Delay": poll_seconds, "MaxAttempts": 120}
        )
        say(f"{bootstrap}: deleted, with its repositories and secrets")


def empty_image_repositories(ecr: Any, prefix: str) -> None:
    for image in IMAGES:
        repository = f"{prefix}/{image}"
        try:
            ids = ecr.list_images(repositoryName=repository).get("imageIds", [])
        except ClientError as error:
            if "RepositoryNotFound" in str(error):
                continue
            raise
        if ids:
            ecr.batch_delete_image(repositoryName=repository, imageIds=ids)


def images_missing(ecr: Any, prefix: str, tag: str) -> list[str]:
    """The service images (not the stand-ins) that have no image tagged tag in ECR."""
    missing = []
    for image in IMAGES[:4]:
        try:
            ecr.describe_images(repositoryName=f"{prefix}/{image}", imageIds=[{"imageTag": tag}])
        except ClientError as error:
            if error.response["Error"]["Code"] not in (
                "ImageNotFoundException",
                "RepositoryNotFoundException",
            ):
                raise
            missing.append(image)
    return missing


def image_reference(registry: str, prefix: str, image: str, tag: str) -> str:
    """The same reference the main template's task definitions use."""
    return f"{registry}/{prefix}/{image}:{tag}"


def registry_login(ecr: Any) -> str:
    """Log docker in to the account's ECR registry; returns the registry host."""
    authorization = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(authorization["authorizationToken"]).decode().split(":", 1)
    registry = authorization["proxyEndpoint"].removeprefix("https://")
    subprocess.run(
        ["docker", "login", "--username", user, "--password-stdin", registry],
        input=password.encode(),
        check=True,
        capture_output=True,
    )
    return registry


def build_and_push(
    registry: str, prefix: str, tag: str, architecture: str, say: Callable[[str], None]
) -> None:
    """Build the five images for the architecture and push them (tags are immutable in ECR)."""
    for image in IMAGES:
        reference = image_reference(registry, prefix, image, tag)
        say(f"building {reference} ({PLATFORMS[architecture]})")
        build = build_command(image, reference, platform=PLATFORMS[architecture])
        subprocess.run(build, cwd=ROOT, check=True)
        subprocess.run(["docker", "push", reference], check=True)


def localstack_parameters(ec2: Any, bootstrap: str) -> dict[str, str]:
    """Parameters for LocalStack: its default VPC, stand-in destinations, a placeholder certificate."""
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault")]
    if not vpcs:
        raise DeployError("LocalStack has no default VPC (is ec2 among its SERVICES?)")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": vpcs[:1]}])["Subnets"]
    subnet_ids = ",".join(s["SubnetId"] for s in subnets[:2])
    return {
        "BootstrapStackName": bootstrap,
        "ImageTag": "localstack",
        "VpcId": vpcs[0],
        "LoadBalancerSubnetIds": subnet_ids,
        "ServiceSubnetIds": subnet_ids,
        "DomainName": "localhost",
        "CertificateArn": "arn:aws:acm:us-east-1:000000000000:certificate/localstack",
        "SlackChannel": "C0STANDIN",
        "TrelloListId": "standin-list",
        # LocalStack records the subscription as pending and sends nothing.
        "AlarmEmail": "alarms@example.com",
    }


def localstack_skips(cfn: Any, stack: str) -> dict[str, str]:
    """Logical id → type of every resource LocalStack did not deploy for real."""
    skipped = {}
    for resource in cfn.describe_stack_resources(StackName=stack)["StackResources"]:
        if LOCALSTACK_SKIP_REASON in (resource.get("ResourceStatusReason") or ""):
            skipped[resource["LogicalResourceId"]] = resource["ResourceType"]
    for event in cfn.describe_stack_events(StackName=stack)["StackEvents"]:
        if LOCALSTACK_SKIP_REASON in (event.get("ResourceStatusReason") or ""):
            skipped[event["LogicalResourceId"]] = event["ResourceType"]
    return skipped


def service_environment(outputs: Mapping[str, str]) -> dict[str, str]:
    """The non-secret variables a service needs to run against a deployed main stack."""
    return {
        "QUEUE_HIGH": outputs["HighQueueName"],
        "QUEUE_MEDIUM": outputs["MediumQueueName"],
        "QUEUE_LOW": outputs["LowQueueName"],
        "TICKETS_BUCKET": outputs["TicketsBucketName"],
        "LEDGER_BUCKET": outputs["LedgerBucketName"],
    }


def confirmation(assume_yes: bool) -> Callable[[list[str]], bool]:
    def confirm(lines: list[str]) -> bool:
        if assume_yes or not lines:
            return True
        if not sys.stdin.isatty():
            raise DeployError("not a terminal: pass YES=1 (make) or --yes to execute change sets unattended")
        return input("Execute this change set? [y/N] ").strip().lower() in ("y", "yes")

    return confirm


def session_clients(endpoint: str | None, region: str | None) -> Callable[[str], Any]:
    session = boto3.session.Session(region_name=region)
    if endpoint:  # LocalStack accepts any credentials; use its conventional ones unless given.
        session = boto3.session.Session(
            region_name=region or "us-east-1",
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        )
    return lambda service: session.client(service, endpoint_url=endpoint)


def print_outputs(outputs: Mapping[str, str]) -> None:
    width = max(map(len, outputs), default=0)
    for key in sorted(outputs):
        print(f"  {key:<{width}}  {outputs[key]}")


def run_deploy(args: argparse.Namespace, clients: Callable[[str], Any], localstack: bool) -> int:
    cfn = clients("cloudformation")
    confirm = confirmation(args.yes or localstack)
    bootstrap = deploy_stack(cfn, args.bootstrap_stack, BOOTSTRAP_TEMPLATE, {}, confirm)
    stored = set_secrets(clients("secretsmanager"), bootstrap, os.environ)
    if stored:
        print(f"stored secrets: {', '.join(stored)}")
    if localstack:
        parameters = localstack_parameters(clients("ec2"), args.bootstrap_stack)
    else:
        unset = secrets_never_set(clients("secretsmanager"), bootstrap)
        if unset:
            raise DeployError(
                f"set {', '.join(unset)} first (export them and run make deploy-aws again): "
                "the workers cannot start with generated values"
            )
        parameters = {"BootstrapStackName": args.bootstrap_stack, **read_parameters(Path(args.parameters))}
        if args.image_tag:
            parameters["ImageTag"] = args.image_tag
        missing = images_missing(
            clients("ecr"), bootstrap["RepositoryPrefix"], parameters.get("ImageTag", "")
        )
        if missing:
            raise DeployError(
                f"no image tagged {parameters.get('ImageTag')!r} for {', '.join(missing)}: "
                "run make images-push with the same VERSION first"
            )
    outputs = deploy_stack(cfn, args.stack, ROUTER_TEMPLATE, parameters, confirm)
    print(f"\n{args.stack} outputs:")
    print_outputs(outputs)
    if localstack:
        skipped = localstack_skips(cfn, args.stack)
        kinds = ", ".join(sorted(set(skipped.values())))
        print(f"\nLocalStack did not emulate {len(skipped)} resources: {kinds}")
        print(f"It is known to ignore {', '.join(sorted(LOCALSTACK_IGNORED))}.")
        print(f"{', '.join(LOCALSTACK_MOCKED)} is a mock without an API behind it.")
        print("Run the services against this stack with:")
        for key, value in service_environment(outputs).items():
            print(f"  export {key}={value}")
        print(
            f"  (secrets: aws --endpoint-url {args.endpoint} secretsmanager get-secret-value --secret-id …)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["deploy", "deploy-localstack", "destroy", "images-push"])
    parser.add_argument("--stack", default="ticketrouter")
    parser.add_argument("--bootstrap-stack", default=None, help="default: <stack>-bootstrap")
    parser.add_argument("--parameters", default=str(DEPLOY / "parameters.json"))
    parser.add_argument("--image-tag", default="")
    parser.add_argument("--architecture", default="X86_64", choices=sorted(PLATFORMS))
    parser.add_argument("--endpoint", default=None, help="AWS endpoint (deploy-localstack: LocalStack's)")
    parser.add_argument("--delete-buckets", action="store_true")
    parser.add_argument("--delete-bootstrap", action="store_true")
    parser.add_argument("--yes", action="store_true", help="execute change sets without asking")
    args = parser.parse_args(argv)
    args.bootstrap_stack = args.bootstrap_stack or f"{args.stack}-bootstrap"
    localstack = args.command == "deploy-localstack"
    if localstack:
        args.endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:4566"
    clients = session_clients(
        args.endpoint, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    try:
        if args.command in ("deploy", "deploy-localstack"):
            return run_deploy(args, clients, localstack)
        if args.command == "destroy":
            bootstrap = args.bootstrap_stack if args.delete_bootstrap else None
            destroy(clients, args.stack, args.delete_buckets, bootstrap, empty_repositories=not args.endpoint)
            return 0
        if not args.image_tag:
            raise DeployError("images-push needs a tag (make images-push VERSION=1.4.0)")
        # The repositories live in the bootstrap stack: create (or update) it first.
        confirm = confirmation(args.yes)
        bootstrap = deploy_stack(
            clients("cloudformation"), args.bootstrap_stack, BOOTSTRAP_TEMPLATE, {}, confirm
        )
        prefix = bootstrap["RepositoryPrefix"]
        registry = registry_login(clients("ecr"))
        build_and_push(registry, prefix, args.image_tag, args.architecture, print)
        return 0
    except (DeployError, ClientError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
