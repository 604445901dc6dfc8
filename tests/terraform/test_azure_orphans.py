"""Azure orphans against a loopback ARM API (HTTPS): Resource Graph finds the tagged resources of the
environment's group, their IDs come out as azurerm's import parses them, the state's are left out,
the address tag adopts each, and ARM DELETE removes them dependents first.

Bodies follow the REST references: Resources - Query (Resource Graph 2022-10-01: `data`, `$skipToken`
in the answer, `options.$skipToken` in the next request) and ARM's error shape (`error.code`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.errors import OperationError
from llmdeploy.terraform.aws_imports import IMPORTS_FILE, adopt, write_imports
from llmdeploy.terraform.aws_orphans import Orphan
from llmdeploy.terraform.azure_imports import address_of
from llmdeploy.terraform.azure_orphans import (
    ADDRESS_TAG,
    Arm,
    connect,
    delete_orphans,
    find_orphans,
    import_id,
)
from tests.clouds.azure.azure_api import SUBSCRIPTION, FakeCredential, arm_api, trusted
from tests.conftest import WriteEnv
from tests.status.loopback import LoopbackApi, Seen

GROUP_NAME = "llmdeploy-demo-prod"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP_NAME}"
GRAPH = "/providers/Microsoft.ResourceGraph/resources"
TAGS = {"project": "demo", "environment": "prod", "managed-by": "llmdeploy"}
SCALE_SET = "azurerm_orchestrated_virtual_machine_scale_set.chat-blue_ScaleSet_1A2B3C4D"
ACTIONS = "azurerm_monitor_action_group.Monitoring_Actions_5E6F7A8B"
ENDPOINT = "azurerm_cdn_frontdoor_endpoint.LoadBalancer_Endpoint_5BCB6297"
CONFIGURATION: dict[str, Any] = {
    "resource": {
        "azurerm_orchestrated_virtual_machine_scale_set": {
            "chat-blue_ScaleSet_1A2B3C4D": {"name": "chat-blue", "tags": {ADDRESS_TAG: SCALE_SET}}
        },
        "azurerm_monitor_action_group": {
            "Monitoring_Actions_5E6F7A8B": {"name": "llmdeploy-demo-prod", "tags": {ADDRESS_TAG: ACTIONS}}
        },
        "azurerm_cdn_frontdoor_endpoint": {
            "LoadBalancer_Endpoint_5BCB6297": {"name": "${var.endpoint}", "tags": {ADDRESS_TAG: ENDPOINT}}
        },
    }
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LoopbackApi]:
    with arm_api(tmp_path) as running:
        yield running


def _arm(api: LoopbackApi, tmp_path: Path) -> Arm:
    return connect(FakeCredential(), base_url=api.url, connection_verify=trusted(tmp_path))


def _row(identifier: str, kind: str, address: str = "", **tags: str) -> dict[str, Any]:
    """A Resource Graph row: the type in lower case, the ID as the resource provider keeps it."""
    found_tags = {**TAGS, **tags, **({ADDRESS_TAG: address} if address else {})}
    return {"id": identifier, "type": kind, "tags": found_tags}


def _graph(api: LoopbackApi, *pages: list[dict[str, Any]]) -> None:
    """Resource Graph answering `pages` in turn, each but the last with a `$skipToken` for the next."""

    def answer(request: Seen) -> dict[str, Any]:
        token = request.body["options"].get("$skipToken")
        index = int(token) if token else 0
        more = {"$skipToken": str(index + 1)} if index + 1 < len(pages) else {}
        return {
            "totalRecords": sum(map(len, pages)),
            "count": len(pages[index]),
            "data": pages[index],
            **more,
        }

    api.answer("POST", GRAPH, answer)


def _state(*ids: str) -> dict[str, Any]:
    resources = [{"address": f"x.{index}", "values": {"id": value}} for index, value in enumerate(ids)]
    return {"values": {"root_module": {"resources": resources}}}


def test_orphans_come_from_resource_graph_with_azurerm_spelling_and_without_what_the_state_holds(
    api: LoopbackApi, tmp_path: Path
) -> None:
    """Resource Graph may answer `microsoft.insights/actiongroups` and a lower-case group, but azurerm
    parses import IDs case-sensitively (`Microsoft.Insights/actionGroups`, `resourceGroups`)."""
    held = f"{GROUP}/providers/Microsoft.Network/virtualNetworks/llmdeploy-demo-prod"
    lower = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{GROUP_NAME.upper()}"
    _graph(
        api,
        [
            _row(
                f"{lower}/providers/microsoft.insights/actiongroups/llmdeploy-demo-prod",
                "microsoft.insights/actiongroups",
                ACTIONS,
            ),
            _row(held.lower(), "microsoft.network/virtualnetworks"),  # the state holds it, spelt otherwise
            _row(
                f"{GROUP}/providers/Microsoft.Compute/virtualMachines/chat-blue_1",
                "microsoft.compute/virtualmachines",
            ),
        ],
        [
            _row(
                f"{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/chat-blue",
                "microsoft.compute/virtualmachinescalesets",
                SCALE_SET,
            ),
            _row(lower, "Microsoft.Resources/resourceGroups"),
        ],
    )
    found = find_orphans(_arm(api, tmp_path), SUBSCRIPTION, GROUP_NAME, TAGS, _state(held))
    assert [(orphan.kind, orphan.id, orphan.address) for orphan in found] == [
        (
            "Microsoft.Compute/virtualMachineScaleSets",
            f"{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/chat-blue",
            SCALE_SET,
        ),
        (
            "Microsoft.Insights/actionGroups",
            f"{GROUP}/providers/Microsoft.Insights/actionGroups/llmdeploy-demo-prod",
            ACTIONS,
        ),
        ("Microsoft.Resources/resourceGroups", GROUP, ""),
    ]  # deletion order: the scale set first, the group last; VMs are the scale set's, never listed
    queries = api.requests_to(GRAPH)
    assert [request.query["api-version"] for request in queries] == [["2022-10-01"], ["2022-10-01"]]
    assert [request.body["options"].get("$skipToken") for request in queries] == [None, "1"]
    assert queries[0].body["subscriptions"] == [SUBSCRIPTION]
    query = queries[0].body["query"]
    assert f"resourceGroup =~ '{GROUP_NAME}'" in query and "tags['project'] == 'demo'" in query


def test_tag_values_cannot_change_the_query(api: LoopbackApi, tmp_path: Path) -> None:
    """Config values are untrusted: a quote or backslash stays inside its KQL string literal."""
    _graph(api, [])
    hostile = {"project": "x' or 1==1 or tags['a'] == '\\", "environment": "prod"}
    assert find_orphans(_arm(api, tmp_path), SUBSCRIPTION, GROUP_NAME, hostile, {}) == []
    query = api.requests_to(GRAPH)[0].body["query"]
    assert "tags['project'] == 'x\\' or 1==1 or tags[\\'a\\'] == \\'\\\\'" in query


def test_a_refused_query_says_what_access_it_needs(api: LoopbackApi, tmp_path: Path) -> None:
    denied = {"error": {"code": "AuthorizationFailed", "message": "The client has no access."}}
    api.answer("POST", GRAPH, denied, status=403)
    with pytest.raises(OperationError, match=r"AuthorizationFailed: The client has no access.*Reader"):
        find_orphans(_arm(api, tmp_path), SUBSCRIPTION, GROUP_NAME, TAGS, {})


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        (
            f"{GROUP}/providers/microsoft.cdn/profiles/p/afdendpoints/e",
            "Microsoft.Cdn/profiles/afdEndpoints",
            f"{GROUP}/providers/Microsoft.Cdn/profiles/p/afdEndpoints/e",
        ),
        (f"{GROUP}/providers/Microsoft.Cdn/profiles/p", "Microsoft.Cdn/profiles/afdEndpoints", None),
        (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/other/providers/Microsoft.Cdn/profiles/p",
            "Microsoft.Cdn/profiles",
            None,
        ),  # another group's: never ours
        (f"{GROUP}/providers/Microsoft.Network/natGateways/n", "Microsoft.Network/publicIPAddresses", None),
    ],
)
def test_ids_of_another_shape_or_group_are_refused(raw: str, kind: str, expected: str | None) -> None:
    assert import_id(raw, kind, GROUP_NAME) == expected


def test_the_address_tag_adopts_an_orphan_of_its_type_and_literal_name(tmp_path: Path) -> None:
    scale_set = Orphan(
        "Microsoft.Compute/virtualMachineScaleSets",
        f"{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/chat-blue",
        "raw",
        address=SCALE_SET,
    )
    renamed = Orphan(
        "Microsoft.Insights/actionGroups",
        f"{GROUP}/providers/Microsoft.Insights/actionGroups/other",
        "raw",
        address=ACTIONS,
    )
    endpoint = Orphan(
        "Microsoft.Cdn/profiles/afdEndpoints",
        f"{GROUP}/providers/Microsoft.Cdn/profiles/p/afdEndpoints/any",
        "raw",
        address=ENDPOINT,
    )
    wrong_type = Orphan(
        "Microsoft.Network/loadBalancers",
        f"{GROUP}/providers/Microsoft.Network/loadBalancers/chat-blue",
        "raw",
        address=SCALE_SET,
    )
    untagged = Orphan(
        "Microsoft.Network/loadBalancers", f"{GROUP}/providers/Microsoft.Network/loadBalancers/lb", "raw"
    )
    found = adopt([scale_set, renamed, endpoint, wrong_type, untagged], CONFIGURATION, {}, address_of)
    assert [(address, orphan.id) for address, orphan in found.imports] == [
        (SCALE_SET, scale_set.id),
        (ENDPOINT, endpoint.id),  # its name is an expression: the tag alone decides
    ]
    assert found.unmatched == (renamed, wrong_type, untagged)
    path = write_imports(tmp_path, found)
    assert path.name == IMPORTS_FILE
    assert json.loads(path.read_text(encoding="utf-8"))["import"][0] == {"to": SCALE_SET, "id": scale_set.id}


def test_orphans_are_deleted_in_order_each_awaited_and_failures_reported(
    api: LoopbackApi, tmp_path: Path
) -> None:
    """ARM accepts a DELETE (202) and finishes later: the next waits until the resource answers 404."""
    scale_set = f"{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/chat-blue"
    group = f"{GROUP}/providers/Microsoft.Network/networkSecurityGroups/nsg"
    identity = f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"
    api.answer("DELETE", scale_set, {}, status=202)
    in_use = {"error": {"code": "InUseNetworkSecurityGroupCannotBeDeleted", "message": "in use"}}
    api.answer("DELETE", group, in_use, status=400)
    api.answer("DELETE", identity, {}, status=200)
    orphans = [
        Orphan("Microsoft.Compute/virtualMachineScaleSets", scale_set, scale_set),
        Orphan("Microsoft.Network/networkSecurityGroups", group, group),
        Orphan("Microsoft.ManagedIdentity/userAssignedIdentities", identity, identity),
    ]
    failed = delete_orphans(_arm(api, tmp_path), orphans, wait_s=5, interval_s=0.1)
    assert failed == [
        f"Microsoft.Network/networkSecurityGroups {group}: InUseNetworkSecurityGroupCannotBeDeleted: in use"
    ]
    sent = [(request.method, request.path, request.query["api-version"]) for request in api.seen]
    assert sent == [
        ("DELETE", scale_set, ["2025-04-01"]),
        ("GET", scale_set, ["2025-04-01"]),  # 404: gone, the next may go
        ("DELETE", group, ["2025-01-01"]),
        ("DELETE", identity, ["2024-11-30"]),
    ]


def test_a_deletion_still_running_at_the_deadline_is_reported(api: LoopbackApi, tmp_path: Path) -> None:
    scale_set = f"{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/chat-blue"
    api.answer("DELETE", scale_set, {}, status=202)
    api.answer("GET", scale_set, {"id": scale_set, "properties": {"provisioningState": "Deleting"}})
    orphan = Orphan("Microsoft.Compute/virtualMachineScaleSets", scale_set, scale_set)
    assert delete_orphans(_arm(api, tmp_path), [orphan], wait_s=0.3, interval_s=0.1) == [
        f"{orphan.shown()}: still being deleted"
    ]


def test_state_orphans_refuses_an_environment_without_an_aws_or_azure_stack(write_env: WriteEnv) -> None:
    """GCP labels cannot hold an address (63 lower-case characters, no `.`): nothing is synthesized."""
    path = write_env(
        """\
        project: demo
        name: labs
        clouds:
          gcp: {project_id: demo-project, region: europe-west4, zones: [europe-west4-a]}
        access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}
        models:
          - name: chat
            model_id: Qwen/Qwen2.5-0.5B-Instruct
            revision: 7ae557604adf67be50417f59c2c2f167def9a775
            params_billion: 0.5
            instance_types: {gcp: [g2-standard-8]}
        """
    )
    result = CliRunner().invoke(app, ["state", "orphans", str(path), "--out", str(path.parent / "out")])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "environment" in said and "has no AWS or Azure stack to look at" in said
    assert "GCP labels cannot hold a resource's address" in said
    assert not (path.parent / "out").exists()
