"""The Azure fleet of each model and slot: Flexible scale set, identity and roles, autoscale rules."""

from __future__ import annotations

import base64
import json

from llmdeploy.boot import boot_files, user_data
from llmdeploy.plan.model import FleetPlan
from tests.fixtures_synth import Stack


def _fleet(stack: Stack, name: str) -> FleetPlan:
    return next(fleet for fleet in stack.plan.fleets_on("azure") if fleet.name == name)


def test_spot_above_a_regular_base_by_priority_mix(azure_stacks: dict[str, Stack]) -> None:
    scale_set = azure_stacks["prod-azure"].at(
        "azurerm_orchestrated_virtual_machine_scale_set", "translate-fr-blue/ScaleSet"
    )
    assert (scale_set["priority"], scale_set["eviction_policy"], scale_set["max_bid_price"]) == (
        "Spot",
        "Delete",
        -1,
    )
    assert scale_set["priority_mix"] == {"base_regular_count": 1, "regular_percentage_above_base": 20}
    assert scale_set["platform_fault_domain_count"] == 1
    assert scale_set["zones"] == ["1", "2", "3"]
    assert "overprovision" not in scale_set  # Flexible sets never overprovision


def test_several_sizes_become_a_ranked_instance_mix(azure_stacks: dict[str, Stack]) -> None:
    mixed = azure_stacks["edge-azure"].at(
        "azurerm_orchestrated_virtual_machine_scale_set", "coder-blue/ScaleSet"
    )
    assert mixed["sku_name"] == "Mix"
    assert mixed["sku_profile"] == {
        "allocation_strategy": "CapacityOptimized",
        "virtual_machine_size": [
            {"name": "Standard_NC4as_T4_v3", "rank": 0},
            {"name": "Standard_NC8as_T4_v3", "rank": 1},
        ],
    }
    single = azure_stacks["prod-azure"].at(
        "azurerm_orchestrated_virtual_machine_scale_set", "translate-es-blue/ScaleSet"
    )
    assert single["sku_name"] == "Standard_NC24ads_A100_v4"
    assert "sku_profile" not in single


