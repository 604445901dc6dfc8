"""Load balancer limits the clouds enforce only at apply time, checked when the config is validated.

Each count is taken from the routes the cloud's resolution hands its constructs
(`llmdeploy.clouds.<cloud>.resolve`), so a change to what a stack emits per model or slot moves the
count with it. A fixed limit refuses the environment. An adjustable quota whose default the
environment passes is a warning: validation makes no cloud call, so it cannot see an account whose
quota is already raised, and refusing would lock that account out.

Not checked, because the stacks cannot reach them (tests/config/test_lb_limits.py holds each bound):
ALB target groups per action and condition values per rule (a model has at most two slots), Front
Door rules per rule set and origins per origin group (likewise), and Front Door routes, rule sets and
custom domains per profile (one of each per model at most, so the origin groups, two or more per
model, reach their equal limit first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmdeploy.catalog import Cloud

if TYPE_CHECKING:
    from llmdeploy.config.environment import EnvironmentConfig
    from llmdeploy.plan.model import DeploymentPlan

_ALB_QUOTAS = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html"
_FRONT_DOOR_LIMITS = (
    "https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits"
    "#azure-front-door-standard-and-premium-service-limits"
)


@dataclass(frozen=True)
class Limit:
    """A documented cloud limit on something a stack creates."""

    cloud: Cloud
    #: As the cloud's documentation names it.
    name: str
    maximum: int
    source: str
    #: How the account owner raises it, for an adjustable quota (`maximum` is its default); None: fixed.
    increase: str | None = None


#: "Rules per Application Load Balancer (excluding default rules)": 100, adjustable (ELB quotas,
#: "Rules"). Counted on the fleets' ALB; the routers' own ALB has its default rule only.
ALB_RULES = Limit(
    "aws",
    "Rules per Application Load Balancer",
    100,
    _ALB_QUOTAS,
    increase="request an increase in Service Quotas (Elastic Load Balancing) before deploying",
)
#: "Target Groups per Application Load Balancer": 100, not adjustable (ELB quotas, "Load balancers").
ALB_TARGET_GROUPS = Limit("aws", "Target Groups per Application Load Balancer", 100, _ALB_QUOTAS)
#: "Maximum origin group per profile": 100 on the Standard tier (llmdeploy deploys Standard:
#: modules/azure/access.py FRONT_DOOR_SKU), 200 on Premium; a tier limit, not a quota.
FRONT_DOOR_ORIGIN_GROUPS = Limit(
    "azure", "origin groups per Front Door Standard profile", 100, _FRONT_DOOR_LIMITS
)
#: "Web application firewall IP address ranges per custom rule": 600 (both tiers). The WAF policy
#: admits the clients by one IPMatch custom rule over every CIDR (modules/azure/access.py).
FRONT_DOOR_WAF_RANGES = Limit(
    "azure", "IP address ranges per Front Door WAF custom rule", 600, _FRONT_DOOR_LIMITS
)


@dataclass(frozen=True)
class Count:
    """How much of a limit an environment would use, and what the user can change."""

    limit: Limit
    count: int
    #: The config key the count grows with.
    key: str
    #: What the count is made of, for the message.
    made_of: str
    #: What to change to stay within the limit.
    fewer: str

    @property
    def over(self) -> bool:
        return self.count > self.limit.maximum

    def message(self) -> str:
        limit, cloud = self.limit, self.limit.cloud
        head = f"{self.key}: {cloud} would get {self.count} {limit.name} ({self.made_of})"
        if limit.increase is None:
            return (
                f"{head}, but allows at most {limit.maximum} (a fixed limit, not a quota: {limit.source}), "
                f"so the apply would fail: {self.fewer}"
            )
        return (
            f"{head}, over the default quota of {limit.maximum} ({limit.source}): the apply fails unless "
            f"this account's quota is at least {self.count}; {limit.increase}, or {self.fewer}"
        )


def limit_problems(config: EnvironmentConfig) -> list[str]:
    """Fixed load balancer limits the environment would exceed, as `key: message` lines."""
    return [count.message() for count in counts(_plan(config)) if count.over and count.limit.increase is None]


def limit_warnings(config: EnvironmentConfig) -> list[str]:
    """Default quotas the environment would exceed, as `key: message` lines."""
    return [count.message() for count in counts(_plan(config)) if count.over and count.limit.increase]


def counts(plan: DeploymentPlan) -> list[Count]:
    """Every checked limit of every cloud the plan deploys to, with the environment's count."""
    found: list[Count] = []
    clouds = {entry.cloud for entry in plan.clouds}
    if "aws" in clouds:
        found += _aws(plan)
    if "azure" in clouds:
        found += _azure(plan)
    return found


def _plan(config: EnvironmentConfig) -> DeploymentPlan:
    # Imported here: the plan is built from this config, whose validation calls these checks.
    from llmdeploy.plan.build import build_plan

    return build_plan(config)


def _aws(plan: DeploymentPlan) -> list[Count]:
    """The fleets' ALB: per route a weighted rule and one rule per slot (modules/aws/load_balancer.py),
    one target group per fleet."""
    from llmdeploy.clouds.aws.resolve import listener_routes

    routes = listener_routes(plan)
    slots = sum(len(route.weights) for route in routes)
    fewer = "serve fewer models or slots on aws, or split the models across environments"
    return [
        Count(
            ALB_RULES,
            len(routes) + slots,
            "models",
            f"a weighted rule per model ({len(routes)}) plus a rule per slot ({slots})",
            fewer,
        ),
        Count(
            ALB_TARGET_GROUPS,
            len(plan.fleets_on("aws")),
            "models",
            "one per model and slot",
            fewer,
        ),
    ]


def _azure(plan: DeploymentPlan) -> list[Count]:
    """Front Door: per route its weighted origin group and one group per slot
    (modules/azure/load_balancer.py); one WAF rule matching every client CIDR (modules/azure/access.py)."""
    from llmdeploy.clouds.azure.resolve import front_door_routes

    routes = front_door_routes(plan)
    slots = sum(len(route.fleets) for route in routes)
    cidrs = len(plan.access.allowed_cidrs)
    return [
        Count(
            FRONT_DOOR_ORIGIN_GROUPS,
            len(routes) + slots,
            "models",
            f"a weighted origin group per model ({len(routes)}) plus one per slot ({slots})",
            "serve fewer models or slots on azure, or split the models across environments",
        ),
        Count(
            FRONT_DOOR_WAF_RANGES,
            cidrs,
            "access.allowed_cidrs",
            "one WAF match value per client network",
            "merge the networks into fewer, wider CIDRs",
        ),
    ]
