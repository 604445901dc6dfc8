"""The Application Load Balancer: target groups, weighted routes, drain, HTTPS, access logs."""

from __future__ import annotations

import fnmatch
import re

import pytest

from llmdeploy.engines import PROXY_PORT
from llmdeploy.plan.routes import SLOT_HEADER
from tests.fixtures_synth import Stack


def test_scheme_idle_timeout_and_header_hygiene(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        lb = stack.at("aws_lb", "LoadBalancer/LoadBalancer")
        assert lb["internal"] is (stack.plan.access.scheme == "internal")
        assert lb["load_balancer_type"] == "application"
        assert lb["idle_timeout"] == max(f.traffic.idle_timeout_s for f in stack.plan.fleets_on("aws"))
        assert lb["drop_invalid_header_fields"] is True


def test_internet_facing_balancer_sits_in_public_subnets(aws_stacks: dict[str, Stack]) -> None:
    prod = aws_stacks["prod-aws"]
    public = [
        f"${{{prod.address('aws_subnet', f'{zone}/PublicSubnet')}.id}}"
        for zone in ("us-east-1a", "us-east-1b", "us-east-1c")
    ]
    assert prod.at("aws_lb", "LoadBalancer/LoadBalancer")["subnets"] == public
    assert aws_stacks["edge-aws"].at("aws_lb", "LoadBalancer/LoadBalancer")["subnets"] == [
        "subnet-0bbb0001",
        "subnet-0bbb0002",
    ]


def test_access_logs_go_to_the_log_bucket(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    lb = stack.at("aws_lb", "LoadBalancer/LoadBalancer")
    bucket = stack.address("aws_s3_bucket", "AccessLogs/Bucket")
    assert lb["access_logs"] == {"bucket": f"${{{bucket}.id}}", "enabled": True}
    assert f"{stack.address('aws_s3_bucket_policy', 'AccessLogs/Policy')}" in lb["depends_on"]


def test_one_target_group_per_fleet_with_the_engines_health_check(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        for fleet in stack.plan.fleets_on("aws"):
            group = stack.at("aws_lb_target_group", f"{fleet.name}/TargetGroup")
            health = fleet.health
            assert len(group["name"]) <= 32
            assert (group["port"], group["protocol"], group["target_type"]) == (
                health.port,
                "HTTP",
                "instance",
            )
            assert group["deregistration_delay"] == str(
                max(fleet.traffic.deregistration_delay_s, fleet.traffic.request_timeout_s)
            )
            assert group["load_balancing_algorithm_type"] == fleet.traffic.algorithm
            assert group["health_check"] == {
                "enabled": True,
                "protocol": "HTTP",
                "port": "traffic-port",
                "path": health.path,
                "matcher": "200",
                "interval": health.interval_s,
                "timeout": health.timeout_s,
                "healthy_threshold": health.healthy_threshold,
                "unhealthy_threshold": health.unhealthy_threshold,
            }
    # The replica's proxy, not vLLM's port 8000: the proxy strips the /<model>/ route prefix.
    assert aws_stacks["edge-aws"].at("aws_lb_target_group", "coder-blue/TargetGroup")["port"] == PROXY_PORT


def test_target_group_names_stay_distinct_when_shortened(aws_stacks: dict[str, Stack]) -> None:
    names = [group["name"] for group in aws_stacks["prod-aws"].resources("aws_lb_target_group").values()]
    assert len(set(names)) == len(names) == 3


def test_each_model_forwards_to_its_slots_with_their_weights(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    rule = stack.at("aws_lb_listener_rule", "translate-fr/Rule")
    [action] = rule["action"]
    assert action["type"] == "forward"
    weights = {entry["arn"]: entry["weight"] for entry in action["forward"]["target_group"]}
    blue = stack.address("aws_lb_target_group", "translate-fr-blue/TargetGroup")
    green = stack.address("aws_lb_target_group", "translate-fr-green/TargetGroup")
    assert weights == {f"${{{blue}.arn}}": 95, f"${{{green}.arn}}": 5}
    assert action["forward"]["stickiness"]["enabled"] is False
    assert rule["condition"][0] == {"path_pattern": {"values": ["/translate-fr/*"]}}
    priorities = [r["priority"] for r in stack.resources("aws_lb_listener_rule").values()]
    assert len(set(priorities)) == len(priorities)


def test_a_scale_in_lets_the_longest_request_finish(aws_stacks: dict[str, Stack]) -> None:
    """The group waits the deregistration delay before the termination hook (capacity-rebalancing
    guide), so the delay is the drain; it must cover request_timeout_s (at most 3600 s, which is the
    provider's limit for `deregistration_delay`)."""
    for stack in aws_stacks.values():
        for fleet in stack.plan.fleets_on("aws"):
            delay = int(stack.at("aws_lb_target_group", f"{fleet.name}/TargetGroup")["deregistration_delay"])
            assert fleet.traffic.request_timeout_s <= delay <= 3600
    # dev asks for 120 s of drain but lets requests run 900 s: the 900 s win.
    dev = aws_stacks["dev-aws"].at("aws_lb_target_group", "chat-blue/TargetGroup")
    assert dev["deregistration_delay"] == "900"


def test_no_load_balancer_rule_or_data_source_holds_the_api_key(aws_stacks: dict[str, Stack]) -> None:
    """Header conditions compare case-insensitively with `*`/`?` wildcards, stop at 128 characters and
    show the key to DescribeRules (CloudFormation ListenerRule HttpHeaderConfig); the proxy checks it."""
    stack = aws_stacks["prod-aws"]
    assert stack.plan.access.api_key is not None
    assert not stack.data("aws_secretsmanager_secret_version")
    for rule in stack.resources("aws_lb_listener_rule").values():
        kinds = [list(condition) for condition in rule["condition"]]
        assert kinds in ([["path_pattern"]], [["path_pattern"], ["http_header"]])
        for header in (c["http_header"] for c in rule["condition"] if "http_header" in c):
            # The only header any rule reads is the slot header, whose values are slot names.
            assert header["http_header_name"] == SLOT_HEADER
            assert header["values"] in (["blue"], ["green"])
    # One rule per model and one per slot: no keyless health rule, no keyed catch-all.
    fleets = stack.plan.fleets_on("aws")
    assert len(stack.resources("aws_lb_listener_rule")) == len(stack.plan.models) + len(fleets)
    listener = stack.at("aws_lb_listener", "LoadBalancer/Listener")
    assert listener["default_action"][0]["fixed_response"]["status_code"] == "404"


def test_the_health_path_route_53_checks_reaches_the_proxy(aws_stacks: dict[str, Stack]) -> None:
    """Global DNS checks GET /<model>/health: the model's own rule forwards it to the proxy."""
    stack = aws_stacks["prod-aws"]
    rule = stack.at("aws_lb_listener_rule", "translate-fr/Rule")
    [pattern] = rule["condition"][0]["path_pattern"]["values"]
    assert fnmatch.fnmatchcase("/translate-fr/health", pattern)


def test_without_a_key_unknown_routes_get_404(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    listener = stack.at("aws_lb_listener", "LoadBalancer/Listener")
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert listener["default_action"][0]["fixed_response"]["status_code"] == "404"
    rule = stack.at("aws_lb_listener_rule", "chat/Rule")
    assert rule["condition"] == [{"path_pattern": {"values": ["/chat/*"]}}]


def test_certificate_gives_https_with_an_http_redirect(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["edge-aws"]
    listener = stack.at("aws_lb_listener", "LoadBalancer/Listener")
    assert (listener["port"], listener["protocol"]) == (443, "HTTPS")
    assert listener["certificate_arn"] == "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    # TLS 1.3 with 1.2 fallback, the AWS default for new HTTPS listeners (or newer).
    assert listener["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    redirect = stack.at("aws_lb_listener", "LoadBalancer/HttpRedirect")
    assert redirect["port"] == 80
    assert redirect["default_action"][0]["redirect"] == {
        "port": "443",
        "protocol": "HTTPS",
        "status_code": "HTTP_301",
    }


def test_host_routing_matches_the_models_host(aws_stacks: dict[str, Stack]) -> None:
    rule = aws_stacks["edge-aws"].at("aws_lb_listener_rule", "coder/Rule")
    assert rule["condition"] == [{"host_header": {"values": ["coder.llm.example.com"]}}]


def test_endpoints_output_one_url_per_model(aws_stacks: dict[str, Stack]) -> None:
    # prod names clouds.aws.dns_zone: clients get the domain its alias record serves (test_dns.py).
    assert aws_stacks["prod-aws"].doc["output"]["endpoints"]["value"] == {
        "translate-fr": "https://llm.example.com/translate-fr/",
        "translate-es": "https://llm.example.com/translate-es/",
    }
    staging = aws_stacks["staging-aws"]
    lb = staging.address("aws_lb", "LoadBalancer/LoadBalancer")
    assert set(staging.doc["output"]["endpoints"]["value"].values()) == {
        f"https://${{{lb}.dns_name}}{prefix}"
        for prefix in (model.route_prefix for model in staging.plan.models)
    }
    assert aws_stacks["edge-aws"].doc["output"]["endpoints"]["value"] == {
        "coder": "https://coder.llm.example.com/"
    }


@pytest.mark.parametrize(
    ("env", "model", "condition"),
    [
        ("prod", "translate-fr", {"path_pattern": {"values": ["/translate-fr/*"]}}),
        ("edge", "coder", {"host_header": {"values": ["coder.llm.example.com"]}}),
    ],
)
def test_the_slot_header_reaches_that_slot_alone_before_the_weighted_rule(
    aws_stacks: dict[str, Stack], env: str, model: str, condition: dict[str, object]
) -> None:
    """`X-LLMDeploy-Slot: <slot>` on the model's route forwards to the slot's target group only, at
    any weight (prod's green has 5%); the weighted rule sees only requests without it."""
    stack = aws_stacks[f"{env}-aws"]
    weighted = stack.at("aws_lb_listener_rule", f"{model}/Rule")
    (planned,) = [entry for entry in stack.plan.models if entry.name == model]
    for fleet in planned.fleets_on("aws"):
        rule = stack.at("aws_lb_listener_rule", f"{model}/SlotRule-{fleet.slot}")
        group = stack.address("aws_lb_target_group", f"{fleet.name}/TargetGroup")
        assert rule["condition"] == [
            condition,
            {"http_header": {"http_header_name": SLOT_HEADER, "values": [fleet.slot]}},
        ]
        [action] = rule["action"]
        assert action["forward"]["target_group"] == [{"arn": f"${{{group}.arn}}", "weight": 1}]
        # Lower numbers are evaluated first (ELB guide "Listener rules").
        assert rule["priority"] < weighted["priority"]
        assert rule["listener_arn"] == weighted["listener_arn"]


def test_rule_priorities_stay_unique_and_each_model_keeps_its_slot_rules_together(
    aws_stacks: dict[str, Stack],
) -> None:
    for stack in aws_stacks.values():
        rules = stack.resources("aws_lb_listener_rule").values()
        priorities = sorted(rule["priority"] for rule in rules)
        assert len(set(priorities)) == len(priorities)
        for model in stack.plan.models:
            mine = sorted(
                stack.at("aws_lb_listener_rule", f"{model.name}/SlotRule-{fleet.slot}")["priority"]
                for fleet in model.fleets_on("aws")
            )
            weighted = stack.at("aws_lb_listener_rule", f"{model.name}/Rule")["priority"]
            # Nothing else between a model's slot rules and its weighted rule.
            between = [p for p in priorities if mine[0] <= p <= weighted]
            assert len(between) == len(mine) + 1


def test_the_slot_header_name_is_one_alb_accepts() -> None:
    """ELB API HttpHeaderConditionConfig: a name of at most 40 characters, letters, digits and
    `*?-!#$%&'+.^_`|~`; no `*` or `?` here, since the name is matched literally."""
    assert len(SLOT_HEADER) <= 40
    assert re.fullmatch(r"[A-Za-z0-9!#$%&'+.^_`|~-]+", SLOT_HEADER)