def test_gpu_image_with_driver_and_the_boot_bundle_as_custom_data(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    for fleet in stack.plan.fleets_on("azure"):
        scale_set = stack.at("azurerm_orchestrated_virtual_machine_scale_set", f"{fleet.name}/ScaleSet")
        assert scale_set["source_image_reference"] == {
            "publisher": "microsoft-dsvm",
            "offer": "ubuntu-hpc",
            "sku": "2204",
            "version": "latest",
        }
        profile = scale_set["os_profile"]
        assert profile["custom_data"] == user_data(stack.plan, fleet)
        assert (
            base64.b64decode(profile["custom_data"]).decode() == boot_files(stack.plan, fleet)["cloud-config"]
        )
        linux = profile["linux_configuration"]
        assert linux["disable_password_authentication"] is True
        assert linux["admin_ssh_key"] == [
            {"public_key": "${tls_private_key.AdminKey.public_key_openssh}", "username": "llmdeploy"}
        ]
        assert scale_set["os_disk"]["disk_size_gb"] == fleet.disk_gib
        assert scale_set["lifecycle"] == {"ignore_changes": ["instances"]}


def test_repairs_on_the_application_health_extension_after_the_grace(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    health = _fleet(stack, "translate-fr-blue").health
    scale_set = stack.at("azurerm_orchestrated_virtual_machine_scale_set", "translate-fr-blue/ScaleSet")
    [extension] = scale_set["extension"]
    assert (extension["publisher"], extension["type"]) == (
        "Microsoft.ManagedServices",
        "ApplicationHealthLinux",
    )
    assert json.loads(extension["settings"]) == {
        "protocol": "http",
        "port": health.port,
        "requestPath": health.path,
        "intervalInSeconds": health.interval_s,
        "numberOfProbes": health.unhealthy_threshold,
        "gracePeriod": health.readiness_grace_s,
    }
    assert scale_set["automatic_instance_repair"] == {
        "enabled": True,
        "action": "Replace",
        "grace_period": "PT20M",
    }
    assert scale_set["upgrade_mode"] == "Rolling"
    assert scale_set["rolling_upgrade_policy"]["maximum_surge_instances_enabled"] is True


def test_replicas_join_their_slots_load_balancer_pool(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    scale_set = stack.at("azurerm_orchestrated_virtual_machine_scale_set", "translate-fr-green/ScaleSet")
    [config] = scale_set["network_interface"][0]["ip_configuration"]
    pool = stack.address("azurerm_lb_backend_address_pool", "LoadBalancer/translate-fr-green/Pool")
    assert config["load_balancer_backend_address_pool_ids"] == [f"${{{pool}.id}}"]


def test_identity_reads_only_its_token_and_publishes_on_its_own_scale_set(
    azure_stacks: dict[str, Stack],
) -> None:
    stack = azure_stacks["prod-azure"]
    identity = stack.address("azurerm_user_assigned_identity", "translate-fr-green/Identity")
    scale_set = stack.address("azurerm_orchestrated_virtual_machine_scale_set", "translate-fr-green/ScaleSet")
    [vault] = stack.data("azurerm_key_vault")
    token = stack.at("azurerm_role_assignment", "translate-fr-green/ReadsToken")
    assert token == {
        **token,
        "scope": f"${{data.azurerm_key_vault.{vault}.id}}/secrets/llmdeploy-prod-hf-token",
        "role_definition_name": "Key Vault Secrets User",
        "principal_id": f"${{{identity}.principal_id}}",
    }
    publish = stack.at("azurerm_role_assignment", "translate-fr-green/PublishesMetrics")
    assert (publish["scope"], publish["role_definition_name"]) == (
        f"${{{scale_set}.id}}",
        "Monitoring Metrics Publisher",
    )
    assert stack.at("azurerm_orchestrated_virtual_machine_scale_set", "translate-fr-green/ScaleSet")[
        "identity"
    ] == {
        "type": "UserAssigned",
        "identity_ids": [f"${{{identity}.id}}"],
    }
    # No token configured, no Key Vault access at all.
    edge = azure_stacks["edge-azure"].resources("azurerm_role_assignment").values()
    assert {entry["role_definition_name"] for entry in edge} == {"Monitoring Metrics Publisher"}


def test_queue_autoscale_rules_respect_the_five_minute_window(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    fleet = _fleet(stack, "translate-fr-blue")
    setting = stack.at("azurerm_monitor_autoscale_setting", "translate-fr-blue/Autoscale")
    [profile] = setting["profile"]
    assert profile["capacity"] == {
        "default": fleet.desired_size,
        "minimum": fleet.min_size,
        "maximum": fleet.max_size,
    }
    out, scale_in = profile["rule"]
    assert out["metric_trigger"]["metric_name"] == "QueueSize"
    assert out["metric_trigger"]["metric_namespace"] == "LLMDeploy"
    assert (out["metric_trigger"]["operator"], out["metric_trigger"]["threshold"]) == ("GreaterThan", 4)
    assert (scale_in["metric_trigger"]["operator"], scale_in["metric_trigger"]["threshold"]) == (
        "LessThan",
        2,
    )
    for rule, cooldown in (
        (out, fleet.autoscaling.scale_out_cooldown_s),
        (scale_in, fleet.autoscaling.scale_in_cooldown_s),
    ):
        assert rule["metric_trigger"]["time_window"] == "PT5M"
        assert rule["scale_action"]["cooldown"] == f"PT{cooldown}S"
    assert [entry["values"] for entry in out["metric_trigger"]["dimensions"]] == [
        ["llmdeploy-demo"],
        ["prod"],
        ["translate-fr"],
        ["blue"],
    ]


def test_request_autoscaling_reads_front_door_requests_to_the_slots_origin(
    azure_stacks: dict[str, Stack],
) -> None:
    stack = azure_stacks["prod-azure"]
    [profile] = stack.at("azurerm_monitor_autoscale_setting", "translate-es-blue/Autoscale")["profile"]
    trigger = profile["rule"][0]["metric_trigger"]
    assert (trigger["metric_name"], trigger["metric_namespace"]) == (
        "OriginRequestCount",
        "Microsoft.Cdn/profiles",
    )
    assert trigger["divide_by_instance_count"] is True
    assert trigger["threshold"] == 60
    address = stack.address("azurerm_public_ip", "LoadBalancer/translate-es-blue/OriginAddress")
    assert trigger["dimensions"] == [
        {"name": "Origin", "operator": "Equals", "values": [f"${{{address}.ip_address}}"]}
    ]
