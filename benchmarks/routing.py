"""Request-layer benchmark on loopback: vllm-router (cache_aware) behind nginx vs nginx least_conn.

Run: python benchmarks/routing.py [--replicas 8] [--time-scale 10] [--sessions 48] [--session-rate 12]
         [--preemptions 20] [--azure-rows 150] [--parts main,overhead,agreement,zero,preempt]
About 10 minutes on 2 shared cores. Stand-in durations are the cited Llama-3.1-8B/H100 timings multiplied
by --time-scale, so Python's own overhead on a small machine stays small against them; TTFTs print as
measured, i.e. scaled (divide by the scale for H100 time). Preemption notices are 30 s divided by the
scale. The overhead and agreement parts run unscaled (x1).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmdeploy.routing.harness import loadgen
from llmdeploy.routing.harness.client import complete, token_ids
from llmdeploy.routing.harness.fleet import Fleet
from llmdeploy.routing.harness.front import BALANCE_GUARD, Router, start_nginx, start_router, stop_all
from llmdeploy.routing.harness.layer import Layer
from llmdeploy.routing.harness.measure import Summary, percentile, summarize
from llmdeploy.routing.harness.trace import SharedPrefixShape, TraceRequest, azure_trace, shared_prefix


def _run(
    label: str, requests: list[TraceRequest], replicas: int, scale: float, work: Path, layer: bool
) -> Summary:
    fleet = Fleet(time_scale=scale)
    processes = []
    slug = "".join(c if c.isalnum() else "-" for c in label)
    try:
        fleet.scale_up(replicas)
        if layer:
            router = start_router(fleet.ready_urls(), "cache_aware", *BALANCE_GUARD)
            processes.append(router.process)
            nginx = start_nginx([router.url], work / slug)
        else:
            nginx = start_nginx(fleet.ready_urls(), work / slug, "least_conn")
        processes.append(nginx.process)
        summary = summarize(loadgen.run(nginx.url, requests, work / f"load-{slug}", users=128))
    finally:
        stop_all(*processes)
        fleet.stop()
    print(summary.row(label), flush=True)
    return summary


def _overhead(scale: float, work: Path) -> None:
    """Unique prompts (no cache effect), each setup on a fresh replica: light load for the p50 TTFT,
    a burst that saturates the replica for the throughput."""
    light = shared_prefix(
        SharedPrefixShape(
            prefixes=60,
            prefix_tokens=200,
            sessions=60,
            turns=1,
            reply_tokens=16,
            session_rate_per_s=6,
            seed=1,
        )
    )
    burst = [
        replace(r, at_s=0.0, max_tokens=64)
        for r in shared_prefix(
            SharedPrefixShape(prefixes=96, prefix_tokens=200, sessions=96, turns=1, seed=2)
        )
    ]
    figures: dict[str, tuple[Summary, Summary]] = {}
    for label in ("direct", "layered"):
        fleet = Fleet(time_scale=scale)
        processes = []
        try:
            (replica,) = fleet.scale_up(1)
            url = replica.url
            if label == "layered":
                router = start_router([replica.url], "cache_aware", *BALANCE_GUARD)
                nginx = start_nginx([router.url], work / f"one-{label}")
                processes = [nginx.process, router.process]
                url = nginx.url
            figures[label] = (
                summarize(loadgen.run(url, light, work / f"light-{label}", users=32)),
                summarize(loadgen.run(url, burst, work / f"burst-{label}", users=96)),
            )
        finally:
            stop_all(*processes)
            fleet.stop()
        print(figures[label][0].row(f"{label}: light"))
        print(figures[label][1].row(f"{label}: burst"))
    (direct_light, direct_burst), (layer_light, layer_burst) = figures["direct"], figures["layered"]
    _paired_overhead(scale, work)
    loss = (1 - layer_burst.output_tokens_per_s / direct_burst.output_tokens_per_s) * 100
    added_ms = (layer_light.ttft_p50_s - direct_light.ttft_p50_s) * 1000
    print(
        f"router+nginx overhead: p50 TTFT +{added_ms:.2f} ms, "
        f"saturated throughput loss {loss:.1f}% (goals: <=2 ms, <=5%)"
    )


def _paired_overhead(scale: float, work: Path, pairs: int = 200) -> None:
    """One request at a time, alternating direct and through nginx+router to the same replica, so the
    machine's load hits both alike; the median of the paired differences is the layer's cost."""
    fleet = Fleet(time_scale=scale)
    try:
        (replica,) = fleet.scale_up(1)
        router = start_router([replica.url], "cache_aware", *BALANCE_GUARD)
        nginx = start_nginx([router.url], work / "paired")
        try:
            prompt = token_ids(" ".join(f"w{i}" for i in range(64)))
            differences = []
            for _ in range(pairs):
                direct = complete(replica.url, prompt)[1]
                layered = complete(nginx.url, prompt)[1]
                differences.append(layered - direct)
        finally:
            stop_all(nginx.process, router.process)
    finally:
        fleet.stop()
    median_ms = percentile(differences, 50) * 1000
    print(f"paired overhead over {pairs} sequential requests: median +{median_ms:.2f} ms")


def _agreement(replicas: int, scale: float, prefixes: int = 40) -> None:
    fleet = Fleet(time_scale=scale)
    try:
        fleet.scale_up(replicas)
        for policy in ("cache_aware", "consistent_hash"):
            one = start_router(fleet.ready_urls(), policy, *BALANCE_GUARD)
            two = start_router(fleet.ready_urls(), policy, *BALANCE_GUARD)
            try:
                same = 0
                for p in range(prefixes):
                    ids = token_ids(" ".join(f"agree{p}_{i}" for i in range(300)))
                    first = complete(one.url, ids)[0]["system_fingerprint"]
                    second = complete(two.url, ids)[0]["system_fingerprint"]
                    same += first == second
            finally:
                stop_all(one.process, two.process)
            print(f"two-router agreement ({policy}): {same}/{prefixes} = {same / prefixes * 100:.0f}%")
    finally:
        fleet.stop()


def _preemptions(replicas: int, scale: float, count: int, work: Path, mode: str) -> None:
    """Notice (health 503), kill after 30 s / scale; then the next oldest live replica, one at a time.

    agents: llmdeploy.routing's gate and membership in front (membership removes the draining replica
    and adds the replacement the harness starts, as the group would); membership: the harness tells the
    router itself at the notice (remove_worker) and adds the replacement;
    router-health: only the router's own health checks notice (1 s interval);
    baseline: nginx least_conn over the replicas, no active health checks, no replacements.
    """
    gap = 30.0 / scale + 1.0  # one replica draining at a time, as spot reclaims usually come
    requests = shared_prefix(
        SharedPrefixShape(sessions=max(24, int(count * gap * 2)), session_rate_per_s=2.0)
    )
    fleet = Fleet(time_scale=scale)
    processes = []
    try:
        fleet.scale_up(replicas)
        router, layer = None, None
        if mode == "baseline":
            nginx = start_nginx(fleet.ready_urls(), work / f"preempt-{mode}", "least_conn")
        else:
            checks = ("--health-check-interval-secs", "1", "--health-failure-threshold", "1")
            router = start_router(fleet.ready_urls(), "cache_aware", *BALANCE_GUARD, *checks)
            processes.append(router.process)
            layer = Layer(fleet, router.url).start() if mode == "agents" else None
            nginx = start_nginx([layer.url if layer else router.url], work / f"preempt-{mode}")
        processes.append(nginx.process)

        def chaos() -> None:
            for _ in range(count):
                time.sleep(gap)
                victim = next(r for r in fleet.replicas if r.alive and not r.draining)
                fleet.preempt(victim, 30.0 / scale)
                if mode == "baseline" or router is None:
                    continue
                if mode == "agents":
                    fleet.scale_up(1)
                    continue
                if mode == "membership":
                    router.remove_worker(victim.url)
                (fresh,) = fleet.scale_up(1)
                router.add_worker(fresh.url)

        thread = threading.Thread(target=chaos)
        thread.start()
        try:
            summary = summarize(loadgen.run(nginx.url, requests, work / f"load-preempt-{mode}", users=128))
        finally:
            thread.join()
    finally:
        if layer is not None:
            layer.stop()
        stop_all(*processes)
        fleet.stop()
    print(summary.row(f"preempt: {mode}"))
    print(f"failed requests over {count} preemptions ({mode}, notice {30.0 / scale:.1f} s): {summary.failed}")


def _at_zero(scale: float, work: Path, boot_s: float = 3.0) -> None:
    """Requests at a fleet at zero behind nginx+router, for a few seconds: without the hold gate (a helper
    thread starts a replica after `boot_s` and adds it), then with llmdeploy.routing's gate and membership
    (the gate holds, calls Fleet.scale_up once per burst, membership adds the replica). Counts client 5xx.
    """
    requests = shared_prefix(
        SharedPrefixShape(prefixes=2, prefix_tokens=100, sessions=30, turns=1, session_rate_per_s=5)
    )
    for gated in (False, True):
        fleet = Fleet(time_scale=scale)
        router = start_router([], "cache_aware", *BALANCE_GUARD)
        layer = Layer(fleet, router.url).start() if gated else None
        nginx = start_nginx([layer.url if layer else router.url], work / f"zero-{gated}")

        def wake(fleet: Fleet = fleet, router: Router = router) -> None:
            time.sleep(boot_s)
            (replica,) = fleet.scale_up(1)
            router.add_worker(replica.url)

        thread = threading.Thread(target=wake)
        if not gated:
            thread.start()
        try:
            results = loadgen.run(nginx.url, requests, work / f"load-zero-{gated}", users=32)
        finally:
            if not gated:
                thread.join()
            if layer is not None:
                layer.stop()
            stop_all(nginx.process, router.process)
            fleet.stop()
        server_errors = sum(1 for r in results if r["status"] >= 500)
        label = "with the hold gate" if gated else "without the hold gate"
        print(f"at zero {label}: {server_errors}/{len(results)} client 5xx,", end=" ")
        print(
            f"{sum(1 for r in results if r['status'] == 429)} 429, {summarize(results).failed} failed in all",
            end="",
        )
        print(f", scale-ups called {layer.metrics.scale_ups}" if layer else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=48)
    parser.add_argument("--preemptions", type=int, default=20)
    parser.add_argument("--session-rate", type=float, default=12.0, help="new chat sessions per second")
    parser.add_argument("--azure-rows", type=int, default=0, help="also replay this many Azure trace rows")
    parser.add_argument("--azure-speedup", type=float, default=1.0)
    parser.add_argument("--preempt-modes", default="agents,membership,router-health,baseline")
    parser.add_argument("--parts", default="main,overhead,agreement,zero,preempt")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; time scale x{args.time_scale}")
    work = Path(tempfile.mkdtemp(prefix="routing-bench-"))
    parts = set(args.parts.split(","))
    if "main" in parts:
        requests = shared_prefix(
            SharedPrefixShape(sessions=args.sessions, session_rate_per_s=args.session_rate)
        )
        print(f"shared-prefix trace: {len(requests)} requests, {args.replicas} replicas")
        layer = _run("layer (router cache_aware)", requests, args.replicas, args.time_scale, work, True)
        base = _run("baseline (nginx least_conn)", requests, args.replicas, args.time_scale, work, False)
        print(
            f"throughput x{layer.output_tokens_per_s / base.output_tokens_per_s:.2f}, "
            f"mean TTFT /{base.ttft_mean_s / layer.ttft_mean_s:.2f} (goals: x2, /5)"
        )
    if args.azure_rows:
        azure = azure_trace(limit=args.azure_rows, speedup=args.azure_speedup)
        _run("azure: layer", azure, args.replicas, args.time_scale, work, True)
        _run("azure: baseline", azure, args.replicas, args.time_scale, work, False)
    if "overhead" in parts:
        _overhead(1.0, work)
    if "agreement" in parts:
        _agreement(args.replicas, 1.0)
    if "zero" in parts:
        _at_zero(args.time_scale, work)
    modes = [m for m in ("agents", "membership", "router-health", "baseline") if m in args.preempt_modes]
    if "preempt" in parts:
        for mode in modes:
            count = args.preemptions if mode != "baseline" else min(args.preemptions, 3)
            _preemptions(4, args.time_scale, count, work, mode)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
