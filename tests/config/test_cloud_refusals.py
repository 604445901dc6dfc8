"""Refusals that depend on the clouds a file enables: each names the key, the cloud and the way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError, Problem
from tests.conftest import MINIMAL, WriteEnv

ACM = "arn:aws:acm:us-east-1:123456789012:certificate/abc-1"
GCP = "  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a]}\n"
AZURE = (
    "  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, "
    "location: eastus, zones: ['1'], key_vault: {name: kv-one, resource_group: rg}}\n"
)


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return caught.value.problems


def paths_of(path: Path) -> dict[str, str]:
    return {problem.path: problem.message for problem in problems_of(path)}


def public(tls: str = "", cidrs: str = "0.0.0.0/0") -> str:
    return (
        f"access: {{scheme: internet-facing, allowed_cidrs: [{cidrs}], api_key: {{secret: api-key}}, "
        f"tls: {{{tls}}}}}\n"
    )


def with_clouds(*clouds: str, types: str) -> str:
    return MINIMAL.replace("clouds:\n", "clouds:\n" + "".join(clouds)).replace("{aws: [g6.xlarge]}", types)


def test_a_public_endpoint_with_a_key_needs_https_on_aws(write_env: WriteEnv) -> None:
    found = paths_of(write_env(public() + MINIMAL))
    message = found["access.tls.aws_certificate_arn"]
    assert "access.tls.insecure_plain_http_demo_only: true" in message
    assert "read the key" in message
    load_environment(write_env(public(f"aws_certificate_arn: '{ACM}'") + MINIMAL))
    load_environment(write_env(public("insecure_plain_http_demo_only: true") + MINIMAL))


def test_a_public_endpoint_with_a_key_needs_a_domain_on_gcp(write_env: WriteEnv) -> None:
    text = with_clouds(GCP, types="{aws: [g6.xlarge], gcp: [g2-standard-8]}")
    found = paths_of(write_env(public(f"aws_certificate_arn: '{ACM}'") + text))
    assert list(found) == ["access.tls.domain"]
    assert "gcp" in found["access.tls.domain"]
    load_environment(write_env(public(f"aws_certificate_arn: '{ACM}', domain: llm.example.com") + text))


def test_without_a_key_plain_http_is_not_refused(write_env: WriteEnv) -> None:
    text = "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false}\n"
    load_environment(write_env(text + MINIMAL))


@pytest.mark.parametrize(
    "cidr", ["10.1.0.0/16", "192.168.0.0/24", "172.20.0.0/16", "100.64.1.0/24", "127.0.0.1/32"]
)
def test_private_client_networks_are_refused_on_a_public_endpoint(write_env: WriteEnv, cidr: str) -> None:
    text = public(f"aws_certificate_arn: '{ACM}'", cidrs=f"198.51.100.0/24, {cidr}") + MINIMAL
    message = paths_of(write_env(text))["access.allowed_cidrs[1]"]
    assert "admits nobody" in message
    internal = f"access: {{scheme: internal, allowed_cidrs: [{cidr}]}}\n"
    assert load_environment(write_env(internal + MINIMAL)).access.allowed_cidrs


def test_bfloat16_is_refused_on_a_gpu_before_ampere(write_env: WriteEnv) -> None:
    text = with_clouds(AZURE, types="{aws: [g6.xlarge], azure: [Standard_NC4as_T4_v3]}")
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n" + text
    text += "    load_balancing: {algorithm: round_robin, request_timeout_s: 240}\n"
    message = paths_of(write_env(text))["models[0].instance_types.azure[0]"]
    assert "Turing" in message and "bfloat16" in message and "dtype: float16" in message
    assert load_environment(write_env(text + "    dtype: float16\n")).models[0].dtype == "float16"


def test_azure_sizes_that_need_the_grid_driver_are_refused(write_env: WriteEnv) -> None:
    text = with_clouds(AZURE, types="{aws: [g6.xlarge], azure: [Standard_NV36ads_A10_v5]}")
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n" + text
    text += "    load_balancing: {algorithm: round_robin, request_timeout_s: 240}\n"
    assert "GRID" in paths_of(write_env(text))["models[0].instance_types.azure[0]"]


def test_cooldowns_are_refused_on_aws_which_ignores_them(write_env: WriteEnv) -> None:
    found = paths_of(write_env(MINIMAL + "    autoscaling: {scale_in_cooldown_s: 600}\n"))
    assert "aws cannot do autoscaling cooldowns" in found["models[0].autoscaling.scale_in_cooldown_s"]


def test_allocation_strategy_is_refused_on_gcp(write_env: WriteEnv) -> None:
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"
    text += with_clouds(GCP, types="{aws: [g6.xlarge], gcp: [g2-standard-8]}")
    text += "    spot: {allocation_strategy: capacity-optimized}\n"
    assert (
        "gcp cannot do a spot allocation strategy"
        in paths_of(write_env(text))["models[0].spot.allocation_strategy"]
    )


def test_every_problem_of_a_model_is_reported_in_one_run(write_env: WriteEnv) -> None:
    """Issue 14 item 5: the GCP max-price refusal used to appear only once instance types were fixed."""
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"
    text += with_clouds(GCP, types="{aws: [g6.xlarge], gcp: [g2-standard-9]}")
    text += "    spot: {max_price_usd_hour: 1.0}\n"
    found = paths_of(write_env(text))
    assert {"models[0].instance_types.gcp[0]", "models[0].spot.max_price_usd_hour"} <= set(found)


def test_drain_defaults_to_the_request_timeout(write_env: WriteEnv) -> None:
    config = load_environment(write_env(MINIMAL + "    load_balancing: {request_timeout_s: 600}\n"))
    assert config.models[0].load_balancing.deregistration_delay_s == 600


def test_a_drain_shorter_than_requests_is_refused(write_env: WriteEnv) -> None:
    text = MINIMAL + "    load_balancing: {request_timeout_s: 600, deregistration_delay_s: 120}\n"
    message = paths_of(write_env(text))["models[0].load_balancing.deregistration_delay_s"]
    assert "cuts requests" in message and "600" in message


def test_spot_notices_shorter_than_requests_are_warnings_naming_the_cut(write_env: WriteEnv) -> None:
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"
    text += with_clouds(GCP, types="{aws: [g6.xlarge], gcp: [g2-standard-8]}")
    warnings = load_environment(write_env(text)).warnings()
    assert any("aws reclaims a spot VM with about 120 s notice" in w and "900 s" in w for w in warnings)
    assert any("gcp reclaims a spot VM with about 30 s notice" in w for w in warnings)
    on_demand = text + "    spot: {on_demand_base: 2}\n"
    assert load_environment(write_env(on_demand)).warnings() == []


@pytest.mark.parametrize(
    ("cidr", "ok"), [("10.0.0.0/28", False), ("10.0.0.0/24", False), ("10.0.0.0/23", True)]
)
def test_the_vpc_must_hold_its_subnets(write_env: WriteEnv, cidr: str, ok: bool) -> None:
    text = MINIMAL.replace(
        "zones: [us-east-1a, us-east-1b]}",
        f"zones: [us-east-1a, us-east-1b], network: {{vpc_cidr: {cidr}}}}}",
    )
    if ok:
        load_environment(write_env(text))
    else:
        assert "use a /23 or larger" in paths_of(write_env(text))["clouds.aws.network.vpc_cidr"]


def test_the_vpc_grows_with_the_fleets(write_env: WriteEnv) -> None:
    text = MINIMAL.replace(
        "zones: [us-east-1a, us-east-1b]}",
        "zones: [us-east-1a, us-east-1b], network: {vpc_cidr: 10.0.0.0/23}}",
    )
    found = paths_of(write_env(text + "    capacity: {min: 1, max: 100}\n"))
    assert "may need 100 in one zone" in found["clouds.aws.network.vpc_cidr"]


def test_an_alarm_threshold_above_every_fleet_is_refused(write_env: WriteEnv) -> None:
    text = MINIMAL + "    capacity: {min: 1, max: 2}\nmonitoring: {alarms: {min_healthy_replicas: 3}}\n"
    message = paths_of(write_env(text))["monitoring.alarms.min_healthy_replicas"]
    assert "never clear" in message


def test_tags_become_gcp_labels_without_loss(write_env: WriteEnv) -> None:
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"
    text += with_clouds(GCP, types="{aws: [g6.xlarge], gcp: [g2-standard-8]}")
    long_value = "x" * 64
    found = paths_of(write_env(text + f"tags: {{Team: a, team: b, '9lives': c, note: {long_value}}}\n"))
    assert "same GCP label" in found["tags.team"]
    assert "starts with a letter" in found["tags.9lives"]
    assert "at most 63" in found["tags.note"]
    assert load_environment(write_env(MINIMAL + f"tags: {{note: {long_value}}}\n")).tags["note"] == long_value


def test_azure_cannot_hold_a_scale_in_longer_than_its_termination_notice(write_env: WriteEnv) -> None:
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"
    text += with_clouds(AZURE, types="{aws: [g6.xlarge], azure: [Standard_NC24ads_A100_v4]}")
    text += (
        "    load_balancing: {algorithm: round_robin, request_timeout_s: 240, deregistration_delay_s: 900}\n"
    )
    message = paths_of(write_env(text))["models[0].load_balancing.deregistration_delay_s"]
    assert "at most 810 s" in message


def test_model_problems_do_not_hide_the_environment_s(write_env: WriteEnv) -> None:
    text = with_clouds(
        AZURE.replace(", key_vault: {name: kv-one, resource_group: rg}", ""),
        types="{azure: [Standard_NC4as_T4_v3]}",
    )
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n" + text
    text = text.replace("  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}\n", "")
    found = paths_of(write_env(text + "    hf_token: {secret: chat-hf-token}\n"))
    assert {
        "models[0].load_balancing.algorithm",
        "models[0].instance_types.azure[0]",
        "clouds.azure.key_vault",
    } <= set(found)


def test_azure_runs_one_gpu_size_per_fleet(write_env: WriteEnv) -> None:
    text = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"
    types = "{aws: [g6.xlarge], azure: [Standard_NC24ads_A100_v4, Standard_NC48ads_A100_v4]}"
    text += with_clouds(AZURE, types=types)
    text += "    load_balancing: {algorithm: round_robin, request_timeout_s: 240}\n"
    assert "takes no GPU size" in paths_of(write_env(text))["models[0].instance_types.azure"]


GCP_VLLM = """\
project: demo
clouds:
  gcp: {project_id: demo-123456, region: us-central1, zones: [us-central1-a]FAMILY}
access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}
models:
  - name: chat
    engine: ENGINE
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {gcp: [g2-standard-8]}
"""


def test_an_engine_built_on_a_newer_cuda_than_the_gcp_image_s_driver_is_refused(write_env: WriteEnv) -> None:
    """vLLM and SGLang images are built on CUDA 13 (driver 580+); the default family carries 570."""
    for engine in ("vllm", "sglang"):
        found = paths_of(write_env(GCP_VLLM.replace("ENGINE", engine).replace("FAMILY", "")))
        assert "driver 570" in found["clouds.gcp.image_family"]
        assert "-nvidia-580 or newer" in found["clouds.gcp.image_family"]
    newer = ", image_family: common-cu129-ubuntu-2204-nvidia-580"
    assert load_environment(write_env(GCP_VLLM.replace("ENGINE", "vllm").replace("FAMILY", newer)))
    assert load_environment(write_env(GCP_VLLM.replace("ENGINE", "tgi").replace("FAMILY", "")))
