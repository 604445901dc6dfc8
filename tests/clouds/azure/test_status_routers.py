"""`llmdeploy status` on Azure with routers: their scale set and Azure Monitor's Metrics - List of the
custom metrics they post (namespace LLMDeploy on their scale set), against a loopback ARM API.

The metrics body follows the Azure Monitor REST reference (Metrics - List): per metric, one series
per dimension value asked with `eq '*'`, dimension names answered in lower case, and per minute the
aggregations asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.clouds.azure.resolve import resolve
from llmdeploy.clouds.azure.status import AzureRouterClients, read_routers
from llmdeploy.config.loader import load_environment
from llmdeploy.errors import OperationError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.routing.publish import HELD, QUEUE_MS, REJECTED
from llmdeploy.status.routers import headline
from tests.clouds.azure.azure_api import COMPUTE, SUBSCRIPTION, FakeCredential, arm_api, scale_set, trusted
from tests.clouds.azure.test_routers import ENV as ROUTED
from tests.conftest import WriteEnv
from tests.status.loopback import LoopbackApi

#: test_routers' environment, named as azure_api's resource group (llmdeploy-demo-prod) expects.
ENV = ROUTED.format(
    routing="routing: {enabled: true}", subscription=f", subscription_id: {SUBSCRIPTION}"
).replace("project: demo", "project: llmdeploy-demo")
END = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
HEALTHY = "HealthState/healthy"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LoopbackApi]:
    with arm_api(tmp_path) as running:
        yield running


@pytest.fixture
def plan(write_env: WriteEnv) -> DeploymentPlan:
    return build_plan(load_environment(write_env(ENV, "prod.yaml")))


def _clients(api: LoopbackApi, tmp_path: Path) -> AzureRouterClients:
    return AzureRouterClients.connect(
        SUBSCRIPTION, credential=FakeCredential(), base_url=api.url, connection_verify=trusted(tmp_path)
    )


def _routers_name(plan: DeploymentPlan) -> str:
    routers = resolve(plan).routers
    assert routers is not None
    return routers.scale_set


def _metrics_path(plan: DeploymentPlan) -> str:
    return f"{COMPUTE}/virtualMachineScaleSets/{_routers_name(plan)}/providers/Microsoft.Insights/metrics"


def _series(model: str, slot: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    dimensions = {"project": "llmdeploy-demo", "environment": "prod", "model": model, "slot": slot}
    return {
        "metadatavalues": [
            {"name": {"value": name, "localizedValue": name}, "value": value}
            for name, value in dimensions.items()
        ],
        "data": data,
    }


def _metric(plan: DeploymentPlan, name: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{_metrics_path(plan)}/{name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": name, "localizedValue": name},
        "unit": "Unspecified",
        "errorCode": "Success",
        "timeseries": series,
    }


def _minute(minute: int, total: float, count: float, maximum: float) -> dict[str, Any]:
    return {"timeStamp": f"2026-12-02T08:5{minute}:00Z", "total": total, "count": count, "maximum": maximum}


def _published(api: LoopbackApi, plan: DeploymentPlan) -> None:
    """Two routers' posts as Azure Monitor aggregates them per minute (Total/Count/Maximum over routers)."""
    api.answer(
        "GET",
        _metrics_path(plan),
        {
            "cost": 15,
            "timespan": "2026-12-02T08:55:00Z/2026-12-02T09:00:00Z",
            "interval": "PT1M",
            "namespace": "LLMDeploy",
            "resourceregion": "eastus",
            "value": [
                _metric(
                    plan,
                    HELD,
                    [
                        # An older minute is not "now": only the newest minute with data counts.
                        _series("chat", "blue", [_minute(6, 9, 2, 5), _minute(8, 3, 2, 2)]),
                        _series("chat", "green", [_minute(8, 1, 1, 1)]),
                        # A minute with no post (count 0) is no data, not a zero.
                        _series("coder", "blue", [{"timeStamp": "2026-12-02T08:58:00Z", "count": 0}]),
                    ],
                ),
                _metric(
                    plan, REJECTED, [_series("chat", "blue", [_minute(7, 4, 2, 3), _minute(8, 3, 2, 3)])]
                ),
                _metric(
                    plan,
                    QUEUE_MS,
                    [_series("chat", "blue", [_minute(7, 1200, 4, 900), _minute(8, 600, 2, 400)])],
                ),
            ],
        },
    )


