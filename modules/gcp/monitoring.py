"""Cloud Monitoring dashboard and alert policies per model and slot, notifying e-mail channels.

The alerts match the AWS ones where GCP has the signal: the share of 5xx answers and the p99 latency
at the load balancer (per backend service), and too few healthy replicas in a serving slot, counted
as the VMs whose metrics relay publishes (it publishes only while the engine answers). The load
balancer publishes nothing while idle, so those two alerts treat missing data as fine; the healthy
count treats it as a breach. GCP has no per-backend unhealthy-instance metric: autohealing replaces
failing VMs, and a lasting shortfall raises the healthy-replica alert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
    MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations,
    MonitoringAlertPolicyDocumentation,
)
from cdktn_provider_google.monitoring_dashboard import MonitoringDashboard
from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.clouds.gcp.resolve import (
    ERROR_RATE_ALERT,
    HEALTHY_ALERT,
    LATENCY_ALERT,
    GcpAlarms,
    GcpFleet,
    GcpPlan,
)
from modules.gcp.engine_metrics import EngineMetrics

PERIOD = "60s"
_REQUESTS = 'metric.type="loadbalancing.googleapis.com/https/request_count" resource.type="https_lb_rule"'
_LATENCY = 'metric.type="loadbalancing.googleapis.com/https/total_latencies" resource.type="https_lb_rule"'
_GROUP_SIZE = 'metric.type="compute.googleapis.com/instance_group/size" resource.type="instance_group"'
_MS_PER_S = 1000


class Monitoring(Construct):
    """The notification channels, the alert policies of every fleet and the environment's dashboard.

    Attributes:
        alert_names: the alert policies' display names of each fleet, by fleet name.
    """

    _DASHBOARD_ID = "Dashboard"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gcp: GcpPlan,
        backend_services: Mapping[str, str],
        engine_metrics: EngineMetrics,
    ) -> None:
        super().__init__(scope, id)
        channels = [
            MonitoringNotificationChannel(
                self,
                f"Email-{email}",
                type="email",
                display_name=f"{gcp.name} alerts to {email}",
                labels={"email_address": email},
            ).id
            for email in gcp.emails
        ]
        self.alert_names = {
            fleet.name: _FleetAlerts(
                self,
                fleet.name,
                fleet=fleet,
                backend_service=backend_services[fleet.name],
                alarms=gcp.alarms,
                channels=channels,
                engine_metrics=engine_metrics,
            ).names
            for fleet in gcp.fleets
        }
        if gcp.dashboard:
            MonitoringDashboard(
                self,
                self._DASHBOARD_ID,
                dashboard_json=json.dumps(_dashboard(gcp, backend_services), sort_keys=True),
            )


class _FleetAlerts(Construct):
    """The alert policies of one fleet: 5xx share, p99 latency, too few healthy replicas."""

    _ERROR_RATE_ID = "ErrorRate"
    _LATENCY_ID = "P99Latency"
    _HEALTHY_ID = "HealthyReplicas"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        fleet: GcpFleet,
        backend_service: str,
        alarms: GcpAlarms,
        channels: list[str],
        engine_metrics: EngineMetrics,
    ) -> None:
        super().__init__(scope, id)
        self.prefix, self.channels, self.alarms = fleet.alert_prefix, channels, alarms
        self.engine_metrics = engine_metrics
        service = f'resource.label.backend_target_name="{backend_service}"'
        rate = _aggregation("ALIGN_RATE", "REDUCE_SUM")
        self.names = [
            self._policy(
                self._ERROR_RATE_ID,
                fleet.alerts[ERROR_RATE_ALERT],
                f"more than {alarms.error_rate_percent}% of requests answered 5xx",
                MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=f"{_REQUESTS} {service} metric.label.response_code_class=500",
                    aggregations=[rate],
                    denominator_filter=f"{_REQUESTS} {service}",
                    denominator_aggregations=[
                        MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations(
                            alignment_period=PERIOD,
                            per_series_aligner="ALIGN_RATE",
                            cross_series_reducer="REDUCE_SUM",
                        )
                    ],
                    comparison="COMPARISON_GT",
                    threshold_value=alarms.error_rate_percent / 100,
                    duration=self._duration(),
                    evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
                ),
            ),
            self._policy(
                self._LATENCY_ID,
                fleet.alerts[LATENCY_ALERT],
                f"p99 response time above {alarms.p99_latency_s} s",
                MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=f"{_LATENCY} {service}",
                    aggregations=[_aggregation("ALIGN_PERCENTILE_99", "REDUCE_MAX")],
                    comparison="COMPARISON_GT",
                    threshold_value=alarms.p99_latency_s * _MS_PER_S,
                    duration=self._duration(),
                    evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
                ),
            ),
        ]
        if HEALTHY_ALERT in fleet.alerts:
            self.names.append(
                self._policy(
                    self._HEALTHY_ID,
                    fleet.alerts[HEALTHY_ALERT],
                    f"fewer than {alarms.min_healthy_replicas} healthy replicas",
                    MonitoringAlertPolicyConditionsConditionThreshold(
                        filter=fleet.engine_filters[metrics.QUEUE_SIZE],
                        aggregations=[_aggregation("ALIGN_MEAN", "REDUCE_COUNT")],
                        comparison="COMPARISON_LT",
                        threshold_value=alarms.min_healthy_replicas,
                        duration=self._duration(),
                        evaluation_missing_data="EVALUATION_MISSING_DATA_ACTIVE",
                    ),
                    # Refused while the metric does not exist (EngineMetrics declares it).
                    reads=metrics.QUEUE_SIZE,
                )
            )

    def _duration(self) -> str:
        return f"{self.alarms.duration_s}s"

    def _policy(
        self,
        construct_id: str,
        display_name: str,
        description: str,
        condition: MonitoringAlertPolicyConditionsConditionThreshold,
        reads: str | None = None,
    ) -> str:
        """An alert policy; `reads` names the relayed engine metric its condition reads, if any."""
        MonitoringAlertPolicy(
            self,
            construct_id,
            display_name=display_name,
            combiner="OR",
            conditions=[
                MonitoringAlertPolicyConditions(display_name=display_name, condition_threshold=condition)
            ],
            notification_channels=self.channels,
            documentation=MonitoringAlertPolicyDocumentation(
                content=f"{self.prefix}: {description}.", mime_type="text/markdown"
            ),
            depends_on=[self.engine_metrics.by_name[reads]] if reads else None,
        )
        return display_name


def _aggregation(aligner: str, reducer: str) -> MonitoringAlertPolicyConditionsConditionThresholdAggregations:
    return MonitoringAlertPolicyConditionsConditionThresholdAggregations(
        alignment_period=PERIOD, per_series_aligner=aligner, cross_series_reducer=reducer
    )


def _dashboard(gcp: GcpPlan, backend_services: Mapping[str, str]) -> dict[str, Any]:
    panels: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for title, series in (
        ("Requests per second", lambda f: [(f.name, _REQUESTS, "ALIGN_RATE", "REDUCE_SUM")]),
        (
            "Latency p50 / p99 (ms)",
            lambda f: [
                (f"{f.name} p50", _LATENCY, "ALIGN_PERCENTILE_50", "REDUCE_MAX"),
                (f"{f.name} p99", _LATENCY, "ALIGN_PERCENTILE_99", "REDUCE_MAX"),
            ],
        ),
    ):
        panels.append(
            (
                title,
                [
                    (
                        label,
                        f'{base} resource.label.backend_target_name="{backend_services[fleet.name]}"',
                        aligner,
                        reducer,
                    )
                    for fleet in gcp.fleets
                    for label, base, aligner, reducer in series(fleet)
                ],
            )
        )
    for title, metric, reducer in (
        ("Generated tokens per second", metrics.GENERATED_TOKENS_PER_SECOND, "REDUCE_SUM"),
        ("Queued requests per replica", metrics.QUEUE_SIZE, "REDUCE_MEAN"),
        ("Healthy (serving) replicas", metrics.QUEUE_SIZE, "REDUCE_COUNT"),
    ):
        panels.append(
            (
                title,
                [(fleet.name, fleet.engine_filters[metric], "ALIGN_MEAN", reducer) for fleet in gcp.fleets],
            )
        )
    if gcp.routers is not None:
        panels += _router_panels(gcp)
    panels.append(
        (
            "Replicas per group (spot / on-demand base)",
            [
                (
                    group,
                    f'{_GROUP_SIZE} resource.label.instance_group_name="{group}"',
                    "ALIGN_MEAN",
                    "REDUCE_SUM",
                )
                for fleet in gcp.fleets
                for group in fleet.group_names
            ],
        )
    )
    return {
        "displayName": f"llmdeploy {gcp.name}",
        "mosaicLayout": {
            "columns": 12,
            "tiles": [
                {
                    "xPos": 6 * (index % 2),
                    "yPos": 4 * (index // 2),
                    "width": 6,
                    "height": 4,
                    "widget": {"title": title, "xyChart": {"dataSets": [_data_set(*row) for row in rows]}},
                }
                for index, (title, rows) in enumerate(panels)
            ],
        },
    }


def _router_panels(gcp: GcpPlan) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """The routers' series (llmdeploy/routing/publish.py): one per router VM, summed or maxed over them."""
    return [
        (title, [(fleet.name, fleet.engine_filters[metric], "ALIGN_MEAN", reducer) for fleet in gcp.fleets])
        for title, metric, reducer in (
            ("Router: requests held", metrics.ROUTER_HELD, "REDUCE_SUM"),
            (
                "Router: queue time before dispatch (ms, mean of the routers' means)",
                metrics.ROUTER_QUEUE_MS,
                "REDUCE_MEAN",
            ),
            ("Router: 429s answered per minute", metrics.ROUTER_REJECTED, "REDUCE_SUM"),
            ("Router: replicas in each router's set", metrics.ROUTER_REPLICAS, "REDUCE_MEAN"),
        )
    ]


def _data_set(label: str, metric_filter: str, aligner: str, reducer: str) -> dict[str, Any]:
    return {
        "legendTemplate": label,
        "plotType": "LINE",
        "timeSeriesQuery": {
            "timeSeriesFilter": {
                "filter": metric_filter,
                "aggregation": {
                    "alignmentPeriod": PERIOD,
                    "perSeriesAligner": aligner,
                    "crossSeriesReducer": reducer,
                },
            }
        },
    }
