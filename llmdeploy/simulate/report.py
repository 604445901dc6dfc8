"""A simulation as a table (policies side by side) or as JSON."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from llmdeploy.simulate.model import WAIT_THRESHOLDS_S, Result
from llmdeploy.simulate.run import Simulation


def _share(value: float) -> str:
    return f"{value:.1%}"


def _rows(result: Result, all_on_demand: Result, budget_s: float) -> list[tuple[str, str]]:
    relative = result.cost_usd / all_on_demand.cost_usd if all_on_demand.cost_usd else 0.0
    return [
        ("time with enough ready replicas", _share(result.time_available)),
        (f"requests queued <= {budget_s:g} s", _share(result.requests_within_budget)),
        *(
            (f"requests queued > {limit:g} s", _share(share))
            for limit, share in zip(WAIT_THRESHOLDS_S, result.wait_over, strict=True)
        ),
        ("mean queueing delay", f"{result.mean_wait_s:.1f} s"),
        ("preemptions", str(result.preemptions)),
        ("  of which from preemption traces", str(result.trace_preemptions)),
        ("requests cut by a reclaim", f"{result.requests_cut:,.0f}"),
        ("launches (scale-out and replacements)", str(result.launches)),
        ("GPU-hours", f"{result.gpu_hours:,.0f}"),
        ("on-demand / spot instance-hours", f"{result.on_demand_hours:,.0f} / {result.spot_hours:,.0f}"),
        ("cost", f"{result.cost_usd:,.0f} USD ({result.usd_hour:,.2f}/h)"),
        ("cost vs all on-demand", _share(relative)),
    ]


def _baseline(simulation: Simulation) -> Result:
    return next(result for result in simulation.results if result.policy == "all-on-demand")


def _throughput_line(simulation: Simulation) -> str:
    derived, model = simulation.throughput, simulation.throughput.model
    return (
        f"Per replica ({derived.gpus}x {derived.gpu}, {simulation.fleet.instance_types[0].name}): "
        f"{model.concurrency} batch slots; with all busy {model.decode_tokens_per_s:.1f} output tokens/s "
        f"per sequence ({derived.decode_tokens_per_s_total:,.0f} in all); prefill "
        f"{derived.prefill_tokens_per_s_total:,.0f} prompt tokens/s (a roofline model of the GPU and the "
        "model's size: llmdeploy/simulate/throughput.py)."
    )


def _throughput_json(simulation: Simulation) -> dict[str, Any]:
    derived, model = simulation.throughput, simulation.throughput.model
    return {
        "instance_type": simulation.fleet.instance_types[0].name,
        "gpu": derived.gpu,
        "gpus": derived.gpus,
        "batch_slots": model.concurrency,
        "decode_tokens_per_s_per_sequence": model.decode_tokens_per_s,
        "decode_tokens_per_s": derived.decode_tokens_per_s_total,
        "prefill_tokens_per_s": derived.prefill_tokens_per_s_total,
        "prefill_tokens_per_s_per_sequence": model.prefill_tokens_per_s,
    }


def simulation_table(simulation: Simulation) -> Table:
    fleet, options = simulation.fleet, simulation.options
    zones = ", ".join(f"{zone}<-{trace}" for zone, trace in simulation.zones.items())
    if simulation.preemption_zones:
        zones += "; preemption traces: " + ", ".join(
            f"{zone}<-{trace}" for zone, trace in simulation.preemption_zones.items()
        )
    table = Table(
        title=f"{fleet.model} ({fleet.slot}) on {fleet.cloud}, {options.days:.1f} days, seed {options.seed}, "
        f"traffic trace looped back and forth, its trend slowed {options.stretch}x (minute bursts kept)",
        caption=f"spot availability traces per zone: {zones}. Queueing: M/M/c over ready replicas' "
        f"batch slots. {_throughput_line(simulation)}"
        + "".join(f"\nwarning: {warning}" for warning in simulation.warnings),
    )
    table.add_column("")
    for result in simulation.results:
        extra = result.policy == "fallback" and options.spot_extra
        table.add_column(
            f"fallback (+{options.spot_extra} spot)" if extra else result.policy, justify="right"
        )
    columns = [
        _rows(result, _baseline(simulation), options.latency_budget_s) for result in simulation.results
    ]
    for index, (label, _) in enumerate(columns[0]):
        table.add_row(label, *(column[index][1] for column in columns))
    return table


def simulation_json(simulation: Simulation) -> dict[str, Any]:
    fleet, options = simulation.fleet, simulation.options
    baseline = _baseline(simulation)
    return {
        "model": fleet.model,
        "cloud": fleet.cloud,
        "slot": fleet.slot,
        "days": options.days,
        "seed": options.seed,
        "latency_budget_s": options.latency_budget_s,
        "stretch": options.stretch,
        "spot_extra": options.spot_extra,
        "zones": simulation.zones,
        "preemption_traces": simulation.preemption_zones,
        "warnings": list(simulation.warnings),
        "throughput": _throughput_json(simulation),
        "policies": {
            result.policy: {
                "time_available": result.time_available,
                "requests_within_budget": result.requests_within_budget,
                "requests": round(result.requests),
                "wait_over_s": dict(
                    zip((f"{limit:g}" for limit in WAIT_THRESHOLDS_S), result.wait_over, strict=True)
                ),
                "mean_wait_s": result.mean_wait_s,
                "preemptions": result.preemptions,
                "trace_preemptions": result.trace_preemptions,
                "requests_cut": result.requests_cut,
                "launches": result.launches,
                "gpu_hours": result.gpu_hours,
                "on_demand_hours": result.on_demand_hours,
                "spot_hours": result.spot_hours,
                "cost_usd": result.cost_usd,
                "usd_hour": result.usd_hour,
                "cost_vs_all_on_demand": result.cost_usd / baseline.cost_usd if baseline.cost_usd else None,
            }
            for result in simulation.results
        },
    }
