"""CloudWatch dashboard and alarms per model and slot, notifying an SNS topic.

Load balancer metrics are published only while there is traffic, so alarms on rates and latency
treat missing data as fine; the healthy-replica alarm of a serving slot treats it as a breach
(no data there means no load balancer or no targets).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdktn_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktn_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktn_provider_aws.sns_topic import SnsTopic
from cdktn_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.config.environment import Alarms
from llmdeploy.plan.model import DeploymentPlan, FleetPlan

ELB_NAMESPACE = "AWS/ApplicationELB"
ASG_NAMESPACE = "AWS/AutoScaling"
PERIOD_S = 60
ERROR_RATE_ALARM = "5xx-rate"
UNHEALTHY_ALARM = "unhealthy-hosts"
LATENCY_ALARM = "p99-latency"
HEALTHY_ALARM = "healthy-hosts"
#: Alarms that judge a release: promotion gates and instance refreshes stop on them. Both say the
#: new version serves badly: its answers fail, or replicas that served fail their health check
#: (booting replicas are outside the target group until ready: the launch hook). Latency (long
#: generations) and too few healthy replicas (a spot reclaim, a scale-out) page, but say nothing
#: about the release: a gate waits for healthy replicas on its own, until its timeout.
GATE_ALARMS = (ERROR_RATE_ALARM, UNHEALTHY_ALARM)


def alarm_name(name: str, fleet: FleetPlan, suffix: str) -> str:
    """The name of one alarm of `fleet` in the stack named `name`."""
    return f"{name}-{fleet.name}-{suffix}"


@dataclass(frozen=True)
class FleetRefs:
    """What the monitoring of one fleet refers to: its target group and its Auto Scaling group."""

    fleet: FleetPlan
    target_group_arn_suffix: str
    group_name: str


class Monitoring(Construct):
    """The alarm topic, the alarms of every fleet and the environment's dashboard.

    Attributes:
        topic_arn: where alarms notify.
        alarm_names: the alarm names of each fleet, by fleet name.
        gate_alarm_names: of those, the ones that judge a release (GATE_ALARMS).
    """

    _TOPIC_ID = "AlarmTopic"
    _DASHBOARD_ID = "Dashboard"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        plan: DeploymentPlan,
        region: str,
        key_arn: str,
        load_balancer_arn_suffix: str,
        fleets: Sequence[FleetRefs],
    ) -> None:
        super().__init__(scope, id)
        self.topic_arn = self._topic(name, plan, key_arn)
        lb = load_balancer_arn_suffix
        fleet_alarms = {
            refs.fleet.name: _FleetAlarms(
                self,
                refs.fleet.name,
                name=name,
                refs=refs,
                lb=lb,
                alarms=plan.monitoring.alarms,
                topic_arn=self.topic_arn,
            )
            for refs in fleets
        }
        self.alarm_names = {fleet: alarms.names for fleet, alarms in fleet_alarms.items()}
        self.gate_alarm_names = {fleet: alarms.gate_names for fleet, alarms in fleet_alarms.items()}
        if plan.monitoring.dashboard:
            CloudwatchDashboard(
                self,
                self._DASHBOARD_ID,
                dashboard_name=name,
                dashboard_body=json.dumps({"widgets": _widgets(plan, region, lb, fleets)}, sort_keys=True),
            )

    def _topic(self, name: str, plan: DeploymentPlan, key_arn: str) -> str:
        notify = plan.monitoring.notify
        if notify.aws_sns_topic_arn is not None:
            return notify.aws_sns_topic_arn
        topic = SnsTopic(self, self._TOPIC_ID, name=f"{name}-alarms", kms_master_key_id=key_arn)
        for email in notify.emails:
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
        name: str,
        refs: FleetRefs,
        lb: str,
        alarms: Alarms,
        topic_arn: str,
    ) -> None:
        super().__init__(scope, id)
        fleet = refs.fleet
        self._name, self._fleet = name, fleet
        self._alarms, self._topic_arn = alarms, topic_arn
        self._by_suffix: dict[str, str] = {}
        dims = {"LoadBalancer": lb, "TargetGroup": refs.target_group_arn_suffix}
        self.names = [
            self._alarm(
                self._ERROR_RATE_ID,
                ERROR_RATE_ALARM,
                f"{fleet.name}: over {alarms.error_rate_percent}% of requests answered 5xx",
                ("GreaterThanThreshold", alarms.error_rate_percent, "notBreaching"),
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
                UNHEALTHY_ALARM,
                f"{fleet.name}: replicas that served now fail the health check",
                ("GreaterThanThreshold", 0, "notBreaching"),
                **_elb_metric("UnHealthyHostCount", dims, statistic="Minimum"),
            ),
            # A page only: for a non-streamed request TargetResponseTime covers the whole
            # generation, which long outputs legitimately stretch past any fixed threshold.
            self._alarm(
                self._LATENCY_ID,
                LATENCY_ALARM,
                f"{fleet.name}: p99 response time above {alarms.p99_latency_s} s (a page, not a gate)",
                ("GreaterThanThreshold", alarms.p99_latency_s, "notBreaching"),
                **_elb_metric("TargetResponseTime", dims, extended_statistic="p99"),
            ),
        ]
        # Only a slot that serves traffic and may not shrink below the threshold must keep it;
        # no data there means no targets at all.
        if fleet.traffic.weight > 0 and fleet.min_size >= alarms.min_healthy_replicas > 0:
            self.names.append(
                self._alarm(
                    self._HEALTHY_ID,
                    HEALTHY_ALARM,
                    f"{fleet.name}: fewer than {alarms.min_healthy_replicas} healthy replicas",
                    ("LessThanThreshold", alarms.min_healthy_replicas, "breaching"),
                    **_elb_metric("HealthyHostCount", dims, statistic="Minimum"),
                )
            )
        self.gate_names = [self._by_suffix[suffix] for suffix in GATE_ALARMS]

    def _alarm(
        self, id: str, suffix: str, description: str, condition: tuple[str, float, str], **metric: Any
    ) -> str:
        """An alarm over the configured window, notifying the topic on alarm and on recovery."""
        comparison, threshold, missing = condition
        alarm = CloudwatchMetricAlarm(
            self,
            id,
            alarm_name=alarm_name(self._name, self._fleet, suffix),
            alarm_description=description,
            comparison_operator=comparison,
            threshold=threshold,
            treat_missing_data=missing,
            evaluation_periods=self._alarms.evaluation_minutes,
            datapoints_to_alarm=self._alarms.evaluation_minutes,
            alarm_actions=[self._topic_arn],
            ok_actions=[self._topic_arn],
            actions_enabled=True,
            **metric,
        )
        self._by_suffix[suffix] = alarm.alarm_name
        return alarm.alarm_name


def _elb_metric(metric: str, dims: Mapping[str, str], **statistic: str) -> dict[str, Any]:
    return {
        "namespace": ELB_NAMESPACE,
        "metric_name": metric,
        "dimensions": dict(dims),
        "period": PERIOD_S,
        **statistic,
    }


def metric_query(
    id: str, metric: str, dims: Mapping[str, str], *, namespace: str = ELB_NAMESPACE, stat: str = "Sum"
) -> CloudwatchMetricAlarmMetricQuery:
    """One metric of an alarm's math expression, per minute."""
    return CloudwatchMetricAlarmMetricQuery(
        id=id,
        return_data=False,
        metric=CloudwatchMetricAlarmMetricQueryMetric(
            namespace=namespace, metric_name=metric, dimensions=dict(dims), period=PERIOD_S, stat=stat
        ),
    )


