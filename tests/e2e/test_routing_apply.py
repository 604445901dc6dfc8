"""An environment with `routing.enabled` deployed on the local AWS emulator: the router group (its own
load balancer, an Auto Scaling group across both zones, a role scoped to the fleet's group) is created
beside the GPU fleet, a second plan is empty, and destroy removes both load balancers.

One apply serves the whole module (each load balancer costs the AWS provider ~60 s on the emulator).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest

from llmdeploy.boot.router import ROUTER_PORT
from tests.e2e.project import Project, local_project

pytestmark = pytest.mark.terraform

ENV = "routing"
STACK = f"{ENV}-aws"
PROJECT = "llmdeploy-routing"
#: dev.yaml made small, with the router layer on.
ROUTING_YAML = """\
extends: base.yaml
tier: dev
clouds:
  aws:
    region: us-east-1
    zones: [us-east-1a, us-east-1b]
routing:
  enabled: true
  min_routers: 2
models:
  - name: chat
    engine: tgi
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types:
      aws: [g6.xlarge]
    capacity: {min: 0, max: 2, desired: 1}
    autoscaling:
      scale_to_zero: true   # behind routers the fleet scales on its engine queue by default
"""
ROUTER_GROUP = f"{PROJECT}-{ENV}-router"


@dataclass
class Deployment:
    project: Project
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        return self.project.client(service)

    def router_group(self) -> dict[str, Any]:
        (group,) = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[ROUTER_GROUP]
        )["AutoScalingGroups"]
        found: dict[str, Any] = group
        return found

    def fleet_group(self) -> str:
        name: str = self.outputs["fleets"]["chat-blue"]["asg_name"]
        return name


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, terraform_cli_env: dict[str, str]
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("routing-project")
    with local_project(root, PROJECT, terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        (project.environments / f"{ENV}.yaml").write_text(ROUTING_YAML, encoding="utf-8")
        try:
            applied = project.run("apply", ENV, "--cloud", "aws", "--local", "--auto-approve")
            assert applied.returncode == 0, applied.stdout + applied.stderr
            yield Deployment(project, project.outputs(STACK))
        finally:
            project.run("destroy", ENV, "--cloud", "aws", "--local", "--auto-approve")


def test_second_plan_reports_no_changes(deployment: Deployment) -> None:
    result = deployment.project.run("plan", ENV, "--cloud", "aws", "--local", "--detailed-exitcode")
    assert result.returncode == 0, result.stdout + result.stderr


def test_routers_are_a_fixed_group_across_both_zones_replaced_on_elb_health(deployment: Deployment) -> None:
    group = deployment.router_group()
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (2, 2, 2)
    assert group["HealthCheckType"] == "ELB"
    assert sorted(group["AvailabilityZones"]) == ["us-east-1a", "us-east-1b"]
    subnets = group["VPCZoneIdentifier"].split(",")
    described = deployment.client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"]
    assert sorted(subnet["AvailabilityZone"] for subnet in described) == ["us-east-1a", "us-east-1b"]
    assert not any(subnet["MapPublicIpOnLaunch"] for subnet in described)
    assert len(group["Instances"]) == 2


def test_routers_sit_behind_their_own_load_balancer_health_checked_on_the_model_path(
    deployment: Deployment,
) -> None:
    elbv2 = deployment.client("elbv2")
    (router_tg_arn,) = deployment.router_group()["TargetGroupARNs"]
    (group,) = elbv2.describe_target_groups(TargetGroupArns=[router_tg_arn])["TargetGroups"]
    assert (group["Port"], group["HealthCheckPath"]) == (ROUTER_PORT, "/health")
    (lb_arn,) = group["LoadBalancerArns"]
    (lb,) = elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"]
    assert deployment.outputs["router_endpoint"] == f"http://{lb['DNSName']}"
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert [(action["Type"], action["TargetGroupArn"]) for action in listener["DefaultActions"]] == [
        ("forward", router_tg_arn)
    ]
    # The fleet's target group stays on the fleets' load balancer, where its health is checked.
    fleet_tg = deployment.outputs["fleets"]["chat-blue"]["target_group_arn"]
    (fleet_group,) = elbv2.describe_target_groups(TargetGroupArns=[fleet_tg])["TargetGroups"]
    assert fleet_group["LoadBalancerArns"] and lb_arn not in fleet_group["LoadBalancerArns"]


def test_router_role_may_resize_only_the_fleets_group(deployment: Deployment) -> None:
    iam = deployment.client("iam")
    role = f"{ROUTER_GROUP}-instance"
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(unquote(document))
    statements = {statement["Sid"]: statement for statement in document["Statement"]}
    (resource,) = statements["WakeFleets"]["Resource"]
    assert resource.endswith(f":autoScalingGroupName/{deployment.fleet_group()}")
    assert statements["WakeFleets"]["Action"] == ["autoscaling:SetDesiredCapacity"]
    assert set(statements) == {"ReadMembership", "WakeFleets", "PublishRouterMetrics"}
    # Router metrics: PutMetricData only, and only in llmdeploy's namespace.
    publish = statements["PublishRouterMetrics"]
    assert publish["Action"] == ["cloudwatch:PutMetricData"]
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": "LLMDeploy"}}


def test_replicas_admit_the_routers_on_the_proxy_port(deployment: Deployment) -> None:
    ec2 = deployment.client("ec2")
    groups = {
        group["GroupName"]: group
        for group in ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [f"{PROJECT}-{ENV}-*"]}]
        )["SecurityGroups"]
    }
    routers = groups[f"{PROJECT}-{ENV}-routers"]["GroupId"]
    replicas = groups[f"{PROJECT}-{ENV}-instances"]["GroupId"]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [replicas]}])[
        "SecurityGroupRules"
    ]
    from_routers = [
        (rule["FromPort"], rule["ToPort"])
        for rule in rules
        if not rule["IsEgress"] and rule.get("ReferencedGroupInfo", {}).get("GroupId") == routers
    ]
    assert from_routers == [(ROUTER_PORT, ROUTER_PORT)]


def test_destroy_removes_the_routers_and_both_load_balancers(deployment: Deployment) -> None:
    result = deployment.project.run("destroy", ENV, "--cloud", "aws", "--local", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    autoscaling = deployment.client("autoscaling")
    assert (
        autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ROUTER_GROUP])["AutoScalingGroups"]
        == []
    )
    assert deployment.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
