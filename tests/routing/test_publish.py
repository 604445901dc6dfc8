"""Router metrics reach each cloud's metrics service as its API expects; a failure never blocks.

GCP and Azure are answered by loopback stand-ins of their metadata and ingestion endpoints (what the
agent sends is read back from the wire); AWS goes to the local emulator's CloudWatch.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from llmdeploy import metrics as gpu_metrics
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.metrics import GateMetrics
from llmdeploy.routing.publish import (
    HELD,
    NAMESPACE,
    QUEUE_MS,
    REJECTED,
    REPLICAS,
    MetricsSpec,
    Publisher,
    Sample,
    aws_sender,
    collect,
)
from llmdeploy.routing.rest_metrics import AzureSender, GcpSender
from tests.fixtures_aws import AwsClient
from tests.routing.test_hold import serve

SPEC = MetricsSpec(project="demo", environment="prod", model="chat", interval_s=60, timeout_s=2)


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 20))  # type: ignore[arg-type]


async def window(held: int = 3) -> Sample:
    """A window of the chat model: 2 requests sent to blue (10 and 30 ms), one 429, blue has 2 replicas."""
    metrics, fleet = GateMetrics(), Fleet()
    await fleet.set_ready("blue", frozenset({"http://10.0.0.1:8080", "http://10.0.0.2:8080"}))
    metrics.observe_queue(0.010, "blue")
    metrics.observe_queue(0.030, "blue")
    metrics.reject()
    return collect(metrics, held, fleet, "blue", ("blue", "green"))


def test_a_window_holds_what_happened_since_the_last_and_the_next_starts_empty() -> None:
    async def scenario() -> None:
        metrics, fleet = GateMetrics(), Fleet()
        await fleet.set_ready("green", frozenset({"http://10.0.0.3:8080"}))
        metrics.observe_queue(0.5, "green")
        metrics.reject()
        metrics.reject()
        first = collect(metrics, 4, fleet, "blue", ("blue", "green"))
        got = {(p.name, p.slot): (p.count, p.sum, p.min, p.max) for p in first.points}
        assert got == {
            (HELD, "blue"): (1, 4, 4, 4),
            (REJECTED, "blue"): (1, 2, 2, 2),
            (REPLICAS, "blue"): (1, 0, 0, 0),
            (REPLICAS, "green"): (1, 1, 1, 1),
            (QUEUE_MS, "green"): (1, 500, 500, 500),
        }
        second = collect(metrics, 0, fleet, "blue", ("blue", "green"))
        names = {(p.name, p.slot): p.sum for p in second.points}
        assert names[(REJECTED, "blue")] == 0 and (QUEUE_MS, "green") not in names
        # The Prometheus totals are not reset by a window.
        assert metrics.rejected == 2 and metrics.queue_count == 1

    run(scenario())


def test_the_namespace_names_and_dimensions_are_the_ones_dashboards_read() -> None:
    # publish.py cannot import llmdeploy.metrics (it ships alone): the names must still agree.
    assert NAMESPACE == gpu_metrics.NAMESPACE
    assert (HELD, QUEUE_MS, REJECTED, REPLICAS) == gpu_metrics.ROUTER_METRIC_NAMES
    point = run(window()).points[0]
    from llmdeploy.routing.publish import dimensions

    assert tuple(dimensions(SPEC, point.slot)) == gpu_metrics.DIMENSIONS


class Recorder:
    """Loopback stand-in of a metadata service and an ingestion endpoint; records what it was sent."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.status, self.delay_s = status, delay_s
        self.posts: list[tuple[str, dict[str, str], Any]] = []
        self.metadata_headers: list[dict[str, str]] = []

    def app(self, routes: dict[str, str]) -> web.Application:
        app = web.Application()
        for path, text in routes.items():
            app.router.add_get(path, self._answer(text))
        app.router.add_post("/{tail:.*}", self._ingest)
        return app

    def _answer(self, text: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def answer(request: web.Request) -> web.Response:
            self.metadata_headers.append(dict(request.headers))
            return web.Response(text=text)

        return answer

    async def _ingest(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, dict(request.headers), await request.json()))
        await asyncio.sleep(self.delay_s)
        return web.json_response({}, status=self.status)


GCP_METADATA = {
    "/computeMetadata/v1/instance/service-accounts/default/token": json.dumps(
        {"access_token": "gcp-token", "expires_in": 3599, "token_type": "Bearer"}
    ),
    "/computeMetadata/v1/instance/zone": "projects/123/zones/europe-west4-b",
    "/computeMetadata/v1/instance/id": "4567",
}