def _widgets(plan: DeploymentPlan, region: str, lb: str, fleets: Sequence[FleetRefs]) -> list[dict[str, Any]]:
    panels = [
        ("Requests per second", _per_fleet(fleets, lambda i, r: _rps(i, r, lb))),
        ("Latency p50 / p99 (s)", _per_fleet(fleets, lambda i, r: _latency(r, lb))),
        (
            "Generated tokens per second",
            _per_fleet(fleets, lambda i, r: _engine(r, plan, metrics.GENERATED_TOKENS_PER_SECOND, "Sum")),
        ),
        (
            "Queued requests per replica",
            _per_fleet(fleets, lambda i, r: _engine(r, plan, metrics.QUEUE_SIZE, "Average")),
        ),
        ("Healthy replicas", _per_fleet(fleets, lambda i, r: _elb(r, lb, "HealthyHostCount", "Minimum"))),
        ("Spot / on-demand replicas (by the group's distribution)", _per_fleet(fleets, _spot_split)),
    ]
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


def _per_fleet(fleets: Sequence[FleetRefs], rows: Any) -> list[list[Any]]:
    return [row for index, refs in enumerate(fleets) for row in rows(index, refs)]


def _rps(index: int, refs: FleetRefs, lb: str) -> list[list[Any]]:
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


def _latency(refs: FleetRefs, lb: str) -> list[list[Any]]:
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


def _engine(refs: FleetRefs, plan: DeploymentPlan, metric: str, stat: str) -> list[list[Any]]:
    dims = [
        part
        for pair in metrics.dimension_values(
            plan.project, plan.env, refs.fleet.model, refs.fleet.slot
        ).items()
        for part in pair
    ]
    return [[metrics.NAMESPACE, metric, *dims, {"stat": stat, "label": refs.fleet.name}]]


def _elb(refs: FleetRefs, lb: str, metric: str, stat: str) -> list[list[Any]]:
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


def _spot_split(index: int, refs: FleetRefs) -> list[list[Any]]:
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
