"""`llmdeploy status` on Azure: azure-mgmt-compute and azure-mgmt-cdn against a loopback ARM API.

Bodies follow the ARM REST reference: Virtual Machine Scale Sets - Get, Virtual Machines - List (with
`$filter=virtualMachineScaleSet/id` and `$expand=instanceView`, how Flexible sets list their VMs),
AFD Endpoints - Get and AFD Origins - List By Origin Group. The SDK sends bearer tokens only over
TLS, so the loopback API serves HTTPS with a throwaway certificate the client is told to trust.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import pytest

from llmdeploy.clouds.azure.status import AzureClients, read_status
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from tests.clouds.azure.azure_api import (
    COMPUTE,
    FRONT_DOOR,
    SUBSCRIPTION,
    TOKEN,
    FakeCredential,
    arm_api,
    scale_set,
    trusted,
)
from tests.status.loopback import LoopbackApi

HOST = "llmdeploy-demo-prod-b7gmcbdqd3h7c4a5.z01.azurefd.net"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LoopbackApi]:
    with arm_api(tmp_path) as running:
        yield running


def _clients(api: LoopbackApi, tmp_path: Path, credential: FakeCredential | None = None) -> AzureClients:
    return AzureClients.connect(
        SUBSCRIPTION,
        credential=credential or FakeCredential(),
        base_url=api.url,
        connection_verify=trusted(tmp_path),
    )


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
    scale_set(
        api,
        "translate-fr-blue",
        3,
        [
            ("Regular", "PowerState/running", healthy),
            ("Spot", "PowerState/running", healthy),
            ("Spot", "PowerState/starting", None),
        ],
    )
    scale_set(
        api,
        "translate-fr-green",
        1,
        [("Regular", "PowerState/running", unhealthy), ("Spot", "PowerState/deallocated", None)],
    )
    scale_set(api, "translate-es-blue", 1, [("Regular", "PowerState/running", healthy)])
    _origins(
        api, "translate-fr", [("translate-fr-blue", 950, "Enabled"), ("translate-fr-green", 50, "Enabled")]
    )
    _origins(api, "translate-es", [("translate-es-blue", 1000, "Enabled")])


def test_reads_scale_sets_vms_health_and_origin_weights(
    prod_plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    _prod(api)
    credential = FakeCredential()
    statuses = read_status(prod_plan, _clients(api, tmp_path, credential))
    endpoint = "https://llm.example.com"  # prod serves its tls.domain as a custom domain
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
    prod_plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    _prod(api)
    read_status(prod_plan, _clients(api, tmp_path))
    [first, *_] = api.requests_to(f"{COMPUTE}/virtualMachines")
    assert first.query["$filter"] == [
        f"'virtualMachineScaleSet/id' eq '{COMPUTE}/virtualMachineScaleSets/translate-fr-blue'"
    ]
    assert first.query["$expand"] == ["instanceView"]


def test_a_disabled_origin_carries_no_traffic(
    prod_plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    _prod(api)
    _origins(
        api, "translate-fr", [("translate-fr-blue", 1000, "Enabled"), ("translate-fr-green", 1, "Disabled")]
    )
    weights = {
        (status.model, status.slot): status.weight
        for status in read_status(prod_plan, _clients(api, tmp_path))
    }
    assert weights[("translate-fr", "blue")] == 100
    assert weights[("translate-fr", "green")] == 0


def test_a_missing_scale_set_says_to_apply_the_stack(
    prod_plan: DeploymentPlan, api: LoopbackApi, tmp_path: Path
) -> None:
    _prod(api)
    del api.routes[("GET", f"{COMPUTE}/virtualMachineScaleSets/translate-fr-blue")]
    with pytest.raises(OperationError) as raised:
        read_status(prod_plan, _clients(api, tmp_path))
    message = str(raised.value)
    assert message.startswith("prod-azure: the scale set translate-fr-blue does not exist in resource group")
    assert "llmdeploy apply prod --cloud azure" in message
