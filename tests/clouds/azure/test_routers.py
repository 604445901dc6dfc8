"""Azure's router group as resolved (issue 13): off by default; when on, CPU VMs over the zones whose
boot bundle names each model's scale sets in this environment's resource group."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import yaml

from llmdeploy.boot.router import routed_models
from llmdeploy.clouds.azure.resolve import (
    DIRECT_PRIORITY,
    READER_ACTIONS,
    ROUTER_PRIORITY,
    SCALER_ACTIONS,
    AzureRouterGroup,
    resolve,
)
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from tests.conftest import WriteEnv

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"

ENV = """\
project: demo
clouds:
  azure: {{location: eastus, zones: ["1", "2", "3"]{subscription}}}
access: {{scheme: internet-facing, require_api_key: false, allowed_cidrs: [203.0.113.0/24]}}
{routing}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    dtype: float16
    instance_types: {{azure: [Standard_NC4as_T4_v3]}}
    load_balancing: {{algorithm: round_robin, request_timeout_s: 240}}
    slots:
      blue: {{weight: 80}}
      green: {{weight: 20}}
  - name: coder
    engine: vllm
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    dtype: float16
    instance_types: {{azure: [Standard_NC4as_T4_v3]}}
    load_balancing: {{algorithm: round_robin, request_timeout_s: 240}}
"""


def _plan(
    write_env: WriteEnv,
    routing: str = "routing: {enabled: true}",
    subscription: str = SUBSCRIPTION,
) -> DeploymentPlan:
    extra = f", subscription_id: {subscription}"
    return build_plan(
        load_environment(write_env(ENV.format(routing=routing, subscription=extra), "prod.yaml"))
    )


def _routers(plan: DeploymentPlan) -> AzureRouterGroup:
    routers = resolve(plan).routers
    assert routers is not None
    return routers


def agent_specs(plan: DeploymentPlan, custom_data: str) -> dict[str, dict[str, Any]]:
    """The agent spec of each model, read where the router bundle writes it, from custom_data."""
    config = yaml.safe_load(gzip.decompress(base64.b64decode(custom_data)).decode())
    files = {entry["path"]: entry["content"] for entry in config["write_files"]}
    group = plan.router_group("azure")
    assert group is not None
    return {model.name: json.loads(files[model.spec_path]) for model in routed_models(plan, group)}


def test_no_router_group_unless_routing_is_enabled(write_env: WriteEnv) -> None:
    assert resolve(_plan(write_env, routing="")).routers is None
    assert resolve(_plan(write_env, routing="routing: {enabled: false}")).routers is None


def test_cpu_routers_over_every_zone_sized_from_the_routing_block(write_env: WriteEnv) -> None:
    routers = _routers(_plan(write_env))
    assert (routers.sku, routers.instances, routers.zones) == ("Standard_D2s_v5", 2, ("1", "2", "3"))
    assert (routers.scale_set, routers.origin_address, routers.identity) == (
        "routers",
        "routers-origin",
        "routers-identity",
    )
    chosen = _routers(
        _plan(
            write_env,
            routing="routing: {enabled: true, min_routers: 3, instance_types: {azure: Standard_F4s_v2}}",
        )
    )
    assert (chosen.sku, chosen.instances) == ("Standard_F4s_v2", 3)
    medium = _routers(_plan(write_env, routing="routing: {enabled: true, size: medium}"))
    assert medium.sku == "Standard_D4s_v5"


def test_the_bundle_names_each_models_scale_sets_in_the_resource_group(write_env: WriteEnv) -> None:
    plan = _plan(write_env)
    routers = _routers(plan)
    specs = agent_specs(plan, routers.custom_data)
    assert set(specs) == {"chat", "coder"}
    chat, coder = specs["chat"], specs["coder"]
    assert {slot: entry["group"] for slot, entry in chat["slots"].items()} == {
        "blue": "chat-blue",
        "green": "chat-green",
    }
    assert {slot: entry["weight"] for slot, entry in chat["slots"].items()} == {"blue": 80, "green": 20}
    assert {slot: entry["group"] for slot, entry in coder["slots"].items()} == {"blue": "coder-blue"}
    for spec in (chat, coder):
        assert (spec["cloud"], spec["resource_group"], spec["subscription"]) == (
            "azure",
            "demo-prod",
            SUBSCRIPTION,
        )
    for fleet in plan.fleets_on("azure"):
        assert specs[fleet.model]["health_path"] == fleet.health.path
    assert routers.fleet_scale_sets == ("chat-blue", "chat-green", "coder-blue")


def test_the_bundle_digest_follows_the_weights(write_env: WriteEnv) -> None:
    first = _routers(_plan(write_env))
    moved = build_plan(
        load_environment(
            write_env(
                ENV.format(
                    routing="routing: {enabled: true}", subscription=f", subscription_id: {SUBSCRIPTION}"
                )
                .replace("{weight: 80}", "{weight: 50}")
                .replace("{weight: 20}", "{weight: 50}"),
                "prod.yaml",
            )
        )
    )
    second = _routers(moved)
    assert first.bundle_digest != second.bundle_digest
    assert {s["weight"] for s in agent_specs(moved, second.custom_data)["chat"]["slots"].values()} == {50}


def test_custom_roles_unique_in_the_tenant_and_least_privilege(write_env: WriteEnv) -> None:
    routers = _routers(_plan(write_env))
    other = _routers(_plan(write_env, subscription="99999999-2222-3333-4444-555555555555"))
    # Custom role names are unique per tenant: the same environment in two subscriptions differs.
    assert routers.scaler_role != other.scaler_role
    assert routers.scaler_role.startswith("demo-prod-routers-scaler-")
    assert routers.reader_role.startswith("demo-prod-routers-reader-")
    # Only the scaler role writes, and only scale sets (assigned per fleet scale set by the construct).
    writes = [action for action in (*SCALER_ACTIONS, *READER_ACTIONS) if not action.endswith("/read")]
    assert writes == ["Microsoft.Compute/virtualMachineScaleSets/write"]
    assert all(action.startswith("Microsoft.Compute/virtualMachineScaleSets") for action in SCALER_ACTIONS)


def test_router_health_on_the_routers_port(write_env: WriteEnv) -> None:
    routers = _routers(_plan(write_env))
    assert routers.health.port == routers.router_port
    assert json.loads(routers.health_extension) == {
        "protocol": "http",
        "port": routers.router_port,
        "requestPath": routers.health.path,
    }
    # Front Door prefers the lowest priority value: the routers, then the direct path.
    assert ROUTER_PRIORITY < DIRECT_PRIORITY <= 5
