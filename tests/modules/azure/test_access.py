"""Azure access: the NSG admits only Front Door and probes; the WAF admits clients with the key."""

from __future__ import annotations

from llmdeploy.engines import PROXY_PORT
from tests.fixtures_synth import Stack


def _rules(stack: Stack) -> dict[str, dict[str, object]]:
    return {entry["name"]: entry for entry in stack.resources("azurerm_network_security_rule").values()}


def test_only_front_door_and_probes_reach_the_engines(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    rules = _rules(stack)
    assert set(rules) == {"FromFrontDoor", "FromProbes", "DenyOtherInbound"}
    front_door, probes, deny = rules["FromFrontDoor"], rules["FromProbes"], rules["DenyOtherInbound"]
    assert (front_door["source_address_prefix"], front_door["destination_port_ranges"]) == (
        "AzureFrontDoor.Backend",
        [str(PROXY_PORT)],
    )
    assert (probes["source_address_prefix"], probes["destination_port_ranges"]) == (
        "AzureLoadBalancer",
        [str(PROXY_PORT)],
    )
    assert {front_door["access"], probes["access"], deny["access"]} == {"Allow", "Deny"}
    assert (deny["access"], deny["source_address_prefix"], deny["priority"]) == ("Deny", "*", 4096)
    assert all(rule["direction"] == "Inbound" for rule in rules.values())
    link = stack.at("azurerm_subnet_network_security_group_association", "Access/InstanceSubnetSecurityGroup")
    assert link["subnet_id"] == f"${{{stack.address('azurerm_subnet', 'Network/InstanceSubnet')}.id}}"


def test_waf_blocks_other_networks_and_requests_without_the_key(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    [(vault, vault_config)] = stack.data("azurerm_key_vault").items()
    assert (vault_config["name"], vault_config["resource_group_name"]) == (
        "llmdeploy-prod-kv",
        "llmdeploy-secrets",
    )
    [(secret, secret_config)] = stack.data("azurerm_key_vault_secret").items()
    assert secret_config == {
        **secret_config,
        "name": "llmdeploy-prod-api-key",
        "key_vault_id": f"${{data.azurerm_key_vault.{vault}.id}}",
    }
    policy = stack.at("azurerm_cdn_frontdoor_firewall_policy", "Access/ClientPolicy")
    assert (policy["sku_name"], policy["mode"], policy["custom_block_response_status_code"]) == (
        "Standard_AzureFrontDoor",
        "Prevention",
        403,
    )
    clients, key = policy["custom_rule"]
    assert clients["match_condition"] == [
        {
            "match_variable": "RemoteAddr",
            "operator": "IPMatch",
            "negation_condition": True,
            "match_values": ["0.0.0.0/0"],
        }
    ]
    assert key["match_condition"] == [
        {
            "match_variable": "RequestHeader",
            "selector": "Authorization",
            "operator": "Equal",
            "negation_condition": True,
            "match_values": [f"Bearer ${{data.azurerm_key_vault_secret.{secret}.value}}"],
        }
    ]
    assert {clients["action"], key["action"]} == {"Block"}


def test_internal_endpoint_lists_its_client_networks_and_needs_no_key(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["edge-azure"]
    assert stack.data("azurerm_key_vault_secret") == {}
    assert stack.data("azurerm_key_vault") == {}
    [clients] = stack.at("azurerm_cdn_frontdoor_firewall_policy", "Access/ClientPolicy")["custom_rule"]
    assert clients["match_condition"][0]["match_values"] == ["10.1.0.0/16", "192.168.0.0/24"]


def test_the_waf_guards_every_front_door_domain(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["edge-azure"]
    policy = stack.at("azurerm_cdn_frontdoor_security_policy", "LoadBalancer/ClientPolicy")
    firewall = policy["security_policies"]["firewall"]
    assert firewall["cdn_frontdoor_firewall_policy_id"] == (
        f"${{{stack.address('azurerm_cdn_frontdoor_firewall_policy', 'Access/ClientPolicy')}.id}}"
    )
    domains = [entry["cdn_frontdoor_domain_id"] for entry in firewall["association"]["domain"]]
    assert domains == [
        f"${{{stack.address('azurerm_cdn_frontdoor_endpoint', 'LoadBalancer/Endpoint')}.id}}",
        "${"
        + stack.address("azurerm_cdn_frontdoor_custom_domain", "LoadBalancer/Domains/coder.llm.example.com")
        + ".id}",
    ]
    assert firewall["association"]["patterns_to_match"] == ["/*"]
