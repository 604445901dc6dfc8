"""GCP access: the firewall admits only Google's front ends to the engines; Cloud Armor admits clients."""

from __future__ import annotations

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


def test_api_key_is_read_from_secret_manager_and_required_with_the_client_cidr(
    gcp_stacks: dict[str, Stack],
) -> None:
    stack = gcp_stacks["prod-gcp"]
    [(name, secret)] = stack.data("google_secret_manager_secret_version").items()
    assert secret["secret"] == "llmdeploy-prod-api-key"
    allow, default = _policy_rules(stack)
    key = f"${{data.google_secret_manager_secret_version.{name}.secret_data}}"
    assert allow["action"] == "allow"
    assert allow["match"] == {
        "expr": {
            "expression": "inIpRange(origin.ip, '0.0.0.0/0') && "
            f"request.headers['authorization'] == 'Bearer {key}'"
        }
    }
    assert default == {
        "action": "deny(403)",
        "description": "everyone else",
        "priority": DEFAULT_PRIORITY,
        "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
    }


def test_staging_admits_only_the_office_range_with_the_key(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["staging-gcp"]
    (name,) = stack.data("google_secret_manager_secret_version")
    allow, default = _policy_rules(stack)
    key = f"${{data.google_secret_manager_secret_version.{name}.secret_data}}"
    assert allow["action"] == "allow"
    assert allow["match"]["expr"]["expression"] == (
        f"inIpRange(origin.ip, '203.0.113.0/24') && request.headers['authorization'] == 'Bearer {key}'"
    )
    assert default["action"] == "deny(403)"


def test_listed_client_networks_are_admitted(gcp_stacks: dict[str, Stack]) -> None:
    allow, _ = _policy_rules(gcp_stacks["edge-gcp"])
    assert allow["match"] == {
        "versioned_expr": "SRC_IPS_V1",
        "config": {"src_ip_ranges": ["10.1.0.0/16", "192.168.0.0/24"]},
    }


def test_every_backend_service_is_guarded_by_the_policy(gcp_stacks: dict[str, Stack]) -> None:
    for stack in gcp_stacks.values():
        policy = stack.address("google_compute_security_policy", "Access/ClientPolicy")
        for service in stack.resources("google_compute_backend_service").values():
            assert service["security_policy"] == f"${{{policy}.id}}"
