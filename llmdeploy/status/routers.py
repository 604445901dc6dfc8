"""The router group's part of `llmdeploy status`: the routers' metrics summed up, and what a user is told.

Every cloud reads the same four series the routers publish (llmdeploy/routing/publish.py) and hands
them here as per-minute `RouterPoint`s, so the three clouds summarize them alike:

- held: the newest minute with data, summed over routers and slots (each router publishes its
  waiting requests once a minute; requests held at zero count on the slot a hold wakes);
- rejected: every minute of the window, summed;
- queue time: the total wait over the total count of the window (a weighted mean), and the maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from llmdeploy.catalog import Cloud
from llmdeploy.routing.publish import HELD, QUEUE_MS, REJECTED
from llmdeploy.status.model import RouterGroupStatus, RouterModelStatus

#: How far back `status` reads the routers' metrics: a few of their one-minute windows, so that one
#: dropped publication (publish.py drops a failed one) does not blank the figures.
WINDOW_MINUTES = 5
#: The router metrics `status` reads (RouterReplicas is for dashboards and the autoscaler).
READ = (HELD, REJECTED, QUEUE_MS)

#: What serves when no router does (docs/routing.md, "No single point of failure").
DIRECT_PATH: dict[Cloud, str] = {
    "aws": (
        "the fleets' load balancer still serves directly at the fleets' endpoint (and at the domain, "
        "through its failover record, when clouds.aws.dns_zone is set); clients of the routers' load "
        "balancer's own name get no answer"
    ),
    "gcp": "the load balancer's direct path serves (the fleets' DEFAULT backends)",
    "azure": "Front Door's direct path serves (the fleets' origins at priority 2)",
}


@dataclass(frozen=True)
class RouterPoint:
    """One minute of one router series (one slot; on AWS and Azure all routers summed by the cloud).

    A gauge or count is count 1 with its value as `sum`; GCP's queue time is its per-minute mean
    (count 1) with no maximum.
    """

    name: str
    minute: datetime
    count: float
    sum: float
    max: float | None = None


def summarize(model: str, points: Iterable[RouterPoint]) -> RouterModelStatus:
    """One model's figures from its points (every slot)."""
    by_name: dict[str, list[RouterPoint]] = {name: [] for name in READ}
    for point in points:
        by_name.setdefault(point.name, []).append(point)
    held, rejected, queue = by_name[HELD], by_name[REJECTED], by_name[QUEUE_MS]
    newest = max((point.minute for point in held), default=None)
    count = sum(point.count for point in queue)
    maxima = [point.max for point in queue if point.max is not None]
    return RouterModelStatus(
        model=model,
        held=None if newest is None else round(sum(p.sum for p in held if p.minute == newest)),
        rejected=round(sum(point.sum for point in rejected)) if rejected else None,
        queue_ms=round(sum(point.sum for point in queue) / count, 1) if count else None,
        queue_max_ms=round(max(maxima), 1) if maxima else None,
    )


def headline(group: RouterGroupStatus) -> str:
    """One plain line on the router tier, saying what serves when no router does."""
    where = f"routers on {group.cloud}"
    if not group.exists:
        return f"{where}: none found (apply the stack with routing enabled): {DIRECT_PATH[group.cloud]}"
    counts = f"{group.healthy} of {group.desired} healthy, {group.running} running"
    zones = ", ".join(f"{zone}: {count}" for zone, count in group.zones.items())
    line = f"{where}: {counts}" + (f" ({zones})" if zones else "")
    if group.healthy == 0:
        return f"{line}: {DIRECT_PATH[group.cloud]}"
    if group.healthy < group.desired:
        return f"{line}: degraded, the healthy routers serve"
    return line
