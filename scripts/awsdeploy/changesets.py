"""CloudFormation stacks, created or updated through a change set that is shown before it runs."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from cfnlint.decode import decode

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


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
    """Create or update the stack through a change set, shown and confirmed first; returns its outputs."""
    status = stack_status(cfn, name)
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise DeployError(f"stack {name} is {status}: delete it first (make destroy-aws) and deploy again")
    change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    change_set = f"deploy-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    if not create_change_set(cfn, name, change_set, change_type, template, parameters, poll_seconds):
        say(f"{name}: no changes")
        return stack_outputs(cfn, name)
    changes = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)["Changes"]
    lines = describe_changes(changes)
    say(f"{name}: {change_type.lower()} change set {change_set}, {len(lines)} change(s):")
    for line in lines:
        say(line)
    if not confirm(lines):
        cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
        raise DeployError(f"{name}: change set not executed")
    execute_change_set(cfn, name, change_set, change_type, say, poll_seconds)
    return stack_outputs(cfn, name)


def create_change_set(
    cfn: Any,
    name: str,
    change_set: str,
    change_type: str,
    template: Path,
    parameters: Mapping[str, str],
    poll_seconds: int,
) -> bool:
    """Create the change set and wait for it; False (and deleted) when it changes nothing."""
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
            return False
        raise DeployError(f"change set for {name} failed: {reason}") from None
    return True


def execute_change_set(
    cfn: Any, name: str, change_set: str, change_type: str, say: Callable[[str], None], poll_seconds: int
) -> None:
    """Execute the change set and wait until the stack is complete; DeployError with its failures if not."""
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
