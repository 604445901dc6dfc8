"""The Azure network: resource group, VNet, a private subnet leaving through a NAT gateway."""

from __future__ import annotations

from tests.fixtures_synth import Stack


def test_everything_lives_in_the_environments_resource_group(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    [(name, group)] = stack.resources("azurerm_resource_group").items()
    assert (group["name"], group["location"]) == ("llmdeploy-demo-prod", "eastus")
    reference = f"${{azurerm_resource_group.{name}.name}}"
    for kind in (
        "azurerm_virtual_network",
        "azurerm_nat_gateway",
        "azurerm_orchestrated_virtual_machine_scale_set",
        "azurerm_lb",
        "azurerm_cdn_frontdoor_profile",
    ):
        for entry in stack.resources(kind).values():
            assert entry["resource_group_name"] == reference, kind


def test_subnet_goes_out_only_through_the_nat_gateway(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    subnet = stack.at("azurerm_subnet", "Network/InstanceSubnet")
    assert subnet["address_prefixes"] == ['${cidrsubnet("10.60.0.0/16", 4, 0)}']
    assert subnet["default_outbound_access_enabled"] is False
    link = stack.at("azurerm_subnet_nat_gateway_association", "Network/NatGatewaySubnet")
    assert link["subnet_id"] == f"${{{stack.address('azurerm_subnet', 'Network/InstanceSubnet')}.id}}"
    assert link["nat_gateway_id"] == f"${{{stack.address('azurerm_nat_gateway', 'Network/NatGateway')}.id}}"
    address = stack.at("azurerm_public_ip", "Network/NatAddress")
    assert (address["sku"], address["allocation_method"]) == ("Standard", "Static")


def test_instances_have_no_public_address(azure_stacks: dict[str, Stack]) -> None:
    for stack in azure_stacks.values():
        for scale_set in stack.resources("azurerm_orchestrated_virtual_machine_scale_set").values():
            [nic] = scale_set["network_interface"]
            [config] = nic["ip_configuration"]
            assert "public_ip_address" not in config


def test_registry_caches_exactly_the_images_the_fleets_pull(azure_stacks: dict[str, Stack]) -> None:
    """The fleets' engine images and the proxy every VM runs in front of its engine."""
    for name, source, target in (
        (
            "prod-azure",
            "ghcr.io/huggingface/text-generation-inference",
            "huggingface/text-generation-inference",
        ),
        ("edge-azure", "docker.io/vllm/vllm-openai", "vllm/vllm-openai"),
    ):
        stack = azure_stacks[name]
        registry = stack.at("azurerm_container_registry", "Registry/Registry")
        # Artifact cache works on every tier; the replicas pull with their identity, not the admin user.
        assert (registry["sku"], registry["admin_enabled"]) == ("Standard", False)
        reference = f"${{{stack.address('azurerm_container_registry', 'Registry/Registry')}.id}}"
        rules = stack.resources("azurerm_container_registry_cache_rule").values()
        assert sorted((rule["source_repo"], rule["target_repo"]) for rule in rules) == sorted(
            [(source, target), ("docker.io/library/nginx", "library/nginx")]
        )
        assert {rule["container_registry_id"] for rule in rules} == {reference}
        pulls = [
            entry
            for entry in stack.resources("azurerm_role_assignment").values()
            if entry["role_definition_name"] == "AcrPull"
        ]
        assert [entry["scope"] for entry in pulls] == [reference] * len(stack.plan.fleets_on("azure"))
        assert stack.doc["output"]["registry"]["value"] == (
            f"${{{stack.address('azurerm_container_registry', 'Registry/Registry')}.login_server}}"
        )
