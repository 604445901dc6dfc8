"""The environment's Azure portal dashboard: Front Door traffic per origin and the replicas' engine metrics.

The same panels as the AWS and GCP dashboards, as Azure Monitor metric charts
(`Extension/HubsExtension/PartType/MonitorChartPart`): Front Door's requests, latency and probe
health split by origin (one line per slot), its 5xx share, and per fleet the generated tokens, the
queue and the count of serving replicas from the engine metrics the replicas publish on their scale
set. The provider checks only that `lenses` exists (validate/dashboard_properties.go); the portal
renders the parts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cdktn_provider_azurerm.portal_dashboard import PortalDashboard
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.clouds.azure.resolve import FRONT_DOOR_NAMESPACE, AzurePlan

CHART_PART = "Extension/HubsExtension/PartType/MonitorChartPart"
#: Azure Monitor's aggregation codes in portal charts.
SUM, AVERAGE, COUNT = 1, 4, 7
#: A line chart.
LINE_CHART = 2
#: Two charts per row, each half of the portal's 12 columns and 4 rows high.
_COLUMNS, _WIDTH, _HEIGHT = 2, 6, 4
#: The portal shows a dashboard under this tag's value.
TITLE_TAG = "hidden-title"


def add_dashboard(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    plan: AzurePlan,
    resource_group: str,
    front_door_id: str,
    scale_set_ids: Mapping[str, str],
    router_scale_set_id: str | None = None,
) -> None:
    """The dashboard `name` of the environment `plan` (router charts with `router_scale_set_id`)."""
    fleets = [fleet.name for fleet in plan.fleets]
    PortalDashboard(
        scope,
        construct_id,
        name=name,
        location=plan.location,
        resource_group_name=resource_group,
        dashboard_properties=json.dumps(
            _properties(front_door_id, fleets, scale_set_ids, router_scale_set_id), sort_keys=True
        ),
        tags={**plan.tags, TITLE_TAG: f"llmdeploy {plan.name}"},
    )


def _properties(
    front_door_id: str,
    fleets: Sequence[str],
    scale_set_ids: Mapping[str, str],
    router_scale_set_id: str | None,
) -> dict[str, Any]:
    front_door = [
        ("Requests to each slot's origin", "OriginRequestCount", SUM),
        ("Origin latency (ms, mean)", "OriginLatency", AVERAGE),
        ("Successful health probes per origin (%)", "OriginHealthPercentage", AVERAGE),
    ]
    charts = [
        _chart(title, [_metric(front_door_id, FRONT_DOOR_NAMESPACE, metric, code, metric)], group_by="Origin")
        for title, metric, code in front_door
    ]
    charts.append(
        _chart(
            "Share of 5xx answers (%)",
            [_metric(front_door_id, FRONT_DOOR_NAMESPACE, "Percentage5XX", AVERAGE, "5xx")],
        )
    )
    for title, metric, code in (
        ("Generated tokens per second", metrics.GENERATED_TOKENS_PER_SECOND, SUM),
        ("Queued requests per replica", metrics.QUEUE_SIZE, AVERAGE),
        # One value per serving replica a minute.
        ("Serving replicas", metrics.QUEUE_SIZE, COUNT),
    ):
        charts.append(
            _chart(
                title,
                [_metric(scale_set_ids[fleet], metrics.NAMESPACE, metric, code, fleet) for fleet in fleets],
            )
        )
    if router_scale_set_id is not None:
        charts += _router_charts(router_scale_set_id)
    parts = {
        str(index): {
            "position": {
                "x": _WIDTH * (index % _COLUMNS),
                "y": _HEIGHT * (index // _COLUMNS),
                "colSpan": _WIDTH,
                "rowSpan": _HEIGHT,
            },
            "metadata": chart,
        }
        for index, chart in enumerate(charts)
    }
    return {
        "lenses": {"0": {"order": 0, "parts": parts}},
        "metadata": {
            "model": {
                "timeRange": {
                    "value": {"relative": {"duration": 24, "timeUnit": 1}},
                    "type": "MsPortalFx.Composition.Configuration.ValueTypes.TimeRange",
                }
            }
        },
    }


def _router_charts(router_scale_set_id: str) -> list[dict[str, Any]]:
    """The routers' custom metrics (llmdeploy/routing/publish.py), on their scale set, per model."""
    return [
        _chart(
            title, [_metric(router_scale_set_id, metrics.NAMESPACE, metric, code, metric)], group_by="Model"
        )
        for title, metric, code in (
            ("Router: requests held", metrics.ROUTER_HELD, SUM),
            ("Router: queue time before dispatch (ms, mean)", metrics.ROUTER_QUEUE_MS, AVERAGE),
            ("Router: 429s answered", metrics.ROUTER_REJECTED, SUM),
            ("Router: replicas in each router's set", metrics.ROUTER_REPLICAS, AVERAGE),
        )
    ]


def _metric(resource_id: str, namespace: str, name: str, aggregation: int, label: str) -> dict[str, Any]:
    return {
        "resourceMetadata": {"id": resource_id},
        "namespace": namespace,
        "name": name,
        "aggregationType": aggregation,
        "metricVisualization": {"displayName": label},
    }


def _chart(title: str, series: list[dict[str, Any]], group_by: str | None = None) -> dict[str, Any]:
    chart: dict[str, Any] = {
        "title": title,
        "titleKind": 2,
        "metrics": series,
        "visualization": {"chartType": LINE_CHART},
    }
    if group_by is not None:
        chart["grouping"] = {"dimension": group_by}
    return {
        "type": CHART_PART,
        "inputs": [{"name": "sharedTimeRange", "isOptional": True}, {"name": "options", "isOptional": True}],
        "settings": {"content": {"options": {"chart": chart}}},
    }
