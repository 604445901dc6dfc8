"""The Azure fleet of each model and slot: Flexible scale set, identity and roles, autoscale rules."""

from __future__ import annotations

import base64
import gzip
import json

from llmdeploy.boot import boot_files, user_data
from llmdeploy.clouds.azure.resolve import APP_HEALTH_PATH, iso_duration
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


def test_one_gpu_size_per_scale_set_never_an_instance_mix(azure_stacks: dict[str, Stack]) -> None:
    # Instance mix (`sku_profile`) accepts only A, B, D, E and F sizes: azurerm's
    # validate/sku_profile_vm_size_name.go and "Instance mix overview, Limitations". The first size
    # listed is the one the scale set runs.
    first = azure_stacks["edge-azure"].at(
        "azurerm_orchestrated_virtual_machine_scale_set", "coder-blue/ScaleSet"
    )
    assert first["sku_name"] == "Standard_NC4as_T4_v3"
    for stack in azure_stacks.values():
        for scale_set in stack.resources("azurerm_orchestrated_virtual_machine_scale_set").values():
            assert "sku_profile" not in scale_set
            assert scale_set["sku_name"].startswith(("Standard_NC", "Standard_NV", "Standard_ND"))


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
            gzip.decompress(base64.b64decode(profile["custom_data"])).decode()
            == boot_files(stack.plan, fleet)["cloud-config"]
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
    # The other extension is the Azure Monitor Agent that ships the VM's logs (test_engine_logs.py).
    [extension] = [e for e in scale_set["extension"] if e["type"] != "AzureMonitorLinuxAgent"]
    # Rich health states (2.0) need the body {"ApplicationHealthState": ...}: an engine's empty 200
    # reads as Unknown and is repaired in a loop, so the proxy's app-health path answers instead.
    assert (extension["publisher"], extension["type"], extension["type_handler_version"]) == (
        "Microsoft.ManagedServices",
        "ApplicationHealthLinux",
        "2.0",
    )
    assert json.loads(extension["settings"]) == {
        "protocol": "http",
        "port": health.port,
        "requestPath": APP_HEALTH_PATH,
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
    policy = scale_set["rolling_upgrade_policy"]
    assert policy["maximum_surge_instances_enabled"] is True
    # One unhealthy VM of a 1-2 VM fleet is 50-100 %: the pre-batch check must not stop the release
    # that would fix it, while new VMs that stay unhealthy still stop a bad release.
    assert (policy["max_unhealthy_instance_percent"], policy["max_unhealthy_upgraded_instance_percent"]) == (
        100,
        20,
    )


def test_user_data_carries_the_bundle_digest_and_the_front_door_id(azure_stacks: dict[str, Stack]) -> None:
    # The proxy on each VM admits only this profile's X-Azure-FDID, read from IMDS user data.
    stack = azure_stacks["prod-azure"]
    profile = stack.address("azurerm_cdn_frontdoor_profile", "LoadBalancer/FrontDoor")
    fleets = stack.doc["output"]["fleets"]["value"]
    digests = set()
    for fleet in stack.plan.fleets_on("azure"):
        scale_set = stack.at("azurerm_orchestrated_virtual_machine_scale_set", f"{fleet.name}/ScaleSet")
        digest = fleets[fleet.name]["bundle"]
        digests.add(digest)
        assert scale_set["user_data_base64"] == (
            f'${{base64encode(jsonencode({{"bundle" = "{digest}", '
            f'"front_door_id" = {profile}.resource_guid}}))}}'
        )
    # Each slot's bundle differs (model, slot), so each digest does.
    assert len(digests) == len(stack.plan.fleets_on("azure"))


def test_nics_use_accelerated_networking(azure_stacks: dict[str, Stack]) -> None:
    for stack in azure_stacks.values():
        for scale_set in stack.resources("azurerm_orchestrated_virtual_machine_scale_set").values():
            assert scale_set["network_interface"][0]["accelerated_networking_enabled"] is True


def test_replicas_join_their_slots_load_balancer_pool(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    scale_set = stack.at("azurerm_orchestrated_virtual_machine_scale_set", "translate-fr-green/ScaleSet")
    [config] = scale_set["network_interface"][0]["ip_configuration"]
    pool = stack.address("azurerm_lb_backend_address_pool", "LoadBalancer/translate-fr-green/Pool")
    assert config["load_balancer_backend_address_pool_ids"] == [f"${{{pool}.id}}"]


def test_identity_reads_only_its_token_and_the_api_key_and_publishes_on_its_own_scale_set(
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
    # The proxy on the VM checks the API key: the identity reads exactly that secret, nothing else.
    key = stack.at("azurerm_role_assignment", "translate-fr-green/ReadsApiKey")
    assert (key["scope"], key["role_definition_name"]) == (
        f"${{data.azurerm_key_vault.{vault}.id}}/secrets/llmdeploy-prod-api-key",
        "Key Vault Secrets User",
    )
    reads = [
        entry["scope"]
        for entry in stack.resources("azurerm_role_assignment").values()
        if entry["role_definition_name"] == "Key Vault Secrets User"
        and entry["principal_id"] == f"${{{identity}.principal_id}}"
    ]
    assert sorted(reads) == sorted([token["scope"], key["scope"]])
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
    assert {entry["role_definition_name"] for entry in edge} == {"Monitoring Metrics Publisher", "AcrPull"}


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
        assert rule["scale_action"]["cooldown"] == iso_duration(cooldown)
    assert [rule["scale_action"]["cooldown"] for rule in (out, scale_in)] == ["PT5M", "PT15M"]
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
    # Front Door's Origin dimension may name the origin by host or host:port: either matches.
    assert trigger["dimensions"] == [
        {
            "name": "Origin",
            "operator": "Equals",
            "values": [f"${{{address}.ip_address}}", f"${{{address}.ip_address}}:80"],
        }
    ]


def test_the_deployer_may_publish_the_queue_metric_before_the_autoscale_rules_read_it(
    azure_stacks: dict[str, Stack],
) -> None:
    # Azure refuses an autoscale rule on a custom metric nothing has published (UnsupportedMetric): the
    # apply publishes a first value as the identity applying the stack, which needs the data action.
    stack = azure_stacks["prod-azure"]
    scale_set = stack.address("azurerm_orchestrated_virtual_machine_scale_set", "translate-fr-blue/ScaleSet")
    [deployer] = [
        f"data.azurerm_client_config.{name}"
        for name, entry in stack.data("azurerm_client_config").items()
        if entry["//"]["metadata"]["path"].endswith("/translate-fr-blue/Deployer")
    ]
    grant = stack.address("azurerm_role_assignment", "translate-fr-blue/DeployerPublishesMetrics")
    publisher = stack.at("azurerm_role_assignment", "translate-fr-blue/DeployerPublishesMetrics")
    assert publisher == {
        **publisher,
        "scope": f"${{{scale_set}.id}}",
        "role_definition_name": "Monitoring Metrics Publisher",
        "principal_id": f"${{{deployer}.object_id}}",
    }
    # Granted before Terraform creates the rules, so the publish right after their refusal may work.
    setting = stack.at("azurerm_monitor_autoscale_setting", "translate-fr-blue/Autoscale")
    assert setting["depends_on"] == [grant]
    # A fleet scaling on Front Door's requests reads Azure's own metric: nothing to publish, no grant.
    assert "depends_on" not in stack.at("azurerm_monitor_autoscale_setting", "translate-es-blue/Autoscale")
    granted = [key for key in stack.resources("azurerm_role_assignment") if "DeployerPublishes" in key]
    queue_fleets = [
        fleet for fleet in stack.plan.fleets_on("azure") if fleet.autoscaling.target_queue_size is not None
    ]
    assert len(granted) == len(queue_fleets) > 0
