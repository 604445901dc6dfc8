"""Router metrics to the cloud's metrics service: one batch per model and minute, never in the way.

Each model's agent publishes, per window (60 s), under the namespace and dimensions the GPU VMs'
metrics relay uses (`LLMDeploy`; Project, Environment, Model, Slot; GCP: the same in lower case):

- `RouterHeldRequests`: requests waiting in this router now (held at zero or over the admission cap),
  on the slot a hold wakes (the larger weight);
- `RouterQueueMilliseconds`: arrival to sent on, per slot the requests went to, as a statistic set
  (count, sum, min, max; GCP: the mean), only for a slot that sent requests in the window;
- `RouterRejected`: 429s answered in the window, on the slot a hold wakes;
- `RouterReplicas`: ready replicas in each slot's router set.

A publication is one call (AWS, GCP) or one per metric name (Azure: a custom metric document holds
one metric) with a timeout; it runs beside the gate on the event loop (AWS's SDK call in a thread), so
requests never wait for it. A failed publication is logged and its window dropped: nothing queues up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import Field

from llmdeploy.routing.common import SLOTS, Slot, Strict
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.metrics import GateMetrics

#: The GPU VMs' namespace (llmdeploy.metrics.NAMESPACE; a test compares, this module cannot import it).
NAMESPACE = "LLMDeploy"
HELD = "RouterHeldRequests"
QUEUE_MS = "RouterQueueMilliseconds"
REJECTED = "RouterRejected"
REPLICAS = "RouterReplicas"
NAMES = (HELD, QUEUE_MS, REJECTED, REPLICAS)
#: CloudWatch units of each metric (PutMetricData `Unit`).
_UNITS = {HELD: "Count", QUEUE_MS: "Milliseconds", REJECTED: "Count", REPLICAS: "Count"}
_GCP_PREFIX = "custom.googleapis.com/llmdeploy/"
_GCP_METADATA = "http://metadata.google.internal/computeMetadata/v1"
_AZURE_METADATA = "http://169.254.169.254/metadata"
#: Azure custom metrics take a token for this audience, trailing slash included (Azure Monitor,
#: "Ingest custom metrics for an Azure resource using the REST API").
_AZURE_AUDIENCE = "https://monitoring.azure.com/"

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


async def _checked(response: aiohttp.ClientResponse) -> str:
    """The body of a 2xx answer; anything else raises OSError."""
    text = await response.text()
    if not 200 <= response.status < 300:
        raise OSError(f"{response.url} answered HTTP {response.status}: {text[:200]}")
    return text


class _Token:
    """An OAuth token from the VM's metadata service, kept until a minute before it expires."""

    def __init__(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
        self._session, self._url, self._headers = session, url, headers
        self._token, self._expiry = "", 0.0

    async def get(self) -> str:
        if time.monotonic() >= self._expiry:
            async with self._session.get(self._url, headers=self._headers) as response:
                answer = json.loads(await _checked(response))
            self._token = str(answer["access_token"])
            self._expiry = time.monotonic() + float(answer["expires_in"]) - 60
        return self._token


class GcpSender:
    """Cloud Monitoring `projects.timeSeries.create`: the whole sample in one request.

    At most 200 time series per request, one point each, newer than the series' last point (API
    reference, CreateTimeSeriesRequest). Each router writes its own series (resource `gce_instance`,
    this VM), so two routers never write one series. The routers' service account holds
    roles/monitoring.metricWriter (monitoring.timeSeries.create).
    """

    def __init__(self, session: aiohttp.ClientSession, project: str, spec: MetricsSpec) -> None:
        self._session, self._project, self._spec = session, project, spec
        self._metadata = (spec.metadata_url or _GCP_METADATA).rstrip("/")
        self._base = (spec.endpoint or "https://monitoring.googleapis.com").rstrip("/")
        headers = {"Metadata-Flavor": "Google"}
        self._token = _Token(session, f"{self._metadata}/instance/service-accounts/default/token", headers)
        self._resource: dict[str, Any] | None = None

    async def _read(self, path: str) -> str:
        url = f"{self._metadata}/{path}"
        async with self._session.get(url, headers={"Metadata-Flavor": "Google"}) as response:
            return await _checked(response)

    async def _instance(self) -> dict[str, Any]:
        if self._resource is None:
            zone = (await self._read("instance/zone")).rsplit("/", 1)[-1]
            labels = {
                "project_id": self._project,
                "zone": zone,
                "instance_id": await self._read("instance/id"),
            }
            self._resource = {"type": "gce_instance", "labels": labels}
        return self._resource

    async def __call__(self, sample: Sample) -> None:
        resource = await self._instance()
        stamp = datetime.fromtimestamp(sample.time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        series = [
            {
                "metric": {
                    "type": _GCP_PREFIX + point.name,
                    "labels": {k.lower(): v for k, v in dimensions(self._spec, point.slot).items()},
                },
                "resource": resource,
                "metricKind": "GAUGE",
                "valueType": "DOUBLE",
                "points": [
                    {"interval": {"endTime": stamp}, "value": {"doubleValue": point.sum / point.count}}
                ],
            }
            for point in sample.points
        ]
        headers = {"Authorization": f"Bearer {await self._token.get()}"}
        url = f"{self._base}/v3/projects/{self._project}/timeSeries"
        async with self._session.post(url, json={"timeSeries": series}, headers=headers) as response:
            await _checked(response)


class AzureSender:
    """Azure Monitor custom metrics: `POST https://<region>.monitoring.azure.com<resource id>/metrics`.

    The resource is the routers' scale set (from the instance metadata service); the routers'
    identity holds "Monitoring Metrics Publisher" on it. A document carries one metric with its series
    (one per slot) as min, max, sum and count, so a sample is one request per metric name.
    """

    def __init__(self, session: aiohttp.ClientSession, spec: MetricsSpec) -> None:
        self._session, self._spec = session, spec
        self._metadata = (spec.metadata_url or _AZURE_METADATA).rstrip("/")
        token_url = (
            f"{self._metadata}/identity/oauth2/token?api-version=2018-02-01&resource={_AZURE_AUDIENCE}"
        )
        self._token = _Token(session, token_url, {"Metadata": "true"})
        self._target: str | None = None

    async def _url(self) -> str:
        if self._target is None:
            url = f"{self._metadata}/instance/compute?api-version=2021-02-01"
            async with self._session.get(url, headers={"Metadata": "true"}) as response:
                compute = json.loads(await _checked(response))
            scale_set = (
                f"/subscriptions/{compute['subscriptionId']}/resourceGroups/{compute['resourceGroupName']}"
                f"/providers/Microsoft.Compute/virtualMachineScaleSets/{compute['vmScaleSetName']}"
            )
            base = self._spec.endpoint or f"https://{compute['location']}.monitoring.azure.com"
            self._target = f"{base.rstrip('/')}{scale_set}/metrics"
        return self._target

    async def __call__(self, sample: Sample) -> None:
        url = await self._url()
        headers = {"Authorization": f"Bearer {await self._token.get()}"}
        stamp = datetime.fromtimestamp(sample.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in NAMES:
            points = [point for point in sample.points if point.name == name]
            if not points:
                continue
            base_data = {
                "metric": name,
                "namespace": NAMESPACE,
                "dimNames": list(dimensions(self._spec, SLOTS[0])),
                "series": [
                    {
                        "dimValues": list(dimensions(self._spec, point.slot).values()),
                        "min": point.min,
                        "max": point.max,
                        "sum": point.sum,
                        "count": point.count,
                    }
                    for point in points
                ],
            }
            document = {"time": stamp, "data": {"baseData": base_data}}
            async with self._session.post(url, json=document, headers=headers) as response:
                await _checked(response)
