"""From a validated environment config to the deployment plan: every default and choice resolved."""

from __future__ import annotations

import math

from llmdeploy.catalog import Cloud, instance_types
from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.model import ModelConfig, Slot
from llmdeploy.engines import ENGINES, PROXY_PORT
from llmdeploy.plan.global_dns import build_global_dns
from llmdeploy.plan.model import CloudPlan, DeploymentPlan, FleetPlan, HealthPlan, ModelPlan, TrafficPlan
from llmdeploy.plan.routes import route_prefix
from llmdeploy.plan.routing import build_routing
from llmdeploy.sizing import memory_need, shards

#: Root volume: the GPU AMI itself (~75 GiB) plus headroom for logs and the engine image (~10-20 GiB).
BASE_DISK_GIB = 120
#: Weights are downloaded, and sometimes converted to safetensors: room for two copies.
WEIGHT_COPIES = 2


def build_plan(config: EnvironmentConfig) -> DeploymentPlan:
    """The plan for one environment; pure: no I/O, no clock."""
    clouds = config.clouds.names()
    return DeploymentPlan(
        env=config.name,
        project=config.project,
        tier=config.tier,
        tags={
            "project": config.project,
            "environment": config.name,
            "managed-by": "llmdeploy",
            **config.tags,
        },
        state=config.state,
        clouds=tuple(
            CloudPlan(cloud=cloud, stack=f"{config.name}-{cloud}", settings=getattr(config.clouds, cloud))
            for cloud in clouds
        ),
        models=tuple(_model_plan(model, clouds) for model in config.models),
        access=config.access,
        monitoring=config.monitoring,
        budget=config.budget,
        global_dns=build_global_dns(config),
        routers=tuple(build_routing(config)),
    )


def _model_plan(model: ModelConfig, clouds: list[Cloud]) -> ModelPlan:
    return ModelPlan(
        name=model.name,
        model_id=model.model_id,
        memory=memory_need(model.params_billion, model.dtype, model.quantize),
        route_prefix=route_prefix(model.name),
        fleets=tuple(_fleet(model, cloud, slot) for cloud in clouds for slot in model.slots),
    )


def _fleet(model: ModelConfig, cloud: Cloud, slot: Slot) -> FleetPlan:
    engine = ENGINES[model.engine]
    slot_config = model.slots[slot]
    capacity = model.slot_capacity(slot)
    types = tuple(instance_types(cloud)[name] for name in model.instance_types[cloud])
    weights_gib = memory_need(model.params_billion, model.dtype, model.quantize).weights_gib
    on_nvme = all(entry.local_nvme_gib >= weights_gib * WEIGHT_COPIES for entry in types)
    return FleetPlan(
        cloud=cloud,
        model=model.name,
        slot=slot,
        model_id=model.model_id,
        revision=slot_config.revision or model.revision,
        dtype=model.dtype,
        quantize=model.quantize,
        engine=engine,
        engine_image=slot_config.engine_image or model.engine_image or engine.image,
        limits=model.limits,
        hf_token_secret=model.hf_token.secret if model.hf_token else None,
        instance_types=types,
        shards=shards(types[0]),
        min_size=capacity.min,
        max_size=capacity.max,
        desired_size=capacity.min if capacity.desired is None else capacity.desired,
        spot=model.spot_for(cloud),
        autoscaling=model.autoscaling,
        health=_health(model, engine.health_path, PROXY_PORT),
        traffic=TrafficPlan(
            algorithm=model.load_balancing.algorithm_for(cloud),
            weight=slot_config.weight,
            request_timeout_s=model.load_balancing.request_timeout_s,
            idle_timeout_s=model.load_balancing.idle_timeout_s,
            deregistration_delay_s=model.load_balancing.deregistration_delay_s,
        ),
        disk_gib=_disk_gib(weights_gib, on_nvme),
        model_cache_on_nvme=on_nvme,
    )


def _health(model: ModelConfig, default_path: str, port: int) -> HealthPlan:
    check = model.health_check
    return HealthPlan(
        path=check.path or default_path,
        port=port,
        interval_s=check.interval_s,
        timeout_s=check.timeout_s,
        healthy_threshold=check.healthy_threshold,
        unhealthy_threshold=check.unhealthy_threshold,
        readiness_grace_s=check.readiness_grace_s,
    )


def _disk_gib(weights_gib: float, on_nvme: bool) -> int:
    needed = BASE_DISK_GIB + (0 if on_nvme else weights_gib * WEIGHT_COPIES)
    return int(math.ceil(needed / 10) * 10)
