"""Azure resources that carry an environment's tags but are in no Terraform state: orphans.

A run killed mid-apply can leave resources that Azure created and Terraform never recorded (see
aws_orphans.py). azurerm checks before creating most resources whether one of that ID exists, and
fails with "A resource with the ID ... already exists - to be managed via Terraform this resource
needs to be imported into the State": the next apply fails until each is imported or deleted.

Every resource of the stack whose type takes tags carries the environment's tags and its own
Terraform address (ADDRESS_TAG, set by modules/azure/addresses.py), and everything lives in the
environment's one resource group, so Azure Resource Graph finds them in one query (REST
Resources - Query, https://learn.microsoft.com/en-us/rest/api/azureresourcegraph/resourcegraph/resources/resources).
Resource Graph answers from an index that follows changes within seconds to a few minutes: a
resource created just before a kill may show up only on a later look.

The azurerm types without tags (UNTRACKED) cannot be found this way; each says why, and why that
is acceptable. Deleting uses ARM's generic `DELETE {id}?api-version=...` with the API version azurerm
itself uses for the type (its vendored go-azure-sdk package), and waits for each deletion to end
before the next: a network security group cannot go while a scale set's NICs still use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from azure.core import PipelineClient
from azure.core.exceptions import AzureError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
from azure.core.rest import HttpRequest

from llmdeploy.errors import OperationError
from llmdeploy.terraform.aws_orphans import Orphan, state_strings

#: The tag holding each resource's Terraform address. Not `llmdeploy:address` as on AWS: Front
#: Door (profiles, endpoints, WAF policies) refuses `:` and `#` in tag names, and every Azure
#: resource refuses `<>%&\\?/` (https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/tag-resources#limitations).
ADDRESS_TAG = "llmdeploy-address"
#: Azure's limits on tags: 512 characters a name, 256 a value, 50 tags a resource (same page).
MAX_TAG_VALUE = 256
MAX_TAGS = 50
ARM_URL = "https://management.azure.com"
_GRAPH = "/providers/Microsoft.ResourceGraph/resources"
_GRAPH_API = "2022-10-01"
_RESOURCE_GROUPS = "Microsoft.Resources/resourceGroups"
#: A plain ARM pipeline (azure-core): requests signed with the caller's token, retried.
Arm = PipelineClient[HttpRequest, Any]


@dataclass(frozen=True)
class ArmType:
    """An ARM resource type as azurerm's import IDs spell it, and the API version to delete it with."""

    name: str
    api_version: str


#: The ARM types a stack creates, in an order they can be deleted (dependents first). Spelling:
#: azurerm parses import IDs case-sensitively (internal/tf/pluginsdk/imports.go calls
#: `parser.Parse(d.Id(), false)`; go-azure-helpers resourceids/parse.go compares static segments
#: with `==` unless told otherwise), while Resource Graph may answer `microsoft.insights/actiongroups`.
#: API versions: those of the go-azure-sdk packages azurerm's resources import (provider source).
DELETION_ORDER: tuple[ArmType, ...] = (
    ArmType("Microsoft.Insights/autoScaleSettings", "2022-10-01"),
    ArmType("Microsoft.Insights/metricAlerts", "2018-03-01"),
    ArmType("Microsoft.Compute/virtualMachineScaleSets", "2025-04-01"),
    ArmType("Microsoft.Cdn/profiles/afdEndpoints", "2025-12-01"),
    ArmType("Microsoft.Cdn/profiles", "2025-12-01"),
    ArmType("Microsoft.Network/frontDoorWebApplicationFirewallPolicies", "2025-03-01"),
    ArmType("Microsoft.Insights/actionGroups", "2023-01-01"),
    ArmType("Microsoft.Insights/dataCollectionRules", "2023-03-11"),
    ArmType("Microsoft.OperationalInsights/workspaces", "2025-07-01"),
    ArmType("Microsoft.Portal/dashboards", "2019-01-01-preview"),
    ArmType("Microsoft.ContainerRegistry/registries", "2025-11-01"),
    ArmType("Microsoft.Network/loadBalancers", "2025-01-01"),
    ArmType("Microsoft.Network/virtualNetworks", "2025-01-01"),
    ArmType("Microsoft.Network/natGateways", "2025-01-01"),
    ArmType("Microsoft.Network/publicIPAddresses", "2025-01-01"),
    ArmType("Microsoft.Network/networkSecurityGroups", "2025-01-01"),
    ArmType("Microsoft.Network/applicationSecurityGroups", "2025-01-01"),
    ArmType("Microsoft.ManagedIdentity/userAssignedIdentities", "2024-11-30"),
    ArmType(_RESOURCE_GROUPS, "2023-07-01"),
)
_BY_NAME = {kind.name.lower(): kind for kind in DELETION_ORDER}

