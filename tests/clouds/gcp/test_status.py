"""`llmdeploy status` on GCP: google-cloud-compute against a loopback Compute Engine API.

The REST bodies follow the Compute Engine v1 reference (regionInstanceGroupManagers.get and
.listManagedInstances, instances.get, backendServices.getHealth, urlMaps.get, globalAddresses.get).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple
from typing import Any

import pytest

from llmdeploy.clouds.gcp.resolve import GcpPlan, resolve
from llmdeploy.clouds.gcp.status import read_status
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.plan.routes import SLOT_HEADER
from tests.clouds.gcp.google_api import (
    API,
    LINK,
    REGION,
    backend_health,
    compute_clients,
    google_api,
    google_error,
    managed_group,
)
from tests.status.loopback import LoopbackApi

ADDRESS = "34.117.40.12"


@pytest.fixture
def api() -> Iterator[LoopbackApi]:
    with google_api() as running:
        yield running


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


#: Each plan resolved once (resolving renders every fleet's boot bundle; the helpers below ask often).
_RESOLVED: dict[int, tuple[DeploymentPlan, GcpPlan]] = {}


def _resolved(plan: DeploymentPlan) -> GcpPlan:
    hit = _RESOLVED.get(id(plan))
    if hit is None or hit[0] is not plan:
        hit = _RESOLVED[id(plan)] = (plan, resolve(plan))
    return hit[1]


def _service(plan: DeploymentPlan, fleet: str) -> str:
    return _resolved(plan).fleet(fleet).service


def _groups(plan: DeploymentPlan, fleet: str) -> tuple[str, ...]:
    return _resolved(plan).fleet(fleet).group_names


def _weighted(plan: DeploymentPlan, *pairs: tuple[str, int]) -> dict[str, Any]:
    return {
        "weightedBackendServices": [
            {"backendService": f"{LINK}/global/backendServices/{_service(plan, fleet)}", "weight": weight}
            for fleet, weight in pairs
        ]
    }


def _url_map_and_address(api: LoopbackApi, plan: DeploymentPlan) -> None:
    abort = {"faultInjectionPolicy": {"abort": {"httpStatus": 404, "percentage": 100}}}
    not_found = {
        "weightedBackendServices": [
            {"backendService": f"{LINK}/global/backendServices/llmdeploy-demo-prod-not-found", "weight": 100}
        ],
        **abort,
    }
    api.answer(
        "GET",
        f"{API}/global/urlMaps/llmdeploy-demo-prod",
        {
            "kind": "compute#urlMap",
            "name": "llmdeploy-demo-prod",
            "defaultRouteAction": not_found,
            "hostRules": [{"hosts": ["*"], "pathMatcher": "models"}],
            "pathMatchers": [
                {
                    "name": "models",
                    "defaultRouteAction": not_found,
                    # As modules/gcp/load_balancer.py writes them: each model's slot rules (the
                    # slot header alone reaches them), then its weighted rule. Weights come from
                    # the weighted rules only.
                    "routeRules": [
                        *_pinned(plan, 1, "/translate-fr/", "translate-fr-blue", "translate-fr-green"),
                        {
                            "priority": 3,
                            "matchRules": [{"prefixMatch": "/translate-fr/"}],
                            "routeAction": _weighted(
                                plan, ("translate-fr-blue", 90), ("translate-fr-green", 10)
                            ),
                        },
                        *_pinned(plan, 11, "/translate-es/", "translate-es-blue"),
                        {
                            "priority": 13,
                            "matchRules": [{"prefixMatch": "/translate-es/"}],
                            "routeAction": _weighted(plan, ("translate-es-blue", 100)),
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


def _pinned(plan: DeploymentPlan, first: int, prefix: str, *fleets: str) -> list[dict[str, Any]]:
    return [
        {
            "priority": first + index,
            "matchRules": [
                {
                    "prefixMatch": prefix,
                    "headerMatches": [{"headerName": SLOT_HEADER, "exactMatch": fleet.rsplit("-", 1)[1]}],
                }
            ],
            "routeAction": _weighted(plan, (fleet, 100)),
        }
        for index, fleet in enumerate(fleets)
    ]


def _prod(api: LoopbackApi, plan: DeploymentPlan) -> None:
    _url_map_and_address(api, plan)
    # translate-fr-blue: 2 spot + 1 booting in the spot group, 1 in the on-demand share's group,
    # 1 on-demand base.
    spot, share, base = _groups(plan, "translate-fr-blue")
    managed_group(
        api,
        spot,
        3,
        [
            ("fb-1", "us-central1-a", "RUNNING"),
            ("fb-2", "us-central1-b", "RUNNING"),
            ("fb-4", "us-central1-a", "STAGING"),
        ],
    )
    managed_group(api, share, 1, [("fb-3", "us-central1-c", "RUNNING")])
    managed_group(api, base, 1, [("fbb-1", "us-central1-b", "RUNNING")])
    for name, zone in (("fb-1", "us-central1-a"), ("fb-2", "us-central1-b"), ("fb-4", "us-central1-a")):
        _instance(api, name, zone, "SPOT")
    _instance(api, "fb-3", "us-central1-c", "STANDARD")
    _instance(api, "fbb-1", "us-central1-b", "STANDARD")
    backend_health(
        api,
        _service(plan, "translate-fr-blue"),
        {spot: ["HEALTHY", "UNHEALTHY"], share: ["HEALTHY"], base: ["HEALTHY"]},
    )
    # translate-fr-green: its one VM above the base (on-demand: 20 % rounds up) is stopping; the base
    # VM serves.
    autoscaled, base = _groups(plan, "translate-fr-green")
    managed_group(api, autoscaled, 1, [("fg-1", "us-central1-a", "STOPPING")])
    managed_group(api, base, 1, [("fgb-1", "us-central1-c", "RUNNING")])
    _instance(api, "fgb-1", "us-central1-c", "STANDARD")
    backend_health(api, _service(plan, "translate-fr-green"), {autoscaled: [], base: ["HEALTHY"]})
    spot, base = _groups(plan, "translate-es-blue")
    managed_group(api, spot, 1, [("eb-1", "us-central1-a", "RUNNING")])
    managed_group(api, base, 1, [("ebb-1", "us-central1-b", "RUNNING")])
    _instance(api, "eb-1", "us-central1-a", "SPOT")
    _instance(api, "ebb-1", "us-central1-b", "STANDARD")
    backend_health(api, _service(plan, "translate-es-blue"), {spot: ["UNHEALTHY"], base: ["HEALTHY"]})


def test_reads_groups_instances_health_and_weights(prod_plan: DeploymentPlan, api: LoopbackApi) -> None:
    _prod(api, prod_plan)
    statuses = read_status(prod_plan, compute_clients(api))
    endpoint = "https://llm.example.com"  # prod serves HTTPS on its tls.domain
    # model, cloud, slot, desired, running, healthy, spot, on-demand, weight %, endpoint
    assert [astuple(status) for status in statuses] == [
        ("translate-fr", "gcp", "blue", 5, 5, 3, 3, 2, 90, f"{endpoint}/translate-fr/"),
        ("translate-fr", "gcp", "green", 2, 1, 1, 0, 1, 10, f"{endpoint}/translate-fr/"),
        ("translate-es", "gcp", "blue", 2, 2, 1, 1, 1, 100, f"{endpoint}/translate-es/"),
    ]


def test_asks_health_of_each_group_of_the_slots_backend_service(
    prod_plan: DeploymentPlan, api: LoopbackApi
) -> None:
    _prod(api, prod_plan)
    read_status(prod_plan, compute_clients(api))
    service = _service(prod_plan, "translate-fr-blue")
    asked = [request.body for request in api.requests_to(f"{API}/global/backendServices/{service}/getHealth")]
    assert asked == [
        {"group": f"{LINK}/regions/{REGION}/instanceGroups/{group}"}
        for group in _groups(prod_plan, "translate-fr-blue")
    ]
    assert len(asked) == 3  # spot, on-demand share above the base, base
    # Anonymous credentials: no token leaves the process.
    assert all("Authorization" not in request.headers for request in api.seen)


def test_a_missing_group_says_to_apply_the_stack(prod_plan: DeploymentPlan, api: LoopbackApi) -> None:
    _url_map_and_address(api, prod_plan)
    with pytest.raises(OperationError) as raised:
        read_status(prod_plan, compute_clients(api))
    message = str(raised.value)
    first = _groups(prod_plan, "translate-fr-blue")[0]
    assert first.startswith("llmdeploy-demo-prod-translate-fr-blue-")
    assert message.startswith(f"prod-gcp: the instance group {first} does not exist")
    assert "llmdeploy apply prod --cloud gcp" in message


def test_refused_access_points_at_the_credentials(prod_plan: DeploymentPlan, api: LoopbackApi) -> None:
    api.answer(
        "GET",
        f"{API}/global/urlMaps/llmdeploy-demo-prod",
        google_error(403, "Required 'compute.urlMaps.get' permission"),
        status=403,
    )
    with pytest.raises(OperationError) as raised:
        read_status(prod_plan, compute_clients(api))
    message = str(raised.value)
    assert "reading the URL map llmdeploy-demo-prod in GCP project llmdeploy-demo-123 failed: 403" in message
    assert "compute.urlMaps.get" in message and "gcloud auth application-default login" in message
