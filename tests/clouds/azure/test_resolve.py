"""Azure's resolution stage: the names, spot mix, sizes, scaling rules, alerts and endpoints an
environment gets on Azure, decided once for the stack, `status` and the gates."""

from __future__ import annotations

import base64
import gzip
import re

import pytest

from llmdeploy.clouds import driver
from llmdeploy.clouds.azure.resolve import FRONT_DOOR_HOST, AzurePlan, iso_duration, resolve
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from tests.conftest import WriteEnv

ENV = """\
project: {project}
clouds:
  azure: {{subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus, zones: ["1", "2"]}}
access: {{scheme: internet-facing, require_api_key: false, allowed_cidrs: [203.0.113.0/24]}}
models:
  - name: {model}
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    dtype: float16
    instance_types: {{azure: [Standard_NC4as_T4_v3]}}
    load_balancing: {{algorithm: round_robin, request_timeout_s: 240}}
    capacity: {{min: 2, max: 6}}
    spot: {spot}
    autoscaling: {autoscaling}
    slots:
      blue: {{weight: 100}}
      green: {{weight: 0, capacity: {{min: 1, max: 2}}}}
"""


def _plan(
    write_env: WriteEnv,
    project: str = "demo",
    model: str = "chat",
    spot: str = "{on_demand_base: 1, on_demand_percent_above_base: 20}",
    autoscaling: str = "{target_queue_size: 4}",
    name: str = "prod.yaml",
) -> DeploymentPlan:
    text = ENV.format(project=project, model=model, spot=spot, autoscaling=autoscaling)
    return build_plan(load_environment(write_env(text, name)))


def test_the_driver_resolves_the_plan_the_stack_and_status_read(write_env: WriteEnv) -> None:
    plan = _plan(write_env)
    resolved = driver("azure").resolve(plan)
    assert isinstance(resolved, AzurePlan)
    assert resolved == resolve(plan)
    assert (resolved.cloud, resolved.stack, resolved.name) == ("azure", "prod-azure", "demo-prod")
    assert [fleet.scale_set for fleet in resolved.fleets] == ["chat-blue", "chat-green"]
    assert [route.fleets for route in resolved.routes] == [("chat-blue", "chat-green")]


def test_longest_names_fit_azure_limits_and_stay_distinct(write_env: WriteEnv) -> None:
    # Slugs of at most 20 characters (config): the longest project, environment and model.
    long_project, long_model = "p" * 19 + "a", "m" * 19 + "a"
    first = resolve(_plan(write_env, long_project, long_model, name=f"{'e' * 19}a.yaml"))
    # Differs only past the registry name's readable part (the prefix without dashes, cut at 38).
    similar = resolve(_plan(write_env, long_project, long_model, name=f"{'e' * 19}b.yaml"))
    # ACR: 5-50 letters and digits, global; the prefix alone would be cut to the same text.
    for resolved in (first, similar):
        assert re.fullmatch(r"[a-z0-9]{5,50}", resolved.registry), resolved.registry
        # WAF policies: letters and digits (Front Door), at most 128.
        assert re.fullmatch(r"[A-Za-z0-9]{1,128}", resolved.waf_policy)
        # Resource group, scale set (Flexible: 64) and identity names.
        assert len(resolved.name) <= 90
        for fleet in resolved.fleets:
            assert len(fleet.scale_set) <= 64 and len(fleet.identity) <= 128
            assert all(len(alert.name) <= 260 for alert in fleet.alerts)
    assert first.registry != similar.registry
    assert first.registry[:38] == similar.registry[:38] == f"{long_project}{'e' * 18}"


def test_registry_names_differ_per_subscription(write_env: WriteEnv) -> None:
    plan = _plan(write_env)
    text = ENV.format(project="demo", model="chat", spot="{}", autoscaling="{}").replace(
        "00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111"
    )
    other = build_plan(load_environment(write_env(text, "prod.yaml")))
    assert resolve(plan).registry != resolve(other).registry


def test_spot_mix_and_sizes(write_env: WriteEnv) -> None:
    blue, green = resolve(_plan(write_env)).fleets
    # One regular VM always, then 20 % of the rest regular: Azure's priority mix splits the VMs.
    assert (blue.priority, blue.eviction_policy, blue.max_bid_price) == ("Spot", "Delete", -1)
    assert (blue.base_regular_count, blue.regular_percentage_above_base) == (1, 20)
    assert (blue.minimum, blue.instances, blue.maximum) == (2, 2, 6)
    assert (green.minimum, green.maximum) == (1, 2)
    on_demand = resolve(_plan(write_env, spot="{on_demand_percent_above_base: 100}")).fleets[0]
    # All regular: no spot settings at all (Azure refuses eviction settings on regular VMs).
    assert (on_demand.priority, on_demand.eviction_policy, on_demand.max_bid_price) == ("Regular", None, None)
    assert on_demand.base_regular_count is None


