"""Azure access: the NSG admits only Front Door and probes; the WAF admits the listed client networks."""

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


def test_waf_admits_client_networks_by_socket_address_and_never_holds_the_key(
    azure_stacks: dict[str, Stack],
) -> None:
    stack = azure_stacks["prod-azure"]
    # The proxy on each VM checks the key: no WAF rule and no data source reads the secret's value.
    assert stack.data("azurerm_key_vault_secret") == {}
    policy = stack.at("azurerm_cdn_frontdoor_firewall_policy", "Access/ClientPolicy")
    assert (policy["sku_name"], policy["mode"], policy["custom_block_response_status_code"]) == (
        "Standard_AzureFrontDoor",
        "Prevention",
        403,
    )
    [clients] = policy["custom_rule"]
    # SocketAddr is the address Front Door sees; RemoteAddr may come from the client's X-Forwarded-For
    # (learn.microsoft.com/azure/web-application-firewall/afds/waf-front-door-configure-ip-restriction).
    assert clients["match_condition"] == [
        {
            "match_variable": "SocketAddr",
            "operator": "IPMatch",
            "negation_condition": True,
            "match_values": ["0.0.0.0/0"],
        }
    ]
    assert clients["action"] == "Block"
    assert "Bearer" not in (stack.folder / "cdk.tf.json").read_text(encoding="utf-8")


def test_internal_endpoint_lists_its_client_networks_and_needs_no_key(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["edge-azure"]
    assert stack.data("azurerm_key_vault_secret") == {}
    assert stack.data("azurerm_key_vault") == {}
    [clients] = stack.at("azurerm_cdn_frontdoor_firewall_policy", "Access/ClientPolicy")["custom_rule"]
    assert clients["match_condition"][0]["match_values"] == ["198.51.100.0/24", "203.0.113.0/24"]


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
