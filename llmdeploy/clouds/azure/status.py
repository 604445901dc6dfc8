"""Live status of an environment's Azure fleets, read with azure-mgmt-compute and azure-mgmt-cdn.

Per fleet: the scale set's capacity (`virtualMachineScaleSets.get`), its VMs with their instance
view. Flexible scale sets expose their VMs as ordinary VMs, so they are listed with
`virtualMachines.list` filtered on `virtualMachineScaleSet/id` (the scale-set VM API serves Uniform
sets only): power state, `priority` (Spot or Regular) and `vmHealth` (the Application Health
extension that also drives automatic repairs). The slot's share of traffic comes from its Front Door
origin (`afdOrigins.listByOriginGroup`: weight and enabled state), the endpoint from `afdEndpoints.get`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.cdn import CdnManagementClient
from azure.mgmt.compute import ComputeManagementClient

from llmdeploy.clouds.azure.resolve import AzureFleet, AzurePlan, AzureRoute, resolve
from llmdeploy.config.clouds import AzureCloud
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.status.model import SlotStatus

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
        pages = compute.virtual_machines.list(
            self.name, filter=f"'virtualMachineScaleSet/id' eq '{scale_set.id}'", expand="instanceView"
        )
        return scale_set, self.call("scale set VMs", name, list, pages)

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
    on = [vm for vm in vms if any(status.code in _POWERED_ON for status in vm.instance_view.statuses or [])]
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
