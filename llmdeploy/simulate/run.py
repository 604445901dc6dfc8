"""Pick the fleet from llmdeploy's own plan, map trace zones onto its zones, replay every policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from llmdeploy.catalog import Cloud
from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.simulate.model import POLICIES, Options, Result
from llmdeploy.simulate.replay import replay
from llmdeploy.simulate.throughput import Derived, derive
from llmdeploy.simulate.traces import PreemptionTrace, Traffic, ZoneTrace

Trace = TypeVar("Trace", ZoneTrace, PreemptionTrace)


@dataclass(frozen=True)
class Simulation:
    fleet: FleetPlan
    #: Plan zone -> the zone whose trace stands for it.
    zones: dict[str, str]
    options: Options
    #: What one replica serves, derived from the fleet's GPU and the model's size.
    throughput: Derived
    results: tuple[Result, ...]
    #: Plan zone -> the preemption trace (zone_type) that stands for it; empty without --preemptions.
    preemption_zones: dict[str, str] = field(default_factory=dict)
    #: Where the traces' instance type is not the fleet's: whose spot capacity stands for whose.
    warnings: tuple[str, ...] = ()


def pick_fleet(plan: DeploymentPlan, model: str | None, cloud: Cloud | None) -> FleetPlan:
    """The first (blue) fleet of a model on a cloud; defaults: the plan's first model and cloud."""
    cloud = cloud or plan.clouds[0].cloud
    if cloud not in [entry.cloud for entry in plan.clouds]:
        clouds = ", ".join(entry.cloud for entry in plan.clouds)
        raise ConfigError(
            [
                Problem(
                    f"environment {plan.env} does not deploy to {cloud}",
                    hint=f"use --cloud with one of: {clouds}",
                )
            ]
        )
    names = [entry.name for entry in plan.models]
    chosen = next((entry for entry in plan.models if entry.name == (model or names[0])), None)
    if chosen is None:
        raise ConfigError(
            [
                Problem(
                    f"environment {plan.env} has no model {model!r}",
                    hint=f"use --model with one of: {', '.join(names)}",
                )
            ]
        )
    fleets = chosen.fleets_on(cloud)
    if not fleets:
        raise ConfigError(
            [Problem(f"model {chosen.name} has no fleet on {cloud}", hint="pick another --cloud")]
        )
    return fleets[0]


def map_zones(plan_zones: list[str], traces: tuple[Trace, ...]) -> dict[str, Trace]:
    """A trace for each plan zone: the one of the same name, else the unused ones in order.

    A plan zone left without an availability trace gets no spot capacity (on-demand still runs
    there); one without a preemption trace sees only the availability trace's reclaims.
    """
    by_name = {trace.zone: trace for trace in traces}
    spare = [trace for trace in traces if trace.zone not in plan_zones]
    mapped: dict[str, Trace] = {}
    for zone in plan_zones:
        if zone in by_name:
            mapped[zone] = by_name[zone]
        elif spare:
            mapped[zone] = spare.pop(0)
    return mapped


def type_warnings(fleet: FleetPlan, instances: set[str]) -> tuple[str, ...]:
    """A warning per trace instance type that is not the fleet's first type's GPU and count.

    SkyPilot trace files name the type as `<gpu>_<count>` (e.g. `v100_1`, one V100). Spot capacity
    is per type and zone (a pool), so another type's trace only stands in for the fleet's.
    """
    first = fleet.instance_types[0]
    own = f"{first.gpu}_{first.gpu_count}".lower()
    return tuple(
        f"the spot traces are for {instance or 'an unnamed type'}, not the fleet's {first.name} "
        f"({first.gpu_count}x {first.gpu}): their capacity stands in for {first.name}'s, which may differ"
        for instance in sorted(instances)
        if instance.lower() != own
    )


def plan_zones(plan: DeploymentPlan, cloud: Cloud) -> list[str]:
    return list(plan.cloud(cloud).settings.zones)


def simulate(
    plan: DeploymentPlan,
    fleet: FleetPlan,
    traffic: Traffic,
    traces: tuple[ZoneTrace, ...],
    options: Options,
    preemptions: tuple[PreemptionTrace, ...] = (),
) -> Simulation:
    """Replay every policy over the same traces; `options.days` 0 means the shortest availability trace.

    Preemption traces start with the replay and repeat past their end, like the availability traces.
    """
    zones = map_zones(plan_zones(plan, fleet.cloud), traces)
    preempting = map_zones(plan_zones(plan, fleet.cloud), preemptions)
    if options.days <= 0:
        options = Options(**{**options.__dict__, "days": min(trace.duration_s for trace in traces) / 86400})
    memory = next(entry.memory for entry in plan.models if entry.name == fleet.model)
    throughput = derive(fleet, memory, traffic.mean_prompt_tokens, traffic.mean_output_tokens)
    results = tuple(
        replay(fleet, traffic, zones, policy, options, throughput.model, preempting) for policy in POLICIES
    )
    return Simulation(
        fleet,
        {zone: trace.zone for zone, trace in zones.items()},
        options,
        throughput,
        results,
        {zone: trace.name for zone, trace in preempting.items()},
        throughput.warnings
        + type_warnings(
            fleet,
            {trace.instance for trace in zones.values()} | {trace.instance for trace in preempting.values()},
        ),
    )
