"""What one cloud can do of what a model asks: features, GPU number formats, drivers, drain windows.

Each check returns `relative.key: message` lines for the model's validator (refusals), or for
`model_warnings` (what validation lets through but the user should know is cut).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmdeploy.capabilities import Feature, support
from llmdeploy.catalog import Cloud, instance_types

if TYPE_CHECKING:
    from llmdeploy.config.model import ModelConfig

#: Requests longer than this need Feature.LONG_REQUESTS (Azure Front Door's origin limit).
LONG_REQUEST_S = 240
#: bfloat16 runs natively from compute capability 8.0 (Ampere) on; T4 (7.5) and V100 (7.0) lack it
#: (CUDA programming guide, "Arithmetic instructions"; vLLM refuses bfloat16 below 8.0).
BFLOAT16_COMPUTE_CAPABILITY = 8.0
#: Notice a cloud gives before it reclaims a spot VM: AWS two minutes (EC2 user guide, "Spot Instance
#: interruption notices"); GCP 30 s for Spot VMs (Compute API Scheduling: "30 seconds for Spot VMs");
#: Azure 30 s (Scheduled Events, Preempt minimum notice).
SPOT_NOTICE_S: dict[Cloud, int] = {"aws": 120, "gcp": 30, "azure": 30}
#: Azure's termination notification, which holds a scale-in while the VM drains, lasts 5-15 minutes
#: (Scheduled Events: Terminate "user-configurable 5-15 min"; azurerm termination_notification timeout).
AZURE_TERMINATE_NOTICE_MAX_S = 15 * 60

_ALGORITHM_FEATURE = {
    "least_outstanding_requests": Feature.LEAST_OUTSTANDING_REQUESTS,
    "round_robin": Feature.ROUND_ROBIN,
}


#: (feature, section of the model, key): settings some cloud ignores, asked for when set.
_SET_EXPLICITLY = (
    (Feature.SCALE_OUT_COOLDOWN, "autoscaling", "scale_out_cooldown_s"),
    (Feature.AUTOSCALING_COOLDOWNS, "autoscaling", "scale_in_cooldown_s"),
    (Feature.HEALTH_CHECK_TIMEOUT, "health_check", "timeout_s"),
    (Feature.HEALTHY_THRESHOLD, "health_check", "healthy_threshold"),
    (Feature.CLIENT_IDLE_TIMEOUT, "load_balancing", "idle_timeout_s"),
)


def cloud_problems(model: ModelConfig, cloud: Cloud) -> list[str]:
    """Why `cloud` cannot run `model` as configured; empty when it can."""
    return _unsupported(model, cloud) + _gpu_problems(model, cloud) + _drain_problems(model, cloud)


def requested_features(model: ModelConfig, cloud: Cloud) -> list[tuple[Feature, str]]:
    """The features a model asks of a cloud, each with the config key that asks for it."""
    asked = [(_ALGORITHM_FEATURE[model.load_balancing.algorithm_for(cloud)], "load_balancing.algorithm")]
    if len(model.slots) > 1:
        asked.append((Feature.WEIGHTED_BLUE_GREEN, "slots"))
    spot = model.spot_for(cloud)
    if spot.max_price_usd_hour is not None:
        asked.append((Feature.SPOT_MAX_PRICE, model.spot_key(cloud, "max_price_usd_hour")))
    if "allocation_strategy" in spot.model_fields_set:
        asked.append((Feature.SPOT_ALLOCATION_STRATEGY, model.spot_key(cloud, "allocation_strategy")))
    if len(model.instance_types.get(cloud, [])) > 1:
        asked.append((Feature.SEVERAL_INSTANCE_TYPES, f"instance_types.{cloud}"))
    if model.autoscaling.target_queue_size is not None:
        asked.append((Feature.QUEUE_SIZE_AUTOSCALING, "autoscaling.target_queue_size"))
    if model.autoscaling.scale_to_zero:
        asked.append((Feature.SCALE_TO_ZERO, "autoscaling.scale_to_zero"))
    if model.load_balancing.request_timeout_s > LONG_REQUEST_S:
        asked.append((Feature.LONG_REQUESTS, "load_balancing.request_timeout_s"))
    # Settings with a default are asked for only when the file sets them.
    asked += [
        (feature, f"{section}.{key}")
        for feature, section, key in _SET_EXPLICITLY
        if key in getattr(model, section).model_fields_set
    ]
    return asked


def _unsupported(model: ModelConfig, cloud: Cloud) -> list[str]:
    return [
        f"{key}: {cloud} cannot do {feature.value}: {support(cloud, feature).how}"
        for feature, key in requested_features(model, cloud)
        if not support(cloud, feature).supported
    ]


def _gpu_problems(model: ModelConfig, cloud: Cloud) -> list[str]:
    catalog = instance_types(cloud)
    problems = []
    for index, name in enumerate(model.instance_types[cloud]):
        entry = catalog.get(name)
        if entry is None:
            continue
        where = f"instance_types.{cloud}[{index}]"
        if entry.unusable is not None:
            problems.append(f"{where}: {name} {entry.unusable}")
        if model.dtype == "bfloat16" and entry.compute_capability < BFLOAT16_COMPUTE_CAPABILITY:
            problems.append(
                f"{where}: {entry.describe()} is {entry.architecture} (compute capability "
                f"{entry.compute_capability}), which cannot run bfloat16 (Ampere or newer): "
                "set dtype: float16, or pick an Ampere or newer type"
            )
    return problems


def _drain_problems(model: ModelConfig, cloud: Cloud) -> list[str]:
    # Imported here: llmdeploy.instance reads the plan, which reads this config.
    from llmdeploy.instance import ENGINE_STOP_S

    drain = model.load_balancing.deregistration_delay_s
    longest = AZURE_TERMINATE_NOTICE_MAX_S - ENGINE_STOP_S - 60
    # Requests over LONG_REQUEST_S are refused on Azure already, and the drain follows them by default.
    refused_already = model.load_balancing.request_timeout_s > LONG_REQUEST_S
    if cloud != "azure" or drain <= longest or refused_already:
        return []
    return [
        f"load_balancing.deregistration_delay_s: azure holds a scale-in for at most "
        f"{AZURE_TERMINATE_NOTICE_MAX_S // 60} minutes, which must cover the drain, the engine's stop and a "
        f"minute's margin: at most {longest} s, not {drain}"
    ]


def model_warnings(model: ModelConfig) -> list[str]:
    """What validation accepts but cuts: requests longer than a spot reclaim's notice."""
    return [
        f"load_balancing.request_timeout_s: {cloud} reclaims a spot VM with about {SPOT_NOTICE_S[cloud]} s "
        f"notice, so requests still running on it then are cut (request_timeout_s allows "
        f"{model.load_balancing.request_timeout_s} s); clients should retry, or run fewer replicas on spot "
        "(spot.on_demand_percent_above_base)"
        for cloud in model.instance_types
        if uses_spot(model, cloud) and model.load_balancing.request_timeout_s > SPOT_NOTICE_S[cloud]
    ]


def uses_spot(model: ModelConfig, cloud: Cloud) -> bool:
    """Whether any fleet of the model on `cloud` may run replicas on spot capacity."""
    spot = model.spot_for(cloud)
    if spot.on_demand_percent_above_base >= 100:
        return False
    return any(spot.on_demand_base < capacity.max for _, capacity in model.capacities())
