"""The Azure promotion gate's observer against a loopback ARM API (HTTPS).

Bodies follow the ARM REST reference: the scale set and its VMs as `llmdeploy status` reads them
(tests/clouds/azure/azure_api.py), Azure Monitor Metrics - List (Front Door's `OriginRequestCount`, one
series per `HttpStatusGroup`) and Alerts Management Alerts - Get All (`essentials.monitorCondition`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.clouds.azure.observer import AzureObserver, AzureObserverClients
from llmdeploy.clouds.azure.resolve import resolve
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.release.gates import CloudSample
from llmdeploy.release.observer import DeployedStack, observer_for
from tests.clouds.azure.azure_api import (
    COMPUTE,
    FRONT_DOOR,
    GROUP,
    SUBSCRIPTION,
    FakeCredential,
    arm_api,
    scale_set,
    trusted,
)
from tests.status.loopback import LoopbackApi, Seen

METRICS = f"{FRONT_DOOR}/providers/Microsoft.Insights/metrics"
ALERTS = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts"
RESOURCE_GROUP = "llmdeploy-demo-prod"
ORIGIN = "20.0.0.2"
HEALTHY, UNHEALTHY = "HealthState/healthy", "HealthState/unhealthy"
RUNNING = "PowerState/running"
#: What each fleet's metric alerts watch (their names end with it).
RULES = ("unhealthy-origin", "latency")
#: Azure Monitor names dimensions in lower case in its answers.
STATUS_GROUP, ORIGIN_DIMENSION = "httpstatusgroup", "origin"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LoopbackApi]:
    with arm_api(tmp_path) as running:
        yield running


@pytest.fixture
def observer(prod_plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path) -> AzureObserver:
    clients = AzureObserverClients.connect(
        SUBSCRIPTION, credential=FakeCredential(), base_url=api.url, connection_verify=trusted(tmp_path)
    )
    return AzureObserver(_deployed(prod_plan), clients)


def _deployed(plan: DeploymentPlan) -> DeployedStack:
    """The Azure stack of `plan` after apply: its outputs hold only what Azure assigns (origin IPs)."""
    fleets = {
        fleet.name: {"origin_metric_values": [f"20.0.0.{index}", f"20.0.0.{index}:80"]}
        for index, fleet in enumerate(plan.fleets_on("azure"), start=1)
    }
    return DeployedStack(
        cloud="azure", stack=plan.cloud("azure").stack, plan=plan, outputs={"fleets": fleets}, environ={}
    )


def _bundle(plan: DeploymentPlan) -> str:
    """The boot bundle digest of translate-fr's green slot, as the plan resolves it."""
    return resolve(plan).fleet("translate-fr-green").bundle_digest


def _requests(api: LoopbackApi, by_group: dict[tuple[str, str], list[float]]) -> None:
    """Metrics - List of OriginRequestCount: per-minute totals per (origin, HTTP status group)."""
    api.answer(
        "GET",
        METRICS,
        {
            "cost": 14,
            "timespan": "2026-11-02T10:00:00Z/2026-11-02T10:05:00Z",
            "interval": "PT1M",
            "namespace": "Microsoft.Cdn/profiles",
            "resourceregion": "global",
            "value": [
                {
                    "id": f"{METRICS}/OriginRequestCount",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": "OriginRequestCount", "localizedValue": "Origin Request Count"},
                    "displayDescription": "The number of requests sent from Azure Front Door to origins.",
                    "unit": "Count",
                    "errorCode": "Success",
                    "timeseries": [
                        {
                            "metadatavalues": [
                                {
                                    "name": {"value": ORIGIN_DIMENSION, "localizedValue": ORIGIN_DIMENSION},
                                    "value": origin,
                                },
                                {
                                    "name": {"value": STATUS_GROUP, "localizedValue": STATUS_GROUP},
                                    "value": group,
                                },
                            ],
                            "data": [
                                {"timeStamp": f"2026-11-02T10:0{minute}:00Z", "total": total}
                                for minute, total in enumerate(totals)
                            ],
                        }
                        for (origin, group), totals in by_group.items()
                    ],
                }
            ],
        },
    )


def _alert(rule: str, condition: str) -> dict[str, Any]:
    """An alert of a metric alert rule, as Alerts - Get All lists it."""
    return {
        "id": f"{ALERTS}/{rule}-{condition}",
        "type": "Microsoft.AlertsManagement/alerts",
        "name": rule,
        "properties": {
            "essentials": {
                "severity": "Sev2",
                "signalType": "Metric",
                "alertState": "New",
                "monitorCondition": condition,
                "targetResource": FRONT_DOOR.lower(),
                "targetResourceName": RESOURCE_GROUP,
                "targetResourceGroup": RESOURCE_GROUP,
                "targetResourceType": "microsoft.cdn/profiles",
                "monitorService": "Platform",
                "alertRule": f"{GROUP}/providers/microsoft.insights/metricalerts/{rule}".lower(),
                "sourceCreatedId": f"{rule}-{condition}",
                "startDateTime": "2026-11-02T10:03:00Z",
                "lastModifiedDateTime": "2026-11-02T10:03:00Z",
                "lastModifiedUserName": "System",
            }
        },
    }


