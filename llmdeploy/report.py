"""What `explain` and `cost` print: plain data rows from the plan, rendered as rich tables or JSON."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from llmdeploy.plan.cost import HOURS_PER_MONTH, CostReport, on_demand_count
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.plan.routing import SCALE_UP_CALL


def spot_share(fleet: FleetPlan, replicas: int) -> str:
    """`2/3 spot`: how many of `replicas` run on spot capacity."""
    spot = replicas - on_demand_count(replicas, fleet.spot)
    return f"{spot}/{replicas} spot"


def explain_table(plan: DeploymentPlan, costs: CostReport) -> Table:
    table = Table(title=f"{plan.env} ({plan.tier}): what will be deployed", show_lines=False)
    for column in (
        "model",
        "cloud",
        "slot",
        "weight",
        "instance types",
        "GPUs",
        "shards",
        "replicas",
        "spot at max",
        "failover",
        "USD/h min-max",
    ):
        table.add_column(column)
    table.caption, table.caption_justify = routing_text(plan), "left"
    for cost in costs.fleets:
        fleet = cost.fleet
        table.add_row(
            fleet.model,
            fleet.cloud,
            fleet.slot,
            f"{fleet.traffic.weight}%",
            ", ".join(entry.name for entry in fleet.instance_types),
            _gpus(fleet),
            str(fleet.shards),
            f"{fleet.min_size}-{fleet.max_size}",
            spot_share(fleet, fleet.max_size),
            f"{fleet.health.failure_detection_s} s",
            f"{cost.min_usd_hour:.2f}-{cost.max_usd_hour:.2f}",
        )
    return table


def routing_text(plan: DeploymentPlan) -> str | None:
    """What `explain` says each cloud gets from `routing:`, or None when it is off."""
    if not plan.routers:
        return None
    first = plan.routers[0]
    lines = [
        f"Routing: each cloud's load balancer sends to a router group (nginx, hold gate, vllm-router "
        f"--policy {first.router_policy}); a request to a fleet at zero is held up to "
        f"{first.hold_budget_s} s (then 429 with Retry-After), and at most this many requests run on a "
        "replica at once: "
        + ", ".join(f"{model} {cap}" for model, cap in first.per_replica_concurrency.items())
        + "."
    ]
    for group in plan.routers:
        tgi = sorted({fleet.model for fleet in plan.fleets_on(group.cloud) if fleet.engine.name == "tgi"})
        approximate = f"; TGI ({', '.join(tgi)}): prefix routing on the request text only" if tgi else ""
        lines.append(
            f"  {group.cloud}: {group.count} x {group.instance_type}; a fleet at zero is woken by "
            f"{SCALE_UP_CALL[group.cloud]}{approximate}"
        )
    return "\n".join(lines)


def _gpus(fleet: FleetPlan) -> str:
    """Each GPU set the fleet's instance types bring, in their order of preference (a fleet may get any)."""
    shown = (
        f"{entry.gpu_count}x {entry.gpu} ({entry.total_gpu_memory_gib} GiB)" for entry in fleet.instance_types
    )
    return ", ".join(dict.fromkeys(shown))


def _usd(low_usd_hour: float, high_usd_hour: float, hours: int = 1) -> str:
    """A min-max range of USD over `hours` hours: cents for hourly figures, whole dollars beyond."""
    decimals = 2 if hours == 1 else 0
    return f"{low_usd_hour * hours:,.{decimals}f}-{high_usd_hour * hours:,.{decimals}f}"


def cost_table(plan: DeploymentPlan, costs: CostReport) -> Table:
    table = Table(title=f"{plan.env}: estimated cost (list prices, USD)")
    for column in ("model", "cloud", "slot", "instance type", "replicas"):
        table.add_column(column)
    for column in ("per hour", "per month", "all on-demand per month"):
        table.add_column(column, justify="right")
    for cost in costs.fleets:
        fleet = cost.fleet
        table.add_row(
            fleet.model,
            fleet.cloud,
            fleet.slot,
            fleet.instance_types[0].name,
            f"{fleet.min_size}-{fleet.max_size}",
            _usd(cost.min_usd_hour, cost.max_usd_hour),
            _usd(cost.min_usd_hour, cost.max_usd_hour, HOURS_PER_MONTH),
            _usd(cost.min_on_demand_usd_hour, cost.max_on_demand_usd_hour, HOURS_PER_MONTH),
        )
    for router in costs.routers:
        group = router.group
        table.add_row(
            "(routers)", group.cloud, "", group.instance_type, str(group.count), *_router_usd(router.usd_hour)
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        "",
        "",
        _usd(costs.min_usd_hour, costs.max_usd_hour),
        _usd(costs.min_usd_hour, costs.max_usd_hour, HOURS_PER_MONTH),
        _usd(costs.min_on_demand_usd_hour, costs.max_on_demand_usd_hour, HOURS_PER_MONTH),
    )
    return table


def _router_usd(usd_hour: float | None) -> tuple[str, str, str]:
    """A router group's cells: per hour, per month, and the same again (routers are always on-demand)."""
    if usd_hour is None:
        return ("not in the catalog", "", "")
    monthly = f"{usd_hour * HOURS_PER_MONTH:,.0f}"
    return (f"{usd_hour:,.2f}", monthly, monthly)


def cost_json(plan: DeploymentPlan, costs: CostReport) -> dict[str, Any]:
    return {
        "environment": plan.env,
        "hours_per_month": HOURS_PER_MONTH,
        "fleets": [
            {
                "model": cost.fleet.model,
                "cloud": cost.fleet.cloud,
                "slot": cost.fleet.slot,
                "instance_type": cost.fleet.instance_types[0].name,
                "min_replicas": cost.fleet.min_size,
                "max_replicas": cost.fleet.max_size,
                "usd_hour": {"min": round(cost.min_usd_hour, 4), "max": round(cost.max_usd_hour, 4)},
                "on_demand_usd_hour": {
                    "min": round(cost.min_on_demand_usd_hour, 4),
                    "max": round(cost.max_on_demand_usd_hour, 4),
                },
            }
            for cost in costs.fleets
        ],
        "routers": [
            {
                "cloud": router.group.cloud,
                "instance_type": router.group.instance_type,
                "count": router.group.count,
                "usd_hour": None if router.usd_hour is None else round(router.usd_hour, 4),
            }
            for router in costs.routers
        ],
        "total_usd_month": {
            "min": round(costs.min_usd_hour * HOURS_PER_MONTH, 2),
            "max": round(costs.max_usd_hour * HOURS_PER_MONTH, 2),
            "all_on_demand_max": round(costs.max_on_demand_usd_hour * HOURS_PER_MONTH, 2),
        },
        "budget_usd_month": plan.budget.monthly_usd if plan.budget else None,
    }


def dns_failover_text(plan: DeploymentPlan) -> str | None:
    """What `explain` says about the global DNS name, or None without one."""
    dns = plan.global_dns
    if dns is None:
        return None
    health = dns.health
    return (
        f"Global DNS: {dns.fqdn} ({dns.routing}) stops answering with a failed cloud's endpoint within "
        f"about {dns.failover_s} s: health checks every {health.interval_s} s x {health.failure_threshold} "
        f"failures = {dns.detection_s} s, plus {dns.ttl_s} s for resolvers' cached answers (TTL)."
    )
