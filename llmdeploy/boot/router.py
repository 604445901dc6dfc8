"""A router VM's boot bundle: nginx -> per model, the hold gate and one vllm-router per slot (issue 13).

Each cloud's resolve stage calls `router_cloud_config` with the names it resolved for the GPU groups
behind each slot; everything in the bundle comes from the plan, so no Terraform token lands in it and
the cloud encodes it like a GPU fleet's bundle (`llmdeploy.boot.bundle.encode`). The bundle carries
no secret: the API key stays checked on the replicas (the gate and vllm-router forward Authorization).

On the VM: cloud-init installs nginx and python3-venv, writes the files below, and runs the bootstrap,
which makes a venv with the pinned router, the agent's libraries and the cloud's SDK, then starts
per model `llmdeploy-router-<i>-<slot>` (vllm-router) and `llmdeploy-route-<i>` (the agent: gate and
membership, from the shipped source of `llmdeploy.routing`), `i` being the model's place in the plan.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from llmdeploy.boot.agent_source import compact
from llmdeploy.boot.bundle import CLOUD_CONFIG, BootFile, encode
from llmdeploy.boot.context import region
from llmdeploy.boot.render import render
from llmdeploy.boot.size import USER_DATA_LIMITS, counted_size
from llmdeploy.catalog import Cloud
from llmdeploy.config.model import Slot
from llmdeploy.engines import PROXY_PORT
from llmdeploy.errors import OperationError
from llmdeploy.plan.endpoints import model_host
from llmdeploy.plan.model import DeploymentPlan, ModelPlan
from llmdeploy.plan.routing import RouterGroupPlan
from llmdeploy.routing.common import HEALTH_PATH

#: The port the router VM's nginx listens on: the load balancer sends to it as to a GPU replica.
ROUTER_PORT = PROXY_PORT
#: Loopback ports: model i's gate at GATE_BASE + i, its slot routers at ROUTER_BASE + 2 i (+1 green)
#: and their Prometheus pages at ROUTER_METRICS_BASE + 2 i (+1 green); vllm-router's defaults are
#: 30000 and 29000, so two routers on one VM must each be given their own.
GATE_BASE = 18000
ROUTER_BASE = 30000
ROUTER_METRICS_BASE = 29000
SPEC_DIR = "/etc/llmdeploy/router"
#: The shipped `llmdeploy.routing` source: PYTHONPATH of the agents.
SOURCE_DIR = "/opt/llmdeploy/router"
VENV = "/opt/llmdeploy/router-venv"
NGINX_CONF = "/etc/nginx/conf.d/llmdeploy-router.conf"
BOOTSTRAP = "/usr/local/sbin/llmdeploy-router-bootstrap"
UNIT_DIR = "/etc/systemd/system"
#: The modules of `llmdeploy/routing/` the agent runs (the harness stays home): stdlib, the pinned
#: packages below and each other only (tests/routing/test_agent_shipped.py runs exactly these).
ROUTING_MODULES = (
    "__init__",
    "common",
    "admission",
    "fleet",
    "metrics",
    "slots",
    "scaleup",
    "membership",
    "sources",
    "hold",
    "publish",
    "rest_metrics",
    "agent",
)
#: Modules only some clouds' router VMs run (the rest of ROUTING_MODULES ships everywhere): GCP's and
#: Azure's metrics senders stay off AWS, whose user data is limited to 16 KB.
CLOUD_ONLY_MODULES: dict[str, tuple[Cloud, ...]] = {"rest_metrics": ("gcp", "azure")}
#: What the bootstrap installs into the venv, pinned as in pyproject.toml's extras (a test compares).
ROUTER_PACKAGES = ("vllm-router==0.1.17", "aiohttp==3.14.5", "pydantic==2.14.4")
#: The cloud's SDK for membership, the scale-up hook and (AWS) metrics; GCP and Azure metrics go over
#: aiohttp. azure-mgmt-network reads the replicas' NIC addresses (pinned in the `routing` extra too).
CLOUD_PACKAGES: dict[Cloud, tuple[str, ...]] = {
    "aws": ("boto3==1.44.8",),
    "gcp": ("google-cloud-compute==1.57.0",),
    "azure": ("azure-identity==1.27.0", "azure-mgmt-compute==39.0.0", "azure-mgmt-network==33.1.0"),
}
#: Debian/Ubuntu packages cloud-init installs before the bootstrap runs.
OS_PACKAGES = ("nginx", "python3-venv")
#: The GPU proxy's floor for its keep-alive: longer than GCP's 610 s load balancer keep-alive.
_LB_KEEPALIVE_FLOOR_S = 610


@dataclass(frozen=True)
class SlotGroup:
    """The GPU group behind one model's slot, by the names the cloud resolved."""

    group: str
    #: AWS: the slot's target group name (the agent looks up its ARN once at start).
    target_group: str = ""
    #: GCP: the backend service that health-checks the slot's MIG.
    backend_service: str = ""
    #: Further groups whose VMs are the slot's replicas too (GCP: the on-demand base and share MIGs
    #: beside the autoscaled one); membership reads them all, the scale-up hook only `group`.
    more_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloudScope:
    """Where the agent's cloud calls go (the VM's own identity signs them)."""

    project: str = ""
    subscription: str = ""
    resource_group: str = ""


