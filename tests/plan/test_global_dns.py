"""The global DNS plan: which clouds answer the environment's name, and how fast a failed one stops."""

from __future__ import annotations

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.global_dns import GlobalDnsPlan
from llmdeploy.report import dns_failover_text
from tests.conftest import MINIMAL, WriteEnv
from tests.release.environments import PUBLIC, THREE_CLOUDS


def plan_of(write_env: WriteEnv, text: str) -> GlobalDnsPlan:
    dns = build_plan(load_environment(write_env(text, name="demo.yaml"))).global_dns
    assert dns is not None
    return dns


def test_failover_between_two_clouds_is_a_primary_and_a_secondary_record(write_env: WriteEnv) -> None:
    text = THREE_CLOUDS.replace(
        '  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus, zones: ["1"]}\n',
        "",
    )
    text = text.replace(", azure: [Standard_NC24ads_A100_v4]", "")
    dns = plan_of(write_env, text + "global_dns: {zone: example.com, name: api, primary: gcp}\n")
    assert dns.stack == "demo-global"
    assert [(r.name, r.cloud, r.failover, r.weight) for r in dns.records] == [
        ("api.example.com", "gcp", "PRIMARY", None),
        ("api.example.com", "aws", "SECONDARY", None),
    ]


def test_failover_among_three_clouds_answers_the_others_as_a_weighted_secondary_set(
    write_env: WriteEnv,
) -> None:
    dns = plan_of(write_env, THREE_CLOUDS + "global_dns: {zone: example.com, name: api}\n")
    assert [(r.key, r.name, r.cloud, r.nested_name, r.failover, r.weight) for r in dns.records] == [
        ("aws", "api.example.com", "aws", None, "PRIMARY", None),
        ("secondary", "api.example.com", None, "api-secondary.example.com", "SECONDARY", None),
        ("secondary-gcp", "api-secondary.example.com", "gcp", None, None, 1),
        ("secondary-azure", "api-secondary.example.com", "azure", None, None, 1),
    ]


def test_an_ip_addressed_endpoint_gets_its_own_name_for_the_cname_to_point_at(write_env: WriteEnv) -> None:
    dns = plan_of(write_env, THREE_CLOUDS + "global_dns: {zone: example.com, name: api}\n")
    assert {e.cloud: (e.stack, e.address, e.address_record) for e in dns.endpoints} == {
        "aws": ("demo-aws", "hostname", None),
        "gcp": ("demo-gcp", "ip", "gcp.api.example.com"),
        "azure": ("demo-azure", "hostname", None),
    }


def test_weighted_routing_answers_every_cloud_by_its_weight(write_env: WriteEnv) -> None:
    weights = "{aws: 2, gcp: 1, azure: 0}"
    dns = plan_of(
        write_env,
        THREE_CLOUDS
        + f"global_dns: {{zone: example.com, name: api, routing: weighted, weights: {weights}}}\n",
    )
    assert [(r.cloud, r.failover, r.weight) for r in dns.records] == [
        ("aws", None, 2),
        ("gcp", None, 1),
        ("azure", None, 0),
    ]


def test_failover_time_is_interval_times_threshold_plus_ttl_and_explain_says_so(write_env: WriteEnv) -> None:
    config = load_environment(
        write_env(
            MINIMAL
            + PUBLIC
            + "global_dns:\n  zone: example.com\n  name: api\n  ttl_s: 30\n"
            + "  health_check: {interval_s: 10, failure_threshold: 3}\n",
            name="demo.yaml",
        )
    )
    plan = build_plan(config)
    assert plan.global_dns is not None
    assert (plan.global_dns.detection_s, plan.global_dns.failover_s) == (30, 60)
    assert plan.global_dns.health.protocol == "HTTP"
    assert dns_failover_text(plan) == (
        "Global DNS: api.example.com (failover) stops answering with a failed cloud's endpoint within about "
        "60 s: health checks every 10 s x 3 failures = 30 s, plus 30 s for resolvers' cached answers (TTL)."
    )
    assert dns_failover_text(build_plan(load_environment(write_env(MINIMAL)))) is None


@pytest.mark.parametrize(
    ("dns", "message"),
    [
        ("{zone: example.com, name: api, primary: gcp}", "global_dns.primary: gcp is named, but clouds.gcp"),
        ("{zone: example.com, name: api, routing: weighted, weights: {aws: 300}}", "weights are 0-255"),
        ("{zone: example.com, name: api, weights: {aws: 1}}", "only weighted routing uses weights"),
        ("{zone: example.com, name: api, routing: weighted, primary: aws}", "only failover routing"),
        ("{zone: example, name: api}", "zone"),
        ("{zone: example.com, name: API_1}", "name"),
        ("{zone: example.com, name: api, health_check: {interval_s: 20}}", "interval_s"),
    ],
)
def test_rejects_inconsistent_global_dns(write_env: WriteEnv, dns: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_environment(write_env(MINIMAL + PUBLIC + f"global_dns: {dns}\n"))


def test_rejects_global_dns_over_internal_endpoints(write_env: WriteEnv) -> None:
    with pytest.raises(ConfigError, match="Route 53 health checkers reach only public endpoints"):
        load_environment(write_env(MINIMAL + "global_dns: {zone: example.com, name: api}\n"))


def test_rejects_weights_that_leave_a_cloud_out(write_env: WriteEnv) -> None:
    with pytest.raises(ConfigError, match="give every cloud a weight"):
        load_environment(
            write_env(
                THREE_CLOUDS
                + "global_dns: {zone: example.com, name: api, routing: weighted, weights: {aws: 1}}\n"
            )
        )


@pytest.mark.parametrize(
    ("access", "message"),
    [
        (
            "access: {scheme: internet-facing, allowed_cidrs: [203.0.113.0/24], require_api_key: false}\n",
            "Route 53 health checkers connect from AWS's published ranges",
        ),
        (
            "access:\n  scheme: internet-facing\n  allowed_cidrs: [0.0.0.0/0]\n  require_api_key: false\n"
            "  routing: host\n  tls: {domain: llm.example.com}\n",
            "one name serves every model by path",
        ),
    ],
)
def test_rejects_endpoints_route_53_cannot_check(write_env: WriteEnv, access: str, message: str) -> None:
    """Health checks from outside the client CIDRs, or of one host per model, could never pass."""
    with pytest.raises(ConfigError, match=message):
        load_environment(write_env(MINIMAL + access + "global_dns: {zone: example.com, name: api}\n"))


def test_each_model_is_checked_under_its_own_route(write_env: WriteEnv) -> None:
    dns = plan_of(
        write_env,
        THREE_CLOUDS + "global_dns: {zone: example.com, name: api, health_check: {path: /ready}}\n",
    )
    assert dns.health.model_paths == ("/chat/ready",)
