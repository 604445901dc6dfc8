"""clouds.gcp.dns_zone and clouds.azure.dns_zone: where the TLS hosts' records go, only with a domain."""

from __future__ import annotations

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError
from tests.conftest import MINIMAL, WriteEnv

GCP = "  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a], dns_zone: ZONE}"


def env(zone: str, access: str) -> str:
    text = MINIMAL.replace(
        "  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}", GCP.replace("ZONE", zone)
    )
    return (
        "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], "
        f"require_api_key: false{access}}}\n" + text.replace("{aws: [g6.xlarge]}", "{gcp: [g2-standard-8]}")
    )


def test_a_zone_without_a_domain_is_refused(write_env: WriteEnv) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(env("llm-example", "")))
    [problem] = caught.value.problems
    assert problem.path == "clouds.gcp.dns_zone"
    assert "access.tls.domain" in problem.message
    config = load_environment(write_env(env("llm-example", ", tls: {domain: llm.example.com}")))
    assert config.clouds.gcp is not None and config.clouds.gcp.dns_zone == "llm-example"


def test_a_zone_name_follows_cloud_dns(write_env: WriteEnv) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(env("llm.example.com", ", tls: {domain: llm.example.com}")))
    [problem] = caught.value.problems
    assert problem.path == "clouds.gcp.dns_zone"
    assert "Cloud DNS managed zone name" in problem.message


AZURE = (
    "  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus, zones: ['1'], "
    "dns_zone: {name: ZONE, resource_group: dns}}"
)


def azure_env(zone: str) -> str:
    text = MINIMAL.replace(
        "  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}", AZURE.replace("ZONE", zone)
    )
    return (
        "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false, "
        "tls: {domain: llm.example.com}}\n"
        + text.replace("{aws: [g6.xlarge]}", "{azure: [Standard_NC24ads_A100_v4]}").replace(
            "    instance_types:",
            "    load_balancing: {algorithm: round_robin, request_timeout_s: 240}\n    instance_types:",
        )
    )


def test_an_azure_zone_holds_the_domain_below_its_apex(write_env: WriteEnv) -> None:
    config = load_environment(write_env(azure_env("example.com")))
    assert config.clouds.azure is not None and config.clouds.azure.dns_zone is not None
    for zone in ("llm.example.com", "other.org"):  # the apex (no CNAME there) and another domain
        with pytest.raises(ConfigError) as caught:
            load_environment(write_env(azure_env(zone)))
        [problem] = caught.value.problems
        assert problem.path == "clouds.azure.dns_zone.name"
        assert "CNAME" in problem.message
