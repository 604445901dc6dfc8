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

from llmdeploy.clouds.azure.resolve import AzureAlert, AzurePlan
from modules.azure.dashboard import add_dashboard

_SHORT_NAME = "llmdeploy"


class Monitoring(Construct):
    """The action group and the alerts of the environment and of every fleet."""

    _GROUP_ID = "ActionGroup"
    _DASHBOARD_ID = "Dashboard"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AzurePlan,
        resource_group: str,
        front_door_id: str,
        scale_set_ids: Mapping[str, str],
        origin_values: Mapping[str, Sequence[str]],
        router_scale_set_id: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.plan, self.resource_group = plan, resource_group
        group = MonitorActionGroup(
            self,
            self._GROUP_ID,
            name=plan.action_group,
            short_name=_SHORT_NAME,
            resource_group_name=resource_group,
            email_receiver=[
                MonitorActionGroupEmailReceiver(name=email, email_address=email, use_common_alert_schema=True)
                for email in plan.emails
            ],
            tags=dict(plan.tags),
        )
        self.action_group_id: str = group.id
        self._add(self, plan.error_rate_alert, {"front_door": front_door_id}, [])
        for fleet in plan.fleets:
            scope_ = Construct(self, fleet.name)
            resources = {"front_door": front_door_id, "scale_set": scale_set_ids[fleet.name]}
            for alert in fleet.alerts:
                self._add(scope_, alert, resources, origin_values[fleet.name])
        if plan.dashboard is not None:  # resolved from `monitoring.dashboard`
            add_dashboard(
                self,
                self._DASHBOARD_ID,
                name=plan.dashboard,
                plan=plan,
                front_door_id=front_door_id,
                scale_set_ids=scale_set_ids,
                resource_group=resource_group,
                router_scale_set_id=router_scale_set_id,
            )

    def _add(
        self, scope: Construct, alert: AzureAlert, resources: Mapping[str, str], origin_values: Sequence[str]
    ) -> None:
        # Front Door's per-origin metrics are filtered on the slot's origin, whose address Azure assigns.
        origin = [("Origin", tuple(origin_values))] if alert.by_origin else []
        dimensions = [
            MonitorMetricAlertCriteriaDimension(name=key, operator="Include", values=list(values))
            for key, values in [*alert.dimensions, *origin]
        ]
        MonitorMetricAlert(
            scope,
            alert.construct_id,
            name=alert.name,
            description=alert.description,
            resource_group_name=self.resource_group,
            scopes=[resources[alert.resource]],
            criteria=[
                MonitorMetricAlertCriteria(
                    metric_namespace=alert.namespace,
                    metric_name=alert.metric,
                    aggregation=alert.aggregation,
                    operator=alert.operator,
                    threshold=alert.threshold,
                    skip_metric_validation=alert.skip_metric_validation,
                    dimension=dimensions or None,
                )
            ],
            frequency="PT1M",
            window_size=self.plan.alert_window,
            severity=2,
            auto_mitigate=True,
            action=[MonitorMetricAlertAction(action_group_id=self.action_group_id)],
            tags=dict(self.plan.tags),
        )
