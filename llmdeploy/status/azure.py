"""Live status of an environment's Azure fleets, read with azure-mgmt-compute and azure-mgmt-cdn.

Per fleet: the scale set's capacity (`virtualMachineScaleSets.get`), its VMs with their instance
view. Flexible scale sets expose their VMs as ordinary VMs, so they are listed with
`virtualMachines.list` filtered on `virtualMachineScaleSet/id` (the scale-set VM API serves Uniform
sets only): power state, `priority` (Spot or Regular) and `vmHealth` (the Application Health
extension that also drives automatic repairs). The slot's share of traffic comes from its Front Door
origin (`afdOrigins.listByOriginGroup`: weight and enabled state), the endpoint from `afdEndpoints.get`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cdn import CdnManagementClient
from azure.mgmt.compute import ComputeManagementClient

from llmdeploy.config.clouds import AzureCloud
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan, FleetPlan, ModelPlan
from llmdeploy.status import names
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
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return cls(
            compute=ComputeManagementClient(credential, subscription_id, **options),
            cdn=CdnManagementClient(credential, subscription_id, **options),
        )


def subscription(plan: DeploymentPlan) -> str:
    """The subscription the environment's Azure stack deploys to."""
    settings = plan.cloud("azure").settings
    assert isinstance(settings, AzureCloud)
    if settings.subscription_id is None:
        raise OperationError(
            f"{plan.cloud('azure').stack}: no Azure subscription to read from: "
            "set clouds.azure.subscription_id "
            "(for example ${AZURE_SUBSCRIPTION_ID}) in the environment file."
        )
    return settings.subscription_id


def read_status(plan: DeploymentPlan, clients: AzureClients) -> list[SlotStatus]:
    """The status of every Azure fleet of `plan`, in plan order."""
    reader = _Reader(plan, clients)
    return [reader.fleet(model, fleet) for model in plan.models for fleet in model.fleets_on("azure")]


class _Reader:
    def __init__(self, plan: DeploymentPlan, clients: AzureClients) -> None:
        self.plan, self.clients = plan, clients
        self.stack = plan.cloud("azure").stack
        self.group = names.stack_prefix(plan)
        endpoint = self._call(
            "Front Door endpoint",
            self.group,
            clients.cdn.afd_endpoints.get,
            self.group,
            self.group,
            self.group,
        )
        self.host: str = endpoint.host_name
        self.origins: dict[str, dict[str, Any]] = {}

    def fleet(self, model: ModelPlan, fleet: FleetPlan) -> SlotStatus:
        name = names.azure_scale_set(fleet)
        scale_set = self._call(
            "scale set", name, self.clients.compute.virtual_machine_scale_sets.get, self.group, name
        )
        running = healthy = spot = 0
        for vm in self._machines(scale_set.id, name):
            view = vm.instance_view
            if not any(status.code in _POWERED_ON for status in view.statuses or []):
                continue
            running += 1
            spot += vm.priority == _SPOT
            healthy += bool(view.vm_health and view.vm_health.status.code == _HEALTHY)
        return SlotStatus(
            model=fleet.model,
            cloud="azure",
            slot=fleet.slot,
            desired=scale_set.sku.capacity or 0,
            running=running,
            healthy=healthy,
            spot=spot,
            on_demand=running - spot,
            weight=self._weight(model, name),
            endpoint=names.endpoint(self.plan, fleet.model, self.host, cloud_serves_https=True),
        )

    def _machines(self, scale_set_id: str, name: str) -> Iterator[Any]:
        pages = self.clients.compute.virtual_machines.list(
            self.group, filter=f"'virtualMachineScaleSet/id' eq '{scale_set_id}'", expand="instanceView"
        )
        yield from self._call("scale set VMs", name, list, pages)

    def _weight(self, model: ModelPlan, origin: str) -> int:
        if model.name not in self.origins:
            listed = self._call(
                "Front Door origin group",
                model.name,
                list,
                self.clients.cdn.afd_origins.list_by_origin_group(self.group, self.group, model.name),
            )
            self.origins[model.name] = {
                entry.name: entry.weight for entry in listed if entry.enabled_state == _ENABLED
            }
        enabled = self.origins[model.name]
        total = sum(enabled.values())
        return round(100 * enabled[origin] / total) if origin in enabled and total else 0

    def _call(self, kind: str, name: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ResourceNotFoundError as error:
            raise OperationError(
                f"{self.stack}: the {kind} {name} does not exist in resource group {self.group} "
                f"({error.reason}). Is the stack applied? "
                f"Run `llmdeploy apply {self.plan.env} --cloud azure`."
            ) from error
        except HttpResponseError as error:
            raise OperationError(
                f"{self.stack}: reading the {kind} {name} in resource group {self.group} failed: "
                f"HTTP {error.status_code} {error.reason}. Check the credentials (az login) and their "
                "access to the subscription, then retry."
            ) from error
