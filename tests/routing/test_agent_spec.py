"""The router VM's agent specs, as the boot bundle writes them, are what the agent accepts."""

from __future__ import annotations

from functools import cache

import pytest

from llmdeploy.boot.router import CloudScope, SlotGroup, agent_specs
from llmdeploy.catalog import Cloud
from llmdeploy.config import load
from llmdeploy.config.model import Slot
from llmdeploy.config.routing import Routing
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.plan.routing import RouterGroupPlan
from llmdeploy.routing.agent import AgentSpec
from llmdeploy.routing.sources import aws_target_group_arn
from tests.conftest import EXAMPLE_NAMES, EXAMPLE_VARIABLES, REPO
from tests.fixtures_aws import AwsClient

CLOUDS: tuple[Cloud, ...] = ("aws", "gcp", "azure")
SCOPES: dict[Cloud, CloudScope] = {
    "aws": CloudScope(),
    "gcp": CloudScope(project="llmdeploy-demo-123"),
    "azure": CloudScope(subscription="00000000-0000-0000-0000-000000000000", resource_group="llmdeploy-prod"),
}


@cache
def routed_plan(env: str, **routing: object) -> DeploymentPlan:
    """An example environment's plan with `routing.enabled` (and `routing` settings) on."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in EXAMPLE_VARIABLES.items():
            patch.setenv(name, value)
        config = load(str(REPO / "environments" / f"{env}.yaml"))
    settings = Routing.model_validate({"enabled": True, **routing})
    return build_plan(config.model_copy(update={"routing": settings}))


def routed_clouds(env: str) -> list[tuple[str, Cloud]]:
    return [(env, entry.cloud) for entry in routed_plan(env).clouds]


def group_of(plan: DeploymentPlan, cloud: Cloud) -> RouterGroupPlan:
    group = plan.router_group(cloud)
    assert group is not None, f"routing is enabled, so {cloud} has a router group"
    return group


def slot_groups(plan: DeploymentPlan, cloud: Cloud) -> dict[str, dict[Slot, SlotGroup]]:
    """The names a cloud's stack would resolve for each model's slots (as its resolve stage passes them)."""
    return {
        model.name: {
            fleet.slot: SlotGroup(
                group=f"{plan.project}-{plan.env}-{fleet.name}",
                target_group=f"{fleet.name}-tg" if cloud == "aws" else "",
                backend_service=f"{fleet.name}-backend" if cloud == "gcp" else "",
            )
            for fleet in model.fleets_on(cloud)
        }
        for model in plan.models
    }


def specs_of(plan: DeploymentPlan, cloud: Cloud) -> dict[str, dict[str, object]]:
    return agent_specs(plan, group_of(plan, cloud), SCOPES[cloud], slot_groups(plan, cloud))


@pytest.mark.parametrize(("env", "cloud"), [case for env in EXAMPLE_NAMES for case in routed_clouds(env)])
def test_every_models_spec_validates_as_the_agents_spec_with_the_plans_values(env: str, cloud: Cloud) -> None:
    plan = routed_plan(env)
    group = group_of(plan, cloud)
    specs = specs_of(plan, cloud)
    assert set(specs) == {model.name for model in plan.models}
    ports = set()
    for model in plan.models:
        spec = AgentSpec.model_validate(specs[model.name])
        assert spec.cloud == cloud and spec.health_path == group.health_paths[model.name]
        assert spec.per_replica_concurrency == group.per_replica_concurrency[model.name]
        assert {slot: chosen.weight for slot, chosen in spec.slots.items()} == {
            fleet.slot: fleet.traffic.weight for fleet in model.fleets_on(cloud)
        }
        assert sum(chosen.weight for chosen in spec.slots.values()) == 100
        if cloud == "aws":
            assert all(chosen.target_group.endswith("-tg") for chosen in spec.slots.values())
        ports |= {spec.listen_port, *(chosen.router for chosen in spec.slots.values())}
    # Every gate and router of the VM has its own loopback port.
    assert len(ports) == sum(1 + len(model.fleets_on(cloud)) for model in plan.models)


def test_an_aws_agent_finds_its_target_groups_arn_by_the_name_the_bundle_carries(
    aws_client: AwsClient, unique_name: str
) -> None:
    ec2, elbv2 = aws_client("ec2"), aws_client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    created = elbv2.create_target_group(Name=unique_name, Protocol="HTTP", Port=8080, VpcId=vpc)
    assert aws_target_group_arn(elbv2, unique_name) == created["TargetGroups"][0]["TargetGroupArn"]
    with pytest.raises(elbv2.exceptions.TargetGroupNotFoundException):
        aws_target_group_arn(elbv2, f"{unique_name}-none")


def test_on_azure_a_request_is_held_no_longer_than_front_door_waits_for_an_origin() -> None:
    plan = routed_plan("prod", hold_budget_s=600)
    budgets = {group.cloud: group.hold_budget_s for group in plan.routers}
    assert budgets == {"aws": 600, "gcp": 600, "azure": 230}, "Front Door answers 504 after 240 s"
