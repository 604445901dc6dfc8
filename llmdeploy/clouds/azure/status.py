"""Live status of an environment's Azure fleets, read with azure-mgmt-compute and azure-mgmt-cdn.

Per fleet: the scale set's capacity (`virtualMachineScaleSets.get`), its VMs with their instance
view. Flexible scale sets expose their VMs as ordinary VMs, so they are listed with
`virtualMachines.list` filtered on `virtualMachineScaleSet/id` (the scale-set VM API serves Uniform
sets only): power state, `priority` (Spot or Regular) and `vmHealth` (the Application Health
extension that also drives automatic repairs). The slot's share of traffic comes from its Front Door
origin (`afdOrigins.listByOriginGroup`: weight and enabled state), the endpoint from `afdEndpoints.get`.

With routing on, the router scale set is read the same way, and the routers' custom metrics (namespace
`LLMDeploy` on their scale set, llmdeploy/routing/rest_metrics.py) with Azure Monitor's Metrics - List:
one series per Model and Slot, per minute the Total, Count and Maximum of what every router posted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.cdn import CdnManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.monitor import MonitorManagementClient

from llmdeploy.clouds.azure.resolve import AzureFleet, AzurePlan, AzureRoute, AzureRouterGroup, resolve
from llmdeploy.config.clouds import AzureCloud
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.routing.publish import NAMESPACE
from llmdeploy.status.model import RouterGroupStatus, SlotStatus
from llmdeploy.status.routers import READ, WINDOW_MINUTES, RouterPoint, summarize

_POWERED_ON = frozenset({"PowerState/running", "PowerState/starting"})
_HEALTHY = "HealthState/healthy"
_SPOT = "Spot"
_ENABLED = "Enabled"


@dataclass(frozen=True)
class AzureClients:
    """The management clients the status reader needs."""

    compute: ComputeManagementClient
    cdn: CdnManagementClient

    @classmethod
    def connect(cls, subscription_id: str, credential: Any = None, **options: Any) -> AzureClients:
        """Clients for `subscription_id`; `options` (base_url, transport settings) go to both unchanged.

        Without a credential they use azure-identity's DefaultAzureCredential (environment, managed
        identity or `az login`).
        """
        credential = sign_in(credential)
        return cls(
            compute=ComputeManagementClient(credential, subscription_id, **options),
            cdn=CdnManagementClient(credential, subscription_id, **options),
        )


def sign_in(credential: Any = None) -> Any:
    """`credential`, or else DefaultAzureCredential (environment, managed identity or `az login`).

    The credential only signs in at the first request, so building clients never fails for want of it.
    """
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return credential


def subscription(plan: DeploymentPlan) -> str:
    """The subscription the environment's Azure stack deploys to."""
    return stack_subscription(plan.cloud("azure").stack, plan.settings("azure"))


def stack_subscription(stack: str, settings: AzureCloud) -> str:
    """The subscription of `stack`, deployed with the Azure `settings` (the config requires one)."""
    return settings.subscription_id


def read_status(plan: DeploymentPlan, clients: AzureClients) -> list[SlotStatus]:
    """The status of every Azure fleet of `plan`, in plan order, found by the resolved names."""
    resolved = resolve(plan)
    reader = _Reader(resolved, clients)
    return [reader.fleet(route, resolved.fleet(fleet)) for route in resolved.routes for fleet in route.fleets]


@dataclass(frozen=True)
class AzureRouterClients:
    """What the router group's status reads through: compute (its scale set) and Azure Monitor."""

    compute: ComputeManagementClient
    monitor: MonitorManagementClient

    @classmethod
    def connect(cls, subscription_id: str, credential: Any = None, **options: Any) -> AzureRouterClients:
        credential = sign_in(credential)
        return cls(
            compute=ComputeManagementClient(credential, subscription_id, **options),
            monitor=MonitorManagementClient(credential, subscription_id, **options),
        )


