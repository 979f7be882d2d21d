"""deploy-localstack: LocalStack's parameters, and what it deploys only in name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from awsdeploy.changesets import DeployError

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
