"""One served model: what to run, on which GPUs, how it scales, is checked and receives traffic."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from llmdeploy.catalog import Cloud, closest, instance_types
from llmdeploy.config.common import PinnedImage, SecretField, Slug, Strict
from llmdeploy.config.fleet_checks import cloud_problems
from llmdeploy.config.grammars import ModelId, Revision, UrlPath
from llmdeploy.engines import ENGINES, EngineName
from llmdeploy.sizing import Dtype, Quantization, fits, fitting_types, memory_need

Slot = Literal["blue", "green"]
SLOTS: tuple[Slot, ...] = ("blue", "green")
Algorithm = Literal["least_outstanding_requests", "round_robin"]
#: Requests per minute per replica when no target is configured: a few concurrent streams each.
DEFAULT_REQUESTS_PER_REPLICA = 60
#: Behind routers (`routing.enabled`) no load balancer sees a fleet's requests, so a model that names
#: no target scales on its engine queue instead: about one batch waiting per replica.
DEFAULT_QUEUE_PER_REPLICA = 4.0
#: The scaling targets of `autoscaling`, of which one applies.
_TARGETS = frozenset({"target_requests_per_replica", "target_queue_size"})
#: Upper bound of the token limits: far above any model's context, far below what overflows an engine flag.
_MAX_TOKENS = 10_000_000
_FLOATING_REVISIONS = frozenset({"main", "master", "latest", "head"})


class EngineLimits(Strict):
    """Token and concurrency limits passed to the engine. Default: the engine picks from the model."""

    max_input_tokens: int | None = Field(
        default=None,
        gt=0,
        le=_MAX_TOKENS,
        description="Longest prompt in tokens. Default: the engine's choice.",
    )
    max_total_tokens: int | None = Field(
        default=None,
        gt=0,
        le=_MAX_TOKENS,
        description="Longest prompt plus completion in tokens. Default: the engine's.",
    )
    max_batch_prefill_tokens: int | None = Field(
        default=None,
        gt=0,
        le=_MAX_TOKENS,
        description="Tokens prefilled in one batch (at least max_input_tokens).",
    )
    max_concurrent_requests: int = Field(
        default=128, gt=0, le=100_000, description="Requests beyond this get HTTP 429 from the engine."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        inp, total, prefill = self.max_input_tokens, self.max_total_tokens, self.max_batch_prefill_tokens
        if inp is not None and total is not None and inp >= total:
            raise ValueError(f"max_input_tokens ({inp}) must be less than max_total_tokens ({total})")
        if inp is not None and prefill is not None and prefill < inp:
            raise ValueError(
                f"max_batch_prefill_tokens ({prefill}) must be at least max_input_tokens ({inp})"
            )
        return self


class Capacity(Strict):
    """Replica counts of one fleet (per cloud and slot)."""

    min: int = Field(
        default=1, ge=0, le=500, description="Fewest replicas; 0 needs autoscaling.scale_to_zero."
    )
    max: int = Field(default=2, ge=1, le=500, description="Most replicas (1-500).")
    desired: int | None = Field(default=None, ge=0, le=500, description="Start size. Default: min.")

    # Field validators (not a model validator) so that these checks still run beside other errors.
    @field_validator("max")
    @classmethod
    def _max_not_below_min(cls, maximum: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min")
        if minimum is not None and minimum > maximum:
            raise ValueError(f"min ({minimum}) is greater than max ({maximum})")
        return maximum

    @field_validator("desired")
    @classmethod
    def _desired_within(cls, desired: int | None, info: ValidationInfo) -> int | None:
        low, high = info.data.get("min"), info.data.get("max")
        if desired is not None and low is not None and high is not None and not low <= desired <= high:
            raise ValueError(f"desired ({desired}) must lie between min ({low}) and max ({high})")
        return desired


SpotAllocation = Literal["price-capacity-optimized", "capacity-optimized", "lowest-price"]


class SpotOverride(Strict):
    """One cloud's spot settings where they differ from the model's; unset keys keep the model's."""

    on_demand_base: int | None = Field(default=None, ge=0, le=500, description="Replicas always on-demand.")
    on_demand_percent_above_base: int | None = Field(
        default=None, ge=0, le=100, description="Share of replicas above the base that are on-demand."
    )
    allocation_strategy: SpotAllocation | None = Field(
        default=None, description="How spot capacity is chosen among the instance types and zones."
    )
    max_price_usd_hour: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="Highest spot price per instance-hour; null: none on this cloud (the on-demand price).",
    )