@dataclass(frozen=True)
class SlotRouter:
    """One slot's vllm-router on the VM."""

    slot: Slot
    port: int
    metrics_port: int
    unit: str


@dataclass(frozen=True)
class RoutedModel:
    """One model on the router VM: where nginx finds its gate and what starts its processes."""

    index: int
    name: str
    gate_port: int
    spec_path: str
    unit: str
    #: Path routing: the prefix the load balancer routes by ("" with host routing).
    route_prefix: str
    #: Host routing: the model's host name ("" with path routing).
    host: str
    #: Exact paths the load balancers probe for this model; nginx answers them from the gate's health.
    health_paths: tuple[str, ...]
    #: The hold budget plus the slowest fleet's request timeout: nginx must wait that long for bytes.
    read_timeout_s: int
    routers: tuple[SlotRouter, ...]
    router_args: tuple[str, ...]


def _router(index: int, slot: Slot) -> SlotRouter:
    offset = 2 * index + (0 if slot == "blue" else 1)
    return SlotRouter(
        slot, ROUTER_BASE + offset, ROUTER_METRICS_BASE + offset, f"llmdeploy-router-{index}-{slot}"
    )


def _routed(plan: DeploymentPlan, group: RouterGroupPlan, index: int, model: ModelPlan) -> RoutedModel:
    fleets = model.fleets_on(group.cloud)
    host = model_host(plan, model.name)
    # The load balancer's probe, and the per-model path Route 53 checks through it (global DNS).
    health = {
        group.health_paths[model.name],
        plan.keyless_health_paths.get(model.name, group.health_paths[model.name]),
    }
    return RoutedModel(
        index=index,
        name=model.name,
        gate_port=GATE_BASE + index,
        spec_path=f"{SPEC_DIR}/model-{index}.json",
        unit=f"llmdeploy-route-{index}",
        route_prefix="" if host else model.route_prefix,
        host=host or "",
        health_paths=tuple(sorted(health)),
        read_timeout_s=group.hold_budget_s + max(fleet.traffic.request_timeout_s for fleet in fleets),
        routers=tuple(_router(index, fleet.slot) for fleet in fleets),
        router_args=tuple(group.router_args(model.name)),
    )


def routed_models(plan: DeploymentPlan, group: RouterGroupPlan) -> list[RoutedModel]:
    """The models the cloud serves, in the plan's order (a model's index names its units and ports)."""
    return [
        _routed(plan, group, index, model)
        for index, model in enumerate(plan.models)
        if model.fleets_on(group.cloud)
    ]


def agent_specs(
    plan: DeploymentPlan,
    group: RouterGroupPlan,
    scope: CloudScope,
    slots: Mapping[str, Mapping[Slot, SlotGroup]],
) -> dict[str, dict[str, object]]:
    """Per model, the JSON the router VM's agent is started with (llmdeploy.routing.agent.AgentSpec)."""
    specs: dict[str, dict[str, object]] = {}
    for routed in routed_models(plan, group):
        model = next(entry for entry in plan.models if entry.name == routed.name)
        weights = {fleet.slot: fleet.traffic.weight for fleet in model.fleets_on(group.cloud)}
        ports = {router.slot: router.port for router in routed.routers}
        specs[model.name] = {
            "cloud": group.cloud,
            "region": "" if group.cloud == "azure" else region(plan, group.cloud),
            "project": scope.project,
            "subscription": scope.subscription,
            "resource_group": scope.resource_group,
            "listen_port": routed.gate_port,
            "replica_port": PROXY_PORT,
            "health_path": group.health_paths[model.name],
            "budget_s": group.hold_budget_s,
            "queue_limit": group.queue_limit,
            "keepalive_s": group.keepalive_s,
            "per_replica_concurrency": group.per_replica_concurrency[model.name],
            "session_header": group.session_header,
            "metrics": {"project": plan.project, "environment": plan.env, "model": model.name},
            "slots": {
                slot: {
                    "router": f"http://127.0.0.1:{ports[slot]}",
                    "weight": weights[slot],
                    "group": ref.group,
                    "target_group": ref.target_group,
                    "backend_service": ref.backend_service,
                    "more_groups": list(ref.more_groups),
                }
                for slot, ref in slots[model.name].items()
            },
        }
    return specs


