"""CloudWatch dashboard and alarms per model and slot, notifying an SNS topic.

Load balancer metrics are published only while there is traffic, so alarms on rates and latency
treat missing data as fine; the healthy-replica alarm of a serving slot treats it as a breach
(no data there means no load balancer or no targets).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cdktn_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktn_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
)
from cdktn_provider_aws.sns_topic import SnsTopic
from cdktn_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.clouds.aws.resolve import AwsAlarm, AwsFleetAlarms, AwsMonitoring, AwsPlan
from modules.aws.gpu_fleet import ASG_NAMESPACE, ELB_NAMESPACE, PERIOD_S, GpuFleet, metric_query


class Monitoring(Construct):
    """The alarm topic, the alarms of every fleet and the environment's dashboard.

    Attributes:
        topic_arn: where alarms notify.
        alarm_names: the alarm names of each fleet, by fleet name.
        gate_alarm_names: of those, the ones that judge a release (llmdeploy.clouds.aws.names.GATE_ALARMS).
    """

    _TOPIC_ID = "AlarmTopic"
    _DASHBOARD_ID = "Dashboard"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AwsPlan,
        key_arn: str,
        load_balancer_arn_suffix: str,
        fleets: Sequence[GpuFleet],
    ) -> None:
        super().__init__(scope, id)
        self.topic_arn = self._topic(plan.monitoring, key_arn)
        lb = load_balancer_arn_suffix
        fleet_alarms = {
            group.fleet.name: _FleetAlarms(
                self,
                group.fleet.name,
                alarms=group.fleet.alarms,
                gate_names=group.fleet.gate_alarm_names,
                dims={"LoadBalancer": lb, "TargetGroup": group.target_group_arn_suffix},
                topic_arn=self.topic_arn,
            )
            for group in fleets
        }
        self.alarm_names = {fleet: alarms.names for fleet, alarms in fleet_alarms.items()}
        self.gate_alarm_names = {fleet: alarms.gate_names for fleet, alarms in fleet_alarms.items()}
        if plan.monitoring.dashboard_name is not None:
            CloudwatchDashboard(
                self,
                self._DASHBOARD_ID,
                dashboard_name=plan.monitoring.dashboard_name,
                dashboard_body=json.dumps(
                    {"widgets": _widgets(plan.region, lb, fleets, routed=plan.routers is not None)},
                    sort_keys=True,
                ),
            )

    def _topic(self, monitoring: AwsMonitoring, key_arn: str) -> str:
        if monitoring.existing_topic_arn is not None:
            return monitoring.existing_topic_arn
        topic = SnsTopic(self, self._TOPIC_ID, name=monitoring.topic_name, kms_master_key_id=key_arn)
        for email in monitoring.emails:
            SnsTopicSubscription(
                self, f"Email-{email}", topic_arn=topic.arn, protocol="email", endpoint=email
            )
        return topic.arn


class _FleetAlarms(Construct):
    """The alarms of one fleet: 5xx share, unhealthy replicas, p99 latency, too few healthy replicas."""

    _ERROR_RATE_ID = "ErrorRate"
    _UNHEALTHY_ID = "UnhealthyHosts"
    _LATENCY_ID = "P99Latency"
    _HEALTHY_ID = "HealthyHosts"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        alarms: AwsFleetAlarms,
        gate_names: Sequence[str],
        dims: Mapping[str, str],
        topic_arn: str,
    ) -> None:
        super().__init__(scope, id)
        self._evaluation_minutes, self._topic_arn = alarms.evaluation_minutes, topic_arn
        self._by_name: dict[str, str] = {}
        self.names = [
            self._alarm(
                self._ERROR_RATE_ID,
                alarms.error_rate,
                metric_query=[
                    metric_query("errors", "HTTPCode_Target_5XX_Count", dims),
                    metric_query("requests", "RequestCount", dims),
                    CloudwatchMetricAlarmMetricQuery(
                        id="rate",
                        expression="100 * FILL(errors, 0) / requests",
                        label="5xx %",
                        return_data=True,
                    ),
                ],
            ),
            # Minimum: unhealthy through every whole minute, not a replica's last seconds of a drain
            # (the proxy fails its check while draining). Booting replicas are not in the target
            # group (launch hook), so they are never counted.
            self._alarm(
                self._UNHEALTHY_ID,
                alarms.unhealthy,
                **_elb_metric("UnHealthyHostCount", dims, statistic="Minimum"),
            ),
            # A page only: for a non-streamed request TargetResponseTime covers the whole
            # generation, which long outputs legitimately stretch past any fixed threshold.
            self._alarm(
                self._LATENCY_ID,
                alarms.latency,
                **_elb_metric("TargetResponseTime", dims, extended_statistic="p99"),
            ),
        ]
        if alarms.healthy is not None:
            self.names.append(
                self._alarm(
                    self._HEALTHY_ID,
                    alarms.healthy,
                    **_elb_metric("HealthyHostCount", dims, statistic="Minimum"),
                )
            )
        self.gate_names = [self._by_name[name] for name in gate_names]

    def _alarm(self, id: str, alarm: AwsAlarm, **metric: Any) -> str:
        """An alarm over the configured window, notifying the topic on alarm and on recovery."""
        resource = CloudwatchMetricAlarm(
            self,
            id,
            alarm_name=alarm.name,
            alarm_description=alarm.description,
            comparison_operator=alarm.comparison,
            threshold=alarm.threshold,
            treat_missing_data=alarm.treat_missing_data,
            evaluation_periods=self._evaluation_minutes,
            datapoints_to_alarm=self._evaluation_minutes,
            alarm_actions=[self._topic_arn],
            ok_actions=[self._topic_arn],
            actions_enabled=True,
            **metric,
        )
        self._by_name[alarm.name] = resource.alarm_name
        return resource.alarm_name


def _elb_metric(metric: str, dims: Mapping[str, str], **statistic: str) -> dict[str, Any]:
    return {
        "namespace": ELB_NAMESPACE,
        "metric_name": metric,
        "dimensions": dict(dims),
        "period": PERIOD_S,
        **statistic,
    }


def _widgets(region: str, lb: str, fleets: Sequence[GpuFleet], *, routed: bool) -> list[dict[str, Any]]:
    panels = [
        ("Requests per second", _per_fleet(fleets, lambda i, r: _rps(i, r, lb))),
        ("Latency p50 / p99 (s)", _per_fleet(fleets, lambda i, r: _latency(r, lb))),
        (
            "Generated tokens per second",
            _per_fleet(fleets, lambda i, r: _engine(r, metrics.GENERATED_TOKENS_PER_SECOND, "Sum")),
        ),
        (
            "Queued requests per replica",
            _per_fleet(fleets, lambda i, r: _engine(r, metrics.QUEUE_SIZE, "Average")),
        ),
        ("Healthy replicas", _per_fleet(fleets, lambda i, r: _elb(r, lb, "HealthyHostCount", "Minimum"))),
        ("Spot / on-demand replicas (by the group's distribution)", _per_fleet(fleets, _spot_split)),
    ]
    if routed:
        panels += _router_panels(fleets)
    return [
        {
            "type": "metric",
            "x": 12 * (index % 2),
            "y": 6 * (index // 2),
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "period": PERIOD_S,
                "metrics": rows,
            },
        }
        for index, (title, rows) in enumerate(panels)
    ]


def _router_panels(fleets: Sequence[GpuFleet]) -> list[tuple[str, list[list[Any]]]]:
    """The routers' series (llmdeploy/routing/publish.py), summed over the router VMs."""
    return [
        ("Router: requests held", _per_fleet(fleets, lambda i, r: _engine(r, metrics.ROUTER_HELD, "Sum"))),
        (
            "Router: queue time before dispatch (ms, mean / max)",
            _per_fleet(
                fleets,
                lambda i, r: [
                    *_engine(r, metrics.ROUTER_QUEUE_MS, "Average", " mean"),
                    *_engine(r, metrics.ROUTER_QUEUE_MS, "Maximum", " max"),
                ],
            ),
        ),
        (
            "Router: 429s answered",
            _per_fleet(fleets, lambda i, r: _engine(r, metrics.ROUTER_REJECTED, "Sum")),
        ),
        (
            "Router: replicas in each router's set",
            _per_fleet(fleets, lambda i, r: _engine(r, metrics.ROUTER_REPLICAS, "Average")),
        ),
    ]