#: The azurerm resource types the stack tags with their address, and the ARM type of each.
RESOURCE_TYPES: Mapping[str, str] = {
    "azurerm_monitor_autoscale_setting": "Microsoft.Insights/autoScaleSettings",
    "azurerm_monitor_metric_alert": "Microsoft.Insights/metricAlerts",
    "azurerm_linux_virtual_machine_scale_set": "Microsoft.Compute/virtualMachineScaleSets",
    "azurerm_orchestrated_virtual_machine_scale_set": "Microsoft.Compute/virtualMachineScaleSets",
    "azurerm_cdn_frontdoor_endpoint": "Microsoft.Cdn/profiles/afdEndpoints",
    "azurerm_cdn_frontdoor_profile": "Microsoft.Cdn/profiles",
    "azurerm_cdn_frontdoor_firewall_policy": "Microsoft.Network/frontDoorWebApplicationFirewallPolicies",
    "azurerm_monitor_action_group": "Microsoft.Insights/actionGroups",
    "azurerm_monitor_data_collection_rule": "Microsoft.Insights/dataCollectionRules",
    "azurerm_log_analytics_workspace": "Microsoft.OperationalInsights/workspaces",
    "azurerm_portal_dashboard": "Microsoft.Portal/dashboards",
    "azurerm_container_registry": "Microsoft.ContainerRegistry/registries",
    "azurerm_lb": "Microsoft.Network/loadBalancers",
    "azurerm_virtual_network": "Microsoft.Network/virtualNetworks",
    "azurerm_nat_gateway": "Microsoft.Network/natGateways",
    "azurerm_public_ip": "Microsoft.Network/publicIPAddresses",
    "azurerm_network_security_group": "Microsoft.Network/networkSecurityGroups",
    "azurerm_application_security_group": "Microsoft.Network/applicationSecurityGroups",
    "azurerm_user_assigned_identity": "Microsoft.ManagedIdentity/userAssignedIdentities",
    "azurerm_resource_group": _RESOURCE_GROUPS,
}

