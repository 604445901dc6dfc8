"""Azure's router group as synthesized (issue 13): a CPU scale set over the zones behind its own load
balancer, Front Door's preferred origin (priority 1) with the fleets as the direct path (priority 2),
NSG rules to and from the routers, and custom roles that read and scale only the fleets."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmdeploy.boot.router import ROUTER_PORT
from llmdeploy.clouds.azure.names import RESOURCE_PROVIDERS
from llmdeploy.clouds.azure.resolve import READER_ACTIONS, SCALER_ACTIONS, resolve
from llmdeploy.config.loader import load_environment
from llmdeploy.engines import PROXY_PORT
from llmdeploy.plan.build import build_plan
from tests.clouds.azure.test_routers import agent_specs
from tests.conftest import REPO
from tests.fixtures_clouds import synth_environment
from tests.fixtures_synth import Stack
from tests.modules.cloud_stacks import checkov_report, leaks
from tests.stacks.golden import snapshot_mismatches

pytestmark = pytest.mark.synth

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
ROUTED_ENV = f"""\
project: demo
clouds:
  azure: {{location: westeurope, zones: ["1", "2", "3"], subscription_id: {SUBSCRIPTION}}}
access: {{scheme: internet-facing, require_api_key: false, allowed_cidrs: [203.0.113.0/24]}}
routing: {{enabled: true, min_routers: 3}}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    dtype: float16
    instance_types: {{azure: [Standard_NC4as_T4_v3]}}
    load_balancing: {{algorithm: round_robin, request_timeout_s: 240}}
    slots:
      blue: {{weight: 90}}
      green: {{weight: 10}}
  - name: coder
    engine: vllm
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    dtype: float16
    instance_types: {{azure: [Standard_NC4as_T4_v3]}}
    load_balancing: {{algorithm: round_robin, request_timeout_s: 240}}
