"""boto3 clients bound to one emulator, and the few resources most correction tests start from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3  # type: ignore[import-untyped]

from llmdeploy.emulator import EmulatorHandle
from llmdeploy.emulator.seeds import SEED_AMI_ID

Clients = Callable[[str], Any]


def clients_for(handle: EmulatorHandle, region: str = "us-east-1") -> Clients:
    """`clients("ec2")`: a client for that service on `handle`, with throwaway keys."""

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=handle.endpoint_url,
            region_name=region,
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
        )

    return make


def subnet_and_template(clients: Clients, name: str, cidr: str = "10.20") -> tuple[str, str]:
    """A VPC with one subnet in us-east-1a, and a launch template `<name>-lt`: their ids."""
    ec2 = clients("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.1.0/24", AvailabilityZone="us-east-1a")
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": SEED_AMI_ID, "InstanceType": "t3.micro"},
    )
    return subnet["Subnet"]["SubnetId"], template["LaunchTemplate"]["LaunchTemplateId"]


def template_group(clients: Clients, name: str, cidr: str, **settings: Any) -> dict[str, Any]:
    """A launch-template group of at most one instance, plus `settings`: as described."""
    subnet, template = subnet_and_template(clients, name, cidr)
    autoscaling = clients("autoscaling")
    autoscaling.create_auto_scaling_group(
        **{"MinSize": 0, "MaxSize": 1, **settings},
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template},
        VPCZoneIdentifier=subnet,
    )
    return described_group(clients, name)


def described_group(clients: Clients, name: str) -> dict[str, Any]:
    groups = clients("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    group: dict[str, Any] = groups["AutoScalingGroups"][0]
    return group