_CHILD = "a child of a tagged resource, deleted with it; azurerm's schema has no `tags` for it"
_ASSOCIATION = "an association (a property of its parent, no resource of its own); no `tags` in azurerm"
#: The resource types the stack creates that carry no address tag, and why.
UNTRACKED: Mapping[str, str] = {
    "azurerm_subnet": _CHILD + " (the virtual network)",
    "azurerm_network_security_rule": _CHILD + " (the network security group)",
    "azurerm_lb_backend_address_pool": _CHILD + " (the load balancer)",
    "azurerm_lb_probe": _CHILD + " (the load balancer)",
    "azurerm_lb_rule": _CHILD + " (the load balancer)",
    "azurerm_cdn_frontdoor_origin_group": _CHILD + " (the Front Door profile)",
    "azurerm_cdn_frontdoor_origin": _CHILD + " (the Front Door profile)",
    "azurerm_cdn_frontdoor_route": _CHILD + " (the Front Door endpoint)",
    "azurerm_cdn_frontdoor_rule_set": _CHILD + " (the Front Door profile)",
    "azurerm_cdn_frontdoor_rule": _CHILD + " (the Front Door profile)",
    "azurerm_cdn_frontdoor_custom_domain": _CHILD + " (the Front Door profile)",
    "azurerm_cdn_frontdoor_security_policy": _CHILD + " (the Front Door profile)",
    "azurerm_container_registry_cache_rule": _CHILD + " (the registry)",
    "azurerm_container_registry_credential_set": _CHILD + " (the registry)",
    "azurerm_subnet_nat_gateway_association": _ASSOCIATION,
    "azurerm_subnet_network_security_group_association": _ASSOCIATION,
    "azurerm_nat_gateway_public_ip_association": _ASSOCIATION,
    "azurerm_monitor_data_collection_rule_association": _ASSOCIATION + " (an extension of a scale set)",
    "azurerm_role_assignment": "no `tags` in azurerm (ARM role assignments take none); a repeated create "
    "fails with RoleAssignmentExists until the assignment is deleted in the portal or with "
    "`az role assignment delete`",
    "azurerm_role_definition": "no `tags` in azurerm (custom roles take none, and live in the "
    "subscription, not the resource group); azurerm names it with a fixed GUID, so a repeated create "
    "fails until it is imported or deleted by hand",
    "azurerm_dns_txt_record": "record sets keep tags as DNS metadata, whose names take no `-`, and "
    "Resource Graph does not index record sets; they live in the user's zone, and a create over a "
    "record llmdeploy left fails with 'already exists' naming its ID",
    "azurerm_dns_cname_record": "as azurerm_dns_txt_record",
}


def connect(credential: Any, base_url: str = ARM_URL, **options: Any) -> Arm:
    """An ARM pipeline signed in with `credential`; `options` (e.g. connection_verify) go to azure-core."""
    policies = [RetryPolicy(retry_total=2), BearerTokenCredentialPolicy(credential, f"{ARM_URL}/.default")]
    return PipelineClient(base_url, policies=policies, **options)


def find_orphans(
    arm: Arm,
    subscription: str,
    resource_group: str,
    tags: Mapping[str, str],
    state: Mapping[str, Any],
) -> list[Orphan]:
    """Resources of the stack's types in `resource_group` tagged with every one of `tags` whose ID
    (compared case-insensitively, as ARM does) the state document never names."""
    known = {value.lower() for value in state_strings(state)}
    found = []
    for row in _rows(arm, subscription, _query(resource_group, tags)):
        kind = _BY_NAME.get(str(row.get("type", "")).lower())
        identifier = import_id(str(row.get("id", "")), kind.name, resource_group) if kind else None
        if kind is None or identifier is None or identifier.lower() in known:
            continue
        address = (row.get("tags") or {}).get(ADDRESS_TAG, "")
        found.append(Orphan(kind.name, identifier, str(row["id"]), address=str(address)))
    return sorted(found, key=lambda orphan: (_rank(orphan.kind), orphan.id))


def import_id(raw: str, kind: str, resource_group: str) -> str | None:
    """`raw` (an ARM ID as Resource Graph spells it) as azurerm's import of `kind` takes it: its
    fixed segments as azurerm spells them, the group as the stack names it; None if it is not one."""
    parts = raw.strip("/").split("/")
    if len(parts) < 4 or [parts[0].lower(), parts[2].lower()] != ["subscriptions", "resourcegroups"]:
        return None
    if parts[3].lower() != resource_group.lower():
        return None
    group = f"/subscriptions/{parts[1]}/resourceGroups/{resource_group}"
    if kind == _RESOURCE_GROUPS:
        return group if len(parts) == 4 else None
    namespace, *types = kind.split("/")
    rest = parts[4:]
    if len(rest) != 2 + 2 * len(types) or [rest[0].lower(), rest[1].lower()] != [
        "providers",
        namespace.lower(),
    ]:
        return None
    names = rest[3::2]
    if [given.lower() for given in rest[2::2]] != [wanted.lower() for wanted in types]:
        return None
    return f"{group}/providers/{namespace}/" + "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))