"""
SCALE_SET = "azurerm_linux_virtual_machine_scale_set"
ORIGIN = "azurerm_cdn_frontdoor_origin"


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The Azure stack of ROUTED_ENV, synthesized by the real entry point."""
    root = tmp_path_factory.mktemp("routed-azure")
    path = root / "routed.yaml"
    path.write_text(ROUTED_ENV, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "stacks"],
        cwd=REPO,
        env={
            **synth_environment(),
            "LLMDEPLOY_ENVS": str(path),
            "LLMDEPLOY_CLOUDS": "azure",
            "CDKTF_OUTDIR": str(root / "out"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    folder = root / "out" / "stacks" / "routed-azure"
    doc = json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8"))
    return Stack(build_plan(load_environment(path)), folder, doc)


def _ref(stack: Stack, kind: str, path: str, attribute: str = "id") -> str:
    return f"${{{stack.address(kind, path)}.{attribute}}}"


def test_routers_span_the_zones_on_cpu_vms_without_public_addresses(routed: Stack) -> None:
    scale_set = routed.at(SCALE_SET, "Routers/ScaleSet")
    assert (scale_set["sku"], scale_set["instances"], scale_set["zones"]) == (
        "Standard_D2s_v5",
        3,
        ["1", "2", "3"],
    )
    assert scale_set["source_image_reference"]["publisher"] == "Canonical"
    assert scale_set["overprovision"] is False
    [nic] = scale_set["network_interface"]
    [ip] = nic["ip_configuration"]
    assert "public_ip_address" not in ip
    assert ip["load_balancer_backend_address_pool_ids"] == [
        _ref(routed, "azurerm_lb_backend_address_pool", "LoadBalancer/routers/Pool")
    ]
    assert ip["application_security_group_ids"] == [
        _ref(routed, "azurerm_application_security_group", "Routers/ApplicationSecurityGroup")
    ]
    assert scale_set["identity"] == {
        "type": "UserAssigned",
        "identity_ids": [_ref(routed, "azurerm_user_assigned_identity", "Routers/Identity")],
    }
    assert scale_set["disable_password_authentication"] is True


def test_health_extension_repairs_and_rolling_upgrades_on_the_routers_port(routed: Stack) -> None:
    scale_set = routed.at(SCALE_SET, "Routers/ScaleSet")
    [extension] = scale_set["extension"]
    assert (extension["type"], extension["type_handler_version"]) == ("ApplicationHealthLinux", "1.0")
    settings = json.loads(extension["settings"])
    assert (settings["protocol"], settings["port"]) == ("http", ROUTER_PORT)
    # azurerm: automatic repairs and Rolling upgrades need a health extension or probe; grace PT10M-PT90M.
    assert scale_set["automatic_instance_repair"] == {
        "enabled": True,
        "action": "Replace",
        "grace_period": "PT10M",
    }
    assert scale_set["upgrade_mode"] == "Rolling"
    assert scale_set["rolling_upgrade_policy"]["maximum_surge_instances_enabled"] is True
    probe = routed.at("azurerm_lb_probe", "LoadBalancer/routers/Probe")
    assert (probe["port"], probe["request_path"]) == (ROUTER_PORT, settings["requestPath"])


def test_custom_data_is_the_router_bundle_naming_each_models_scale_sets(routed: Stack) -> None:
    scale_set = routed.at(SCALE_SET, "Routers/ScaleSet")
    assert scale_set["custom_data"] == resolve(routed.plan).routers.custom_data  # type: ignore[union-attr]
    assert len(scale_set["custom_data"]) <= 65535  # Azure's custom_data limit (base64)
    specs = agent_specs(routed.plan, scale_set["custom_data"])
    assert {
        model: {slot: s["group"] for slot, s in spec["slots"].items()} for model, spec in specs.items()
    } == {
        "chat": {"blue": "chat-blue", "green": "chat-green"},
        "coder": {"blue": "coder-blue"},
    }
    for spec in specs.values():
        assert (spec["resource_group"], spec["subscription"]) == ("demo-routed", SUBSCRIPTION)
    # Each named scale set is one this stack creates, in that resource group.
    created = {s["name"] for s in routed.resources("azurerm_orchestrated_virtual_machine_scale_set").values()}
    assert {s["group"] for spec in specs.values() for s in spec["slots"].values()} == created
    assert routed.resources("azurerm_resource_group")["ResourceGroup"]["name"] == "demo-routed"
    # The user data carries the Front Door id the routers' nginx admits, like a replica's.
    user_data = scale_set["user_data"]
    assert "resource_guid" in user_data and "base64encode" in user_data


def test_front_door_prefers_the_routers_and_falls_back_to_the_fleets(routed: Stack) -> None:
    for model, slots in (("chat", ("blue", "green")), ("coder", ("blue",))):
        group = _ref(routed, "azurerm_cdn_frontdoor_origin_group", f"LoadBalancer/{model}/OriginGroup")
        routers = routed.at(ORIGIN, f"LoadBalancer/{model}/routers")
        assert (routers["priority"], routers["enabled"], routers["cdn_frontdoor_origin_group_id"]) == (
            1,
            True,
            group,
        )
        assert routers["host_name"] == _ref(
            routed, "azurerm_public_ip", "LoadBalancer/routers/OriginAddress", "ip_address"
        )
        for slot in slots:
            direct = routed.at(ORIGIN, f"LoadBalancer/{model}/{slot}")
            # azurerm: priority 1-5; Front Door uses the lowest value with healthy origins.
            assert (direct["priority"], direct["cdn_frontdoor_origin_group_id"]) == (2, group)
        route = routed.at("azurerm_cdn_frontdoor_route", f"LoadBalancer/{model}/Route")
        assert _ref(routed, ORIGIN, f"LoadBalancer/{model}/routers") in route["cdn_frontdoor_origin_ids"]
    # The slots' weights still split the direct path.
    weights = {routed.at(ORIGIN, f"LoadBalancer/chat/{slot}")["weight"] for slot in ("blue", "green")}
    assert weights == {900, 100}


def test_nsg_admits_front_door_to_the_routers_and_the_routers_to_the_replicas(routed: Stack) -> None:
    nsg = _ref(routed, "azurerm_network_security_group", "Access/InstanceSecurityGroup", "name")
    routers = _ref(routed, "azurerm_application_security_group", "Routers/ApplicationSecurityGroup")
    rules = {
        path: routed.at("azurerm_network_security_rule", f"Routers/{path}")
        for path in ("FromFrontDoorToRouters", "FromProbesToRouters", "FromRoutersToReplicas")
    }
    for rule in rules.values():
        assert (rule["network_security_group_name"], rule["access"], rule["direction"]) == (
            nsg,
            "Allow",
            "Inbound",
        )
    front_door, probes, replicas = rules.values()
    assert (
        front_door["source_address_prefix"],
        front_door["destination_application_security_group_ids"],
    ) == (
        "AzureFrontDoor.Backend",
        [routers],
    )
    assert front_door["destination_port_ranges"] == [str(ROUTER_PORT)]
    assert probes["source_address_prefix"] == "AzureLoadBalancer"
    assert (replicas["source_application_security_group_ids"], replicas["destination_port_ranges"]) == (
        [routers],
        [str(PROXY_PORT)],
    )
    # Exactly one source and one destination form each (azurerm ExactlyOneOf).
    for rule in rules.values():
        sources = [key for key in rule if key.startswith("source_") and key != "source_port_range"]
        targets = [key for key in rule if key.startswith("destination_") and key != "destination_port_ranges"]
        assert (len(sources), len(targets)) == (1, 1), rule
    # Before the subnet's final deny.
    deny = routed.at("azurerm_network_security_rule", "Access/DenyOtherInbound")
    assert max(rule["priority"] for rule in rules.values()) < deny["priority"]
    assert len(
        {rule["priority"] for rule in routed.resources("azurerm_network_security_rule").values()}
    ) == len(routed.resources("azurerm_network_security_rule"))


def test_roles_read_and_scale_only_the_fleets(routed: Stack) -> None:
    group = _ref(routed, "azurerm_resource_group", "ResourceGroup")
    scaler = routed.at("azurerm_role_definition", "Routers/ScalerRole")
    reader = routed.at("azurerm_role_definition", "Routers/ReaderRole")
    for role, actions in ((scaler, SCALER_ACTIONS), (reader, READER_ACTIONS)):
        assert (role["scope"], role["assignable_scopes"]) == (group, [group])
        assert role["permissions"] == [{"actions": list(actions)}]
    assert "Microsoft.Compute/virtualMachineScaleSets/write" in scaler["permissions"][0]["actions"]
    assert all(action.endswith("/read") for action in reader["permissions"][0]["actions"])
    principal = _ref(routed, "azurerm_user_assigned_identity", "Routers/Identity", "principal_id")
    scaler_id = _ref(routed, "azurerm_role_definition", "Routers/ScalerRole", "role_definition_resource_id")
    reader_id = _ref(routed, "azurerm_role_definition", "Routers/ReaderRole", "role_definition_resource_id")
    assigned = {
        (entry["scope"], entry["role_definition_id"])
        for entry in routed.resources("azurerm_role_assignment").values()
        if entry["principal_id"] == principal and "role_definition_id" in entry
    }
    fleets = [
        _ref(routed, "azurerm_orchestrated_virtual_machine_scale_set", f"{name}/ScaleSet")
        for name in ("chat-blue", "chat-green", "coder-blue")
    ]
    # The scaler role on each fleet's scale set only (not the routers' own, not the group);
    # the reads on the group.
    assert assigned == {*((fleet, scaler_id) for fleet in fleets), (group, reader_id)}
    # Publishing router metrics: the built-in role on the routers' own scale set, nothing wider.
    routers = _ref(routed, "azurerm_linux_virtual_machine_scale_set", "Routers/ScaleSet")
    assert {
        (entry["scope"], entry["role_definition_name"])
        for entry in routed.resources("azurerm_role_assignment").values()
        if entry["principal_id"] == principal and "role_definition_name" in entry
    } == {(routers, "Monitoring Metrics Publisher")}


def test_every_namespace_is_registered_and_no_secret_lands(routed: Stack) -> None:
    # The router group's kinds, by their type's second word (role_*: Microsoft.Authorization,
    # registered on every subscription); test_stack.py checks the fleets' kinds.
    namespaces = {
        "application": "Microsoft.Network",
        "linux": "Microsoft.Compute",
        "network": "Microsoft.Network",
        "role": None,
        "user": "Microsoft.ManagedIdentity",
    }
    kinds = {
        kind.split("_")[1]
        for kind, entries in routed.doc["resource"].items()
        if any("/Routers/" in entry["//"]["metadata"]["path"] for entry in entries.values())
    }
    assert kinds == set(namespaces)
    assert {namespaces[kind] for kind in kinds} - {None} <= set(RESOURCE_PROVIDERS)
    texts = [path.read_text(encoding="utf-8") for path in Path(routed.folder).rglob("*.json")]
    texts.append(
        gzip.decompress(base64.b64decode(routed.at(SCALE_SET, "Routers/ScaleSet")["custom_data"])).decode()
    )
    assert leaks(texts) == []
    assert routed.doc["output"]["routers"]["value"] == "routers"


def test_router_construct_ids_match_the_golden_snapshot(routed: Stack) -> None:
    assert snapshot_mismatches([routed]) == [], (
        "the routed stack's resource addresses changed: real resources would be replaced. If intended, "
        "run LLMDEPLOY_UPDATE_GOLDEN=1 pytest tests/modules/azure/test_router_group.py and review the diff."
    )


def test_checkov_finds_nothing_unjustified_in_the_router_group(routed: Stack) -> None:
    report = checkov_report({routed.name: routed})
    assert report.passed > 0
    assert [f"{f.check} on {f.resource}" for f in report.failed] == []
    assert [f"{f.check} on {f.resource}" for f in report.unused] == []


def test_dashboard_charts_the_routers_custom_metrics_per_model(routed: Stack) -> None:
    from llmdeploy import metrics

    properties = json.loads(
        routed.at("azurerm_portal_dashboard", "Monitoring/Dashboard")["dashboard_properties"]
    )
    charts = {
        part["metadata"]["settings"]["content"]["options"]["chart"]["title"]: part["metadata"]["settings"][
            "content"
        ]["options"]["chart"]
        for part in properties["lenses"]["0"]["parts"].values()
    }
    routers = _ref(routed, SCALE_SET, "Routers/ScaleSet")
    for title, name in (
        ("Router: requests held", metrics.ROUTER_HELD),
        ("Router: queue time before dispatch (ms, mean)", metrics.ROUTER_QUEUE_MS),
        ("Router: 429s answered", metrics.ROUTER_REJECTED),
    ):
        [series] = charts[title]["metrics"]
        # Where the routers post them (publish.AzureSender): their own scale set, namespace LLMDeploy.
        assert (series["resourceMetadata"]["id"], series["namespace"], series["name"]) == (
            routers,
            metrics.NAMESPACE,
            name,
        )
        assert charts[title]["grouping"] == {"dimension": "Model"}
