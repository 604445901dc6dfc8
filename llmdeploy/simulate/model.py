"""The stated per-replica throughput model and the simulation's inputs and results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmdeploy.catalog import Cloud

#: Policies replayed side by side: the plan's static spot mix, SpotHedge-like on-demand fallback, and the
#: two extremes.
Policy = Literal["plan", "fallback", "all-on-demand", "all-spot"]
POLICIES: tuple[Policy, ...] = ("plan", "fallback", "all-on-demand", "all-spot")


@dataclass(frozen=True)
class ThroughputModel:
    """What one ready replica serves (`throughput.derive` derives it from the GPU and the model).

    A replica batches `concurrency` requests at once (continuous batching, as in TGI and vLLM); each
    sees `decode_tokens_per_s` output tokens and `prefill_tokens_per_s` prompt tokens per second while
    every slot is busy. A request's service time is its prompt over the prefill rate plus its output
    over the decode rate; the queue uses the trace's mean of both.
    """

    concurrency: int
    decode_tokens_per_s: float
    prefill_tokens_per_s: float

    def service_s(self, prompt_tokens: float, output_tokens: float) -> float:
        return prompt_tokens / self.prefill_tokens_per_s + output_tokens / self.decode_tokens_per_s


@dataclass(frozen=True)
class Options:
    """How a replay runs: its length, step, seed, latency budget and the share of capacity used at peak."""

    days: float
    seed: int = 0
    step_s: int = 60
    latency_budget_s: float = 5.0
    #: The busiest minute of the traffic trace is scaled to need this share of `capacity.max`.
    peak_share_of_max: float = 0.8
    #: Minutes of replay per minute of the traffic trace's trend: 24 plays a one-hour trace as a day, its
    #: swings as slow as a diurnal cycle's instead of twice an hour; each minute's burst above or below
    #: the trend still lasts a minute (`replay.rates`).
    stretch: int = 1
    #: Spot replicas the fallback policy runs beyond the target, spread over zones, so that one zone's
    #: reclaim leaves enough ready replicas while replacements boot (SpotHedge's over-provisioning:
    #: Mao et al., "SkyServe", EuroSys 2025).
    spot_extra: int = 0


#: Seconds between a spot reclaim notice and the VM's end. The drain agent takes the replica out of the
#: load balancer at notice; requests still running when the VM ends are cut. AWS: two minutes (EC2 user
#: guide, spot-instance-termination-notices); GCP: about 30 s for shutdown scripts (Compute Engine,
#: "Preemption process"); Azure: Scheduled Events' Preempt notice, at least 30 s.
NOTICE_S: dict[Cloud, int] = {"aws": 120, "gcp": 30, "azure": 30}

#: Queueing-delay thresholds (seconds) whose exceedance shares are reported.
WAIT_THRESHOLDS_S: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)


@dataclass(frozen=True)
class Timeline:
    """One policy's replay step by step, for the plot: replicas wanted and ready, and reclaims."""

    step_s: int
    #: Replicas the autoscaler asked for at each step.
    wanted: tuple[int, ...]
    #: Replicas serving at each step.
    ready: tuple[int, ...]
    #: Spot replicas reclaimed at each step.
    preempted: tuple[int, ...]


@dataclass(frozen=True)
class Result:
    """One policy's replay."""

    policy: Policy
    hours: float
    #: Share of steps with at least as many ready replicas as the step's traffic needs at the
    #: autoscaling target.
    time_available: float
    #: Share of requests whose queueing delay stayed within the latency budget.
    requests_within_budget: float
    requests: float
    #: Share of requests waiting longer than each of WAIT_THRESHOLDS_S.
    wait_over: tuple[float, ...]
    mean_wait_s: float
    preemptions: int
    #: Of the preemptions, those a preemption trace caused (the rest: availability going to zero).
    trace_preemptions: int
    #: Requests still running on a reclaimed replica when its notice ran out.
    requests_cut: float
    launches: int
    gpu_hours: float
    on_demand_hours: float
    spot_hours: float
    cost_usd: float
    timeline: Timeline

    @property
    def usd_hour(self) -> float:
        return self.cost_usd / self.hours if self.hours else 0.0