def _alerts(api: LoopbackApi, *alerts: dict[str, Any]) -> None:
    """Alerts - Get All: only those of the `monitorCondition` asked for, as the API filters them."""

    def answer(request: Seen) -> dict[str, Any]:
        wanted = request.query.get("monitorCondition", [None])[0]
        return {
            "value": [
                alert
                for alert in alerts
                if wanted in (None, alert["properties"]["essentials"]["monitorCondition"])
            ]
        }

    api.answer("GET", ALERTS, answer)


def _green(api: LoopbackApi, bundle: str) -> None:
    """translate-fr's green slot: 2 of 4 VMs healthy, its origin alert fired, 8 of 200 requests failed.

    Front Door names the origin host:port in the metric (either form is accepted); the blue slot's
    origin and its errors are in the same answer and must not count.
    """
    scale_set(
        api,
        "translate-fr-green",
        4,
        [
            ("Regular", RUNNING, HEALTHY),
            ("Spot", RUNNING, HEALTHY),
            ("Spot", RUNNING, UNHEALTHY),
            ("Spot", "PowerState/starting", None),
        ],
        bundles=[bundle] * 4,
    )
    green, blue = f"{ORIGIN}:80", "20.0.0.1:80"
    _requests(
        api,
        {
            (green, "2XX"): [100, 80],
            (green, "4XX"): [4, 8],
            (green, "5XX"): [3, 5],
            (blue, "5XX"): [500, 500],
        },
    )
    _alerts(
        api,
        _alert(f"{RESOURCE_GROUP}-translate-fr-green-unhealthy-origin", "Fired"),
        _alert(f"{RESOURCE_GROUP}-translate-fr-green-latency", "Resolved"),
        _alert(f"{RESOURCE_GROUP}-translate-fr-blue-latency", "Fired"),
    )


def test_reports_healthy_vms_fired_alerts_and_5xx_rate_of_the_slot(
    observer: AzureObserver, prod_plan: DeploymentPlan, api: LoopbackApi
) -> None:
    _green(api, _bundle(prod_plan))
    assert observer.sample("translate-fr", "green") == CloudSample(
        cloud="azure",
        healthy=2,
        firing_alarms=(f"{RESOURCE_GROUP}-translate-fr-green-unhealthy-origin",),
        error_rate_percent=4.0,
    )


def test_asks_for_the_slots_origin_by_status_group_and_fired_alerts_only(
    observer: AzureObserver, prod_plan: DeploymentPlan, api: LoopbackApi
) -> None:
    _green(api, _bundle(prod_plan))
    observer.sample("translate-fr", "green")
    [metrics] = api.requests_to(METRICS)
    assert metrics.query["metricnames"] == ["OriginRequestCount"]
    assert metrics.query["aggregation"] == ["Total"]
    assert metrics.query["metricnamespace"] == ["Microsoft.Cdn/profiles"]
    assert metrics.query["$filter"] == ["Origin eq '*' and HttpStatusGroup eq '*'"]
    start, end = (datetime.fromisoformat(time) for time in metrics.query["timespan"][0].split("/"))
    assert (end - start).total_seconds() == 60 * prod_plan.monitoring.alarms.evaluation_minutes
    [alerts] = api.requests_to(ALERTS)
    assert alerts.query["targetResourceGroup"] == [RESOURCE_GROUP]
    assert alerts.query["monitorCondition"] == ["Fired"]
    assert alerts.query["timeRange"] == ["30d"]


def test_only_vms_created_from_the_current_boot_bundle_count_as_healthy(
    observer: AzureObserver, prod_plan: DeploymentPlan, api: LoopbackApi
) -> None:
    _green(api, _bundle(prod_plan))
    # A release changed custom_data, but the first healthy VM was made from the previous model.
    scale_set(
        api,
        "translate-fr-green",
        2,
        [("Regular", RUNNING, HEALTHY), ("Spot", RUNNING, HEALTHY)],
        bundles=["0123456789abcdef", _bundle(prod_plan)],
    )
    assert observer.sample("translate-fr", "green").healthy == 1
    [asked] = api.requests_to(f"{COMPUTE}/virtualMachines/translate-fr-green_00000000")
    assert asked.query["$expand"] == ["userData"]


def test_no_traffic_means_no_error_rate(
    observer: AzureObserver, prod_plan: DeploymentPlan, api: LoopbackApi
) -> None:
    _green(api, _bundle(prod_plan))
    _requests(api, {})
    _alerts(api)
    sample = observer.sample("translate-fr", "green")
    assert (sample.healthy, sample.firing_alarms, sample.error_rate_percent) == (2, (), None)


def test_refused_metrics_name_the_stack_the_api_and_the_credentials(
    observer: AzureObserver, prod_plan: DeploymentPlan, api: LoopbackApi
) -> None:
    _green(api, _bundle(prod_plan))
    denied = {"error": {"code": "AuthorizationFailed", "message": "No Microsoft.Insights/metrics/read."}}
    api.answer("GET", METRICS, denied, status=403)
    with pytest.raises(OperationError) as raised:
        observer.sample("translate-fr", "green")
    message = str(raised.value)
    assert message.startswith(
        f"prod-azure: reading the Azure Monitor metric OriginRequestCount of origin {ORIGIN} "
        f"in resource group {RESOURCE_GROUP} failed: HTTP 403"
    )
    assert "az login" in message


def test_promotion_finds_the_azure_observer(prod_plan: DeploymentPlan) -> None:
    # DefaultAzureCredential signs in at the first request only: nothing is sent here.
    assert isinstance(observer_for(_deployed(prod_plan)), AzureObserver)