class Spot(Strict):
    """How much of a fleet runs on spot capacity."""

    on_demand_base: int = Field(default=0, ge=0, le=500, description="Replicas always on on-demand capacity.")
    on_demand_percent_above_base: int = Field(
        default=0, ge=0, le=100, description="Share of replicas above the base that are on-demand."
    )
    allocation_strategy: SpotAllocation = Field(
        default="price-capacity-optimized",
        description="How spot capacity is chosen among the instance types and zones.",
    )
    max_price_usd_hour: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="Highest spot price per instance-hour. Default: the on-demand price.",
    )
    overrides: dict[Cloud, SpotOverride] = Field(
        default_factory=dict,
        description="Per cloud, the settings that differ there, e.g. {aws: {max_price_usd_hour: 30}}: "
        "GCP Spot VMs take no maximum price.",
    )


class Autoscaling(Strict):
    """How a fleet follows load. Exactly one target applies."""

    target_requests_per_replica: int | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description=(
            "Requests per minute per replica (load balancer metric). Default when no target is set: "
            f"{DEFAULT_REQUESTS_PER_REPLICA}, or target_queue_size {DEFAULT_QUEUE_PER_REPLICA:g} "
            "with routing.enabled."
        ),
    )
    target_queue_size: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description="Requests waiting in the engine's queue per replica (better for LLMs).",
    )
    scale_out_cooldown_s: int = Field(
        default=300, ge=60, le=3600, description="Wait after a scale-out before the next (GCP, Azure)."
    )
    scale_in_cooldown_s: int = Field(
        default=900, ge=60, le=3600, description="Wait after a scale-in before the next (GCP, Azure)."
    )
    scale_to_zero: bool = Field(default=False, description="Allow min 0 (not in prod tier).")

    @staticmethod
    def queue_scaled_by_default(data: object) -> object:
        """A model's raw `autoscaling` with the engine queue as its target when it names none."""
        if data is None:
            return {"target_queue_size": DEFAULT_QUEUE_PER_REPLICA}
        if isinstance(data, dict) and not _TARGETS & set(data):
            return {**data, "target_queue_size": DEFAULT_QUEUE_PER_REPLICA}
        return data

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        targets = _TARGETS & set(data)
        if len(targets) > 1:
            raise ValueError("set target_requests_per_replica or target_queue_size, not both")
        return data if targets else {**data, "target_requests_per_replica": DEFAULT_REQUESTS_PER_REPLICA}


class HealthCheck(Strict):
    """The engine health check the load balancer and autoscaler use."""

    path: UrlPath | None = Field(
        default=None, description="Health path on the engine, e.g. /health. Default: the engine's."
    )
    interval_s: int = Field(default=10, ge=5, le=300, description="Seconds between checks.")
    timeout_s: int = Field(default=5, ge=2, le=120, description="Seconds a check may take.")
    healthy_threshold: int = Field(
        default=2, ge=2, le=10, description="Passing checks before a replica receives traffic."
    )
    unhealthy_threshold: int = Field(
        default=3, ge=2, le=10, description="Failing checks before a replica is taken out."
    )
    readiness_grace_s: int = Field(
        default=1200,
        ge=300,
        le=3600,
        description="Boot to first health check: image pull, weight download, load and warm-up "
        "(the engine's port stays closed until the model is loaded).",
    )

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Self:
        if self.timeout_s >= self.interval_s:
            raise ValueError(f"timeout_s ({self.timeout_s}) must be less than interval_s ({self.interval_s})")
        return self


class LoadBalancing(Strict):
    """How the load balancer spreads requests and how long it lets them run."""

    algorithm: Algorithm = Field(
        default="least_outstanding_requests",
        description="LLM requests vary 100x in duration, so the least busy replica is the best pick.",
    )
    algorithm_overrides: dict[Cloud, Algorithm] = Field(
        default_factory=dict, description="Per-cloud algorithm, for clouds that lack the default one."
    )
    request_timeout_s: int = Field(
        default=900,
        ge=60,
        le=3600,
        description="Longest request (streams included); cloud defaults cut at 30-60 s.",
    )
    idle_timeout_s: int = Field(default=900, ge=60, le=4000, description="Longest silence on a connection.")
    deregistration_delay_s: int = Field(
        default=900,
        ge=0,
        le=3600,
        description="Time a draining replica keeps serving in-flight streams on scale-in and replacement. "
        "Default: request_timeout_s, so that no request is cut.",
    )

    @model_validator(mode="before")
    @classmethod
    def _drain_covers_requests(cls, data: Any) -> Any:
        if isinstance(data, dict) and "deregistration_delay_s" not in data:
            timeout = data.get("request_timeout_s", cls.model_fields["request_timeout_s"].default)
            return {**data, "deregistration_delay_s": timeout}
        return data

    @model_validator(mode="after")
    def _drain_not_shorter(self) -> Self:
        if self.deregistration_delay_s < self.request_timeout_s:
            raise ValueError(
                f"deregistration_delay_s: a {self.deregistration_delay_s} s drain cuts requests that may "
                f"run request_timeout_s ({self.request_timeout_s} s) whenever a replica is scaled in or "
                f"replaced: raise it to {self.request_timeout_s}, or lower request_timeout_s"
            )
        return self

    def algorithm_for(self, cloud: Cloud) -> Algorithm:
        return self.algorithm_overrides.get(cloud, self.algorithm)


