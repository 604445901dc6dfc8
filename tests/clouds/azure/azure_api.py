"""A canned Azure Resource Manager API (HTTPS) for the Azure status reader and the Azure observer.

Bodies follow the ARM REST reference: Virtual Machine Scale Sets - Get, and Virtual Machines - List
with `$filter=virtualMachineScaleSet/id` and `$expand=instanceView` (how Flexible sets list their
VMs). The SDK sends bearer tokens only over TLS, so the API serves HTTPS with a throwaway
certificate the clients are told to trust.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken

from tests.status.loopback import LoopbackApi, Seen, self_signed, serving

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/llmdeploy-demo-prod"
COMPUTE = f"{GROUP}/providers/Microsoft.Compute"
FRONT_DOOR = f"{GROUP}/providers/Microsoft.Cdn/profiles/llmdeploy-demo-prod"
TOKEN = "loopback-token"
#: The boot bundle digest the stack's `fleets` output gives every fleet in these tests.
BUNDLE = "4ebcd47e2872599e"


@contextmanager
def arm_api(folder: Path) -> Iterator[LoopbackApi]:
    """A loopback ARM API over HTTPS (its certificate in `folder`), answering ARM's 404 to the unknown."""
    missing = {"error": {"code": "ResourceNotFound", "message": "The Resource was not found."}}
    with serving(LoopbackApi(not_found=missing), certificate=self_signed(folder)) as running:
        yield running


def trusted(folder: Path) -> str:
    """The certificate file of `arm_api(folder)`, for the clients' `connection_verify`."""
    return str(folder / "loopback.crt")


class FakeCredential:
    """A TokenCredential (the protocol azure-core calls): a fixed token, never a real sign-in."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


def scale_set(
    api: LoopbackApi,
    name: str,
    capacity: int,
    vms: list[tuple[str, str, str | None]],
    bundles: list[str] | None = None,
) -> None:
    """A Flexible scale set and its VMs: (priority, power state, health state or None).

    Each VM also answers Virtual Machines - Get with `$expand=userData`: the JSON user data the
    stack writes, with its bundle digest from `bundles` (BUNDLE for every VM by default).
    """
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
    _, listing = api.routes.get(("GET", f"{COMPUTE}/virtualMachines"), (200, VmListing()))
    listing.by_scale_set[set_id] = machines
    for machine, bundle in zip(machines, bundles or [BUNDLE] * len(machines), strict=True):
        user_data = json.dumps({"bundle": bundle, "front_door_id": "0b5e1c2d"}).encode()
        api.answer(
            "GET",
            machine["id"],
            {
                **machine,
                "properties": {**machine["properties"], "userData": base64.b64encode(user_data).decode()},
            },
        )
    api.answer("GET", f"{COMPUTE}/virtualMachines", listing)


class VmListing:
    """Virtual Machines - List in the resource group: only the VMs the `$filter` names, as ARM answers."""

    PREFIX = "'virtualMachineScaleSet/id' eq '"

    def __init__(self) -> None:
        self.by_scale_set: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, request: Seen) -> dict[str, Any]:
        wanted = request.query.get("$filter", [""])[0]
        scale_set = wanted[len(self.PREFIX) : -1] if wanted.startswith(self.PREFIX) else ""
        return {"value": self.by_scale_set.get(scale_set, [])}