def test_scaling_on_the_queue_or_on_front_door_requests(write_env: WriteEnv) -> None:
    queue = resolve(_plan(write_env)).fleets[0].signal
    assert (queue.resource, queue.metric, queue.per_replica, queue.by_origin) == (
        "scale_set",
        "QueueSize",
        False,
        False,
    )
    assert dict(queue.dimensions)["Model"] == ("chat",) and dict(queue.dimensions)["Slot"] == ("blue",)
    # Out above the target, in below half of it; cooldowns as Azure echoes them back.
    assert [(rule.operator, rule.threshold, rule.direction) for rule in queue.rules] == [
        ("GreaterThan", 4, "Increase"),
        ("LessThan", 2, "Decrease"),
    ]
    requests = resolve(
        _plan(write_env, autoscaling="{target_requests_per_replica: 10, scale_in_cooldown_s: 90}")
    ).fleets[0]
    signal = requests.signal
    assert (signal.resource, signal.metric, signal.statistic, signal.per_replica, signal.by_origin) == (
        "front_door",
        "OriginRequestCount",
        "Sum",
        True,
        True,
    )
    assert signal.rules[1].cooldown == "PT1M30S"


def test_weights_alerts_and_endpoint(write_env: WriteEnv) -> None:
    resolved = resolve(_plan(write_env))
    blue, green = resolved.fleets
    # Front Door weights 1-1000; a 0 % slot is disabled (weight 1).
    assert (blue.origin_weight, blue.origin_enabled) == (1000, True)
    assert (green.origin_weight, green.origin_enabled) == (1, False)
    # The healthy-replicas alert only where the slot serves and may not shrink below the threshold.
    assert blue.alert_names == [
        "demo-prod-chat-blue-unhealthy-origin",
        "demo-prod-chat-blue-latency",
        "demo-prod-chat-blue-healthy-replicas",
    ]
    assert "demo-prod-chat-green-healthy-replicas" not in green.alert_names
    # Without a domain, clients call Front Door's own host (HTTPS, Azure's certificate).
    route = resolved.routes[0]
    assert FRONT_DOOR_HOST in route.endpoint
    assert route.endpoint_url("x.azurefd.net") == "https://x.azurefd.net/chat/"
    assert resolved.domains == () and route.domain is None
    # The WAF admits the configured clients only.
    assert resolved.allowed_cidrs == ("203.0.113.0/24",)


def test_prod_example_domains_secrets_and_boot_bundle(prod_plan: DeploymentPlan) -> None:
    resolved = resolve(prod_plan)
    route = resolved.routes[0]
    assert route.endpoint_url("ignored.azurefd.net") == f"https://llm.example.com{route.patterns[0][:-1]}"
    assert resolved.domains == (("llm.example.com", "llm-example-com"),)
    assert resolved.key_vault is not None and resolved.key_vault.name == "llmdeploy-prod-kv"
    fleet = next(fleet for fleet in resolved.fleets if fleet.name == "translate-es-blue")
    # Exactly the named secrets: the fleet's token and the API key (no next key in prod).
    assert [read.secret for read in fleet.secrets] == ["llmdeploy-prod-hf-token", "llmdeploy-prod-api-key"]
    # custom_data: gzip then base64 of the cloud-config; the digest follows it.
    cloud_config = gzip.decompress(base64.b64decode(fleet.custom_data)).decode()
    assert cloud_config.startswith("#cloud-config")
    assert driver("azure").encode_user_data(cloud_config) == fleet.custom_data
    digests = {fleet.bundle_digest for fleet in resolved.fleets}
    assert len(digests) == len(resolved.fleets)


@pytest.mark.parametrize("routing", ["path", "host"])
def test_host_routing_serves_each_model_on_its_own_domain(write_env: WriteEnv, routing: str) -> None:
    text = ENV.format(project="demo", model="chat", spot="{}", autoscaling="{}").replace(
        "access: {scheme: internet-facing, require_api_key: false, allowed_cidrs: [203.0.113.0/24]}",
        "access: {scheme: internet-facing, require_api_key: false, allowed_cidrs: [203.0.113.0/24], "
        f"routing: {routing}, tls: {{domain: llm.example.com}}}}",
    )
    route = resolve(build_plan(load_environment(write_env(text, "prod.yaml")))).routes[0]
    if routing == "host":
        assert (route.domain, route.patterns, route.host_routing) == ("chat.llm.example.com", ("/*",), True)
        assert route.endpoint_url("x") == "https://chat.llm.example.com/"
    else:
        assert (route.domain, route.patterns, route.host_routing) == ("llm.example.com", ("/chat/*",), False)
        assert route.endpoint_url("x") == "https://llm.example.com/chat/"


@pytest.mark.parametrize(
    ("seconds", "duration"),
    [(300, "PT5M"), (900, "PT15M"), (90, "PT1M30S"), (3600, "PT1H"), (5430, "PT1H30M30S"), (45, "PT45S")],
)
def test_durations_take_the_form_azure_echoes(seconds: int, duration: str) -> None:
    assert iso_duration(seconds) == duration
