"""`llmdeploy status` on GCP: google-cloud-compute against a loopback Compute Engine API.

The REST bodies follow the Compute Engine v1 reference (regionInstanceGroupManagers.get and
.listManagedInstances, instances.get, backendServices.getHealth, urlMaps.get, globalAddresses.get).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from llmdeploy.config.loader import load
from llmdeploy.errors import OperationError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.status.gcp import GcpClients, read_status
from tests.conftest import EXAMPLES
from tests.status.loopback import LoopbackApi, Seen, serving

PROJECT = "llmdeploy-demo-123"
REGION = "us-central1"
API = f"/compute/v1/projects/{PROJECT}"
LINK = f"https://www.googleapis.com{API}"
ADDRESS = "34.117.40.12"


def _error(code: int, message: str) -> dict[str, Any]:
    status = {404: "notFound", 403: "forbidden"}[code]
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": status}],
        }
    }


@pytest.fixture
def plan(example_vars: dict[str, str]) -> DeploymentPlan:
    return build_plan(load("prod", EXAMPLES))


@pytest.fixture
def api() -> Iterator[LoopbackApi]:
    with serving(LoopbackApi(not_found=_error(404, "The resource was not found"))) as running:
        yield running


def _clients(api: LoopbackApi) -> GcpClients:
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return GcpClients.connect(credentials=anonymous, client_options={"api_endpoint": api.url})


def _group(api: LoopbackApi, name: str, target: int, instances: list[tuple[str, str, str]]) -> None:
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


def _instance(api: LoopbackApi, name: str, zone: str, model: str) -> None:
    spot = model == "SPOT"
    api.answer(
        "GET",
        f"{API}/zones/{zone}/instances/{name}",
        {
            "kind": "compute#instance",
            "name": name,
            "status": "RUNNING",
            "zone": f"{LINK}/zones/{zone}",
            "scheduling": {
                "provisioningModel": model,
                "preemptible": spot,
                "automaticRestart": not spot,
                "onHostMaintenance": "TERMINATE",
                **({"instanceTerminationAction": "DELETE"} if spot else {}),
            },
        },
    )


def _health(api: LoopbackApi, service: str, states: dict[str, list[str]]) -> None:
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


def _weighted(*pairs: tuple[str, int]) -> dict[str, Any]:
    return {
        "weightedBackendServices": [
            {"backendService": f"{LINK}/global/backendServices/{service}", "weight": weight}
            for service, weight in pairs
        ]
    }


def _url_map_and_address(api: LoopbackApi) -> None:
    abort = {"faultInjectionPolicy": {"abort": {"httpStatus": 404, "percentage": 100}}}
    api.answer(
        "GET",
        f"{API}/global/urlMaps/llmdeploy-demo-prod",
        {
            "kind": "compute#urlMap",
            "name": "llmdeploy-demo-prod",
            "defaultRouteAction": {**_weighted(("prod-translate-fr-blue", 100)), **abort},
            "hostRules": [{"hosts": ["*"], "pathMatcher": "models"}],
            "pathMatchers": [
                {
                    "name": "models",
                    "defaultRouteAction": {**_weighted(("prod-translate-fr-blue", 100)), **abort},
                    "pathRules": [
                        {
                            "paths": ["/translate-fr/*"],
                            "routeAction": _weighted(
                                ("prod-translate-fr-blue", 90), ("prod-translate-fr-green", 10)
                            ),
                        },
                        {
                            "paths": ["/translate-es/*"],
                            "routeAction": _weighted(("prod-translate-es-blue", 100)),
                        },
                    ],
                }
            ],
        },
    )
    api.answer(
        "GET",
        f"{API}/global/addresses/llmdeploy-demo-prod",
        {
            "kind": "compute#address",
            "name": "llmdeploy-demo-prod",
            "address": ADDRESS,
            "status": "IN_USE",
            "addressType": "EXTERNAL",
        },
    )


def _prod(api: LoopbackApi) -> None:
    _url_map_and_address(api)
    # translate-fr-blue: 3 spot + 1 booting in the autoscaled group, 1 on-demand base.
    _group(
        api,
        "prod-translate-fr-blue",
        4,
        [
            ("fb-1", "us-central1-a", "RUNNING"),
            ("fb-2", "us-central1-b", "RUNNING"),
            ("fb-3", "us-central1-c", "RUNNING"),
            ("fb-4", "us-central1-a", "STAGING"),
        ],
    )
    _group(api, "prod-translate-fr-blue-base", 1, [("fbb-1", "us-central1-b", "RUNNING")])
    for name, zone in (("fb-1", "us-central1-a"), ("fb-2", "us-central1-b"), ("fb-4", "us-central1-a")):
        _instance(api, name, zone, "SPOT")
    _instance(api, "fb-3", "us-central1-c", "STANDARD")  # the on-demand version's share
    _instance(api, "fbb-1", "us-central1-b", "STANDARD")
    _health(
        api,
        "prod-translate-fr-blue",
        {
            "prod-translate-fr-blue": ["HEALTHY", "HEALTHY", "UNHEALTHY"],
            "prod-translate-fr-blue-base": ["HEALTHY"],
        },
    )
    # translate-fr-green: a spot VM reclaimed (gone), one stopping; the base VM serves.
    _group(api, "prod-translate-fr-green", 1, [("fg-1", "us-central1-a", "STOPPING")])
    _group(api, "prod-translate-fr-green-base", 1, [("fgb-1", "us-central1-c", "RUNNING")])
    _instance(api, "fgb-1", "us-central1-c", "STANDARD")
    _health(
        api,
        "prod-translate-fr-green",
        {"prod-translate-fr-green": [], "prod-translate-fr-green-base": ["HEALTHY"]},
    )
    _group(api, "prod-translate-es-blue", 1, [("eb-1", "us-central1-a", "RUNNING")])
    _group(api, "prod-translate-es-blue-base", 1, [("ebb-1", "us-central1-b", "RUNNING")])
    _instance(api, "eb-1", "us-central1-a", "SPOT")
    _instance(api, "ebb-1", "us-central1-b", "STANDARD")
    _health(
        api,
        "prod-translate-es-blue",
        {"prod-translate-es-blue": ["UNHEALTHY"], "prod-translate-es-blue-base": ["HEALTHY"]},
    )


def test_reads_groups_instances_health_and_weights(plan: DeploymentPlan, api: LoopbackApi) -> None:
    _prod(api)
    statuses = read_status(plan, _clients(api))
    endpoint = f"http://{ADDRESS}"
    # model, cloud, slot, desired, running, healthy, spot, on-demand, weight %, endpoint
    assert [astuple(status) for status in statuses] == [
        ("translate-fr", "gcp", "blue", 5, 5, 3, 3, 2, 90, f"{endpoint}/translate-fr/"),
        ("translate-fr", "gcp", "green", 2, 1, 1, 0, 1, 10, f"{endpoint}/translate-fr/"),
        ("translate-es", "gcp", "blue", 2, 2, 1, 1, 1, 100, f"{endpoint}/translate-es/"),
    ]


def test_asks_health_of_each_group_of_the_slots_backend_service(
    plan: DeploymentPlan, api: LoopbackApi
) -> None:
    _prod(api)
    read_status(plan, _clients(api))
    asked = [
        request.body
        for request in api.requests_to(f"{API}/global/backendServices/prod-translate-fr-blue/getHealth")
    ]
    assert asked == [
        {"group": f"{LINK}/regions/{REGION}/instanceGroups/prod-translate-fr-blue"},
        {"group": f"{LINK}/regions/{REGION}/instanceGroups/prod-translate-fr-blue-base"},
    ]
    # Anonymous credentials: no token leaves the process.
    assert all("Authorization" not in request.headers for request in api.seen)


def test_a_missing_group_says_to_apply_the_stack(plan: DeploymentPlan, api: LoopbackApi) -> None:
    _url_map_and_address(api)
    with pytest.raises(OperationError) as raised:
        read_status(plan, _clients(api))
    message = str(raised.value)
    assert message.startswith("prod-gcp: the instance group prod-translate-fr-blue does not exist")
    assert "llmdeploy apply prod --cloud gcp" in message


def test_refused_access_points_at_the_credentials(plan: DeploymentPlan, api: LoopbackApi) -> None:
    api.answer(
        "GET",
        f"{API}/global/urlMaps/llmdeploy-demo-prod",
        _error(403, "Required 'compute.urlMaps.get' permission"),
        status=403,
    )
    with pytest.raises(OperationError) as raised:
        read_status(plan, _clients(api))
    message = str(raised.value)
    assert "reading the URL map llmdeploy-demo-prod in GCP project llmdeploy-demo-123 failed: 403" in message
    assert "compute.urlMaps.get" in message and "gcloud auth application-default login" in message