def read_routers(
    plan: DeploymentPlan, clients: AzureRouterClients, end: datetime
) -> RouterGroupStatus | None:
    """The router group and each model's router metrics up to `end`; None when routing is off."""
    resolved = resolve(plan)
    routers = resolved.routers
    if routers is None:
        return None
    group = ResourceGroup(resolved.stack, plan.env, resolved.name)
    found = _router_scale_set(group, clients.compute, routers)
    points = _router_points(group, clients.monitor, found[0].id, plan, end) if found else {}
    models = tuple(summarize(model, points.get(model, [])) for model in _routed_models(plan))
    if found is None:
        return RouterGroupStatus("azure", False, 0, 0, 0, {}, None, WINDOW_MINUTES, models)
    scale_set, vms = found
    counts = count_vms(vms)
    zones = Counter(zone for vm in _powered_on(vms) for zone in vm.zones or [])
    return RouterGroupStatus(
        cloud="azure",
        exists=True,
        desired=scale_set.sku.capacity or 0,
        running=counts.running,
        healthy=counts.healthy,
        zones=dict(sorted(zones.items())),
        endpoint=None,
        window_minutes=WINDOW_MINUTES,
        models=models,
    )


def _routed_models(plan: DeploymentPlan) -> list[str]:
    return [model.name for model in plan.models if model.fleets_on("azure")]


def _router_scale_set(
    group: ResourceGroup, compute: ComputeManagementClient, routers: AzureRouterGroup
) -> tuple[Any, list[Any]] | None:
    """The routers' scale set and its VMs; None when it does not exist (applied without routing)."""
    name = routers.scale_set
    scale_set = group.call("scale set", name, _scale_set_or_none, compute, group.name, name)
    return None if scale_set is None else (scale_set, group.vms(compute, scale_set))


def _scale_set_or_none(compute: ComputeManagementClient, group: str, name: str) -> Any:
    try:
        return compute.virtual_machine_scale_sets.get(group, name)
    except ResourceNotFoundError:
        return None


def _router_points(
    group: ResourceGroup,
    monitor: MonitorManagementClient,
    scale_set: str,
    plan: DeploymentPlan,
    end: datetime,
) -> dict[str, list[RouterPoint]]:
    """Each model's per-minute router points of the window, every slot."""
    start = end - timedelta(minutes=WINDOW_MINUTES)
    found = group.call(
        "Azure Monitor metric",
        f"{NAMESPACE} router metrics",
        monitor.metrics.list,
        scale_set,
        timespan=f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
        interval="PT1M",
        metricnames=",".join(READ),
        aggregation="Total,Count,Maximum",
        # `eq '*'` asks for one series per value; another environment's series never match.
        filter=(
            f"Project eq '{plan.project}' and Environment eq '{plan.env}' and Model eq '*' and Slot eq '*'"
        ),
        metricnamespace=NAMESPACE,
    )
    points: dict[str, list[RouterPoint]] = {}
    for metric in found.value:
        for series in metric.timeseries or []:
            model = dimension(series.metadatavalues or [], "Model")
            points.setdefault(model, []).extend(
                RouterPoint(
                    metric.name.value, entry.time_stamp, entry.count, entry.total or 0.0, entry.maximum
                )
                for entry in series.data or []
                if entry.count
            )
    return points


def dimension(values: Iterable[Any], name: str) -> str:
    """The value of dimension `name` of an Azure Monitor series ("" when it has none)."""
    # Azure Monitor answers dimension names in lower case.
    return next((str(value.value) for value in values if value.name.value.lower() == name.lower()), "")


def _powered_on(vms: list[Any]) -> list[Any]:
    return [vm for vm in vms if any(status.code in _POWERED_ON for status in vm.instance_view.statuses or [])]


