"""GCP's and Azure's router metrics senders: HTTPS with the VM's token from its metadata service.

Shipped only to GCP and Azure router VMs (`llmdeploy.boot.router.CLOUD_ONLY_MODULES`); see publish.py
for what is published and when.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from llmdeploy.routing.common import SLOTS
from llmdeploy.routing.publish import GCP_PREFIX, NAMES, NAMESPACE, MetricsSpec, Sample, dimensions

_GCP_METADATA = "http://metadata.google.internal/computeMetadata/v1"
_AZURE_METADATA = "http://169.254.169.254/metadata"
#: Azure custom metrics take a token for this audience, trailing slash included (Azure Monitor,
#: "Ingest custom metrics for an Azure resource using the REST API").
_AZURE_AUDIENCE = "https://monitoring.azure.com/"


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
                    "type": GCP_PREFIX + point.name,
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
