"""With clouds.azure.dns_zone, each Front Door custom domain's validation TXT record and its CNAME to the
endpoint are created in that Azure DNS zone, named relative to it; without one they are only an output."""

from __future__ import annotations

from tests.fixtures_synth import Stack


def test_the_zone_gets_the_validation_and_cname_records(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    zone = stack.plan.settings("azure").dns_zone
    assert zone is not None and (zone.name, zone.resource_group) == ("example.com", "llmdeploy-dns")
    domain = stack.at("azurerm_cdn_frontdoor_custom_domain", "LoadBalancer/Domains/llm.example.com")
    assert domain["host_name"] == "llm.example.com"
    domain_ref = stack.address("azurerm_cdn_frontdoor_custom_domain", "LoadBalancer/Domains/llm.example.com")
    endpoint = stack.address("azurerm_cdn_frontdoor_endpoint", "LoadBalancer/Endpoint")
    [txt] = stack.resources("azurerm_dns_txt_record").values()
    [cname] = stack.resources("azurerm_dns_cname_record").values()
    assert (txt["name"], txt["zone_name"], txt["resource_group_name"]) == (
        "_dnsauth.llm",
        "example.com",
        "llmdeploy-dns",
    )
    assert txt["record"] == [{"value": f"${{{domain_ref}.validation_token}}"}]
    assert (cname["name"], cname["zone_name"], cname["record"]) == (
        "llm",
        "example.com",
        f"${{{endpoint}.host_name}}",
    )


def test_without_a_zone_the_records_are_only_an_output(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["edge-azure"]
    assert stack.doc["output"]["dns_records"]["value"]
    assert stack.resources("azurerm_dns_txt_record") == {}
    assert stack.resources("azurerm_dns_cname_record") == {}
