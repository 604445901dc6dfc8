"""What an environment asks of a cloud at max capacity: instances by quota bucket, secrets. Pure.

Counted conservatively: every fleet at `capacity.max` (both slots, as during a release), split into
on-demand (the base plus its share above it) and spot, and every replica counted on the largest
instance type of its quota bucket (spot and fallback may pick any type of the list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llmdeploy.catalog import Cloud, InstanceType
from llmdeploy.plan.cost import on_demand_count
from llmdeploy.plan.model import DeploymentPlan, FleetPlan


@dataclass(frozen=True)
class Need:
    """Units (vCPUs or GPUs) asked for on on-demand and on spot capacity."""

    on_demand: int = 0
    spot: int = 0

    @property
    def total(self) -> int:
        return self.on_demand + self.spot

    def __add__(self, other: Need) -> Need:
        return Need(self.on_demand + other.on_demand, self.spot + other.spot)


def capacity_needs(
    fleets: Iterable[FleetPlan],
    bucket_of: Callable[[InstanceType], str | None],
    units: Callable[[InstanceType], int],
) -> dict[str, Need]:
    """Units per quota bucket: `bucket_of` names an instance type's bucket (None: not counted)."""
    needs: dict[str, Need] = {}
    for fleet in fleets:
        on_demand = on_demand_count(fleet.max_size, fleet.spot)
        spot = fleet.max_size - on_demand
        largest: dict[str, int] = {}
        for kind in fleet.instance_types:
            bucket = bucket_of(kind)
            if bucket is not None:
                largest[bucket] = max(largest.get(bucket, 0), units(kind))
        for bucket, size in largest.items():
            needs[bucket] = needs.get(bucket, Need()) + Need(on_demand * size, spot * size)
    return needs


def vcpus(kind: InstanceType) -> int:
    return kind.vcpu


def gpus(kind: InstanceType) -> int:
    return kind.gpu_count


@dataclass(frozen=True)
class SecretUse:
    """A secret the environment names on one cloud, and the config keys that name it."""

    name: str
    keys: tuple[str, ...]


def secrets_on(plan: DeploymentPlan, cloud: Cloud) -> list[SecretUse]:
    """The secrets a cloud's VMs read: each model's hf_token there, the API keys (one entry per name)."""
    found: dict[str, list[str]] = {}
    for model in plan.models:
        for fleet in model.fleets_on(cloud)[:1]:
            if fleet.hf_token_secret:
                found.setdefault(fleet.hf_token_secret, []).append(f"models.{model.name}.hf_token")
    for key in ("api_key", "next_api_key"):
        ref = getattr(plan.access, key)
        if ref is not None:
            found.setdefault(ref.secret, []).append(f"access.{key}")
    return [SecretUse(name, tuple(keys)) for name, keys in found.items()]
