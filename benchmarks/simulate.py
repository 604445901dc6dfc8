"""Simulate benchmark: the prod example's first model on AWS over the shared 45-day spot trace.

    python benchmarks/simulate.py [--data ../shared/data] [--days 0] [--stretch 1] [--spot-extra 1]
                                  [--target-queue Q] [--trace-zones Z1,Z2,Z3]

Prints availability and cost as a share of all on-demand for the plan's policy and the on-demand
fallback (and the two extremes), without and then with the preemption traces, and the wall time of
each 45-day replay (target: under 30 s on 2 cores).
Traces: Azure LLM inference trace 2023, conversation (CC-BY 4.0, Azure/AzurePublicDataset); SkyPilot
spot-traces (NSDI 2024) availability/1-node/aws-02-15-2023 (p3.2xlarge, 9 zones, 45 days) and
preemption/1-node/aws-04-22-2023 (p3.2xlarge, 4 zones, 7 days, repeated over the 45), read in place.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.synth import EXAMPLE_VARIABLES  # noqa: E402
from llmdeploy.config import load  # noqa: E402
from llmdeploy.plan.build import build_plan  # noqa: E402
from llmdeploy.plan.model import DeploymentPlan, FleetPlan  # noqa: E402
from llmdeploy.simulate.model import Options  # noqa: E402
from llmdeploy.simulate.run import pick_fleet, simulate  # noqa: E402
from llmdeploy.simulate.traces import (  # noqa: E402
    PreemptionTrace,
    Traffic,
    ZoneTrace,
    read_preemptions,
    read_spot,
    read_traffic,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # ../shared/data from the main checkout, ../../shared/data from a worktree under /work/wt.
    shared = next((up / "shared" / "data" for up in REPO.parents if (up / "shared" / "data").is_dir()), None)
    parser.add_argument("--data", type=Path, default=shared, required=shared is None)
    parser.add_argument("--days", type=float, default=0.0, help="0: the whole spot trace")
    parser.add_argument("--stretch", type=int, default=1, help="replay minutes per traffic trace minute")
    parser.add_argument("--spot-extra", type=int, default=1, help="the fallback policy's spare spot replicas")
    parser.add_argument(
        "--trace-zones",
        default="",
        help="comma-separated trace zones to stand for the plan's zones, in order (default: same names, "
        "then the others in order)",
    )
    parser.add_argument(
        "--target-queue",
        type=float,
        default=None,
        help="replace the fleet's autoscaling target by this engine queue per replica (default: the plan's)",
    )
    args = parser.parse_args()
    for name, value in EXAMPLE_VARIABLES.items():
        os.environ.setdefault(name, value)
    plan = build_plan(load("prod", REPO / "environments"))
    fleet = pick_fleet(plan, None, "aws")
    if args.target_queue is not None:
        fleet = replace(
            fleet,
            autoscaling=fleet.autoscaling.model_copy(
                update={"target_queue_size": args.target_queue, "target_requests_per_replica": None}
            ),
        )
    traffic = read_traffic(args.data / "llm-traces" / "AzureLLMInferenceTrace_conv.csv")
    traces = args.data / "spot-traces"
    spot = read_spot(traces / "availability" / "1-node" / "aws-02-15-2023")
    preemptions = read_preemptions(traces / "preemption" / "1-node" / "aws-04-22-2023")
    if args.trace_zones:
        wanted = args.trace_zones.split(",")
        spot = tuple(
            sorted((trace for trace in spot if trace.zone in wanted), key=lambda t: wanted.index(t.zone))
        )
    options = Options(days=args.days, stretch=args.stretch, spot_extra=args.spot_extra)
    target = fleet.autoscaling.target_queue_size or fleet.autoscaling.target_requests_per_replica
    print(
        f"{fleet.model} ({fleet.slot}) on aws, stretch {args.stretch}, "
        f"fallback with {args.spot_extra} spare spot replica(s), autoscaling target {target:g}"
    )
    for label, reclaims in (("availability traces only", ()), ("with the preemption traces", preemptions)):
        report(label, plan, fleet, traffic, spot, reclaims, options)
    return 0


def report(
    label: str,
    plan: DeploymentPlan,
    fleet: FleetPlan,
    traffic: Traffic,
    spot: tuple[ZoneTrace, ...],
    preemptions: tuple[PreemptionTrace, ...],
    options: Options,
) -> None:
    """Replay every policy once and print its availability and cost against all on-demand."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = simulate(plan, fleet, traffic, spot, options, preemptions=preemptions)
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    baseline = next(entry for entry in result.results if entry.policy == "all-on-demand")
    print(f"\n{label}, {result.options.days:.1f} days")
    print(f"zones (plan <- trace): {result.zones}")
    if result.preemption_zones:
        print(f"preemption traces (plan <- trace): {result.preemption_zones}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    derived = result.throughput
    print(
        f"per replica ({derived.gpus}x {derived.gpu}): {derived.model.concurrency} batch slots, "
        f"{derived.model.decode_tokens_per_s:.1f} output tokens/s per sequence with all busy "
        f"({derived.decode_tokens_per_s_total:,.0f} in all), "
        f"prefill {derived.prefill_tokens_per_s_total:,.0f} prompt tokens/s"
    )
    print(
        f"{'policy':<14} {'time ok':>8} {'req <=5s':>9} {'preempt':>8} {'traced':>7} {'cost USD':>10} "
        f"{'vs on-demand':>13}"
    )
    for entry in result.results:
        print(
            f"{entry.policy:<14} {entry.time_available:>8.1%} {entry.requests_within_budget:>9.1%} "
            f"{entry.preemptions:>8} {entry.trace_preemptions:>7} {entry.cost_usd:>10,.0f} "
            f"{entry.cost_usd / baseline.cost_usd:>13.1%}"
        )
    print(
        f"replay: {cpu_s:.1f} s CPU, {wall_s:.1f} s wall (4 policies; target < 30 s; wall time grows with "
        "other load on the machine, CPU time does not)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