def _without_descriptions(source: str) -> str:
    """The module without the `description=` of its pydantic `Field`s: documentation for the schema
    and the reader, never read on the VM (validation messages do not use it), and a quarter of the
    agent spec's size in EC2's 16 KB."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Field":
            node.keywords = [keyword for keyword in node.keywords if keyword.arg != "description"]
    return ast.unparse(tree)


@cache
def routing_sources(cloud: Cloud) -> dict[str, str]:
    """The shipped `llmdeploy` package by path under SOURCE_DIR: an empty `__init__` and the routing
    modules `cloud`'s router VMs run, compacted like the GPU agents (no docstrings, comments,
    function annotations or field descriptions)."""
    package = resources.files("llmdeploy.routing")
    shipped = {"llmdeploy/__init__.py": ""}
    for name in ROUTING_MODULES:
        if cloud not in CLOUD_ONLY_MODULES.get(name, (cloud,)):
            continue
        source = _without_descriptions(package.joinpath(f"{name}.py").read_text("utf-8"))
        shipped[f"llmdeploy/routing/{name}.py"] = compact(source)
    return shipped


def _context(plan: DeploymentPlan, group: RouterGroupPlan) -> dict[str, Any]:
    models = routed_models(plan, group)
    fleets = plan.fleets_on(group.cloud)
    # Each health path once (nginx refuses two exact locations alike): models sharing one (the engines'
    # /health) are answered by the first model's gate.
    health: dict[str, RoutedModel] = {}
    for model in models:
        for path in model.health_paths:
            health.setdefault(path, model)
    return {
        "env": plan.env,
        "cloud": group.cloud,
        "models": models,
        "health": health,
        "gate_health_path": HEALTH_PATH,
        "router_port": ROUTER_PORT,
        "keepalive_s": max([*(fleet.traffic.idle_timeout_s for fleet in fleets), _LB_KEEPALIVE_FLOOR_S]) + 10,
        "venv": VENV,
        "source_dir": SOURCE_DIR,
        "packages": [*ROUTER_PACKAGES, *CLOUD_PACKAGES[group.cloud]],
        "os_packages": list(OS_PACKAGES),
        "bootstrap": BOOTSTRAP,
        "units": [unit for model in models for unit in (*(r.unit for r in model.routers), model.unit)],
    }


def router_files(
    plan: DeploymentPlan,
    group: RouterGroupPlan,
    scope: CloudScope,
    slots: Mapping[str, Mapping[Slot, SlotGroup]],
) -> dict[str, str]:
    """The router VM's files by path, plus the cloud-config under `bundle.CLOUD_CONFIG`.

    Raises:
        RenderError: a value cannot be written faithfully into a boot file.
    """
    context = _context(plan, group)
    specs = agent_specs(plan, group, scope, slots)
    files = [
        BootFile(BOOTSTRAP, "0755", render("router/bootstrap.sh.j2", context)),
        BootFile(NGINX_CONF, "0644", render("router/nginx.conf.j2", context)),
    ]
    for model in context["models"]:
        files.append(BootFile(model.spec_path, "0644", json.dumps(specs[model.name], indent=1) + "\n"))
        unit = {**context, "model": model}
        files.append(
            BootFile(f"{UNIT_DIR}/{model.unit}.service", "0644", render("router/agent.service.j2", unit))
        )
        for router in model.routers:
            service = render("router/vllm-router.service.j2", {**unit, "router": router})
            files.append(BootFile(f"{UNIT_DIR}/{router.unit}.service", "0644", service))
    files += [
        BootFile(f"{SOURCE_DIR}/{path}", "0644", source)
        for path, source in routing_sources(group.cloud).items()
    ]
    cloud_config = render("router/cloud-config.yaml.j2", {**context, "files": files})
    return {**{file.path: file.content for file in files}, CLOUD_CONFIG: cloud_config}


def router_cloud_config(
    plan: DeploymentPlan,
    group: RouterGroupPlan,
    scope: CloudScope,
    slots: Mapping[str, Mapping[Slot, SlotGroup]],
) -> str:
    """The router VM's cloud-config (not yet encoded for the cloud).

    Raises:
        OperationError: encoded, it exceeds the cloud's user data limit.
        RenderError: a value cannot be written faithfully into a boot file.
    """
    cloud_config = router_files(plan, group, scope, slots)[CLOUD_CONFIG]
    size, limit = counted_size(group.cloud, encode(group.cloud, cloud_config)), USER_DATA_LIMITS[group.cloud]
    if size > limit:
        raise OperationError(
            f"the router VMs' user data on {group.cloud} is {size} bytes, over the cloud's limit of "
            f"{limit} bytes; this is a defect in llmdeploy's router bundle: report it with the "
            "environment file"
        )
    return cloud_config
