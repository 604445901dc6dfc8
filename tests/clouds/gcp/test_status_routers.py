"""`llmdeploy status` on GCP with routing: the router MIG and the custom metrics the routers write.

Two router VMs publish through the routers' own sender (`rest_metrics.GcpSender`, real HTTP to a
loopback metadata service and Cloud Monitoring); a loopback Cloud Monitoring gRPC service answers
`ListTimeSeries` with the series it was sent that match the request's filter and interval, as the API
does. Compute Engine is the loopback REST API of the other GCP status tests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import grpc
import pytest
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

from llmdeploy.clouds.gcp.resolve import resolve
from llmdeploy.clouds.gcp.status import read_routers
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.metrics import GateMetrics
from llmdeploy.routing.publish import MetricsSpec, Sample, collect
from llmdeploy.routing.rest_metrics import GcpSender
from llmdeploy.status.model import RouterModelStatus
from llmdeploy.status.routers import headline
from tests.clouds.gcp.google_api import PROJECT, backend_health, compute_clients, google_api, managed_group
from tests.conftest import WriteEnv
from tests.status.loopback import GrpcLoopbackApi, LoopbackApi, serving, serving_grpc

ROUTED = f"""\
project: demo
clouds:
  gcp: {{project_id: {PROJECT}, region: us-central1, zones: [us-central1-a, us-central1-b]}}
access: {{scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}}
routing: {{enabled: true}}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {{gcp: [g2-standard-8]}}
    slots: {{blue: {{weight: 90}}, green: {{weight: 10}}}}
"""
METADATA = "/computeMetadata/v1"
SERIES = f"/v3/projects/{PROJECT}/timeSeries"


def _plan(write_env: WriteEnv, env: str = "demo") -> DeploymentPlan:
    return build_plan(load_environment(write_env(ROUTED, name=f"{env}.yaml")))


@pytest.fixture
def compute() -> Iterator[LoopbackApi]:
    with google_api() as running:
        yield running


def _router_vm(instance_id: int) -> LoopbackApi:
    """One router VM's metadata service and the Cloud Monitoring API it writes to (recording)."""
    api = LoopbackApi(not_found={"error": {"code": 404, "message": "not found"}})
    token = {"access_token": "t", "expires_in": 3600}
    api.answer("GET", f"{METADATA}/instance/service-accounts/default/token", token)
    api.answer("GET", f"{METADATA}/instance/zone", "projects/1/zones/us-central1-a")
    api.answer("GET", f"{METADATA}/instance/id", instance_id)
    api.answer("POST", SERIES, {})
    return api


def _monitoring(vms: list[LoopbackApi]) -> GrpcLoopbackApi:
    """ListTimeSeries over what the VMs wrote: the filter's metric type and labels, the interval."""

    def answer(request: monitoring_v3.ListTimeSeriesRequest) -> monitoring_v3.ListTimeSeriesResponse:
        wanted = dict(re.findall(r'(metric\.type|metric\.labels\.\w+) = "([^"]*)"', request.filter))
        start, end = request.interval.start_time, request.interval.end_time
        found = []
        for written in (seen.body for vm in vms for seen in vm.requests_to(SERIES)):
            for series in written["timeSeries"]:
                fields = {"metric.type": series["metric"]["type"]}
                fields |= {f"metric.labels.{k}": v for k, v in series["metric"]["labels"].items()}
                stamp = datetime.fromisoformat(series["points"][0]["interval"]["endTime"])
                if all(fields.get(k) == v for k, v in wanted.items()) and start < stamp <= end:
                    found.append(monitoring_v3.TimeSeries.from_json(json.dumps(series)))
        return monitoring_v3.ListTimeSeriesResponse(time_series=found)

    api = GrpcLoopbackApi(
        "google.monitoring.v3.MetricService",
        {"ListTimeSeries": (monitoring_v3.ListTimeSeriesRequest, monitoring_v3.ListTimeSeriesResponse)},
    )
    api.answer("ListTimeSeries", answer)
    return api


