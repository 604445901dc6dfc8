"""GCP access: the firewall admits only Google's front ends to the engines; Cloud Armor admits clients."""

from __future__ import annotations

import json

from llmdeploy.engines import PROXY_PORT
from modules.gcp.access import GOOGLE_FRONT_ENDS
from tests.fixtures_synth import Stack

DEFAULT_PRIORITY = 2147483647


def _policy_rules(stack: Stack) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = stack.at("google_compute_security_policy", "Access/ClientPolicy")["rule"]
    return sorted(rules, key=lambda rule: int(str(rule["priority"])))


def test_only_google_front_ends_reach_the_proxy_port(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    rule = stack.at("google_compute_firewall", "Access/FromLoadBalancer")
    assert rule["direction"] == "INGRESS"
    assert rule["source_ranges"] == list(GOOGLE_FRONT_ENDS)
    assert rule["allow"] == [{"protocol": "tcp", "ports": [str(PROXY_PORT)]}]
    assert rule["target_tags"] == ["llmdeploy-demo-prod-gpu"]
    ingress = [
        entry
        for entry in stack.resources("google_compute_firewall").values()
        if entry["direction"] == "INGRESS"
    ]
    assert ingress == [rule]


def test_outbound_is_https_and_http_only(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    allowed = stack.at("google_compute_firewall", "Access/Outbound")
    denied = stack.at("google_compute_firewall", "Access/DenyOtherOutbound")
    assert allowed["allow"] == [{"protocol": "tcp", "ports": ["443", "80"]}]
    assert denied["deny"] == [{"protocol": "all"}]
    assert denied["priority"] > allowed.get("priority", 1000)
    for rule in (allowed, denied):
        assert (rule["direction"], rule["target_tags"]) == ("EGRESS", ["llmdeploy-demo-prod-gpu"])


def test_every_instance_carries_the_firewall_tag(gcp_stacks: dict[str, Stack]) -> None:
    for stack in gcp_stacks.values():
        tag = stack.at("google_compute_firewall", "Access/FromLoadBalancer")["target_tags"]
        for template in stack.resources("google_compute_instance_template").values():
            assert template["tags"] == tag


def test_the_api_key_never_reaches_the_load_balancer_plan_or_state(gcp_stacks: dict[str, Stack]) -> None:
    # Contract: the VM's proxy checks the key; no Cloud Armor rule holds it, no data source reads it.
    stack = gcp_stacks["prod-gcp"]
    assert stack.plan.access.api_key is not None
    assert "data" not in stack.doc or "google_secret_manager_secret_version" not in stack.doc["data"]
    allow, default = _policy_rules(stack)
    assert allow == {
        "action": "allow",
        "description": "admitted clients",
        "priority": 1000,
        "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["0.0.0.0/0"]}},
    }
    assert default == {
        "action": "deny(403)",
        "description": "everyone else",
        "priority": DEFAULT_PRIORITY,
        "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
    }
    assert "authorization" not in json.dumps(stack.resources("google_compute_security_policy")).lower()


def test_staging_admits_only_the_office_range_by_its_address(gcp_stacks: dict[str, Stack]) -> None:
    allow, default = _policy_rules(gcp_stacks["staging-gcp"])
    assert allow["match"] == {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["203.0.113.0/24"]}}
    assert default["action"] == "deny(403)"


def test_only_denied_egress_is_logged(gcp_stacks: dict[str, Stack]) -> None:
    # Logging every allowed connection of an LLM service bills more than it tells (review #20).
    stack = gcp_stacks["prod-gcp"]
    logged = {
        name for name, rule in stack.resources("google_compute_firewall").items() if "log_config" in rule
    }
    assert logged == {stack.address("google_compute_firewall", "Access/DenyOtherOutbound").split(".")[1]}


def test_listed_client_networks_are_admitted(gcp_stacks: dict[str, Stack]) -> None:
    allow, _ = _policy_rules(gcp_stacks["edge-gcp"])
    assert allow["match"] == {
        "versioned_expr": "SRC_IPS_V1",
        "config": {"src_ip_ranges": ["198.51.100.0/24", "203.0.113.0/24"]},
    }


def test_every_backend_service_is_guarded_by_the_policy(gcp_stacks: dict[str, Stack]) -> None:
    for stack in gcp_stacks.values():
        policy = stack.address("google_compute_security_policy", "Access/ClientPolicy")
        for service in stack.resources("google_compute_backend_service").values():
            assert service["security_policy"] == f"${{{policy}.id}}"