class SlotConfig(Strict):
    """One release slot (blue or green): a full fleet with its own version and traffic weight."""

    weight: int = Field(ge=0, le=100, description="Percent of the model's traffic this slot receives.")
    revision: Revision | None = Field(
        default=None, description="Model revision in this slot. Default: the model's."
    )
    engine_image: PinnedImage | None = Field(default=None, description="Engine image. Default: the model's.")
    capacity: Capacity | None = Field(default=None, description="Replica counts. Default: the model's.")

    @field_validator("revision")
    @classmethod
    def _pinned_revision(cls, revision: str | None) -> str | None:
        return None if revision is None else _pinned(revision)


def _pinned(revision: str) -> str:
    if revision.lower() in _FLOATING_REVISIONS:
        raise ValueError(f"revision {revision!r} moves: pin a commit sha or a release tag")
    return revision


def _blue_only() -> dict[Slot, SlotConfig]:
    return {"blue": SlotConfig(weight=100)}


class ModelConfig(Strict):
    """A served model with its own fleets, scaled independently of every other model."""

    name: Slug = Field(description="Short name; the route prefix (/<name>/) and resource name prefix.")
    engine: EngineName = Field(default="tgi", description="Serving engine: tgi, vllm or sglang.")
    engine_image: PinnedImage | None = Field(default=None, description="Default: llmdeploy's pinned release.")
    model_id: ModelId = Field(description="Hugging Face model id org/name, e.g. mistralai/Mistral-7B-v0.3.")
    revision: Revision = Field(description="Pinned model revision: a commit sha or release tag.")
    params_billion: float = Field(gt=0, le=2000, description="Parameter count in billions, for sizing.")
    dtype: Dtype = Field(
        default="bfloat16",
        description="Weights' number format; bfloat16 needs an Ampere or newer GPU (not T4, V100).",
    )
    quantize: Quantization | None = Field(
        default=None, description="Quantization; sizes weights accordingly."
    )
    limits: EngineLimits = Field(default_factory=EngineLimits, description="Engine token limits.")
    hf_token: SecretField | None = Field(default=None, description="Secret holding the Hugging Face token.")
    instance_types: dict[Cloud, list[str]] = Field(
        description="Per cloud, GPU instance types in order of preference."
    )
    capacity: Capacity = Field(default_factory=Capacity, description="Replica counts of each fleet.")
    spot: Spot = Field(default_factory=Spot, description="Spot and on-demand mix.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="How fleets follow load.")
    health_check: HealthCheck = Field(default_factory=HealthCheck, description="Engine health check.")
    load_balancing: LoadBalancing = Field(
        default_factory=LoadBalancing, description="Balancing algorithm, timeouts and drain."
    )
    slots: dict[Slot, SlotConfig] = Field(
        default_factory=_blue_only,
        description="Release slots and their traffic weights (summing to 100).",
    )

    @field_validator("revision")
    @classmethod
    def _pinned_revision(cls, revision: str) -> str:
        return _pinned(revision)

    @field_validator("slots")
    @classmethod
    def _weights_sum(cls, slots: dict[Slot, SlotConfig]) -> dict[Slot, SlotConfig]:
        if not slots:
            raise ValueError("at least one slot (blue or green) is needed")
        total = sum(slot.weight for slot in slots.values())
        if total != 100:
            shown = ", ".join(f"{name} {slot.weight}" for name, slot in slots.items())
            raise ValueError(f"slot weights must sum to 100, got {total} ({shown})")
        return slots

    def problems(self) -> list[str]:
        """Every check of the model as a whole, as `relative.key: message` lines.

        The environment's validator reports them together with its own: a validator here would hide
        them all behind the first model problem (a failed model stops every validator above it), and a
        field validator would hide a feature the cloud lacks behind an unknown instance type.
        """
        problems = [
            problem
            for cloud, names in self.instance_types.items()
            for problem in _unknown_types(cloud, names)
        ]
        problems += [problem for cloud in self.instance_types for problem in self._memory_problems(cloud)]
        problems += self._scaling_problems() + self._engine_problems() + self._spot_override_problems()
        return problems + [
            problem for cloud in self.instance_types for problem in cloud_problems(self, cloud)
        ]

    def _memory_problems(self, cloud: Cloud) -> list[str]:
        need = memory_need(self.params_billion, self.dtype, self.quantize)
        catalog = instance_types(cloud)
        chosen = [catalog[name] for name in self.instance_types[cloud] if name in catalog]
        if not chosen:
            return []
        names = self.instance_types[cloud]
        problems = [
            f"instance_types.{cloud}[{names.index(entry.name)}]: {entry.describe()} "
            f"cannot hold {self.model_id}: "
            f"it needs about {need.total_gib:.0f} GiB of GPU memory "
            f"(weights {need.weights_gib:.0f} GiB + KV cache {need.kv_cache_gib:.0f} GiB); "
            f"types that fit: {', '.join(fitting_types(cloud, need)) or 'none in the catalog'}"
            for entry in chosen
            if not fits(need, entry)
        ]
        if len({entry.gpu_count for entry in chosen}) > 1:
            problems.append(
                f"instance_types.{cloud}: mixes GPU counts ({', '.join(e.describe() for e in chosen)}): "
                "every type of a fleet needs the same GPU count, so the shard count is the same"
            )
        return problems

    def _engine_problems(self) -> list[str]:
        supported = ENGINES[self.engine].quantizations
        if self.quantize is None or self.quantize in supported:
            return []
        return [f"quantize: {self.engine} cannot serve {self.quantize!r}; it takes {', '.join(supported)}"]

    def _scaling_problems(self) -> list[str]:
        problems = [
            f"{where}.min: 0 needs autoscaling.scale_to_zero: true"
            for where, capacity in self.capacities()
            if capacity.min == 0 and not self.autoscaling.scale_to_zero
        ]
        problems += [
            f"{self.spot_key(cloud, 'on_demand_base')}: {base} exceeds {where}.max ({capacity.max})"
            for cloud in self.instance_types
            if (base := self.spot_for(cloud).on_demand_base)
            for where, capacity in self.capacities()
            if base > capacity.max
        ]
        # A setting shared by every cloud is one problem, not one per cloud.
        return list(dict.fromkeys(problems))

    def _spot_override_problems(self) -> list[str]:
        return [
            f"spot.overrides.{cloud}: set, but instance_types has no {cloud} entry"
            for cloud in self.spot.overrides
            if cloud not in self.instance_types
        ]

    def spot_for(self, cloud: Cloud) -> Spot:
        """The model's spot settings on `cloud`: its `spot`, with that cloud's overrides applied."""
        override = self.spot.overrides.get(cloud)
        changes = override.model_dump(exclude_unset=True) if override is not None else {}
        return self.spot.model_copy(update={**changes, "overrides": {}})

    def spot_key(self, cloud: Cloud, key: str) -> str:
        """Where `key` of `cloud`'s spot settings is set: its override, else the model's `spot`."""
        override = self.spot.overrides.get(cloud)
        overridden = override is not None and key in override.model_fields_set
        return f"spot.overrides.{cloud}.{key}" if overridden else f"spot.{key}"

    def capacities(self) -> list[tuple[str, Capacity]]:
        """Every capacity in force: the model's, and each slot's override."""
        found = [("capacity", self.capacity)]
        found += [
            (f"slots.{name}.capacity", slot.capacity) for name, slot in self.slots.items() if slot.capacity
        ]
        return found

    def slot_capacity(self, slot: Slot) -> Capacity:
        return self.slots[slot].capacity or self.capacity


def _unknown_types(cloud: Cloud, names: list[str]) -> list[str]:
    if not names:
        return [f"instance_types.{cloud}: list at least one instance type"]
    known = list(instance_types(cloud))
    problems = []
    for index, name in enumerate(names):
        if name not in known:
            guess = closest(name, known)
            hint = f"did you mean {guess!r}?" if guess else f"known types: {', '.join(known)}"
            problems.append(
                f"instance_types.{cloud}[{index}]: {name!r} is not a GPU instance type in the {cloud} "
                f"catalog; {hint}"
            )
    return problems
