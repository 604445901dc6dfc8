"""Names of the GCP and Azure resources that the stacks create and `llmdeploy status` reads back.

Both sides call these functions, so a renamed resource cannot leave the status command looking for
the old name. Every name fits its cloud's limits without cutting: project, environment and model
names are slugs of at most 20 characters (GCP resource names allow 63, Azure resource groups 90).
GCP has no resource groups, so per-fleet GCP names carry the environment; on Azure everything of an
environment lives in its own resource group and needs no prefix.
"""

from __future__ import annotations

from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.model import DeploymentPlan, FleetPlan

HTTP = "http"
HTTPS = "https"


def stack_prefix(plan: DeploymentPlan) -> str:
    """`<project>-<env>`: the name of environment-wide resources."""
    return f"{plan.project}-{plan.env}"


def gcp_fleet(plan: DeploymentPlan, fleet: FleetPlan) -> str:
    """`<env>-<model>-<slot>`: the fleet's autoscaled instance group, backend service and health check."""
    return f"{plan.env}-{fleet.name}"


def gcp_base_group(plan: DeploymentPlan, fleet: FleetPlan) -> str:
    """The fleet's fixed-size on-demand base group (when it has an on-demand base)."""
    return f"{gcp_fleet(plan, fleet)}-base"


def azure_scale_set(fleet: FleetPlan) -> str:
    """`<model>-<slot>`: the fleet's scale set, load balancer prefix and Front Door origin."""
    return fleet.name


def scheme(plan: DeploymentPlan, cloud_serves_https: bool = False) -> str:
    """`https` when the endpoint has a certificate (a configured domain, or one the cloud provides)."""
    return HTTPS if plan.access.tls.domain or cloud_serves_https else HTTP


def model_host(plan: DeploymentPlan, model: str) -> str | None:
    """`<model>.<domain>` with host routing, None with path routing.

    Raises:
        ConfigError: host routing without a domain (GCP and Azure match host names only exactly).
    """
    if plan.access.routing != "host":
        return None
    if plan.access.tls.domain is None:
        raise ConfigError(
            [
                Problem(
                    "access.routing is host, but no domain is set to build the models' host names from",
                    path="access.tls.domain",
                    hint="set access.tls.domain (models are then served at <model>.<domain>), "
                    "or use routing: path",
                )
            ]
        )
    return f"{model}.{plan.access.tls.domain}"


def endpoint(plan: DeploymentPlan, model: str, address: str, cloud_serves_https: bool = False) -> str:
    """The URL clients call for `model`, given the load balancer's address (IP or host name).

    With a domain, clients use it (its certificate names it, not the address).
    """
    host = model_host(plan, model)
    if host is not None:
        return f"{scheme(plan, cloud_serves_https)}://{host}/"
    prefix = next(entry.route_prefix for entry in plan.models if entry.name == model)
    return f"{scheme(plan, cloud_serves_https)}://{plan.access.tls.domain or address}{prefix}"


def gcp_groups(plan: DeploymentPlan, fleet: FleetPlan) -> tuple[str, ...]:
    """The fleet's instance groups: the autoscaled one (unless the base is the whole fleet), then the base."""
    base = fleet.spot.on_demand_base
    autoscaled = (gcp_fleet(plan, fleet),) if fleet.max_size > base else ()
    return autoscaled + ((gcp_base_group(plan, fleet),) if base > 0 else ())
