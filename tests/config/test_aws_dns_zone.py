"""clouds.aws.dns_zone: the Route 53 zone the endpoint's alias records go in, only with a domain inside
it, and not beside global_dns."""

from __future__ import annotations

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError
from tests.conftest import MINIMAL, WriteEnv

AWS = "  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}"
PUBLIC = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false%s}\n"


def env(zone: str, domain: str | None, extra: str = "") -> str:
    tls = f", tls: {{domain: {domain}}}" if domain else ""
    clouds = MINIMAL.replace(AWS, AWS.replace("}", f", dns_zone: {zone}}}"))
    return PUBLIC % tls + clouds + extra


def problem_of(write_env: WriteEnv, text: str) -> tuple[str | None, str]:
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(text))
    [problem] = caught.value.problems
    return problem.path, problem.message


@pytest.mark.parametrize("domain", ["llm.example.com", "example.com", "a.b.example.com"])
def test_a_domain_in_the_zone_or_at_its_apex_is_accepted(write_env: WriteEnv, domain: str) -> None:
    config = load_environment(write_env(env("example.com", domain)))
    assert config.clouds.aws is not None and config.clouds.aws.dns_zone == "example.com"


def test_no_zone_is_the_default(write_env: WriteEnv) -> None:
    config = load_environment(write_env(MINIMAL))
    assert config.clouds.aws is not None and config.clouds.aws.dns_zone is None


def test_a_zone_without_a_domain_is_refused(write_env: WriteEnv) -> None:
    path, message = problem_of(write_env, env("example.com", None))
    assert path == "clouds.aws.dns_zone"
    assert "access.tls.domain is not" in message and "remove dns_zone" in message


@pytest.mark.parametrize("domain", ["llm.other.org", "notexample.com"])
def test_a_domain_outside_the_zone_is_refused(write_env: WriteEnv, domain: str) -> None:
    path, message = problem_of(write_env, env("example.com", domain))
    assert path == "clouds.aws.dns_zone"
    assert f"{domain} is not in the hosted zone example.com" in message


def test_a_zone_is_a_domain_name(write_env: WriteEnv) -> None:
    path, message = problem_of(write_env, env("Example_zone", "llm.example.com"))
    assert path == "clouds.aws.dns_zone"
    assert "domain name" in message


def test_global_dns_and_an_aws_zone_are_not_combined(write_env: WriteEnv) -> None:
    text = env("example.com", "llm.example.com", "global_dns: {zone: example.com, name: api}\n")
    path, message = problem_of(write_env, text)
    assert path == "clouds.aws.dns_zone"
    assert "global_dns" in message and "not both" in message
