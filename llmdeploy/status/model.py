"""The cloud-neutral status of one model's slot on one cloud, as `llmdeploy status` shows it."""

from __future__ import annotations

from dataclasses import dataclass

from llmdeploy.catalog import Cloud
from llmdeploy.config.model import Slot


@dataclass(frozen=True)
class SlotStatus:
    """What one fleet (a model's slot on one cloud) is doing right now.

    Attributes:
        desired: instances the cloud's groups aim for (autoscaler decisions included).
        running: instances that exist and run (booting ones included).
        healthy: instances the load balancer's health check passes.
        spot: running instances on spot capacity.
        on_demand: running instances on regular (on-demand) capacity.
        weight: percent of the model's traffic the load balancer sends to this slot.
        endpoint: the URL clients call for this model, when the cloud has one.
    """

    model: str
    cloud: Cloud
    slot: Slot
    desired: int
    running: int
    healthy: int
    spot: int
    on_demand: int
    weight: int
    endpoint: str | None


@dataclass(frozen=True)
class RouterModelStatus:
    """One model's requests at the router group, from the metrics the routers publish
    (llmdeploy/routing/publish.py); each figure is None while the routers have published none.

    Attributes:
        held: requests waiting in the routers in the newest minute with data (held at zero or over
            the admission cap), all routers together.
        rejected: requests answered 429 (budget or queue limit) over the window, all routers together.
        queue_ms: mean milliseconds from arrival to sent on over the window (GCP: the mean of the
            routers' per-minute means, as Cloud Monitoring holds only those).
        queue_max_ms: the longest wait over the window (None on GCP, which keeps no maximum).
    """

    model: str
    held: int | None
    rejected: int | None
    queue_ms: float | None
    queue_max_ms: float | None


@dataclass(frozen=True)
class RouterGroupStatus:
    """The router group on one cloud (routing.enabled) and what it does with each model's requests.

    Attributes:
        exists: False when the cloud has no router group of that name (the stack was applied
            without routing); the counts are then 0.
        desired: routers the group aims for.
        running: routers that exist and run (booting ones included).
        healthy: routers the load balancer's health check passes.
        zones: running routers per zone, sorted by zone.
        endpoint: the routers' own address where they have one (AWS: their load balancer).
        window_minutes: how far back `rejected` and `queue_ms` look.
    """

    cloud: Cloud
    exists: bool
    desired: int
    running: int
    healthy: int
    zones: dict[str, int]
    endpoint: str | None
    window_minutes: int
    models: tuple[RouterModelStatus, ...]
