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
