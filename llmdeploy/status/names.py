"""Names of the GCP and Azure resources that the stacks create and `llmdeploy status` reads back.

Both sides call these functions, so a renamed resource cannot leave the status command looking for
the old name. Every name fits its cloud's limits: project, environment and model
names are slugs of at most 20 characters (GCP resource names allow 63, Azure resource groups 90);
longer combinations are cut and end in a hash. GCP has no resource groups, so per-fleet GCP names
carry the project and the environment; on Azure everything of an environment lives in its own
resource group and needs no prefix.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from llmdeploy.config.clouds import GcpCloud
from llmdeploy.plan.endpoints import stack_prefix
from llmdeploy.plan.model import DeploymentPlan, FleetPlan

#: GCP resource names: at most 63 characters (RFC 1035 labels).
GCP_NAME_LIMIT = 63
_GROUP_NAME_LIMIT = 58
_HASH_CHARS = 6
#: Roles of a fleet's GCP groups, the part of their names after the fleet's: the first autoscaled
#: group, the autoscaled on-demand share above the base next to it, the fixed on-demand base.
AUTOSCALED = ""
ON_DEMAND_SHARE = "od"
BASE = "base"
#: The registries the engine and proxy images come from (llmdeploy/engines.py, boot/context.py), and
#: the suffix of the Artifact Registry remote repository that caches each for a GCP environment.
GCP_REGISTRY_UPSTREAMS = {"docker.io": "docker-hub", "ghcr.io": "ghcr"}


def gcp_fleet(plan: DeploymentPlan, fleet: FleetPlan) -> str:
    """`<project>-<env>-<model>-<slot>`: the fleet's backend service and health check.

    The project keeps two llmdeploy projects with the same environment and model names apart in
    one GCP project (GCP has no resource groups).
    """
    return short_name(plan.project, plan.env, fleet.name, limit=GCP_NAME_LIMIT)


def gcp_spot_group(plan: DeploymentPlan, fleet: FleetPlan) -> str:
    """The fleet's first autoscaled group: its spot VMs (on-demand when it has no spot VMs at all)."""
    return _gcp_group(plan, fleet, AUTOSCALED)


def gcp_base_group(plan: DeploymentPlan, fleet: FleetPlan) -> str:
    """The fleet's fixed-size on-demand base group (when it has an on-demand base)."""
    return _gcp_group(plan, fleet, BASE)


def _gcp_group(plan: DeploymentPlan, fleet: FleetPlan, role: str) -> str:
    """A managed instance group's name, ending in a hash of its region and zones.

    Both are ForceNew: a new zone list needs a new group next to the old one (create before destroy),
    whose name must differ (hashicorp/terraform-provider-google#6376). At most 58 characters: the
    group's name is also its VMs' base instance name, which the API caps at 58.
    """
    settings = plan.cloud("gcp").settings
    assert isinstance(settings, GcpCloud)
    placement = ",".join([settings.region, *sorted(settings.zones)])
    head = short_name(plan.project, plan.env, fleet.name, role, limit=_GROUP_NAME_LIMIT - _HASH_CHARS - 1)
    return f"{head}-{_digest(placement)}"


@dataclass(frozen=True)
class GcpGroup:
    """One managed instance group of a fleet: its name, VM kind and size bounds.

    `autoscaled` groups get an autoscaler with `minimum`..`maximum` and start at `desired`; the
    base group is fixed at `desired`.
    """

    name: str
    role: str
    spot: bool
    autoscaled: bool
    minimum: int
    desired: int
    maximum: int


def gcp_group_plan(plan: DeploymentPlan, fleet: FleetPlan) -> list[GcpGroup]:
    """The fleet's groups: spot (autoscaled), the on-demand share above the base (autoscaled), the base.

    Above the base the fleet runs `min - base`..`max - base` VMs. The on-demand group takes
    `on_demand_percent_above_base` of each bound rounded up (the cost model's rounding), the spot
    group the rest; a group left with no VM to run at its maximum is not created. GCP's autoscaler
    reads its signal from a group's own VMs, so every autoscaled group keeps at least one.
    """
    base, share = fleet.spot.on_demand_base, fleet.spot.on_demand_percent_above_base
    above = (fleet.min_size - base, fleet.desired_size - base, fleet.max_size - base)
    on_demand = tuple(math.ceil(bound * share / 100) for bound in above)
    spot = tuple(bound - part for bound, part in zip(above, on_demand, strict=True))
    groups = []
    if spot[2] > 0:
        name = gcp_spot_group(plan, fleet)
        groups.append(GcpGroup(name, AUTOSCALED, True, True, max(spot[0], 1), max(spot[1], 1), spot[2]))
    if on_demand[2] > 0:
        # All on-demand above the base: the group takes the spot group's place (nothing is spot).
        role = ON_DEMAND_SHARE if groups else AUTOSCALED
        bounds = (max(on_demand[0], 1), max(on_demand[1], 1), on_demand[2])
        groups.append(GcpGroup(_gcp_group(plan, fleet, role), role, False, True, *bounds))
    if base > 0:
        groups.append(GcpGroup(gcp_base_group(plan, fleet), BASE, False, False, base, base, base))
    return groups


def gcp_groups(plan: DeploymentPlan, fleet: FleetPlan) -> tuple[str, ...]:
    """The names of the fleet's instance groups, in `gcp_group_plan` order."""
    return tuple(group.name for group in gcp_group_plan(plan, fleet))


def gcp_registry_mirror(plan: DeploymentPlan, upstream: str) -> str:
    """The Artifact Registry remote repository caching `upstream` (a key of GCP_REGISTRY_UPSTREAMS)."""
    return f"{stack_prefix(plan)}-{GCP_REGISTRY_UPSTREAMS[upstream]}"


def gcp_certificate(plan: DeploymentPlan, domains: list[str]) -> str:
    """The managed certificate for `domains`: a new name per domain list (its domains are ForceNew)."""
    return f"{stack_prefix(plan)}-{_digest(','.join(sorted(domains)))}"


def short_name(*parts: str, limit: int) -> str:
    """`parts` joined by dashes; over `limit`, cut and suffixed with a hash of the full name.

    Stable for the same parts (a changed name replaces the resource) and distinct for different
    parts even when they share a long prefix.
    """
    name = "-".join(part for part in parts if part)
    if len(name) <= limit:
        return name
    head = name[: limit - _HASH_CHARS - 1].rstrip("-")
    return f"{head}-{_digest(name)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_CHARS]


def azure_scale_set(fleet: FleetPlan) -> str:
    """`<model>-<slot>`: the fleet's scale set, load balancer prefix and Front Door origin."""
    return fleet.name
