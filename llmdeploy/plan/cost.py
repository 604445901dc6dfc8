"""Cost estimates from catalog list prices: per fleet at min and max capacity, spot mix included.

Estimates, not bills: the preferred (first) instance type's price stands for the fleet, spot at its
typical discount, 730 hours a month. The request layer's router VMs (on-demand, always running) are
counted; load balancers, storage and traffic are not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmdeploy.catalog import cpu_prices
from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.model import Spot
from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.plan.routing import RouterGroupPlan

HOURS_PER_MONTH = 730


def on_demand_count(replicas: int, spot: Spot) -> int:
    """Replicas on on-demand capacity: the base, then the configured share of the rest (rounded up)."""
    base = min(replicas, spot.on_demand_base)
    return base + math.ceil((replicas - base) * spot.on_demand_percent_above_base / 100)


def hourly_usd(fleet: FleetPlan, replicas: int) -> float:
    """USD per hour of `replicas` replicas of a fleet, with its spot/on-demand mix."""
    on_demand = on_demand_count(replicas, fleet.spot)
    return mix_usd_hour(fleet, on_demand, replicas - on_demand)


def mix_usd_hour(fleet: FleetPlan, on_demand: int, spot: int) -> float:
    """USD per hour of `on_demand` and `spot` replicas of a fleet (e.g. what runs right now)."""
    preferred = fleet.instance_types[0]
    return on_demand * preferred.on_demand_usd_hour + spot * preferred.spot_usd_hour


@dataclass(frozen=True)
class FleetCost:
    """What one fleet costs per hour at its min and max capacity, and all on-demand."""

    fleet: FleetPlan
    min_usd_hour: float
    max_usd_hour: float
    min_on_demand_usd_hour: float
    max_on_demand_usd_hour: float


def fleet_cost(fleet: FleetPlan) -> FleetCost:
    price = fleet.instance_types[0].on_demand_usd_hour
    return FleetCost(
        fleet=fleet,
        min_usd_hour=hourly_usd(fleet, fleet.min_size),
        max_usd_hour=hourly_usd(fleet, fleet.max_size),
        min_on_demand_usd_hour=fleet.min_size * price,
        max_on_demand_usd_hour=fleet.max_size * price,
    )


@dataclass(frozen=True)
class RouterCost:
    """One cloud's router group: on-demand CPU VMs that run whatever the fleets do (also at zero).

    `usd_hour` is None for a type the catalog does not price (`routing.instance_types` names any
    type); the totals then leave it out and the report says so.
    """

    group: RouterGroupPlan
    usd_hour: float | None


def router_cost(group: RouterGroupPlan) -> RouterCost:
    price = cpu_prices(group.cloud).get(group.instance_type)
    return RouterCost(group=group, usd_hour=None if price is None else price * group.count)


@dataclass(frozen=True)
class CostReport:
    """Every fleet's and router group's cost and the environment totals."""

    fleets: tuple[FleetCost, ...]
    routers: tuple[RouterCost, ...] = ()

    @property
    def routers_usd_hour(self) -> float:
        return sum(cost.usd_hour or 0.0 for cost in self.routers)

    @property
    def min_usd_hour(self) -> float:
        return sum(cost.min_usd_hour for cost in self.fleets) + self.routers_usd_hour

    @property
    def max_usd_hour(self) -> float:
        return sum(cost.max_usd_hour for cost in self.fleets) + self.routers_usd_hour

    @property
    def max_on_demand_usd_hour(self) -> float:
        return sum(cost.max_on_demand_usd_hour for cost in self.fleets) + self.routers_usd_hour

    @property
    def min_on_demand_usd_hour(self) -> float:
        return sum(cost.min_on_demand_usd_hour for cost in self.fleets) + self.routers_usd_hour


def cost_report(plan: DeploymentPlan) -> CostReport:
    return CostReport(
        fleets=tuple(fleet_cost(fleet) for model in plan.models for fleet in model.fleets),
        routers=tuple(router_cost(group) for group in plan.routers),
    )


#: The flag that lets a capacity-changing command go ahead over the budget (as a soft-mandatory cost
#: policy lets an authorized user override it): named in every refusal.
OVER_BUDGET_FLAG = "--allow-over-budget"


def monthly_estimate(plan: DeploymentPlan, report: CostReport) -> float | None:
    """USD per month at the budget's basis (min or max capacity); None without a budget."""
    if plan.budget is None:
        return None
    hourly = report.max_usd_hour if plan.budget.basis == "max" else report.min_usd_hour
    return hourly * HOURS_PER_MONTH


def check_budget(plan: DeploymentPlan, report: CostReport, action: str | None = None) -> None:
    """Raise `ConfigError` when the estimate exceeds the configured monthly budget.

    `action`: the command that would change capacity (`release of chat`); its refusal names it and
    the override flag. `llmdeploy cost` itself only reports.
    """
    monthly = monthly_estimate(plan, report)
    if plan.budget is None or monthly is None or monthly <= plan.budget.monthly_usd:
        return
    hint = "lower capacity.max, use more spot or cheaper instance types, or raise the budget"
    if action is not None:
        hint += f"; a slot at 0% can go (`llmdeploy retire`); {OVER_BUDGET_FLAG} goes ahead anyway"
    refused = f"{action} refused before anything changed: " if action else ""
    raise ConfigError(
        [
            Problem(
                f"{refused}estimated {monthly:,.0f} USD/month at {plan.budget.basis} capacity exceeds "
                f"the budget of {plan.budget.monthly_usd:,.0f} USD/month",
                path="budget.monthly_usd",
                hint=hint,
            )
        ]
    )


def check_config_budget(config: EnvironmentConfig, action: str) -> None:
    """`check_budget` of an environment as `action` would apply it (every slot counted, as `cost` does)."""
    plan = build_plan(config)
    check_budget(plan, cost_report(plan), action)