def _window(held: int, queue_s: list[float], rejected: int, slot: Any = "blue") -> Sample:
    """One router's publication: `held` waiting now, the queue times sent to `slot`, the 429s."""
    metrics = GateMetrics()
    for seconds in queue_s:
        metrics.observe_queue(seconds, slot)
    for _ in range(rejected):
        metrics.reject()
    return collect(metrics, held, Fleet(), "blue", ("blue", "green"))


async def _publish(plan: DeploymentPlan, vm: LoopbackApi, samples: list[Sample]) -> None:
    spec = MetricsSpec(
        project=plan.project,
        environment=plan.env,
        model="chat",
        endpoint=vm.url,
        metadata_url=vm.url + METADATA,
    )
    async with aiohttp.ClientSession() as session:
        sender = GcpSender(session, PROJECT, spec)
        for sample in samples:
            await sender(sample)


def _read(plan: DeploymentPlan, compute: LoopbackApi, monitoring: GrpcLoopbackApi) -> Any:
    channel = grpc.insecure_channel(monitoring.address)
    try:
        metrics = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
        end = datetime.now(UTC) + timedelta(seconds=30)
        return read_routers(plan, compute_clients(compute), metrics, end)
    finally:
        channel.close()


def test_reads_the_router_group_and_what_each_router_wrote(write_env: WriteEnv, compute: LoopbackApi) -> None:
    plan, other_env = _plan(write_env), _plan(write_env, "other")
    resolved = resolve(plan)
    assert resolved.routers is not None
    name = resolved.routers.name
    managed_group(
        compute, name, 2, [("r-1", "us-central1-a", "RUNNING"), ("r-2", "us-central1-b", "RUNNING")]
    )
    backend_health(compute, resolved.fleets[0].service, {name: ["HEALTHY", "UNHEALTHY"]})
    first = _window(held=3, queue_s=[0.2, 0.4], rejected=2)
    second = replace(_window(held=1, queue_s=[1.0], rejected=1, slot="green"), time=first.time)
    earlier = replace(_window(held=7, queue_s=[], rejected=4), time=first.time - 180)
    with serving(_router_vm(1)) as one, serving(_router_vm(2)) as two:
        asyncio.run(_publish(plan, one, [earlier, first]))
        asyncio.run(_publish(plan, two, [second]))
        asyncio.run(_publish(other_env, two, [replace(second, time=second.time + 1)]))
        with serving_grpc(_monitoring([one, two])) as monitoring:
            found = _read(plan, compute, monitoring)

    assert found is not None
    # Each router writes its own series: held sums the newest minute (3 + 1), 429s the window
    # (2 + 1 + 4), queue time the routers' per-minute means (300 and 1000 ms); GCP keeps no maximum.
    # The other environment's series are not asked for.
    assert found.models == (RouterModelStatus("chat", held=4, rejected=7, queue_ms=650.0, queue_max_ms=None),)
    assert (found.exists, found.desired, found.running, found.healthy) == (True, 2, 2, 1)
    assert found.zones == {"us-central1-a": 1, "us-central1-b": 1}
    assert headline(found) == (
        "routers on gcp: 1 of 2 healthy, 2 running (us-central1-a: 1, us-central1-b: 1): "
        "degraded, the healthy routers serve"
    )


def test_no_router_group_says_the_direct_path_serves(write_env: WriteEnv, compute: LoopbackApi) -> None:
    with serving_grpc(_monitoring([])) as monitoring:
        found = _read(_plan(write_env), compute, monitoring)

    assert found is not None and not found.exists
    assert found.models == (RouterModelStatus("chat", None, None, None, None),)
    assert headline(found) == (
        "routers on gcp: none found (apply the stack with routing enabled): "
        "the load balancer's direct path serves (the fleets' DEFAULT backends)"
    )
