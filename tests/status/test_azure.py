"""`llmdeploy status` on Azure: azure-mgmt-compute and azure-mgmt-cdn against a loopback ARM API.

Bodies follow the ARM REST reference: Virtual Machine Scale Sets - Get, Virtual Machines - List (with
`$filter=virtualMachineScaleSet/id` and `$expand=instanceView`, how Flexible sets list their VMs),
AFD Endpoints - Get and AFD Origins - List By Origin Group. The SDK sends bearer tokens only over
TLS, so the loopback API serves HTTPS with a throwaway certificate the client is told to trust.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import astuple, replace
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from llmdeploy.config.loader import load
from llmdeploy.errors import OperationError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.status.azure import AzureClients, read_status, subscription
from tests.conftest import EXAMPLES
from tests.status.loopback import LoopbackApi, Seen, self_signed, serving

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/llmdeploy-demo-prod"
COMPUTE = f"{GROUP}/providers/Microsoft.Compute"
FRONT_DOOR = f"{GROUP}/providers/Microsoft.Cdn/profiles/llmdeploy-demo-prod"
HOST = "llmdeploy-demo-prod-b7gmcbdqd3h7c4a5.z01.azurefd.net"
TOKEN = "loopback-token"


class FakeCredential:
    """A TokenCredential (the protocol azure-core calls): a fixed token, never a real sign-in."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


@pytest.fixture
def plan(example_vars: dict[str, str]) -> DeploymentPlan:
    return build_plan(load("prod", EXAMPLES))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LoopbackApi]:
    missing = {"error": {"code": "ResourceNotFound", "message": "The Resource was not found."}}
    with serving(LoopbackApi(not_found=missing), certificate=self_signed(tmp_path)) as running:
        yield running


def _clients(api: LoopbackApi, tmp_path: Path, credential: FakeCredential | None = None) -> AzureClients:
    return AzureClients.connect(
        SUBSCRIPTION,
        credential=credential or FakeCredential(),
        base_url=api.url,
        connection_verify=str(tmp_path / "loopback.crt"),
    )


def _scale_set(api: LoopbackApi, name: str, capacity: int, vms: list[tuple[str, str, str | None]]) -> None:
    """A Flexible scale set and its VMs: (priority, power state, health state or None)."""
    set_id = f"{COMPUTE}/virtualMachineScaleSets/{name}"
    api.answer(
        "GET",
        set_id,
        {
            "id": set_id,
            "name": name,
            "type": "Microsoft.Compute/virtualMachineScaleSets",
            "location": "eastus",
            "sku": {"name": "Standard_NV36ads_A10_v5", "tier": "Standard", "capacity": capacity},
            "properties": {
                "orchestrationMode": "Flexible",
                "platformFaultDomainCount": 1,
                "provisioningState": "Succeeded",
                "priorityMixPolicy": {
                    "baseRegularPriorityCount": 1,
                    "regularPriorityPercentageAboveBase": 20,
                },
            },
        },
    )
    machines = [
        {
            "id": f"{COMPUTE}/virtualMachines/{name}_{index:08x}",
            "name": f"{name}_{index:08x}",
            "type": "Microsoft.Compute/virtualMachines",
            "location": "eastus",
            "properties": {
                "priority": priority,
                **({"evictionPolicy": "Delete"} if priority == "Spot" else {}),
                "virtualMachineScaleSet": {"id": set_id},
                "instanceView": {
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "level": "Info",
                            "displayStatus": "Provisioning succeeded",
                        },
                        {"code": power, "level": "Info", "displayStatus": power.split("/")[1]},
                    ],
                    **({"vmHealth": {"status": {"code": health, "level": "Info"}}} if health else {}),
                },
            },
        }
        for index, (priority, power, health) in enumerate(vms)
    ]
    _, listing = api.routes.get(("GET", f"{COMPUTE}/virtualMachines"), (200, _VmListing()))
    listing.by_scale_set[set_id] = machines
    api.answer("GET", f"{COMPUTE}/virtualMachines", listing)


class _VmListing:
    """Virtual Machines - List in the resource group: only the VMs the `$filter` names, as ARM answers."""

    PREFIX = "'virtualMachineScaleSet/id' eq '"

    def __init__(self) -> None:
        self.by_scale_set: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, request: Seen) -> dict[str, Any]:
        wanted = request.query.get("$filter", [""])[0]
        scale_set = wanted[len(self.PREFIX) : -1] if wanted.startswith(self.PREFIX) else ""
        return {"value": self.by_scale_set.get(scale_set, [])}


