"""Azure Monitor metric alerts per model and slot, notifying an action group's e-mail receivers, and
the environment's portal dashboard (`monitoring.dashboard`, modules/azure/dashboard.py).

Equivalents of the AWS alarms on Front Door's metrics: the share of 5xx answers (Front Door reports
it per endpoint, so one alert covers the environment), an origin failing most health probes, and
the origin latency (Azure Monitor has no percentiles of Front Door metrics: the mean is held against the
p99 threshold, so it fires later than a p99 alarm). Too few healthy replicas in a serving slot is
counted from the engine metrics the replicas publish on their scale set, one value per VM a minute.

Every Front Door edge probes each origin on its own, and a single-origin group gets few probes
(https://learn.microsoft.com/azure/frontdoor/health-probes): one edge's failed probe lowers the
average a little, so the origin alert fires only when most probes fail over the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktn_provider_azurerm.monitor_action_group import MonitorActionGroup, MonitorActionGroupEmailReceiver
from cdktn_provider_azurerm.monitor_metric_alert import (
    MonitorMetricAlert,
    MonitorMetricAlertAction,
    MonitorMetricAlertCriteria,
    MonitorMetricAlertCriteriaDimension,
)
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.config.environment import Alarms
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from modules.azure.dashboard import add_dashboard
from modules.azure.gpu_fleet import FRONT_DOOR_NAMESPACE, GpuFleet

#: Window sizes a metric alert accepts, in minutes.
WINDOWS_MINUTES = (1, 5, 15, 30, 60)
_SHORT_NAME = "llmdeploy"
_MS_PER_S = 1000
#: Below this average share of successful probes the origin is down, not one edge's hiccup.
ORIGIN_DOWN_PERCENT = 50


class Monitoring(Construct):
    """The action group and the alerts of the environment and of every fleet.

    Attributes:
        alert_names: the alert names of each fleet, by fleet name.
    """

    _GROUP_ID = "ActionGroup"
    _ERROR_RATE_ID = "ErrorRate"
    _DASHBOARD_ID = "Dashboard"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        plan: DeploymentPlan,
        location: str,
        resource_group: str,
        front_door_id: str,
        fleets: Mapping[str, GpuFleet],
        origin_values: Mapping[str, Sequence[str]],
        tags: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        group = MonitorActionGroup(
            self,
            self._GROUP_ID,
            name=f"{name}-alerts",
            short_name=_SHORT_NAME,
            resource_group_name=resource_group,
            email_receiver=[
                MonitorActionGroupEmailReceiver(name=email, email_address=email, use_common_alert_schema=True)
                for email in plan.monitoring.notify.emails
            ],
            tags=tags,
        )
        alarms = plan.monitoring.alarms
        self._alert = _Alerts(resource_group, group.id, alarms, tags)
        self._alert.add(
            self,
            self._ERROR_RATE_ID,
            f"{name}-5xx-rate",
            [front_door_id],
            f"more than {alarms.error_rate_percent}% of requests answered 5xx",
            _front_door("Percentage5XX", "Average", "GreaterThan", alarms.error_rate_percent, []),
        )
        self.alert_names = {
            fleet.name: self._fleet(
                name, plan, fleet, fleets[fleet.name], front_door_id, origin_values[fleet.name]
            )
            for fleet in plan.fleets_on("azure")
        }
        if plan.monitoring.dashboard:
            add_dashboard(
                self,
                self._DASHBOARD_ID,
                name=name,
                location=location,
                resource_group=resource_group,
                front_door_id=front_door_id,
                fleets=plan.fleets_on("azure"),
                scale_set_ids={fleet: group.scale_set_id for fleet, group in fleets.items()},
                tags=tags,
            )

    def _fleet(
        self,
        name: str,
        plan: DeploymentPlan,
        fleet: FleetPlan,
        group: GpuFleet,
        front_door_id: str,
        origin_values: Sequence[str],
    ) -> list[str]:
        scope = Construct(self, fleet.name)
        alarms, prefix = self._alert.alarms, f"{name}-{fleet.name}"
        origin = [
            MonitorMetricAlertCriteriaDimension(name="Origin", operator="Include", values=list(origin_values))
        ]
        names = [
            self._alert.add(
                scope,
                "UnhealthyOrigin",
                f"{prefix}-unhealthy-origin",
                [front_door_id],
                f"fewer than {ORIGIN_DOWN_PERCENT}% of Front Door's health probes to the slot succeed",
                _front_door("OriginHealthPercentage", "Average", "LessThan", ORIGIN_DOWN_PERCENT, origin),
            ),
            self._alert.add(
                scope,
                "Latency",
                f"{prefix}-latency",
                [front_door_id],
                f"mean origin latency above the p99 threshold of {alarms.p99_latency_s} s",
                _front_door(
                    "OriginLatency", "Average", "GreaterThan", alarms.p99_latency_s * _MS_PER_S, origin
                ),
            ),
        ]
        # Only a slot that serves traffic and may not shrink below the threshold must keep it.
        if fleet.traffic.weight > 0 and fleet.min_size >= alarms.min_healthy_replicas > 0:
            minutes = self._alert.window_minutes
            names.append(
                self._alert.add(
                    scope,
                    "HealthyReplicas",
                    f"{prefix}-healthy-replicas",
                    [group.scale_set_id],
                    f"fewer than {alarms.min_healthy_replicas} healthy replicas",
                    MonitorMetricAlertCriteria(
                        metric_namespace=metrics.NAMESPACE,
                        metric_name=metrics.QUEUE_SIZE,
                        # One value per serving VM a minute: the count over the window is VMs x minutes.
                        aggregation="Count",
                        operator="LessThan",
                        threshold=alarms.min_healthy_replicas * minutes,
                        # The replicas create this custom metric when they first publish.
                        skip_metric_validation=True,
                        dimension=[
                            MonitorMetricAlertCriteriaDimension(name=key, operator="Include", values=[value])
                            for key, value in metrics.dimension_values(
                                plan.project, plan.env, fleet.model, fleet.slot
                            ).items()
                        ],
                    ),
                )
            )
        return names


class _Alerts:
    """Metric alerts sharing a resource group, an action group and an evaluation window."""

    def __init__(
        self, resource_group: str, action_group_id: str, alarms: Alarms, tags: dict[str, str]
    ) -> None:
        self.resource_group, self.action_group_id, self.alarms, self.tags = (
            resource_group,
            action_group_id,
            alarms,
            tags,
        )
        self.window_minutes = next(
            (minutes for minutes in WINDOWS_MINUTES if minutes >= alarms.evaluation_minutes),
            WINDOWS_MINUTES[-1],
        )

    def add(
        self,
        scope: Construct,
        construct_id: str,
        name: str,
        scopes: Sequence[str],
        description: str,
        criteria: MonitorMetricAlertCriteria,
    ) -> str:
        MonitorMetricAlert(
            scope,
            construct_id,
            name=name,
            description=description,
            resource_group_name=self.resource_group,
            scopes=list(scopes),
            criteria=[criteria],
            frequency="PT1M",
            window_size=f"PT{self.window_minutes}M" if self.window_minutes < 60 else "PT1H",
            severity=2,
            auto_mitigate=True,
            action=[MonitorMetricAlertAction(action_group_id=self.action_group_id)],
            tags=self.tags,
        )
        return name


def _front_door(
    metric: str,
    aggregation: str,
    operator: str,
    threshold: float,
    dimensions: list[MonitorMetricAlertCriteriaDimension],
) -> MonitorMetricAlertCriteria:
    return MonitorMetricAlertCriteria(
        metric_namespace=FRONT_DOOR_NAMESPACE,
        metric_name=metric,
        aggregation=aggregation,
        operator=operator,
        threshold=threshold,
        dimension=dimensions or None,
    )
