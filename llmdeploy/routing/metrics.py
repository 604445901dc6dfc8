"""The gate's metrics: hold (router queue) time, held requests, retries, 429s.

Rendered as Prometheus text on the gate's metrics page, and summed per publication window for the
cloud's metrics service (`publish.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmdeploy.routing.common import Slot

#: Hold-time histogram buckets in seconds: from a warm fleet (milliseconds) to a cold GPU boot (minutes).
BUCKETS_S = (0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 120.0, 300.0, 600.0)


@dataclass
class Window:
    """Queue times of one slot over one publication window: a statistic set (count, sum, min, max)."""

    count: int = 0
    sum_s: float = 0.0
    min_s: float = 0.0
    max_s: float = 0.0

    def observe(self, seconds: float) -> None:
        """Add one request's queue time."""
        self.min_s = seconds if self.count == 0 else min(self.min_s, seconds)
        self.max_s = max(self.max_s, seconds)
        self.count += 1
        self.sum_s += seconds


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
    #: Since the last publication: per slot the queue times, and the 429s answered.
    window: dict[Slot, Window] = field(default_factory=dict)
    window_rejected: int = 0

    def observe_queue(self, seconds: float, slot: Slot) -> None:
        """Record how long one request waited in the router before it was sent on to `slot`."""
        self.queue_count += 1
        self.queue_sum_s += seconds
        for index, bound in enumerate(BUCKETS_S):
            if seconds <= bound:
                self.buckets[index] += 1
        self.window.setdefault(slot, Window()).observe(seconds)

    def reject(self) -> None:
        """Count one 429."""
        self.rejected += 1
        self.window_rejected += 1

    def take_window(self) -> tuple[dict[Slot, Window], int]:
        """The queue times per slot and the 429s since the last call, and start a new window."""
        taken = (self.window, self.window_rejected)
        self.window, self.window_rejected = {}, 0
        return taken

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