def test_gcp_writes_one_timeseries_create_with_a_gauge_per_metric_on_this_vm() -> None:
    recorder = Recorder()

    async def scenario() -> None:
        async with serve(recorder.app(GCP_METADATA)) as base, aiohttp.ClientSession() as session:
            spec = SPEC.model_copy(update={"endpoint": base, "metadata_url": f"{base}/computeMetadata/v1"})
            send = GcpSender(session, "demo-project", spec)
            await send(await window())
            await send(await window(held=0))

    run(scenario())
    assert len(recorder.posts) == 2, "one request per window"
    path, headers, body = recorder.posts[0]
    assert path == "/v3/projects/demo-project/timeSeries"
    assert headers["Authorization"] == "Bearer gcp-token"
    assert all(h["Metadata-Flavor"] == "Google" for h in recorder.metadata_headers)
    # The token and the VM's identity are read once, not per window.
    assert len(recorder.metadata_headers) == 3
    series = body["timeSeries"]
    assert len(series) <= 200, "CreateTimeSeriesRequest takes at most 200 time series"
    values = {s["metric"]["type"]: s for s in series if s["metric"]["labels"]["slot"] == "blue"}
    held = values["custom.googleapis.com/llmdeploy/RouterHeldRequests"]
    assert held["resource"] == {
        "type": "gce_instance",
        "labels": {"project_id": "demo-project", "zone": "europe-west4-b", "instance_id": "4567"},
    }
    assert held["metric"]["labels"] == {
        "project": "demo",
        "environment": "prod",
        "model": "chat",
        "slot": "blue",
    }
    assert held["metricKind"] == "GAUGE" and held["valueType"] == "DOUBLE"
    assert held["points"][0]["value"] == {"doubleValue": 3}
    assert values["custom.googleapis.com/llmdeploy/RouterQueueMilliseconds"]["points"][0]["value"] == {
        "doubleValue": pytest.approx(20.0)
    }
    assert values["custom.googleapis.com/llmdeploy/RouterReplicas"]["points"][0]["value"] == {
        "doubleValue": 2
    }
    # One point per series, stamped as RFC 3339 UTC.
    assert all(len(s["points"]) == 1 and s["points"][0]["interval"]["endTime"].endswith("Z") for s in series)


AZURE_COMPUTE = {
    "subscriptionId": "00000000-0000-0000-0000-000000000001",
    "resourceGroupName": "llmdeploy-prod",
    "vmScaleSetName": "llmdeploy-prod-routers",
    "location": "westeurope",
}


def azure_metadata() -> dict[str, str]:
    return {
        "/metadata/identity/oauth2/token": json.dumps(
            {"access_token": "azure-token", "expires_in": "86399", "token_type": "Bearer"}
        ),
        "/metadata/instance/compute": json.dumps(AZURE_COMPUTE),
    }