def delete_orphans(
    arm: Arm,
    orphans: Sequence[Orphan],
    wait_s: float = 1800,
    interval_s: float = 10,
) -> list[str]:
    """Delete `orphans` (in DELETION_ORDER, as find_orphans sorts them), each deletion awaited up to
    `wait_s` seconds in all; return what failed. A failure does not stop the others."""
    deadline = time.monotonic() + wait_s
    failed = []
    for orphan in orphans:
        version = {"api-version": _BY_NAME[orphan.kind.lower()].api_version}
        try:
            response = arm.send_request(HttpRequest("DELETE", _url(arm, orphan.id), params=version))
            if response.status_code not in (200, 202, 204, 404):
                failed.append(f"{orphan.shown()}: {_error(response)}")
                continue
            if response.status_code == 202 and not _gone(arm, orphan.id, version, deadline, interval_s):
                failed.append(f"{orphan.shown()}: still being deleted")
        except AzureError as error:
            failed.append(f"{orphan.shown()}: {error}")
    return failed


def _gone(
    arm: Arm,
    url: str,
    version: dict[str, str],
    deadline: float,
    interval_s: float,
) -> bool:
    """Whether the resource at `url` is gone (404) before `deadline`: ARM accepts a DELETE (202) and
    finishes it later, and what depends on it cannot be deleted until then."""
    while True:
        if arm.send_request(HttpRequest("GET", _url(arm, url), params=version)).status_code == 404:
            return True
        if time.monotonic() + interval_s > deadline:
            return False
        time.sleep(interval_s)


def _query(resource_group: str, tags: Mapping[str, str]) -> str:
    """Resource Graph's KQL: the group itself (a resource container) and what is in it, of our types."""
    types = ", ".join(_kql(kind.name) for kind in DELETION_ORDER)
    matched = "".join(f" and tags[{_kql(key)}] == {_kql(value)}" for key, value in tags.items())
    group = _kql(resource_group)
    return (
        f"resources | where type in~ ({types}) and resourceGroup =~ {group}"
        " | union (resourcecontainers | where type =~ 'Microsoft.Resources/subscriptions/resourceGroups'"
        f" and name =~ {group} | extend type = {_kql(_RESOURCE_GROUPS)})"
        f" | where isnotnull(tags){matched} | project id, type, tags | order by id asc"
    )


def _kql(value: str) -> str:
    """A KQL string literal: config values are untrusted, and KQL reads `\\` escapes in '...'."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def _rows(arm: Arm, subscription: str, query: str) -> Iterator[dict[str, Any]]:
    """Every row of `query` over `subscription`, page by page ($skipToken)."""
    options: dict[str, Any] = {"resultFormat": "objectArray", "$top": 1000}
    while True:
        body = {"subscriptions": [subscription], "query": query, "options": options}
        request = HttpRequest("POST", _url(arm, _GRAPH), params={"api-version": _GRAPH_API}, json=body)
        response = arm.send_request(request)
        if response.status_code != 200:
            raise OperationError(
                f"Could not query Azure Resource Graph in subscription {subscription} ({_error(response)}). "
                "The lookup needs read access (Reader) on the environment's resource group: grant it, "
                "then run the command again."
            )
        page = response.json()
        yield from page.get("data") or []
        token = page.get("$skipToken")
        if not token:
            return
        options = {**options, "$skipToken": token}


def _url(arm: Arm, path: str) -> str:
    return str(arm.format_url(quote(path, safe="/")))


def _error(response: Any) -> str:
    """ARM's error code and message (`{"error": {"code", "message"}}`), else the HTTP status."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if error.get("code"):
        return f"{error['code']}: {error.get('message', '')}".strip()
    return f"HTTP {response.status_code}"


def _rank(kind: str) -> int:
    return DELETION_ORDER.index(_BY_NAME[kind.lower()])