@dataclass(frozen=True)
class ResourceGroup:
    """The resource group of one stack: every failed call in it becomes one readable error.

    Shared by `llmdeploy status` and the promotion gates, so both read scale sets the same way and
    say the same thing when they cannot.
    """

    stack: str
    env: str
    name: str

    def scale_set_vms(self, compute: ComputeManagementClient, name: str) -> tuple[Any, list[Any]]:
        """A Flexible scale set (`virtualMachineScaleSets.get`) and its VMs with their instance view."""
        scale_set = self.call("scale set", name, compute.virtual_machine_scale_sets.get, self.name, name)
        return scale_set, self.vms(compute, scale_set)

    def vms(self, compute: ComputeManagementClient, scale_set: Any) -> list[Any]:
        """A Flexible scale set's VMs with their instance view (the scale-set VM API serves Uniform sets)."""
        pages = compute.virtual_machines.list(
            self.name, filter=f"'virtualMachineScaleSet/id' eq '{scale_set.id}'", expand="instanceView"
        )
        found: list[Any] = self.call("scale set VMs", scale_set.name, list, pages)
        return found

    def call(self, kind: str, name: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        """`method(*args, **kwargs)`; its errors name `kind` and `name` and say what to do next.

        Raises:
            OperationError: the call failed (missing resource, refused access, no connection).
        """
        try:
            return method(*args, **kwargs)
        except ResourceNotFoundError as error:
            raise OperationError(
                f"{self.stack}: the {kind} {name} does not exist in resource group {self.name} "
                f"({error.reason}). Is the stack applied? Run `llmdeploy apply {self.env} --cloud azure`."
            ) from error
        except HttpResponseError as error:
            # A sign-in failure is an HttpResponseError without an HTTP answer.
            answer = f"HTTP {error.status_code} {error.reason}" if error.status_code else error.message
            raise OperationError(
                f"{self.stack}: reading the {kind} {name} in resource group {self.name} failed: "
                f"{answer}. Check the credentials (az login) and their access to the subscription, "
                "then retry."
            ) from error
        except AzureError as error:
            raise OperationError(
                f"{self.stack}: reading the {kind} {name} in resource group {self.name} failed: "
                f"{error.message}. Check the network and the credentials (az login), then retry."
            ) from error


@dataclass(frozen=True)
class VmCounts:
    """The VMs of a scale set that are powered on, and how many of those are healthy and on spot."""

    running: int
    healthy: int
    spot: int


def count_vms(vms: list[Any]) -> VmCounts:
    """Count powered-on VMs, their `vmHealth` (the Application Health extension) and their priority."""
    on = _powered_on(vms)
    return VmCounts(
        running=len(on),
        healthy=sum(_is_healthy(vm.instance_view) for vm in on),
        spot=sum(vm.priority == _SPOT for vm in on),
    )


def _is_healthy(view: Any) -> bool:
    return bool(view.vm_health and view.vm_health.status.code == _HEALTHY)


class _Reader:
    def __init__(self, plan: AzurePlan, clients: AzureClients) -> None:
        self.clients = clients
        # The resource group, Front Door profile and endpoint share the environment's name.
        self.group = ResourceGroup(plan.stack, plan.env, plan.name)
        name = self.group.name
        endpoint = self.group.call(
            "Front Door endpoint", name, clients.cdn.afd_endpoints.get, name, name, name
        )
        self.host: str = endpoint.host_name
        self.origins: dict[str, dict[str, Any]] = {}

    def fleet(self, route: AzureRoute, fleet: AzureFleet) -> SlotStatus:
        scale_set, vms = self.group.scale_set_vms(self.clients.compute, fleet.scale_set)
        counts = count_vms(vms)
        return SlotStatus(
            model=fleet.model,
            cloud="azure",
            slot=fleet.slot,
            desired=scale_set.sku.capacity or 0,
            running=counts.running,
            healthy=counts.healthy,
            spot=counts.spot,
            on_demand=counts.running - counts.spot,
            weight=self._weight(route.model, fleet.scale_set),
            endpoint=route.endpoint_url(self.host),
        )

    def _weight(self, group: str, origin: str) -> int:
        """The origin's share of its origin group's enabled weight (the group is named as its model)."""
        if group not in self.origins:
            listed = self.group.call(
                "Front Door origin group",
                group,
                list,
                self.clients.cdn.afd_origins.list_by_origin_group(self.group.name, self.group.name, group),
            )
            self.origins[group] = {
                entry.name: entry.weight for entry in listed if entry.enabled_state == _ENABLED
            }
        enabled = self.origins[group]
        total = sum(enabled.values())
        return round(100 * enabled[origin] / total) if origin in enabled and total else 0
