"""AWS resolution: the names, sizes, splits and endpoints the stack, `status` and the gates share."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
import yaml

from llmdeploy.boot.router import ROUTER_PORT
from llmdeploy.clouds import driver
from llmdeploy.clouds.aws.names import GROUP_NAME_LIMIT, IAM_NAME_LIMIT, LB_NAME_LIMIT
from llmdeploy.clouds.aws.resolve import ROUTER_AMI_PARAMETERS, AwsPlan, resolve
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from tests.conftest import MINIMAL, WriteEnv

LONG_PROJECT = "a-very-long-project1"
LONG_MODELS = """\
  - name: summarizer-large-v1
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
  - name: summarizer-large-v2
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
"""


def _resolved(write_env: WriteEnv, text: str, name: str = "demo.yaml") -> AwsPlan:
    return resolve(build_plan(load_environment(write_env(text, name=name))))


def test_the_driver_resolves_the_aws_plan(write_env: WriteEnv) -> None:
    plan = build_plan(load_environment(write_env(MINIMAL, name="demo.yaml")))
    resolved = driver("aws").resolve(plan)
    assert resolved == resolve(plan)
    assert (resolved.cloud, resolved.stack, resolved.prefix) == ("aws", "demo-aws", "demo-demo")
    (fleet,) = resolve(plan).fleets
    assert (fleet.group_name, fleet.target_group.name) == ("demo-demo-chat-blue", "demo-demo-chat-blue")


def test_long_names_fit_their_limits_and_stay_apart(write_env: WriteEnv) -> None:
    text = MINIMAL.replace("project: demo", f"project: {LONG_PROJECT}").split("models:\n")[0]
    resolved = _resolved(write_env, text + "models:\n" + LONG_MODELS, name="production-eu-west-1.yaml")
    assert len(resolved.load_balancer.name) <= LB_NAME_LIMIT
    first, second = resolved.fleets
    for fleet in resolved.fleets:
        assert len(fleet.target_group.name) <= LB_NAME_LIMIT
        assert len(fleet.role_name) <= IAM_NAME_LIMIT
        assert len(fleet.group_name) <= GROUP_NAME_LIMIT
    # Cut to 32 characters, both target groups would read the same without the hash.
    assert first.target_group.name != second.target_group.name
    assert first.target_group.name[:20] == second.target_group.name[:20]
    assert first.role_name != second.role_name
    # Group names have room: they stay readable.
    assert first.group_name == f"{LONG_PROJECT}-production-eu-west-1-summarizer-large-v1-blue"


def test_the_group_carries_the_configured_split_and_sizes(write_env: WriteEnv) -> None:
    text = MINIMAL + (
        "    capacity: {min: 2, max: 6}\n"
        "    spot: {on_demand_base: 1, on_demand_percent_above_base: 25, max_price_usd_hour: 0.5}\n"
    )
    (fleet,) = _resolved(write_env, text).fleets
    assert (fleet.min_size, fleet.max_size, fleet.desired_size) == (2, 6, 2)
    assert (fleet.spot.on_demand_base, fleet.spot.on_demand_percent_above_base) == (1, 25)
    assert fleet.spot.max_price == "0.5"
    assert fleet.instance_types == ("g6.xlarge",)
    assert fleet.wake is None  # it never sleeps


def test_a_fleet_that_may_sleep_wakes_on_requests_and_pages_on_no_floor(write_env: WriteEnv) -> None:
    (fleet,) = _resolved(
        write_env, MINIMAL + "    capacity: {min: 0, max: 2}\n    autoscaling: {scale_to_zero: true}\n"
    ).fleets
    assert fleet.wake is not None
    assert fleet.wake.alarm_name == "demo-demo-chat-blue-wake-from-zero"
    # No replica is promised, so too few healthy ones is no alarm.
    assert fleet.alarms.healthy is None
    assert fleet.gate_alarm_names == ("demo-demo-chat-blue-5xx-rate", "demo-demo-chat-blue-unhealthy-hosts")


@pytest.mark.parametrize(
    ("target", "queue"), [("target_queue_size: 2", True), ("target_requests_per_replica: 5", False)]
)
def test_scaling_follows_the_configured_signal(write_env: WriteEnv, target: str, queue: bool) -> None:
    (fleet,) = _resolved(write_env, MINIMAL + f"    autoscaling: {{{target}}}\n").fleets
    assert (fleet.scaling.queue_dimensions is not None) is queue
    assert fleet.scaling.policy_name == "demo-demo-chat-blue-target-tracking"


def test_https_needs_the_certificate_and_path_routes_answer_on_the_load_balancer(
    write_env: WriteEnv,
) -> None:
    domain_only = MINIMAL.replace("models:", "access: {tls: {domain: llm.example.com}}\nmodels:")
    (route,) = _resolved(write_env, domain_only).load_balancer.routes
    assert route.endpoint.url("lb.example.aws") == "http://lb.example.aws/chat/"
    assert (route.path_pattern, route.host_header) == ("/chat/*", None)
    host = MINIMAL.replace(
        "models:",
        "access:\n  routing: host\n  tls: {domain: llm.example.com, aws_certificate_arn: "
        "arn:aws:acm:us-east-1:123456789012:certificate/abc}\nmodels:",
    )
    resolved = _resolved(write_env, host)
    (route,) = resolved.load_balancer.routes
    assert route.endpoint.url("lb.example.aws") == "https://chat.llm.example.com/"
    assert route.host_header == "chat.llm.example.com"
    assert resolved.load_balancer.listener_ports == (443, 80)


ROUTING = "routing: {enabled: true, min_routers: 3}\n"


def test_without_routing_there_is_no_router_group(write_env: WriteEnv) -> None:
    assert _resolved(write_env, MINIMAL).routers is None


def test_the_router_group_is_sized_by_the_plan_and_named_within_aws_limits(write_env: WriteEnv) -> None:
    text = MINIMAL.replace("project: demo", f"project: {LONG_PROJECT}").split("models:\n")[0]
    resolved = _resolved(
        write_env, text + ROUTING + "models:\n" + LONG_MODELS, name="production-eu-west-1.yaml"
    )
    routers = resolved.routers
    assert routers is not None
    assert (routers.instance_type, routers.count) == ("c7i.large", 3)
    assert routers.ami_parameter == ROUTER_AMI_PARAMETERS["x86_64"]
    assert len(routers.load_balancer_name) <= LB_NAME_LIMIT
    assert len(routers.target_group.name) <= LB_NAME_LIMIT
    assert len(routers.role_name) <= IAM_NAME_LIMIT
    assert len(routers.group_name) <= GROUP_NAME_LIMIT
    # Cut names end in a hash of the full name: never the fleets' load balancer's name.
    assert routers.load_balancer_name != resolved.load_balancer.name
    assert routers.group_name == f"{LONG_PROJECT}-production-eu-west-1-router"
    assert routers.fleet_group_names == tuple(fleet.group_name for fleet in resolved.fleets)
    assert (routers.target_group.port, routers.target_group.health.path) == (ROUTER_PORT, "/health")
    # Routers carry the fleets' longest requests: they drain as long as the fleets do.
    assert routers.target_group.drain_s == max(fleet.target_group.drain_s for fleet in resolved.fleets)


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [
        ("c7i.large", "x86_64"),
        ("m7a.xlarge", "x86_64"),
        ("c7g.large", "arm64"),
        ("c6gn.xlarge", "arm64"),
        ("t4g.medium", "arm64"),
        ("m7gd.large", "arm64"),
    ],
)
def test_routers_boot_the_ubuntu_image_of_their_architecture(
    write_env: WriteEnv, instance_type: str, architecture: str
) -> None:
    text = MINIMAL.replace(
        "models:\n", f"routing: {{enabled: true, instance_types: {{aws: {instance_type}}}}}\nmodels:\n"
    )
    routers = _resolved(write_env, text).routers
    assert routers is not None
    assert (routers.instance_type, routers.ami_parameter) == (
        instance_type,
        ROUTER_AMI_PARAMETERS[architecture],
    )


def test_the_router_bundle_names_each_slots_group_and_target_group(write_env: WriteEnv) -> None:
    text = MINIMAL.replace("models:\n", ROUTING + "models:\n") + (
        "    slots:\n      blue: {weight: 80}\n      green: {weight: 20, capacity: {min: 1, max: 1}}\n"
    )
    resolved = _resolved(write_env, text)
    assert resolved.routers is not None
    bundle = yaml.safe_load(gzip.decompress(base64.b64decode(resolved.routers.user_data)).decode())
    [content] = [
        entry["content"] for entry in bundle["write_files"] if entry["path"].endswith("/model-0.json")
    ]
    spec = json.loads(content)
    assert {
        slot: (entry["group"], entry["target_group"], entry["weight"])
        for slot, entry in spec["slots"].items()
    } == {fleet.slot: (fleet.group_name, fleet.target_group.name, fleet.weight) for fleet in resolved.fleets}
    assert {fleet.slot: fleet.weight for fleet in resolved.fleets} == {"blue": 80, "green": 20}
