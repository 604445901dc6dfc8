"""`clouds.aws.dns_zone`: the endpoint's alias records in an existing Route 53 zone, a failover pair
(routers first, then the fleets' load balancer) per name when the router group is on."""

from __future__ import annotations

import json

import pytest

from llmdeploy.clouds.aws.resolve import DIRECT_SET_IDENTIFIER, ROUTERS_SET_IDENTIFIER
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from tests.fixtures_synth import EDGE_ENV, Doc, Stack

pytestmark = pytest.mark.synth

#: Path routing behind routers, HTTPS, the domain at a subdomain of the zone.
ROUTED = """\
project: demo
tier: dev
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b], dns_zone: example.com}
access:
  tls:
    domain: llm.example.com
    aws_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc
routing: {enabled: true}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
  - name: coder
    engine: vllm
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
"""
#: Host routing without routers, the zone named at the domain itself.
HOSTS = EDGE_ENV.replace(
    "    region: eu-west-1\n", "    region: eu-west-1\n    dns_zone: llm.example.com\n"
).replace("project: edge", "project: hosts")
ROUTED_HOSTS = HOSTS.replace("models:\n", "routing: {enabled: true}\nmodels:\n").replace(
    "project: hosts", "project: routedhosts"
)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    from stacks.app import build_app

    root = tmp_path_factory.mktemp("dns-synth")
    plans = []
    for name, text in (("routed", ROUTED), ("hosts", HOSTS), ("routedhosts", ROUTED_HOSTS)):
        path = root / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        plans.append(build_plan(load_environment(path)))
    outdir = root / "cdktf.out"
    build_app(plans, outdir, clouds=["aws"], project_dir=root).synth()
    found = {}
    for plan in plans:
        folder = outdir / "stacks" / plan.cloud("aws").stack
        found[plan.env] = Stack(
            plan, folder, json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8"))
        )
    return found


def _ref(stack: Stack, kind: str, path: str, attribute: str) -> str:
    return f"${{{stack.address(kind, path)}.{attribute}}}"


def _alias(stack: Stack, lb_path: str, *, evaluate: bool) -> Doc:
    return {
        "name": _ref(stack, "aws_lb", lb_path, "dns_name"),
        "zone_id": _ref(stack, "aws_lb", lb_path, "zone_id"),
        "evaluate_target_health": evaluate,
    }


def _records(stack: Stack) -> dict[str, Doc]:
    """The Route 53 records by construct path below the stack's Dns construct."""
    return {
        entry["//"]["metadata"]["path"].split("/Dns/", 1)[1]: entry
        for entry in stack.resources("aws_route53_record").values()
    }


def test_the_zone_is_looked_up_by_name_as_a_public_zone(stacks: dict[str, Stack]) -> None:
    zones = {stack.name: list(stack.data("aws_route53_zone").values()) for stack in stacks.values()}
    assert [(zone["name"], zone["private_zone"]) for zone in zones["routed-aws"]] == [("example.com", False)]
    assert [zone["name"] for zone in zones["hosts-aws"]] == ["llm.example.com"]
    (zone_name,) = stacks["routed"].data("aws_route53_zone")
    zone_id = f"${{data.aws_route53_zone.{zone_name}.zone_id}}"
    assert {record["zone_id"] for record in _records(stacks["routed"]).values()} == {zone_id}


def test_with_routers_the_domain_fails_over_from_the_routers_to_the_fleets_load_balancer(
    stacks: dict[str, Stack],
) -> None:
    stack = stacks["routed"]
    records = _records(stack)
    # Path routing: one name, the domain, for both models.
    assert sorted(records) == ["llm.example.com/Direct", "llm.example.com/Routers"]
    primary, secondary = records["llm.example.com/Routers"], records["llm.example.com/Direct"]
    assert primary["name"] == secondary["name"] == "llm.example.com"
    assert primary["type"] == secondary["type"] == "A"
    assert (primary["set_identifier"], primary["failover_routing_policy"]) == (
        ROUTERS_SET_IDENTIFIER,
        {"type": "PRIMARY"},
    )
    assert (secondary["set_identifier"], secondary["failover_routing_policy"]) == (
        DIRECT_SET_IDENTIFIER,
        {"type": "SECONDARY"},
    )
    # The primary inherits the routers' target health; the direct path always answers.
    assert primary["alias"] == _alias(stack, "Routers/LoadBalancer", evaluate=True)
    assert secondary["alias"] == _alias(stack, "LoadBalancer/LoadBalancer", evaluate=False)
    # Alias records carry neither TTL nor records, and no separate health check.
    for record in records.values():
        assert not {"ttl", "records", "health_check_id", "allow_overwrite"} & set(record)
    # The direct record exists (or becomes SECONDARY) before the PRIMARY is created.
    assert primary["depends_on"] == [stack.address("aws_route53_record", "Dns/llm.example.com/Direct")]


def test_with_a_zone_clients_are_given_the_domain(stacks: dict[str, Stack]) -> None:
    outputs = stacks["routed"].doc["output"]
    assert outputs["endpoints"]["value"] == {
        "chat": "https://llm.example.com/chat/",
        "coder": "https://llm.example.com/coder/",
    }
    # The routers' own load balancer stays reachable by its name (diagnostics, status).
    router_lb = _ref(stacks["routed"], "aws_lb", "Routers/LoadBalancer", "dns_name")
    assert outputs["router_endpoint"]["value"] == f"https://{router_lb}"


def test_host_routing_gets_one_record_per_model_host(stacks: dict[str, Stack]) -> None:
    stack = stacks["hosts"]
    records = _records(stack)
    assert sorted(records) == ["coder.llm.example.com/Direct"]
    (record,) = records.values()
    assert record["name"] == "coder.llm.example.com"
    assert record["alias"] == _alias(stack, "LoadBalancer/LoadBalancer", evaluate=False)
    assert not {"set_identifier", "failover_routing_policy"} & set(record)
    assert stack.doc["output"]["endpoints"]["value"] == {"coder": "https://coder.llm.example.com/"}
    routed = _records(stacks["routedhosts"])
    assert sorted(routed) == ["coder.llm.example.com/Direct", "coder.llm.example.com/Routers"]
    assert routed["coder.llm.example.com/Routers"]["failover_routing_policy"] == {"type": "PRIMARY"}
