"""The router on AWS with CloudFormation: make deploy-aws, destroy-aws, images-push, deploy-localstack.

Two stacks from deploy/aws/: the bootstrap stack (ECR repositories and secrets) and the main
stack (everything else). Each is created or updated through a change set that is shown before
it runs. Secret values come from the environment (INGEST_API_TOKEN, TEAMS_WEBHOOK_SECRET,
SLACK_BOT_TOKEN, TRELLO_KEY, TRELLO_TOKEN) and go straight to Secrets Manager: never into a
template, a parameter or this program's output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from awsdeploy.changesets import DeployError, deploy_stack, read_parameters
from awsdeploy.images import PLATFORMS, build_and_push, images_missing, registry_login
from awsdeploy.localstack import (
    LOCALSTACK_IGNORED,
    LOCALSTACK_MOCKED,
    localstack_parameters,
    localstack_skips,
    service_environment,
)
from awsdeploy.secret_values import secrets_never_set, set_secrets
from awsdeploy.teardown import destroy

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "aws"
BOOTSTRAP_TEMPLATE = DEPLOY / "bootstrap.yaml"
ROUTER_TEMPLATE = DEPLOY / "router.yaml"


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
