"""Security groups: clients to the load balancer only from allowed networks, engines only from it."""

from __future__ import annotations

from llmdeploy.engines import PROXY_PORT
from tests.fixtures_synth import Stack


def _rules(stack: Stack, kind: str, group: str) -> list[dict[str, object]]:
    address = stack.address("aws_security_group", f"Access/{group}")
    return [
        rule for rule in stack.resources(kind).values() if rule["security_group_id"] == f"${{{address}.id}}"
    ]


def test_internal_endpoint_admits_only_the_vpc_by_default(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    [rule] = _rules(stack, "aws_vpc_security_group_ingress_rule", "LoadBalancerGroup")
    vpc = stack.address("aws_vpc", "Network/Vpc/Vpc")
    assert (rule["cidr_ipv4"], rule["from_port"], rule["to_port"]) == (f"${{{vpc}.cidr_block}}", 80, 80)


def test_configured_client_networks_on_every_listener_port(aws_stacks: dict[str, Stack]) -> None:
    rules = _rules(aws_stacks["edge-aws"], "aws_vpc_security_group_ingress_rule", "LoadBalancerGroup")
    admitted = sorted((rule["cidr_ipv4"], rule["from_port"]) for rule in rules)
    assert admitted == [
        ("10.1.0.0/16", 80),
        ("10.1.0.0/16", 443),
        ("192.168.0.0/24", 80),
        ("192.168.0.0/24", 443),
    ]
    prod = _rules(aws_stacks["prod-aws"], "aws_vpc_security_group_ingress_rule", "LoadBalancerGroup")
    # prod serves HTTPS (an API key crosses the internet); port 80 only redirects to it.
    assert sorted((rule["cidr_ipv4"], rule["from_port"]) for rule in prod) == [
        ("0.0.0.0/0", 80),
        ("0.0.0.0/0", 443),
    ]


def test_engines_admit_only_the_load_balancer_on_the_proxy_port(aws_stacks: dict[str, Stack]) -> None:
    port = PROXY_PORT  # whatever the engine (TGI in dev, vLLM in edge)
    for stack in (aws_stacks["dev-aws"], aws_stacks["edge-aws"]):
        [rule] = _rules(stack, "aws_vpc_security_group_ingress_rule", "InstanceGroup")
        lb_group = stack.address("aws_security_group", "Access/LoadBalancerGroup")
        assert rule["referenced_security_group_id"] == f"${{{lb_group}.id}}"
        assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == (port, port, "tcp")
        assert "cidr_ipv4" not in rule
        [to_engine] = _rules(stack, "aws_vpc_security_group_egress_rule", "LoadBalancerGroup")
        assert (to_engine["from_port"], to_engine["to_port"]) == (port, port)


def test_engines_reach_out_only_over_web_ports(aws_stacks: dict[str, Stack]) -> None:
    rules = _rules(aws_stacks["dev-aws"], "aws_vpc_security_group_egress_rule", "InstanceGroup")
    assert sorted((rule["from_port"], rule["to_port"], rule["cidr_ipv4"]) for rule in rules) == [
        (80, 80, "0.0.0.0/0"),
        (443, 443, "0.0.0.0/0"),
    ]
