"""The deployment plan: every number resolved, ready for a cloud's constructs to translate 1:1.

Built by `llmdeploy.plan.build.build_plan` from a validated `EnvironmentConfig`. Constructs read
these frozen records; they never compute sizes, weights, defaults or policy themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

from llmdeploy.catalog import Cloud, InstanceType
from llmdeploy.config.clouds import AwsCloud, AzureCloud, GcpCloud
from llmdeploy.config.environment import Access, Budget, Monitoring, State, Tier
from llmdeploy.config.model import Algorithm, Autoscaling, EngineLimits, Slot, Spot
from llmdeploy.engines import EngineSpec
from llmdeploy.plan.global_dns import GlobalDnsPlan
from llmdeploy.plan.routing import RouterGroupPlan
from llmdeploy.sizing import Dtype, MemoryNeed, Quantization


@dataclass(frozen=True)
class HealthPlan:
    """The engine health check with the engine's path filled in."""

    path: str
    #: The replica's proxy port (engines.PROXY_PORT): load balancers target and probe it.
    port: int
    interval_s: int
    timeout_s: int
    healthy_threshold: int
    unhealthy_threshold: int
    readiness_grace_s: int

    @property
    def failure_detection_s(self) -> int:
        """Seconds from a replica failing to the load balancer taking it out."""
        return self.interval_s * self.unhealthy_threshold


@dataclass(frozen=True)
class TrafficPlan:
    """How the load balancer treats one fleet's requests."""

    algorithm: Algorithm
    weight: int
    request_timeout_s: int
    idle_timeout_s: int
    deregistration_delay_s: int


@dataclass(frozen=True)
class FleetPlan:
    """One model's replicas in one slot on one cloud: an autoscaling group and what it runs."""

    cloud: Cloud
    model: str
    slot: Slot
    model_id: str
    revision: str
    dtype: Dtype
    quantize: Quantization | None
    engine: EngineSpec
    engine_image: str
    limits: EngineLimits
    hf_token_secret: str | None
    instance_types: tuple[InstanceType, ...]
    shards: int
    min_size: int
    max_size: int
    desired_size: int
    spot: Spot
    autoscaling: Autoscaling
    health: HealthPlan
    traffic: TrafficPlan
    disk_gib: int
    model_cache_on_nvme: bool

    @property
    def name(self) -> str:
        """`<model>-<slot>`: unique within a stack, used in resource names."""
        return f"{self.model}-{self.slot}"


@dataclass(frozen=True)
class ModelPlan:
    """A served model and its fleets on every cloud and slot."""

    name: str
    model_id: str
    memory: MemoryNeed
    route_prefix: str
    fleets: tuple[FleetPlan, ...]

    def fleets_on(self, cloud: Cloud) -> tuple[FleetPlan, ...]:
        return tuple(fleet for fleet in self.fleets if fleet.cloud == cloud)


@dataclass(frozen=True)
class CloudPlan:
    """One cloud an environment deploys to, as a stack named `<env>-<cloud>`."""

    cloud: Cloud
    stack: str
    settings: AwsCloud | GcpCloud | AzureCloud


@dataclass(frozen=True)
class DeploymentPlan:
    """Everything one environment deploys, across clouds."""

    env: str
    project: str
    tier: Tier
    tags: dict[str, str]
    state: State
    clouds: tuple[CloudPlan, ...]
    models: tuple[ModelPlan, ...]
    access: Access
    monitoring: Monitoring
    budget: Budget | None
    global_dns: GlobalDnsPlan | None = None
    #: The router group of each cloud when `routing.enabled` (issue 13's request layer); empty when off.
    routers: tuple[RouterGroupPlan, ...] = ()

    def router_group(self, cloud: Cloud) -> RouterGroupPlan | None:
        """The cloud's router group, or None when routing is off."""
        return next((group for group in self.routers if group.cloud == cloud), None)

    def cloud(self, cloud: Cloud) -> CloudPlan:
        return next(entry for entry in self.clouds if entry.cloud == cloud)

    @overload
    def settings(self, cloud: Literal["aws"]) -> AwsCloud: ...
    @overload
    def settings(self, cloud: Literal["gcp"]) -> GcpCloud: ...
    @overload
    def settings(self, cloud: Literal["azure"]) -> AzureCloud: ...
    def settings(self, cloud: Cloud) -> AwsCloud | GcpCloud | AzureCloud:
        """One cloud's settings, typed by the cloud (the plan pairs each cloud with its own)."""
        return self.cloud(cloud).settings

    @property
    def keyless_health_paths(self) -> dict[str, str]:
        """By model, the path its load balancers answer on `GET` without the API key.

        Only Route 53's health checks need one, and they cannot send a key; without a key or
        global DNS, nothing is answered keyless.
        """
        if self.access.api_key is None or self.global_dns is None:
            return {}
        health = self.global_dns.health
        return {model: health.model_path(model) for model in health.models}

    def fleets_on(self, cloud: Cloud) -> tuple[FleetPlan, ...]:
        return tuple(fleet for model in self.models for fleet in model.fleets_on(cloud))

    @property
    def stacks(self) -> tuple[str, ...]:
        return tuple(entry.stack for entry in self.clouds)
