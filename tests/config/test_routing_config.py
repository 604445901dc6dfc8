"""The `routing:` block: defaults off, and each mistake named by its key with a way out."""

from __future__ import annotations

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError
from llmdeploy.plan.routing import build_routing
from tests.conftest import MINIMAL, WriteEnv


def problems(write_env: WriteEnv, block: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(f"routing: {block}\n" + MINIMAL))
    return {problem.path: problem.message for problem in caught.value.problems}


def test_routing_is_off_unless_enabled_and_plans_nothing(write_env: WriteEnv) -> None:
    config = load_environment(write_env(MINIMAL))
    assert config.routing.enabled is False
    assert build_routing(config) == []


def test_an_enabled_layer_plans_two_routers_capped_by_the_engine_limit(write_env: WriteEnv) -> None:
    text = "routing: {enabled: true, policy: least_load}\n" + MINIMAL.replace(
        "    params_billion: 0.5\n", "    params_billion: 0.5\n    limits: {max_concurrent_requests: 24}\n"
    )
    (group,) = build_routing(load_environment(write_env(text)))
    assert (group.cloud, group.count, group.instance_type) == ("aws", 2, "c7i.large")
    assert group.per_replica_concurrency == {"chat": 24}
    args = group.router_args("chat")
    assert args[:2] == ["--policy", "power_of_two"]
    assert args[-2:] == ["--health-check-endpoint", "/health"], "TGI's health path, keyless on the proxy"


def test_one_router_is_a_single_point_of_failure(write_env: WriteEnv) -> None:
    found = problems(write_env, "{enabled: true, min_routers: 1}")
    assert "greater than or equal to 2" in found["routing.min_routers"]


def test_consistent_hash_without_a_session_header_says_which_header_to_add(write_env: WriteEnv) -> None:
    found = problems(write_env, "{enabled: true, policy: consistent_hash}")
    message = found["routing"]
    assert "session_header" in message and "X-Session-Id" in message


def test_an_unknown_policy_lists_the_known_ones(write_env: WriteEnv) -> None:
    found = problems(write_env, "{policy: round_robin}")
    assert "cache_aware" in found["routing.policy"] and "least_load" in found["routing.policy"]


def test_a_hold_budget_shorter_than_a_boot_is_refused(write_env: WriteEnv) -> None:
    found = problems(write_env, "{hold_budget_s: 5}")
    assert "30" in found["routing.hold_budget_s"]


def test_a_keepalive_longer_than_the_budget_is_refused(write_env: WriteEnv) -> None:
    found = problems(write_env, "{hold_budget_s: 30, keepalive_s: 40}")
    assert "keepalive_s (40) must be less than hold_budget_s (30)" in found["routing"]


def test_a_session_header_with_spaces_is_refused(write_env: WriteEnv) -> None:
    found = problems(write_env, "{session_header: 'X Session'}")
    assert "routing.session_header" in found


def test_a_router_type_that_is_not_a_vm_type_name_is_refused(write_env: WriteEnv) -> None:
    found = problems(write_env, '{instance_types: {aws: "c7i.large\\"; rm -rf /"}}')
    assert "routing.instance_types.aws" in found and "pattern" in found["routing.instance_types.aws"]


def test_a_cloud_router_type_overrides_the_size(write_env: WriteEnv) -> None:
    text = "routing: {enabled: true, size: large, instance_types: {aws: m7i.large}}\n" + MINIMAL
    (group,) = build_routing(load_environment(write_env(text)))
    assert group.instance_type == "m7i.large"


def test_behind_routers_a_model_without_a_target_scales_on_its_engine_queue(write_env: WriteEnv) -> None:
    config = load_environment(write_env("routing: {enabled: true}\n" + MINIMAL))
    scaling = config.models[0].autoscaling
    assert (scaling.target_queue_size, scaling.target_requests_per_replica) == (4.0, None)
    assert load_environment(write_env(MINIMAL)).models[0].autoscaling.target_queue_size is None


def test_behind_routers_scaling_on_the_balancers_request_rate_is_refused(write_env: WriteEnv) -> None:
    text = "routing: {enabled: true}\n" + MINIMAL + "    autoscaling: {target_requests_per_replica: 120}\n"
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(text))
    (problem,) = caught.value.problems
    assert problem.path == "models[0].autoscaling.target_requests_per_replica"
    assert "stays at zero" in problem.message and "target_queue_size" in problem.message


def test_scaling_on_router_queue_time_reaches_the_aws_plan(write_env: WriteEnv) -> None:
    text = "routing: {enabled: true, scale_on_queue_time_ms: 1500}\n" + MINIMAL
    (group,) = build_routing(load_environment(write_env(text)))
    assert group.scale_on_queue_time_ms == 1500


def test_scaling_on_router_queue_time_is_refused_where_it_is_not_built(write_env: WriteEnv) -> None:
    both = MINIMAL.replace(
        "  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}\n",
        "  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}\n"
        "  gcp: {project_id: demo-123, region: us-central1, zones: [us-central1-a, us-central1-b]}\n",
    ).replace("{aws: [g6.xlarge]}", "{aws: [g6.xlarge], gcp: [g2-standard-8]}")
    both = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n" + both
    text = "routing: {enabled: true, scale_on_queue_time_ms: 1500}\n" + both
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(text))
    (problem,) = caught.value.problems
    assert problem.path == "routing.scale_on_queue_time_ms"
    assert "AWS only" in problem.message and "gcp" in problem.message and "remove the key" in problem.message
    # Without the key the same environment is fine: nothing else refused it.
    load_environment(write_env("routing: {enabled: true}\n" + both))