def test_azure_posts_each_metric_with_its_series_to_the_routers_scale_set() -> None:
    recorder = Recorder()

    async def scenario() -> None:
        async with serve(recorder.app(azure_metadata())) as base, aiohttp.ClientSession() as session:
            spec = SPEC.model_copy(update={"endpoint": base, "metadata_url": f"{base}/metadata"})
            await AzureSender(session, spec)(await window())

    run(scenario())
    scale_set = (
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/llmdeploy-prod"
        "/providers/Microsoft.Compute/virtualMachineScaleSets/llmdeploy-prod-routers"
    )
    assert {path for path, _, _ in recorder.posts} == {f"{scale_set}/metrics"}
    assert all(h["Metadata"] == "true" for h in recorder.metadata_headers)
    documents = {body["data"]["baseData"]["metric"]: (headers, body) for _, headers, body in recorder.posts}
    assert set(documents) == {HELD, QUEUE_MS, REJECTED, REPLICAS}
    headers, queue = documents[QUEUE_MS]
    assert headers["Authorization"] == "Bearer azure-token"
    base_data = queue["data"]["baseData"]
    assert base_data["namespace"] == "LLMDeploy"
    assert base_data["dimNames"] == ["Project", "Environment", "Model", "Slot"]
    assert base_data["series"] == [
        {
            "dimValues": ["demo", "prod", "chat", "blue"],
            "min": pytest.approx(10.0),
            "max": pytest.approx(30.0),
            "sum": pytest.approx(40.0),
            "count": 2,
        }
    ]
    assert [s["dimValues"][3] for s in documents[REPLICAS][1]["data"]["baseData"]["series"]] == [
        "blue",
        "green",
    ]
    assert datetime.strptime(queue["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) <= datetime.now(UTC)


def test_the_token_request_names_the_monitoring_audience_with_its_trailing_slash() -> None:
    seen: list[str] = []

    async def token(request: web.Request) -> web.Response:
        seen.append(request.query["resource"])
        return web.json_response({"access_token": "t", "expires_in": "3600"})

    async def scenario() -> None:
        app = Recorder().app({"/metadata/instance/compute": json.dumps(AZURE_COMPUTE)})
        app.router.add_get("/metadata/identity/oauth2/token", token)
        async with serve(app) as base, aiohttp.ClientSession() as session:
            spec = SPEC.model_copy(update={"endpoint": base, "metadata_url": f"{base}/metadata"})
            await AzureSender(session, spec)(await window())

    run(scenario())
    assert seen == ["https://monitoring.azure.com/"]


@pytest.mark.parametrize(("status", "delay_s"), [(500, 0.0), (403, 0.0), (200, 5.0)])
def test_a_refused_or_slow_publication_is_dropped_within_the_timeout(status: int, delay_s: float) -> None:
    recorder = Recorder(status=status, delay_s=delay_s)

    async def scenario() -> tuple[bool, float]:
        async with serve(recorder.app(GCP_METADATA)) as base, aiohttp.ClientSession() as session:
            spec = SPEC.model_copy(update={"endpoint": base, "metadata_url": f"{base}/computeMetadata/v1"})
            sample = await window()
            publisher = Publisher(GcpSender(session, "p", spec), lambda: sample, 60, timeout_s=1.0)
            started = time.monotonic()
            published = await publisher.publish_once()
            return published, time.monotonic() - started

    published, took = run(scenario())
    assert not published
    assert took < 2.0, "a publication never outlives its timeout"


def test_an_unreachable_service_is_dropped() -> None:
    async def scenario() -> bool:
        async with aiohttp.ClientSession() as session:
            closed = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
            spec = SPEC.model_copy(update={"endpoint": closed, "metadata_url": closed})
            sample = await window()
            return await Publisher(AzureSender(session, spec), lambda: sample, 60, 1.0).publish_once()

    assert not run(scenario())


def test_requests_on_the_same_loop_are_answered_while_a_publication_hangs() -> None:
    recorder = Recorder(delay_s=5.0)

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def scenario() -> list[float]:
        other = web.Application()
        other.router.add_get("/", hello)
        async with (
            serve(recorder.app(GCP_METADATA)) as base,
            serve(other) as gate,
            aiohttp.ClientSession() as session,
        ):
            spec = SPEC.model_copy(update={"endpoint": base, "metadata_url": f"{base}/computeMetadata/v1"})
            sample = await window()
            publisher = Publisher(GcpSender(session, "p", spec), lambda: sample, 60, timeout_s=2.0)
            publishing = asyncio.get_running_loop().create_task(publisher.publish_once())
            while not recorder.posts:  # the publication is now waiting on the ingestion endpoint
                await asyncio.sleep(0.01)
            took = []
            for _ in range(5):
                started = time.monotonic()
                async with session.get(gate) as answer:
                    assert answer.status == 200
                took.append(time.monotonic() - started)
            assert not await publishing
            return took

    took = run(scenario())
    assert max(took) < 0.5, f"requests waited for the publication: {took}"


@pytest.mark.process
def test_aws_puts_statistic_sets_into_cloudwatch_under_the_llmdeploy_namespace(
    aws_client: AwsClient, unique_name: str
) -> None:
    cloudwatch = aws_client("cloudwatch")
    spec = SPEC.model_copy(update={"model": unique_name})

    async def scenario() -> bool:
        sample = await window()
        return await Publisher(aws_sender(cloudwatch, spec), lambda: sample, 60, 10).publish_once()

    assert run(scenario())
    dims = [
        {"Name": "Project", "Value": "demo"},
        {"Name": "Environment", "Value": "prod"},
        {"Name": "Model", "Value": unique_name},
        {"Name": "Slot", "Value": "blue"},
    ]
    now = datetime.now(UTC)

    def stats(name: str) -> dict[str, Any]:
        found = cloudwatch.get_metric_statistics(
            Namespace="LLMDeploy",
            MetricName=name,
            Dimensions=dims,
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=5),
            Period=60,
            Statistics=["SampleCount", "Sum", "Maximum", "Minimum"],
        )["Datapoints"]
        assert len(found) == 1, f"{name}: one datapoint, got {found}"
        return dict(found[0])

    queue = stats(QUEUE_MS)
    assert (queue["SampleCount"], queue["Sum"], queue["Minimum"], queue["Maximum"]) == pytest.approx(
        (2, 40.0, 10.0, 30.0)
    )
    assert stats(HELD)["Maximum"] == 3
    assert stats(REJECTED)["Sum"] == 1
    assert stats(REPLICAS)["Maximum"] == 2
