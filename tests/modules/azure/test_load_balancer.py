"""Front Door with weighted origins per slot, GET health probes, routes per model; one L4 origin per slot."""

from __future__ import annotations

import re

import pytest

from llmdeploy.plan.routes import SLOT_HEADER
from modules.azure.load_balancer import slot_rule_set_name
from tests.fixtures_synth import Stack


def _origins(stack: Stack, model: str) -> dict[str, dict[str, object]]:
    """The origins of the model's weighted origin group (not the slots' own groups)."""
    return {
        entry["name"]: entry
        for entry in stack.resources("azurerm_cdn_frontdoor_origin").values()
        if f"/LoadBalancer/{model}/" in entry["//"]["metadata"]["path"]
        and "/SlotOrigin-" not in entry["//"]["metadata"]["path"]
    }


def test_slot_weights_become_origin_weights(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    origins = _origins(stack, "translate-fr")
    assert {name: (origin["weight"], origin["enabled"]) for name, origin in origins.items()} == {
        "translate-fr-blue": (950, True),
        "translate-fr-green": (50, True),
    }
    address = stack.address("azurerm_public_ip", "LoadBalancer/translate-fr-blue/OriginAddress")
    assert origins["translate-fr-blue"]["host_name"] == f"${{{address}.ip_address}}"
    assert origins["translate-fr-blue"]["http_port"] == 80


def test_a_zero_percent_slot_is_disabled_not_weighted_zero(azure_stacks: dict[str, Stack]) -> None:
    green = _origins(azure_stacks["edge-azure"], "coder")["coder-green"]
    assert (green["enabled"], green["weight"]) == (False, 1)


def test_origin_group_probes_the_health_path_with_get(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    group = stack.at("azurerm_cdn_frontdoor_origin_group", "LoadBalancer/translate-fr/OriginGroup")
    assert group["health_probe"] == {
        "protocol": "Http",
        "request_type": "GET",
        "path": "/health",
        "interval_in_seconds": 10,
    }
    assert group["session_affinity_enabled"] is False
    assert group["load_balancing"] == {"additional_latency_in_milliseconds": 1000}


def test_path_routes_per_model_on_the_default_domain(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    route = stack.at("azurerm_cdn_frontdoor_route", "LoadBalancer/translate-es/Route")
    assert route["patterns_to_match"] == ["/translate-es/*"]
    assert route["link_to_default_domain"] is True
    # HTTPS only from clients; the provider allows a redirect only with both protocols.
    assert (route["supported_protocols"], route["https_redirect_enabled"]) == (["Https"], False)
    # The origins have no certificate: TLS ends at Front Door (README, Azure constraints).
    assert route["forwarding_protocol"] == "HttpOnly"
    group = stack.address("azurerm_cdn_frontdoor_origin_group", "LoadBalancer/translate-es/OriginGroup")
    assert route["cdn_frontdoor_origin_group_id"] == f"${{{group}.id}}"
    domain = stack.address("azurerm_cdn_frontdoor_custom_domain", "LoadBalancer/Domains/llm.example.com")
    assert route["cdn_frontdoor_custom_domain_ids"] == [f"${{{domain}.id}}"]  # prod's tls.domain


def test_host_routes_on_managed_certificate_domains(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["edge-azure"]
    domain = stack.at("azurerm_cdn_frontdoor_custom_domain", "LoadBalancer/Domains/coder.llm.example.com")
    assert domain["host_name"] == "coder.llm.example.com"
    assert domain["tls"] == {"certificate_type": "ManagedCertificate", "minimum_version": "TLS12"}
    route = stack.at("azurerm_cdn_frontdoor_route", "LoadBalancer/coder/Route")
    assert (route["patterns_to_match"], route["link_to_default_domain"]) == (["/*"], False)
    reference = stack.address(
        "azurerm_cdn_frontdoor_custom_domain", "LoadBalancer/Domains/coder.llm.example.com"
    )
    assert route["cdn_frontdoor_custom_domain_ids"] == [f"${{{reference}.id}}"]


def test_custom_domains_list_the_dns_records_that_validate_and_serve_them(
    azure_stacks: dict[str, Stack],
) -> None:
    stack = azure_stacks["edge-azure"]
    domain = stack.address(
        "azurerm_cdn_frontdoor_custom_domain", "LoadBalancer/Domains/coder.llm.example.com"
    )
    endpoint = stack.address("azurerm_cdn_frontdoor_endpoint", "LoadBalancer/Endpoint")
    assert stack.doc["output"]["dns_records"]["value"] == {
        "coder.llm.example.com": {
            "txt_name": "_dnsauth.coder.llm.example.com",
            "txt_value": f"${{{domain}.validation_token}}",
            "cname_name": "coder.llm.example.com",
            "cname_value": f"${{{endpoint}.host_name}}",
        }
    }
    for other in azure_stacks.values():
        hosts = {
            domain["host_name"] for domain in other.resources("azurerm_cdn_frontdoor_custom_domain").values()
        }
        assert set(other.doc["output"]["dns_records"]["value"]) == hosts, other.name


def test_front_door_waits_as_long_as_it_can_for_streams(azure_stacks: dict[str, Stack]) -> None:
    profile = azure_stacks["prod-azure"].at("azurerm_cdn_frontdoor_profile", "LoadBalancer/FrontDoor")
    assert (profile["sku_name"], profile["response_timeout_seconds"]) == ("Standard_AzureFrontDoor", 240)


def test_each_slot_has_a_standard_load_balancer_probing_the_engine(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    for fleet in stack.plan.fleets_on("azure"):
        lb = stack.at("azurerm_lb", f"LoadBalancer/{fleet.name}/LoadBalancer")
        assert lb["sku"] == "Standard"
        probe = stack.at("azurerm_lb_probe", f"{fleet.name}/Probe")
        assert (probe["protocol"], probe["port"], probe["request_path"]) == (
            "Http",
            fleet.health.port,
            fleet.health.path,
        )
        rule = stack.at("azurerm_lb_rule", f"{fleet.name}/Rule")
        assert (rule["frontend_port"], rule["backend_port"]) == (80, fleet.health.port)
        assert rule["probe_id"] == f"${{{stack.address('azurerm_lb_probe', f'{fleet.name}/Probe')}.id}}"
        assert rule["disable_outbound_snat"] is True
        assert rule["idle_timeout_in_minutes"] == 15


def test_endpoints_are_https_on_front_door(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    assert stack.doc["output"]["endpoints"]["value"] == {  # on prod's tls.domain
        "translate-fr": "https://llm.example.com/translate-fr/",
        "translate-es": "https://llm.example.com/translate-es/",
    }
    assert azure_stacks["edge-azure"].doc["output"]["endpoints"]["value"] == {
        "coder": "https://coder.llm.example.com/"
    }


def _ref(stack: Stack, kind: str, path: str) -> str:
    return f"${{{stack.address(kind, path)}.id}}"


@pytest.mark.parametrize(("env", "model"), [("prod", "translate-fr"), ("edge", "coder")])
def test_the_slot_header_reaches_that_slot_alone_through_its_own_origin_group(
    azure_stacks: dict[str, Stack], env: str, model: str
) -> None:
    """A rule per slot on the model's route: `X-LLMDeploy-Slot: <slot>` overrides the origin group
    with the slot's own, whose one origin is enabled at any weight (edge's green is at 0%)."""
    stack = azure_stacks[f"{env}-azure"]
    base = f"LoadBalancer/{model}"
    route = stack.at("azurerm_cdn_frontdoor_route", f"{base}/Route")
    rule_set = stack.at("azurerm_cdn_frontdoor_rule_set", f"{base}/SlotRules")
    assert route["cdn_frontdoor_rule_set_ids"] == [
        _ref(stack, "azurerm_cdn_frontdoor_rule_set", f"{base}/SlotRules")
    ]
    # Rule set names: a letter, then letters and digits, at most 60 (Front Door's naming rules).
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]{0,59}", rule_set["name"])
    weighted = stack.at("azurerm_cdn_frontdoor_origin_group", f"{base}/OriginGroup")
    fleets = [fleet for fleet in stack.plan.fleets_on("azure") if fleet.model == model]
    assert len(fleets) == 2
    for order, fleet in enumerate(sorted(fleets, key=lambda f: f.slot), start=1):
        group = stack.at("azurerm_cdn_frontdoor_origin_group", f"{base}/SlotGroup-{fleet.slot}")
        assert group["health_probe"] == weighted["health_probe"]
        origin = stack.at("azurerm_cdn_frontdoor_origin", f"{base}/SlotOrigin-{fleet.slot}")
        assert origin["cdn_frontdoor_origin_group_id"] == _ref(
            stack, "azurerm_cdn_frontdoor_origin_group", f"{base}/SlotGroup-{fleet.slot}"
        )
        assert origin["enabled"] is True
        address = stack.address("azurerm_public_ip", f"LoadBalancer/{fleet.name}/OriginAddress")
        assert origin["host_name"] == f"${{{address}.ip_address}}"
        rule = stack.at("azurerm_cdn_frontdoor_rule", f"{base}/SlotRule-{fleet.slot}")
        assert (rule["name"], rule["order"]) == (fleet.slot, order)
        assert rule["conditions"] == {
            "request_header": [{"name": SLOT_HEADER, "operator": "Equal", "values": [fleet.slot]}]
        }
        assert rule["actions"] == {
            "route_configuration_override": {
                "origin_group": {
                    "cdn_frontdoor_origin_group_id": origin["cdn_frontdoor_origin_group_id"],
                    "forwarding_protocol": "HttpOnly",
                },
                "caching": {"behaviour": "Disabled"},
            }
        }


def test_slot_rule_set_names_differ_per_model_and_stay_valid() -> None:
    names = {slot_rule_set_name(model) for model in ("a-b", "ab", "translate-fr", "x" * 63)}
    assert len(names) == 4
    assert all(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]{0,59}", name) for name in names)
