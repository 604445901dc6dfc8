"""The Azure health observer: healthy VMs, fired alerts and 5xx rate of one slot's scale set and origin.

Healthy replicas are the scale set's powered-on VMs whose Application Health extension reports them
healthy, read exactly as `llmdeploy status` reads them (Front Door's probes only give a percentage),
and that run the current boot bundle: a changed `custom_data` reaches only VMs created after it
(Azure's upgrade policy doc, "Reimage a virtual machine"), so a VM counts only when the digest in
its user data is the stack's. The error rate comes from Front Door's `OriginRequestCount`, split by
`Origin` and `HttpStatusGroup` and kept for the slot's origin (by host or host:port: Azure does not
document which): `Percentage5XX` exists only per endpoint, which every slot of a model shares.
Firing alarms are the alerts of the slot's metric alert rules that Azure Monitor holds as Fired
(azure-mgmt-alertsmanagement): a rule itself carries no state.

Reads the `fleets` (scale set, origin metric values, bundle digest, alerts) and `resource_group`
outputs of the `<env>-azure` stack; the stack names its Front Door profile like its resource group.
Imported only when an Azure stack is observed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from azure.mgmt.alertsmanagement import AlertsManagementClient
from azure.mgmt.monitor import MonitorManagementClient

from llmdeploy.clouds.azure.names import USER_DATA_BUNDLE
from llmdeploy.clouds.azure.resolve import resolve
from llmdeploy.clouds.azure.status import (
    AzureClients,
    ResourceGroup,
    count_vms,
    dimension,
    sign_in,
    stack_subscription,
)
from llmdeploy.config.model import Slot
from llmdeploy.release.gates import CloudSample
from llmdeploy.release.observer import DeployedStack, fleet_outputs, output_list, planned_fleet

FRONT_DOOR_NAMESPACE = "Microsoft.Cdn/profiles"
ORIGIN_REQUESTS = "OriginRequestCount"
ORIGIN = "Origin"
STATUS_GROUP = "HttpStatusGroup"
SERVER_ERRORS = "5XX"
#: Azure Monitor's finest grain for Front Door metrics.
GRAIN = "PT1M"
FIRED = "Fired"
#: The longest span Alerts - Get All looks back over.
ALERT_HISTORY = "30d"


@dataclass(frozen=True)
class AzureObserverClients:
    """The clients an Azure observer reads through: compute (as status does), Monitor, alerts."""

    status: AzureClients
    monitor: MonitorManagementClient
    alerts: AlertsManagementClient

    @classmethod
    def connect(cls, subscription_id: str, credential: Any = None, **options: Any) -> AzureObserverClients:
        """Clients for `subscription_id` sharing one credential; `options` (base_url...) go to all."""
        credential = sign_in(credential)
        return cls(
            status=AzureClients.connect(subscription_id, credential, **options),
            monitor=MonitorManagementClient(credential, subscription_id, **options),
            alerts=AlertsManagementClient(credential, subscription_id, **options),
        )


class AzureObserver:
    """Samples one slot's health through Compute, Azure Monitor metrics and alerts."""

    cloud: Final = "azure"

    def __init__(self, stack: DeployedStack, clients: AzureObserverClients) -> None:
        self._stack, self._clients = stack, clients
        self._resolved = resolve(stack.plan)
        self._subscription = stack_subscription(stack.stack, stack.plan.settings("azure"))
        self._group = ResourceGroup(stack.stack, stack.env, self._resolved.name)

    def sample(self, model: str, slot: Slot) -> CloudSample:
        fleet = planned_fleet(self._stack, self._resolved.fleets, model, slot)
        _, vms = self._group.scale_set_vms(self._clients.status.compute, fleet.scale_set)
        return CloudSample(
            cloud="azure",
            healthy=count_vms([vm for vm in vms if self._runs(vm.name, fleet.bundle_digest)]).healthy,
            firing_alarms=self._firing(fleet.alert_names),
            # The origin's public address is Azure's to assign: only it comes from the outputs.
            error_rate_percent=self._error_rate(
                output_list(fleet_outputs(self._stack, model, slot), "origin_metric_values")
            ),
        )

    def _runs(self, vm: str, bundle: str) -> bool:
        """Whether the VM was created from the scale set model holding `bundle` (its user data says)."""
        found = self._group.call(
            "VM",
            vm,
            self._clients.status.compute.virtual_machines.get,
            self._group.name,
            vm,
            expand="userData",
        )
        return _user_data(found.user_data).get(USER_DATA_BUNDLE) == bundle

    def _firing(self, rules: list[str]) -> tuple[str, ...]:
        if not rules:
            return ()
        # The API lists only alerts raised within `time_range` (a day by default): a rule that
        # has fired for longer is still firing.
        pages = self._clients.alerts.alerts.get_all(
            target_resource_group=self._group.name, monitor_condition=FIRED, time_range=ALERT_HISTORY
        )
        alerts = self._group.call("Azure Monitor alerts", "(Alerts - Get All)", list, pages)
        fired = {_fired_rule(alert) for alert in alerts}
        return tuple(rule for rule in rules if rule.lower() in fired)

    def _error_rate(self, origin_values: list[str]) -> float | None:
        end = datetime.now(UTC)
        start = end - timedelta(minutes=self._stack.window_minutes)
        found = self._group.call(
            "Azure Monitor metric",
            f"{ORIGIN_REQUESTS} of origin {origin_values[0]}",
            self._clients.monitor.metrics.list,
            self._front_door_id(),
            timespan=f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
            interval=GRAIN,
            metricnames=ORIGIN_REQUESTS,
            aggregation="Total",
            # `eq '*'` asks for one series per value: the slot's origin is picked from the answer.
            filter=f"{ORIGIN} eq '*' and {STATUS_GROUP} eq '*'",
            metricnamespace=FRONT_DOOR_NAMESPACE,
        )
        wanted = {value.lower() for value in origin_values}
        totals = _by_status_group(
            series
            for metric in found.value
            for series in metric.timeseries or []
            if dimension(series.metadatavalues or [], ORIGIN).lower() in wanted
        )
        requests = sum(totals.values())
        return 100 * totals.get(SERVER_ERRORS, 0) / requests if requests else None

    def _front_door_id(self) -> str:
        group = self._group.name
        in_group = f"/subscriptions/{self._subscription}/resourceGroups/{group}"
        return f"{in_group}/providers/{FRONT_DOOR_NAMESPACE}/{group}"


def observer(stack: DeployedStack) -> AzureObserver:
    """The entry point `llmdeploy.release.observer` looks up."""
    return AzureObserver(
        stack, AzureObserverClients.connect(stack_subscription(stack.stack, stack.plan.settings("azure")))
    )


def _by_status_group(series: Iterable[Any]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for entry in series:
        group = dimension(entry.metadatavalues or [], STATUS_GROUP).upper()
        totals[group] = totals.get(group, 0) + sum(point.total or 0 for point in entry.data or [])
    return totals


def _user_data(encoded: str | None) -> dict[str, Any]:
    """The JSON object in a VM's base64 user data; {} when it holds none (a VM made elsewhere)."""
    try:
        found = json.loads(base64.b64decode(encoded or "", validate=True))
    except (binascii.Error, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _fired_rule(alert: Any) -> str:
    """The rule of an alert Azure Monitor holds as Fired (its name, in lower case); "" otherwise."""
    essentials = alert.properties.essentials if alert.properties else None
    if essentials is None or essentials.monitor_condition != FIRED or not essentials.alert_rule:
        return ""
    # `alertRule` is the rule's resource ID, whose case Azure does not keep.
    return str(essentials.alert_rule).rsplit("/", 1)[-1].lower()
