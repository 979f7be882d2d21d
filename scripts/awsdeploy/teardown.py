"""make destroy-aws: the main stack (its buckets kept unless asked), then the bootstrap stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from awsdeploy.changesets import stack_outputs, stack_status
from awsdeploy.images import empty_image_repositories


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
