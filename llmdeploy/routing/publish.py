"""Router metrics to the cloud's metrics service: one batch per model and minute, never in the way.

Each model's agent publishes, per window (60 s), under the namespace and dimensions the GPU VMs'
metrics relay uses (`LLMDeploy`; Project, Environment, Model, Slot; GCP: the same in lower case):

- `RouterHeldRequests`: requests waiting in this router now (held at zero or over the admission cap),
  on the slot a hold wakes (the larger weight);
- `RouterQueueMilliseconds`: arrival to sent on, per slot the requests went to, as a statistic set
  (count, sum, min, max; GCP: the mean), only for a slot that sent requests in the window;
- `RouterRejected`: 429s answered in the window, on the slot a hold wakes;
- `RouterReplicas`: ready replicas in each slot's router set.

AWS's sender is here; GCP's and Azure's (plain HTTPS on the VM's metadata-service token) are in
`rest_metrics.py`, which AWS's router VMs do not get (EC2's 16 KB of user data). A publication is one
call (AWS, GCP) or one per metric name (Azure: a custom metric document holds one metric) with a
timeout; it runs beside the gate on the event loop (AWS's SDK call in a thread), so requests never
wait for it. A failed publication is logged and its window dropped: nothing queues up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from llmdeploy.routing.common import Slot, Strict
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.metrics import GateMetrics

#: The GPU VMs' namespace (llmdeploy.metrics.NAMESPACE; a test compares, this module cannot import it).
NAMESPACE = "LLMDeploy"
HELD = "RouterHeldRequests"
QUEUE_MS = "RouterQueueMilliseconds"
REJECTED = "RouterRejected"
REPLICAS = "RouterReplicas"
NAMES = (HELD, QUEUE_MS, REJECTED, REPLICAS)
#: GCP's metric types: this prefix and the name (rest_metrics.py writes them, `status` reads them).
GCP_PREFIX = "custom.googleapis.com/llmdeploy/"
#: CloudWatch units of each metric (PutMetricData `Unit`).
_UNITS = {HELD: "Count", QUEUE_MS: "Milliseconds", REJECTED: "Count", REPLICAS: "Count"}

log = logging.getLogger(__name__)


class MetricsSpec(Strict):
    """What the agent publishes under, and where (the cloud's own services unless overridden)."""

    project: str = Field(description="The llmdeploy project (dimension Project).")
    environment: str = Field(description="The environment (dimension Environment).")
    model: str = Field(description="The model (dimension Model).")
    interval_s: float = Field(default=60.0, gt=0, description="Seconds per window (one publication).")
    timeout_s: float = Field(default=10.0, gt=0, description="A publication taking longer is dropped.")
    endpoint: str = Field(default="", description="The metrics service's base URL; empty: the cloud's.")
    metadata_url: str = Field(default="", description="GCP/Azure: the metadata service; empty: the cloud's.")


@dataclass(frozen=True)
class Point:
    """One metric of one slot over a window: a statistic set (a plain value v is count 1, v, v, v)."""

    name: str
    slot: Slot
    count: int
    sum: float
    min: float
    max: float

    @classmethod
    def value(cls, name: str, slot: Slot, value: float) -> Point:
        """A gauge or a count: one value."""
        return cls(name, slot, 1, value, value, value)


@dataclass(frozen=True)
class Sample:
    """One window of one model on this router."""

    time: float
    points: tuple[Point, ...]


#: A cloud's publication of one sample; raises on failure.
Send = Callable[[Sample], Awaitable[None]]


def collect(metrics: GateMetrics, held: int, fleet: Fleet, serving: Slot, slots: tuple[Slot, ...]) -> Sample:
    """The window that just ended, and a new one started."""
    window, rejected = metrics.take_window()
    points = [Point.value(HELD, serving, held), Point.value(REJECTED, serving, rejected)]
    points += [Point.value(REPLICAS, slot, len(fleet.ready(slot))) for slot in slots]
    points += [
        Point(QUEUE_MS, slot, w.count, w.sum_s * 1000, w.min_s * 1000, w.max_s * 1000)
        for slot, w in sorted(window.items())
        if w.count
    ]
    return Sample(time.time(), tuple(points))


class Publisher:
    """Publishes a sample every interval; a failed or slow publication is logged and dropped."""

    def __init__(self, send: Send, sample: Callable[[], Sample], interval_s: float, timeout_s: float) -> None:
        self._send = send
        self._sample = sample
        self._interval_s = interval_s
        self._timeout_s = timeout_s

    async def publish_once(self) -> bool:
        """Publish the window that just ended; False when it was dropped."""
        sample = self._sample()
        try:
            await asyncio.wait_for(self._send(sample), self._timeout_s)
        except Exception as error:  # monitoring must never take the gate down: drop this window
            log.warning("router metrics not published (window dropped): %r", error)
            return False
        return True

    async def run(self) -> None:
        """Publish forever."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.publish_once()


def dimensions(spec: MetricsSpec, slot: Slot) -> dict[str, str]:
    """The series' dimensions, as the GPU VMs' relay names them."""
    return {"Project": spec.project, "Environment": spec.environment, "Model": spec.model, "Slot": slot}


def aws_sender(cloudwatch: Any, spec: MetricsSpec) -> Send:
    """CloudWatch PutMetricData (boto3 `cloudwatch` client): the whole sample in one request.

    At most 1000 metrics and 1 MB per request, up to 30 dimensions per metric (API reference,
    PutMetricData); a sample has at most 2 + 2 + 2 data points.
    """

    def put(sample: Sample) -> None:
        stamp = datetime.fromtimestamp(sample.time, UTC)
        data = [
            {
                "MetricName": point.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions(spec, point.slot).items()],
                "Timestamp": stamp,
                "Unit": _UNITS[point.name],
                "StatisticValues": {
                    "SampleCount": point.count,
                    "Sum": point.sum,
                    "Minimum": point.min,
                    "Maximum": point.max,
                },
            }
            for point in sample.points
        ]
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data)

    async def send(sample: Sample) -> None:
        await asyncio.to_thread(put, sample)

    return send
