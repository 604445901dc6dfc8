"""Replay traffic and spot capacity against one fleet's policies, in fixed time steps.

Traffic is modelled as a rate per step (requests per second, from the trace's per-minute counts):
the fleet's size, launches, preemptions and cost depend only on the rate, and 45 days of requests
one by one would be ~1e9 events at production rates. Queueing, where single requests matter, is
computed per step from that rate with an M/M/c queue over the ready replicas' batch slots
(`queueing.py`): a request's wait depends on how many replicas are ready when it arrives.

Spot: a zone whose availability trace reads > 0 can launch any number of spot replicas (1-node
traces say launchable or not); when it drops to 0 every spot replica there is reclaimed (notice,
drain, then a replacement is launched wherever capacity is). A zone may also have a preemption
trace (one instance kept running there): each of its preemptions reclaims one spot replica of the
zone, picked at random with the seed (a 1-node trace sees one instance go, so one is the most it
can say). Where spot can be launched stays the availability trace's answer alone: the preemption
trace's down time (failed relaunches) is availability, from another period, and would count twice.
On-demand capacity is assumed always there.
Replicas are placed in the open zone holding the fewest (the ASG's zone balancing); a new replica
serves after the plan's readiness time (`health.readiness_grace_s`), billed from launch.

Left out, each a known gap between this replay and the clouds (the report's numbers carry them):
- instance types: every replica is the fleet's first type, at its catalog price and typical spot
  discount; a trace's type (e.g. V100 `p3.2xlarge`) stands for whatever the fleet runs, and a
  fleet's other types (which price-capacity-optimized allocation would fall back to) add no capacity;
- AWS capacity rebalancing (a replacement launched at the rebalance recommendation, before the
  two-minute notice) and GCP/Azure's lack of it: every cloud replaces at the notice;
- per-cloud spot mechanics beyond the notice length: Azure's eviction policy (Deallocate keeps
  billing the disk), GCP's separate on-demand and spot groups, spot price changes over time;
- billing granularity: per second here, without the clouds' minimum charges (AWS and GCP: one minute);
- dates: availability and preemption traces, from different periods, both start with the replay.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field, replace

from llmdeploy.plan.cost import mix_usd_hour, on_demand_count
from llmdeploy.plan.model import FleetPlan
from llmdeploy.simulate import queueing
from llmdeploy.simulate.model import (
    NOTICE_S,
    WAIT_THRESHOLDS_S,
    Options,
    Policy,
    Result,
    ThroughputModel,
    Timeline,
)
from llmdeploy.simulate.traces import PreemptionTrace, Traffic, ZoneTrace

#: The autoscaler acts on the mean rate over this window: AWS target tracking scales out after three
#: one-minute datapoints over target (Application Auto Scaling, "Target tracking scaling policies").
SCALING_WINDOW_S = 180
#: Minutes of the traffic trace's moving mean that `stretch` slows down; faster swings stay real-time.
TREND_MINUTES = 15


@dataclass
class Replica:
    spot: bool
    zone: str
    ready_at_s: int


@dataclass
class Totals:
    steps: int = 0
    steps_enough: int = 0
    requests: float = 0.0
    within: float = 0.0
    wait_over: list[float] = field(default_factory=lambda: [0.0] * len(WAIT_THRESHOLDS_S))
    wait_sum_s: float = 0.0
    preemptions: int = 0
    trace_preemptions: int = 0
    requests_cut: float = 0.0
    launches: int = 0
    on_demand_s: float = 0.0
    spot_s: float = 0.0
    cost_usd: float = 0.0
    wanted: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    preempted: list[int] = field(default_factory=list)


def fleet_for(fleet: FleetPlan, policy: Policy) -> FleetPlan:
    """The fleet with the spot mix a policy uses (the extremes replace the plan's)."""
    if policy == "all-on-demand":
        return replace(fleet, spot=fleet.spot.model_copy(update={"on_demand_percent_above_base": 100}))
    if policy == "all-spot":
        return replace(
            fleet, spot=fleet.spot.model_copy(update={"on_demand_base": 0, "on_demand_percent_above_base": 0})
        )
    return fleet


def trend(per_minute: tuple[float, ...], window: int) -> tuple[float, ...]:
    """Centred moving mean over `window` minutes, the sequence read as a circle (it is a loop)."""
    count, half = len(per_minute), window // 2
    return tuple(
        sum(per_minute[(index + offset) % count] for offset in range(-half, half + 1)) / (2 * half + 1)
        for index in range(count)
    )


def rates(traffic: Traffic, options: Options, scale: float) -> list[float]:
    """Requests per second at every step: the trace played forwards then backwards, over and over.

    Back and forth keeps the rate continuous where a repeat starts (a plain loop would jump from the
    trace's last minute to its first each hour, a step no real traffic takes); the seed picks where
    in that loop the replay starts. `stretch` slows the trace's trend (its moving mean over
    TREND_MINUTES) and keeps each minute's ratio to it at real speed: stretching every minute would
    turn one minute's burst into a plateau of `stretch` minutes that the autoscaler must follow, a
    swing no day of real traffic has. At stretch 1 this is the trace itself.
    """
    loop = (*traffic.per_minute, *reversed(traffic.per_minute))
    slow = trend(loop, TREND_MINUTES)
    start = random.Random(options.seed).randrange(len(loop))
    steps = int(options.days * 86400 // options.step_s)
    result = []
    for step in range(steps):
        now = (start + step * options.step_s // 60) % len(loop)
        level = slow[(start + step * options.step_s // (60 * options.stretch)) % len(loop)]
        result.append(level * (loop[now] / slow[now] if slow[now] else 0.0) * scale / 60)
    return result


def cut_share(traffic: Traffic, model: ThroughputModel, notice_s: int) -> float:
    """Share of a replica's in-flight requests that need longer than the notice to finish.

    A request found in flight at a random moment has a remaining service time distributed as the
    equilibrium (residual-life) distribution of the service times: P(remaining > n) = E[(X - n)+] / E[X],
    over each request's own service time X from the trace's tokens.
    """
    services = [model.service_s(prompt, output) for prompt, output in traffic.tokens]
    total = sum(services)
    return sum(max(0.0, service - notice_s) for service in services) / total if total else 0.0


def wanted(fleet: FleetPlan, rate: float, service_s: float, concurrency: int, backlog: float = 0.0) -> int:
    """Replicas the autoscaling target asks for at `rate` requests/s, within capacity.

    Requests per replica: rate * 60 / target. Queue per replica: the fewest replicas whose M/M/c mean
    queue length (Erlang C) per replica is at most the target, and at least `backlog` / target: the
    queue metric is the engines' waiting requests, a backlog included, and target tracking adds
    capacity in proportion to how far the metric is above target ("scales out by adding capacity to
    reduce the difference between the metric value and the target value", Application Auto Scaling,
    "How target tracking scaling works"). The request count per target never sees a backlog. Scale to
    zero: no traffic and min 0 gives 0 replicas.
    """
    autoscaling = fleet.autoscaling
    if autoscaling.target_requests_per_replica is not None:
        need = math.ceil(rate * 60 / autoscaling.target_requests_per_replica - 1e-9)
    else:
        target = autoscaling.target_queue_size or 1.0
        need = max(
            queueing.replicas_for_queue(rate * service_s, concurrency, target),
            math.ceil(backlog / target - 1e-9),
        )
    return min(fleet.max_size, max(fleet.min_size, need))


def traffic_scale(
    fleet: FleetPlan, traffic: Traffic, service_s: float, model: ThroughputModel, share: float
) -> float:
    """Factor on the trace so that its busiest minute needs about `share` of the fleet's max replicas."""
    peak = max(traffic.per_minute) / 60
    if not peak:
        return 0.0
    goal = max(1, round(share * fleet.max_size))
    unbounded = replace(fleet, min_size=0, max_size=10**6)
    low, high = 0.0, goal * model.concurrency / service_s * 4 / peak
    for _ in range(40):  # bisection: the largest factor at which the peak needs no more than `goal`
        middle = (low + high) / 2
        if wanted(unbounded, peak * middle, service_s, model.concurrency) <= goal:
            low = middle
        else:
            high = middle
    return low


class Replay:
    """One fleet under one policy, stepped through time."""

    def __init__(
        self,
        fleet: FleetPlan,
        zones: dict[str, ZoneTrace],
        policy: Policy,
        options: Options,
        preemptions: dict[str, PreemptionTrace],
    ) -> None:
        self.fleet = fleet_for(fleet, policy)
        self.fallback = policy == "fallback"
        self.zones = zones
        self.preemptions = preemptions
        #: Picks which spot replica of a zone a preemption trace's preemption takes.
        self.random = random.Random(options.seed)
        self.options = options
        self.replicas: list[Replica] = []
        self.totals = Totals()
        self.target = fleet.desired_size
        #: The autoscaler's wishes over the scale-in window, newest last.
        self.wishes: deque[int] = deque(
            maxlen=max(1, fleet.autoscaling.scale_in_cooldown_s // options.step_s)
        )
        #: Ready replicas reclaimed this step, and the share of a replica's in-flight requests a
        #: reclaim cuts (set by `replay`).
        self.reclaimed_ready = 0
        self.cut_share = 0.0
        #: Requests waiting beyond what the ready slots hold (fluid queue while overloaded).
        self.backlog = 0.0

    def open_zones(self, t_s: int) -> list[str]:
        return [zone for zone, trace in self.zones.items() if trace.open_at(t_s)]

    def launch(self, spot: bool, count: int, t_s: int, ready_now: bool = False) -> None:
        """Start `count` replicas; spot ones only in open zones, fewest first (may start fewer)."""
        open_zones = self.open_zones(t_s) if spot else list(self.zones) or ["any"]
        ready_at = t_s if ready_now else t_s + self.fleet.health.readiness_grace_s
        for _ in range(count):
            if not open_zones:
                return
            zone = min(
                open_zones, key=lambda z: sum(1 for r in self.replicas if r.zone == z and r.spot == spot)
            )
            self.replicas.append(Replica(spot, zone, ready_at))
            self.totals.launches += 0 if ready_now else 1

    def stop(self, spot: bool, count: int) -> None:
        """Stop `count` replicas of a kind, those still booting first, then the newest."""
        mine = sorted((r for r in self.replicas if r.spot == spot), key=lambda r: r.ready_at_s)
        for replica in mine[len(mine) - count :] if count > 0 else []:
            self.replicas.remove(replica)

    def reclaim(self, t_s: int) -> None:
        """Spot replicas get their notice and drain out: all in zones that lost capacity, and one in
        a zone for each preemption its preemption trace shows since the last step."""
        open_zones = set(self.open_zones(t_s))
        lost = [r for r in self.replicas if r.spot and r.zone not in open_zones]
        for replica in lost:
            self.replicas.remove(replica)
        traced = self.traced_preemptions(t_s)
        lost += traced
        self.totals.preemptions += len(lost)
        self.totals.trace_preemptions += len(traced)
        self.totals.preempted.append(len(lost))
        self.reclaimed_ready = sum(1 for replica in lost if replica.ready_at_s <= t_s)

    def traced_preemptions(self, t_s: int) -> list[Replica]:
        """Remove and return one spot replica of a zone per preemption in its trace since the last step."""
        taken: list[Replica] = []
        for zone, trace in self.preemptions.items():
            for _ in range(trace.preemptions_between(t_s - self.options.step_s, t_s)):
                there = [r for r in self.replicas if r.spot and r.zone == zone]
                if there:
                    replica = self.random.choice(there)
                    self.replicas.remove(replica)
                    taken.append(replica)
        return taken

    def autoscale(self, want: int) -> None:
        """Scale out at once; scale in only to the most wanted over the scale-in cooldown.

        As AWS target tracking does: its scale-in alarm needs 15 one-minute datapoints below target.
        """
        self.wishes.append(want)
        self.target = max(self.wishes)

    def converge(self, t_s: int, ready_now: bool = False) -> None:
        """Launch or stop replicas towards the target mix; the fallback covers missing spot with on-demand."""
        on_demand = on_demand_count(self.target, self.fleet.spot)
        spot = self.target - on_demand + (self.options.spot_extra if self.fallback and self.target else 0)
        have_spot = sum(1 for r in self.replicas if r.spot)
        if have_spot < spot:
            self.launch(True, spot - have_spot, t_s, ready_now)
        elif have_spot > spot:
            self.stop(True, have_spot - spot)
        spot_alive = sum(1 for r in self.replicas if r.spot)
        spot_ready = sum(1 for r in self.replicas if r.spot and r.ready_at_s <= t_s)
        # SpotHedge-like: on-demand for spot that could not be placed; kept until spot is ready again.
        launch_to = on_demand + (max(0, spot - spot_alive) if self.fallback else 0)
        keep = on_demand + (max(0, spot - spot_ready) if self.fallback else 0)
        have = sum(1 for r in self.replicas if not r.spot)
        if have < launch_to:
            self.launch(False, launch_to - have, t_s, ready_now)
        elif have > keep:
            self.stop(False, have - keep)

    def account(self, t_s: int, rate: float, service_s: float, concurrency: int) -> None:
        """Add one step: enough ready replicas, queueing, hours and cost.

        Enough: at least the replicas this step's traffic needs at the autoscaling target. Not the
        autoscaler's own wish, which also holds replicas over the scale-in window and chases a backlog:
        a held replica that the load no longer needs is no shortage when it is missing.
        """
        totals, step = self.totals, self.options.step_s
        ready = sum(1 for r in self.replicas if r.ready_at_s <= t_s)
        spot = sum(1 for r in self.replicas if r.spot)
        on_demand = len(self.replicas) - spot
        totals.steps += 1
        totals.steps_enough += ready >= wanted(self.fleet, rate, service_s, concurrency)
        totals.wanted.append(self.target)
        totals.ready.append(ready)
        arrivals = rate * step
        totals.requests += arrivals
        waits = self.waits(rate, ready * concurrency, service_s)
        totals.within += arrivals * (1 - waits[0])
        for index, share in enumerate(waits[1:-1]):
            totals.wait_over[index] += arrivals * share
        totals.wait_sum_s += arrivals * waits[-1]
        if self.reclaimed_ready:
            in_flight = min(concurrency, rate * service_s / (ready + self.reclaimed_ready))
            totals.requests_cut += self.reclaimed_ready * in_flight * self.cut_share
        totals.on_demand_s += on_demand * step
        totals.spot_s += spot * step
        totals.cost_usd += mix_usd_hour(self.fleet, on_demand, spot) * step / 3600

    def waits(self, rate: float, servers: int, service_s: float) -> list[float]:
        """Shares of this step's requests over the budget and each threshold, then their mean wait.

        Below saturation with no backlog: M/M/c (Erlang C). Otherwise a fluid queue: the backlog grows
        by arrivals minus what the ready slots finish, every request of the step waits the mean backlog
        over the finishing rate, and requests beyond the load balancer's request timeout are lost
        (counted as waiting past every threshold, and dropped from the backlog).
        """
        limits = (self.options.latency_budget_s, *WAIT_THRESHOLDS_S)
        finishing = servers / service_s
        if self.backlog <= 0 and rate * service_s < servers:
            shares = [queueing.wait_over(servers, rate, service_s, limit) for limit in limits]
            return [*shares, queueing.mean_wait_s(servers, rate, service_s)]
        start = self.backlog
        timeout_s = self.fleet.traffic.request_timeout_s
        self.backlog = min(max(0.0, start + (rate - finishing) * self.options.step_s), finishing * timeout_s)
        wait = (start + self.backlog) / 2 / finishing if finishing > 0 else math.inf
        return [*(1.0 if wait > limit else 0.0 for limit in limits), min(wait, timeout_s)]

    def result(self, policy: Policy) -> Result:
        totals = self.totals
        hours = totals.steps * self.options.step_s / 3600
        requests = totals.requests or 1.0
        return Result(
            policy=policy,
            hours=hours,
            time_available=totals.steps_enough / max(totals.steps, 1),
            requests_within_budget=totals.within / requests,
            requests=totals.requests,
            wait_over=tuple(value / requests for value in totals.wait_over),
            mean_wait_s=totals.wait_sum_s / requests,
            preemptions=totals.preemptions,
            trace_preemptions=totals.trace_preemptions,
            requests_cut=totals.requests_cut,
            launches=totals.launches,
            gpu_hours=(totals.on_demand_s + totals.spot_s) / 3600 * self.fleet.instance_types[0].gpu_count,
            on_demand_hours=totals.on_demand_s / 3600,
            spot_hours=totals.spot_s / 3600,
            cost_usd=totals.cost_usd,
            timeline=Timeline(
                self.options.step_s, tuple(totals.wanted), tuple(totals.ready), tuple(totals.preempted)
            ),
        )


def replay(
    fleet: FleetPlan,
    traffic: Traffic,
    zones: dict[str, ZoneTrace],
    policy: Policy,
    options: Options,
    model: ThroughputModel,
    preemptions: dict[str, PreemptionTrace] | None = None,
) -> Result:
    """Replay `options.days` of traffic and spot capacity against a fleet under one policy.

    `zones` and `preemptions` map the fleet's zones to their availability and preemption traces;
    `model` is what one ready replica serves (`throughput.derive`).
    """
    service_s = model.service_s(traffic.mean_prompt_tokens, traffic.mean_output_tokens)
    run = Replay(fleet, zones, policy, options, preemptions or {})
    run.cut_share = cut_share(traffic, model, NOTICE_S[fleet.cloud])
    run.converge(0, ready_now=True)  # the fleet starts at its desired size, warm
    scale = traffic_scale(fleet, traffic, service_s, model, options.peak_share_of_max)
    per_step = rates(traffic, options, scale)
    window = max(1, SCALING_WINDOW_S // options.step_s)
    for step, rate in enumerate(per_step):
        t_s = step * options.step_s
        run.reclaim(t_s)
        recent = per_step[max(0, step - window + 1) : step + 1]
        # The backlog the engines reported at the end of the last step (the metric lags a step).
        mean_rate = sum(recent) / len(recent)
        run.autoscale(wanted(run.fleet, mean_rate, service_s, model.concurrency, run.backlog))
        run.converge(t_s)
        run.account(t_s, rate, service_s, model.concurrency)
    return run.result(policy)
