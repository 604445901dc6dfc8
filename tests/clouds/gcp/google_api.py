"""A canned Compute Engine API (REST) for the GCP status reader and the GCP observer.

Bodies follow the Compute Engine v1 reference: regionInstanceGroupManagers.get and
.listManagedInstances, backendServices.getHealth, and the API's error shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.auth.credentials import AnonymousCredentials

from llmdeploy.clouds.gcp.status import GcpClients
from tests.status.loopback import LoopbackApi, Seen, serving

PROJECT = "llmdeploy-demo-123"
REGION = "us-central1"
API = f"/compute/v1/projects/{PROJECT}"
LINK = f"https://www.googleapis.com{API}"


@contextmanager
def google_api() -> Iterator[LoopbackApi]:
    """A loopback Google API answering 404 in Google's error shape to whatever it was not told."""
    with serving(LoopbackApi(not_found=google_error(404, "The resource was not found"))) as running:
        yield running


def anonymous() -> AnonymousCredentials:
    """Credentials that sign nothing: no token leaves the process."""
    return AnonymousCredentials()  # type: ignore[no-untyped-call]


def google_error(code: int, message: str) -> dict[str, Any]:
    status = {404: "notFound", 403: "forbidden"}[code]
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": status}],
        }
    }


def compute_clients(api: LoopbackApi) -> GcpClients:
    return GcpClients.connect(credentials=anonymous(), client_options={"api_endpoint": api.url})


def managed_group(api: LoopbackApi, name: str, target: int, instances: list[tuple[str, str, str]]) -> None:
    """A managed group of `instances` (name, zone, status), each also answering instances.get."""
    group_url = f"{LINK}/regions/{REGION}/instanceGroups/{name}"
    api.answer(
        "GET",
        f"{API}/regions/{REGION}/instanceGroupManagers/{name}",
        {
            "kind": "compute#instanceGroupManager",
            "name": name,
            "region": f"{LINK}/regions/{REGION}",
            "targetSize": target,
            "instanceGroup": group_url,
            "baseInstanceName": name,
            "status": {"isStable": True},
            "currentActions": {"none": len(instances)},
        },
    )
    api.answer(
        "POST",
        f"{API}/regions/{REGION}/instanceGroupManagers/{name}/listManagedInstances",
        {
            "managedInstances": [
                {
                    "instance": f"{LINK}/zones/{zone}/instances/{instance}",
                    "id": str(1000 + index),
                    "instanceStatus": status,
                    "currentAction": "NONE" if status == "RUNNING" else "CREATING",
                    "version": {
                        "instanceTemplate": f"{LINK}/global/instanceTemplates/t-{index}",
                        "name": "spot",
                    },
                }
                for index, (instance, zone, status) in enumerate(instances)
            ]
        },
    )


def backend_health(api: LoopbackApi, service: str, states: dict[str, list[str]]) -> None:
    """getHealth of `service` answering, for each group asked about, the health states given for it."""

    def answer(request: Seen) -> dict[str, Any]:
        group = request.body["group"].rsplit("/", 1)[-1]
        return {
            "kind": "compute#backendServiceGroupHealth",
            "healthStatus": [
                {
                    "instance": f"{LINK}/zones/us-central1-a/instances/{group}-{index}",
                    "ipAddress": f"10.50.0.{index + 2}",
                    "port": 80,
                    "healthState": state,
                }
                for index, state in enumerate(states[group])
            ],
        }

    api.answer("POST", f"{API}/global/backendServices/{service}/getHealth", answer)