def _per_fleet(fleets: Sequence[GpuFleet], rows: Any) -> list[list[Any]]:
    return [row for index, refs in enumerate(fleets) for row in rows(index, refs)]


def _rps(index: int, refs: GpuFleet, lb: str) -> list[list[Any]]:
    return [
        [{"expression": f"r{index} / PERIOD(r{index})", "label": refs.fleet.name, "id": f"rps{index}"}],
        [
            ELB_NAMESPACE,
            "RequestCount",
            "LoadBalancer",
            lb,
            "TargetGroup",
            refs.target_group_arn_suffix,
            {"stat": "Sum", "id": f"r{index}", "visible": False},
        ],
    ]


def _latency(refs: GpuFleet, lb: str) -> list[list[Any]]:
    return [
        [
            ELB_NAMESPACE,
            "TargetResponseTime",
            "LoadBalancer",
            lb,
            "TargetGroup",
            refs.target_group_arn_suffix,
            {"stat": stat, "label": f"{refs.fleet.name} {stat}"},
        ]
        for stat in ("p50", "p99")
    ]


def _engine(refs: GpuFleet, metric: str, stat: str, label: str = "") -> list[list[Any]]:
    dims = [part for pair in refs.fleet.engine_dimensions.items() for part in pair]
    return [[metrics.NAMESPACE, metric, *dims, {"stat": stat, "label": f"{refs.fleet.name}{label}"}]]


def _elb(refs: GpuFleet, lb: str, metric: str, stat: str) -> list[list[Any]]:
    return [
        [
            ELB_NAMESPACE,
            metric,
            "LoadBalancer",
            lb,
            "TargetGroup",
            refs.target_group_arn_suffix,
            {"stat": stat, "label": refs.fleet.name},
        ]
    ]


def _spot_split(index: int, refs: GpuFleet) -> list[list[Any]]:
    """In-service replicas split as the group's instances distribution places them.

    CloudWatch has no per-purchase-option count for Auto Scaling groups; the group fills its
    on-demand base first and splits the rest by the configured percentage.
    """
    spot = refs.fleet.spot
    base, share = spot.on_demand_base, spot.on_demand_percent_above_base / 100
    n = f"n{index}"
    on_demand = f"IF({n} <= {base}, {n}, {base} + ({n} - {base}) * {share})"
    return [
        [
            ASG_NAMESPACE,
            "GroupInServiceInstances",
            "AutoScalingGroupName",
            refs.group_name,
            {"stat": "Average", "id": n, "visible": False},
        ],
        [{"expression": on_demand, "label": f"{refs.fleet.name} on-demand", "id": f"od{index}"}],
        [{"expression": f"{n} - od{index}", "label": f"{refs.fleet.name} spot", "id": f"sp{index}"}],
    ]
