"""A router VM's boot bundle: per model, the hold gate's spec and the slots' routers (issue 13).

Each cloud's resolve stage calls `router_cloud_config` with the names it resolved for the GPU groups
behind each slot; everything in the bundle comes from the plan, so no Terraform token lands in it and
the cloud encodes it like a GPU fleet's bundle (`llmdeploy.boot.bundle.encode`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from llmdeploy.boot.context import region
from llmdeploy.config.model import Slot
from llmdeploy.engines import PROXY_PORT
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.plan.routing import RouterGroupPlan

#: The port the router VM's nginx listens on: the load balancer sends to it as to a GPU replica.
ROUTER_PORT = PROXY_PORT
#: Loopback ports: model i's gate at GATE_BASE + i, its slot routers at ROUTER_BASE + 2 i (+1 green).
GATE_BASE = 18000
ROUTER_BASE = 30000
SPEC_DIR = "/etc/llmdeploy/router"


@dataclass(frozen=True)
class SlotGroup:
    """The GPU group behind one model's slot, by the names the cloud resolved."""

    group: str
    #: AWS: the slot's target group name (the agent looks up its ARN once at start).
    target_group: str = ""
    #: GCP: the backend service that health-checks the slot's MIG.
    backend_service: str = ""


@dataclass(frozen=True)
class CloudScope:
    """Where the agent's cloud calls go (the VM's own identity signs them)."""

    project: str = ""
    subscription: str = ""
    resource_group: str = ""


def _router_port(model_index: int, slot: Slot) -> int:
    return ROUTER_BASE + 2 * model_index + (0 if slot == "blue" else 1)


def agent_specs(
    plan: DeploymentPlan,
    group: RouterGroupPlan,
    scope: CloudScope,
    slots: Mapping[str, Mapping[Slot, SlotGroup]],
) -> dict[str, dict[str, object]]:
    """Per model, the JSON the router VM's agent is started with (llmdeploy.routing.agent.AgentSpec)."""
    specs: dict[str, dict[str, object]] = {}
    for index, model in enumerate(plan.models):
        weights = {fleet.slot: fleet.traffic.weight for fleet in model.fleets_on(group.cloud)}
        specs[model.name] = {
            "cloud": group.cloud,
            "region": "" if group.cloud == "azure" else region(plan, group.cloud),
            "project": scope.project,
            "subscription": scope.subscription,
            "resource_group": scope.resource_group,
            "listen_port": GATE_BASE + index,
            "replica_port": PROXY_PORT,
            "health_path": group.health_paths[model.name],
            "budget_s": group.hold_budget_s,
            "queue_limit": group.queue_limit,
            "keepalive_s": group.keepalive_s,
            "per_replica_concurrency": group.per_replica_concurrency[model.name],
            "session_header": group.session_header,
            "slots": {
                slot: {
                    "router": f"http://127.0.0.1:{_router_port(index, slot)}",
                    "weight": weights[slot],
                    "group": ref.group,
                    "target_group": ref.target_group,
                    "backend_service": ref.backend_service,
                }
                for slot, ref in slots[model.name].items()
            },
        }
    return specs


def router_cloud_config(
    plan: DeploymentPlan,
    group: RouterGroupPlan,
    scope: CloudScope,
    slots: Mapping[str, Mapping[Slot, SlotGroup]],
) -> str:
    """The router VM's cloud-config (not yet encoded for the cloud)."""
    specs = agent_specs(plan, group, scope, slots)
    # A JSON string is a YAML double-quoted scalar: the spec lands verbatim.
    files = "".join(
        f"  - path: {SPEC_DIR}/{name}.json\n    permissions: '0644'\n"
        f"    content: {json.dumps(json.dumps(spec))}\n"
        for name, spec in specs.items()
    )
    return f"#cloud-config\nwrite_files:\n{files}"