def _origins(api: LoopbackApi, model: str, origins: list[tuple[str, int, str]]) -> None:
    path = f"{FRONT_DOOR}/originGroups/{model}/origins"
    api.answer(
        "GET",
        path,
        {
            "value": [
                {
                    "id": f"{path}/{name}",
                    "name": name,
                    "type": "Microsoft.Cdn/profiles/origingroups/origins",
                    "properties": {
                        "hostName": f"20.0.0.{index}",
                        "httpPort": 80,
                        "httpsPort": 443,
                        "weight": weight,
                        "priority": 1,
                        "enabledState": state,
                        "enforceCertificateNameCheck": False,
                        "provisioningState": "Succeeded",
                        "deploymentStatus": "Succeeded",
                    },
                }
                for index, (name, weight, state) in enumerate(origins)
            ]
        },
    )


def _prod(api: LoopbackApi) -> None:
    api.answer(
        "GET",
        f"{FRONT_DOOR}/afdEndpoints/llmdeploy-demo-prod",
        {
            "id": f"{FRONT_DOOR}/afdEndpoints/llmdeploy-demo-prod",
            "name": "llmdeploy-demo-prod",
            "type": "Microsoft.Cdn/profiles/afdendpoints",
            "location": "Global",
            "properties": {"hostName": HOST, "enabledState": "Enabled", "provisioningState": "Succeeded"},
        },
    )
    healthy, unhealthy = "HealthState/healthy", "HealthState/unhealthy"
    _scale_set(
        api,
        "translate-fr-blue",
        3,
        [
            ("Regular", "PowerState/running", healthy),
            ("Spot", "PowerState/running", healthy),
            ("Spot", "PowerState/starting", None),
        ],
    )
    _scale_set(
        api,
        "translate-fr-green",
        1,
        [("Regular", "PowerState/running", unhealthy), ("Spot", "PowerState/deallocated", None)],
    )
    _scale_set(api, "translate-es-blue", 1, [("Regular", "PowerState/running", healthy)])
    _origins(
        api, "translate-fr", [("translate-fr-blue", 950, "Enabled"), ("translate-fr-green", 50, "Enabled")]
    )
    _origins(api, "translate-es", [("translate-es-blue", 1000, "Enabled")])


def test_reads_scale_sets_vms_health_and_origin_weights(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    _prod(api)
    credential = FakeCredential()
    statuses = read_status(plan, _clients(api, tmp_path, credential))
    endpoint = f"https://{HOST}"
    # model, cloud, slot, desired, running, healthy, spot, on-demand, weight %, endpoint
    assert [astuple(status) for status in statuses] == [
        ("translate-fr", "azure", "blue", 3, 3, 2, 2, 1, 95, f"{endpoint}/translate-fr/"),
        ("translate-fr", "azure", "green", 1, 1, 0, 0, 1, 5, f"{endpoint}/translate-fr/"),
        ("translate-es", "azure", "blue", 1, 1, 1, 0, 1, 100, f"{endpoint}/translate-es/"),
    ]
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request in api.seen)
    assert credential.scopes and all(
        scopes == ("https://management.azure.com/.default",) for scopes in credential.scopes
    )


def test_lists_flexible_vms_by_scale_set_with_their_instance_view(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    _prod(api)
    read_status(plan, _clients(api, tmp_path))
    [first, *_] = api.requests_to(f"{COMPUTE}/virtualMachines")
    assert first.query["$filter"] == [
        f"'virtualMachineScaleSet/id' eq '{COMPUTE}/virtualMachineScaleSets/translate-fr-blue'"
    ]
    assert first.query["$expand"] == ["instanceView"]


def test_a_disabled_origin_carries_no_traffic(plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path) -> None:
    _prod(api)
    _origins(
        api, "translate-fr", [("translate-fr-blue", 1000, "Enabled"), ("translate-fr-green", 1, "Disabled")]
    )
    weights = {
        (status.model, status.slot): status.weight for status in read_status(plan, _clients(api, tmp_path))
    }
    assert weights[("translate-fr", "blue")] == 100
    assert weights[("translate-fr", "green")] == 0


def test_a_missing_scale_set_says_to_apply_the_stack(
    plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    _prod(api)
    del api.routes[("GET", f"{COMPUTE}/virtualMachineScaleSets/translate-fr-blue")]
    with pytest.raises(OperationError) as raised:
        read_status(plan, _clients(api, tmp_path))
    message = str(raised.value)
    assert message.startswith("prod-azure: the scale set translate-fr-blue does not exist in resource group")
    assert "llmdeploy apply prod --cloud azure" in message


def test_no_subscription_is_a_readable_error(plan: DeploymentPlan) -> None:
    cloud = plan.cloud("azure")
    without = replace(cloud, settings=cloud.settings.model_copy(update={"subscription_id": None}))
    unset = replace(plan, clouds=tuple(without if entry is cloud else entry for entry in plan.clouds))
    assert subscription(plan) == SUBSCRIPTION
    with pytest.raises(
        OperationError, match=r"^prod-azure: no Azure subscription to read from: set clouds.azure"
    ):
        subscription(unset)
