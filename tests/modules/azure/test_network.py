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
