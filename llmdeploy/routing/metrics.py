"""The gate's Prometheus metrics: hold (router queue) time, held requests, retries, 429s."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Hold-time histogram buckets in seconds: from a warm fleet (milliseconds) to a cold GPU boot (minutes).
BUCKETS_S = (0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 120.0, 300.0, 600.0)


@dataclass
class GateMetrics:
    """Counters and the queue-time histogram, rendered in the Prometheus text format."""

    held: int = 0
    retries: int = 0
    rejected: int = 0
    scale_ups: int = 0
    queue_count: int = 0
    queue_sum_s: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS_S))

    def observe_queue(self, seconds: float) -> None:
        """Record how long one request waited in the router before it was sent on."""
        self.queue_count += 1
        self.queue_sum_s += seconds
        for index, bound in enumerate(BUCKETS_S):
            if seconds <= bound:
                self.buckets[index] += 1

    def render(self, holding: int) -> str:
        """The metrics page; `holding` is the number of requests held right now."""
        name = "llmdeploy_router_queue_seconds"
        lines = [
            "# TYPE llmdeploy_router_held gauge",
            f"llmdeploy_router_held {holding}",
            "# TYPE llmdeploy_router_held_total counter",
            f"llmdeploy_router_held_total {self.held}",
            "# TYPE llmdeploy_router_retries_total counter",
            f"llmdeploy_router_retries_total {self.retries}",
            "# TYPE llmdeploy_router_rejected_total counter",
            f'llmdeploy_router_rejected_total{{code="429"}} {self.rejected}',
            "# TYPE llmdeploy_router_scale_ups_total counter",
            f"llmdeploy_router_scale_ups_total {self.scale_ups}",
            f"# TYPE {name} histogram",
        ]
        lines += [f'{name}_bucket{{le="{b}"}} {n}' for b, n in zip(BUCKETS_S, self.buckets, strict=True)]
        lines += [
            f'{name}_bucket{{le="+Inf"}} {self.queue_count}',
            f"{name}_sum {self.queue_sum_s:.6f}",
            f"{name}_count {self.queue_count}",
        ]
        return "\n".join(lines) + "\n"
