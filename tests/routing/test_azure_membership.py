"""Azure membership reads a Flexible scale set as the fleets are: its VMs through the VM API.

The scale set VM APIs are Uniform only ("Orchestration modes API comparison"); a loopback stand-in of
Azure Resource Manager answers the calls the real SDK clients make, and records them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import HeadersPolicy

from llmdeploy.routing.membership import Replica
from llmdeploy.routing.sources import azure_replicas, azure_scale_set_id
from tests.routing.test_hold import serve
from tests.routing.test_publish import run

network_sdk = pytest.importorskip("azure.mgmt.network", reason="azure-mgmt-network==33.1.0 (the VM's SDK)")

SUB = "00000000-0000-0000-0000-000000000001"
GROUP = f"/subscriptions/{SUB}/resourceGroups/llmdeploy-prod"
SCALE_SET = f"{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/prod-chat-blue"


class Token:
    """A credential the clients accept; the stand-in ignores it."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("t", 2**31)


def vm(name: str, provisioning: str, health: str | None) -> dict[str, Any]:
    view: dict[str, Any] = {"statuses": []}
    if health is not None:
        view["vmHealth"] = {"status": {"code": health}}
    return {
        "id": f"{GROUP}/providers/Microsoft.Compute/virtualMachines/{name}",
        "name": name,
        "location": "westeurope",
        "properties": {"provisioningState": provisioning, "instanceView": view},
    }


def nic(name: str, vm_name: str, ip: str) -> dict[str, Any]:
    return {
        "id": f"{GROUP}/providers/Microsoft.Network/networkInterfaces/{name}",
        "name": name,
        "properties": {
            # Azure answers resource ids in any case: membership compares them case-insensitively.
            "virtualMachine": {
                "id": f"{GROUP.upper()}/providers/Microsoft.Compute/virtualMachines/{vm_name}"
            },
            "ipConfigurations": [{"name": "ipv4", "properties": {"privateIPAddress": ip}}],
        },
    }


class ResourceManager:
    """Azure Resource Manager on loopback: one Flexible scale set, its VMs and the group's NICs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.Response:
        self.calls.append((request.path, dict(request.query)))
        if request.path == SCALE_SET:
            return web.json_response({"id": SCALE_SET, "name": "prod-chat-blue", "location": "westeurope"})
        if request.path.endswith("/providers/Microsoft.Compute/virtualMachines"):
            assert request.query["$filter"] == f"'virtualMachineScaleSet/id' eq '{SCALE_SET}'"
            assert request.query["$expand"] == "instanceView"
            machines = [
                vm("chat_a", "Succeeded", "HealthState/healthy"),
                vm("chat_b", "Deleting", "HealthState/healthy"),
                vm("chat_c", "Creating", None),
            ]
            return web.json_response({"value": machines})
        if request.path.endswith("/providers/Microsoft.Network/networkInterfaces"):
            nics = [
                nic("a", "chat_a", "10.0.1.4"),
                nic("b", "chat_b", "10.0.1.5"),
                nic("c", "chat_c", "10.0.1.6"),
            ]
            nics.append({"id": f"{GROUP}/providers/Microsoft.Network/networkInterfaces/lb", "name": "lb"})
            return web.json_response({"value": nics})
        return web.json_response({"error": {"code": "NotFound", "message": request.path}}, status=404)


def test_the_reader_lists_a_flexible_sets_vms_with_the_vm_api_and_maps_their_nics() -> None:
    from azure.mgmt.compute import ComputeManagementClient

    arm = ResourceManager()

    async def scenario() -> list[Replica]:
        async with serve(arm.app()) as url:
            # Plain HTTP on loopback: the bearer policy refuses it, so the test sends a fixed header.
            options: dict[str, Any] = {
                "base_url": url,
                "authentication_policy": HeadersPolicy({"Authorization": "t"}),
            }
            compute = ComputeManagementClient(Token(), SUB, **options)  # type: ignore[arg-type]
            network = network_sdk.NetworkManagementClient(Token(), SUB, **options)
            scale_set = await asyncio.to_thread(
                azure_scale_set_id, compute, "llmdeploy-prod", "prod-chat-blue"
            )
            found: list[Replica] = await asyncio.to_thread(
                azure_replicas, compute, network, "llmdeploy-prod", scale_set, 8080, "blue"
            )
            return found

    assert run(scenario()) == [
        Replica("http://10.0.1.4:8080", "blue", "ready"),
        Replica("http://10.0.1.5:8080", "blue", "draining"),
        Replica("http://10.0.1.6:8080", "blue", "booting"),
    ]
    paths = [path for path, _ in arm.calls]
    # No scale set VM API (Uniform only): the set itself, its VMs by the VM API, the group's NICs.
    assert not [path for path in paths if "/virtualMachineScaleSets/prod-chat-blue/" in path]
    assert paths == [
        SCALE_SET,
        f"{GROUP}/providers/Microsoft.Compute/virtualMachines",
        f"{GROUP}/providers/Microsoft.Network/networkInterfaces",
    ]