def test_reads_the_router_scale_set_and_each_models_held_rejected_and_queue_time(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    name = _routers_name(plan)
    scale_set(
        api, name, 2, [("Regular", "PowerState/running", HEALTHY), ("Regular", "PowerState/running", None)]
    )
    _published(api, plan)
    found = read_routers(plan, _clients(api, tmp_path), END)
    assert found is not None
    assert (found.cloud, found.exists, found.desired, found.running, found.healthy) == (
        "azure",
        True,
        2,
        2,
        1,
    )
    chat, coder = found.models
    # held now: the newest minute (08:58) over both slots; 429s: the window; queue: total wait / count
    assert (chat.model, chat.held, chat.rejected, chat.queue_ms, chat.queue_max_ms) == (
        "chat",
        4,
        7,
        300.0,
        900.0,
    )
    assert (coder.model, coder.held, coder.rejected, coder.queue_ms) == ("coder", None, None, None)
    assert "1 of 2 healthy" in headline(found)


def test_asks_for_this_environments_series_of_the_router_metrics_per_minute(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    scale_set(api, _routers_name(plan), 2, [("Regular", "PowerState/running", HEALTHY)])
    _published(api, plan)
    read_routers(plan, _clients(api, tmp_path), END)
    [request] = api.requests_to(_metrics_path(plan))
    assert request.query["metricnamespace"] == ["LLMDeploy"]
    assert sorted(request.query["metricnames"][0].split(",")) == sorted([HELD, REJECTED, QUEUE_MS])
    assert request.query["aggregation"] == ["Total,Count,Maximum"]
    assert request.query["interval"] == ["PT1M"]
    assert request.query["$filter"] == [
        "Project eq 'llmdeploy-demo' and Environment eq 'prod' and Model eq '*' and Slot eq '*'"
    ]
    assert request.query["timespan"] == ["2026-12-02T08:55:00Z/2026-12-02T09:00:00Z"]


def test_no_healthy_router_says_front_doors_direct_path_serves(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    scale_set(api, _routers_name(plan), 2, [("Regular", "PowerState/running", "HealthState/unhealthy")])
    _published(api, plan)
    found = read_routers(plan, _clients(api, tmp_path), END)
    assert found is not None and found.healthy == 0
    assert "Front Door's direct path serves" in headline(found)


def test_a_stack_applied_without_routers_has_no_router_group(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    found = read_routers(plan, _clients(api, tmp_path), END)
    assert found is not None and not found.exists
    assert "none found" in headline(found)
    assert not api.requests_to(_metrics_path(plan))


def test_refused_metrics_name_the_api_and_the_next_step(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    scale_set(api, _routers_name(plan), 2, [("Regular", "PowerState/running", HEALTHY)])
    denied = {"error": {"code": "AuthorizationFailed", "message": "No Microsoft.Insights/metrics/read."}}
    api.answer("GET", _metrics_path(plan), denied, status=403)
    with pytest.raises(OperationError) as raised:
        read_routers(plan, _clients(api, tmp_path), END)
    assert "Azure Monitor metric" in str(raised.value)
    assert "HTTP 403" in str(raised.value)


def test_routing_off_reads_nothing(write_env: WriteEnv, api: LoopbackApi, tmp_path: Path) -> None:
    plan = build_plan(load_environment(write_env(ENV.replace("routing: {enabled: true}\n", ""), "prod.yaml")))
    assert read_routers(plan, _clients(api, tmp_path), END) is None
    assert not api.seen
