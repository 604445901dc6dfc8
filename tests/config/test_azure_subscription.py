"""clouds.azure.subscription_id is required: the provider block, the registry's and the routers' globally
unique names, the routers' agents and status/doctor/smoke all use it, so it is decided in the file."""

from __future__ import annotations

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError
from tests.conftest import MINIMAL, WriteEnv

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
AZURE = (
    "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false}\n"
    + MINIMAL.replace("  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}", "  azure: {AZURE}")
    .replace("{aws: [g6.xlarge]}", "{azure: [Standard_NC24ads_A100_v4]}")
    .replace(
        "    instance_types:",
        "    load_balancing: {algorithm: round_robin, request_timeout_s: 240}\n    instance_types:",
    )
)


def test_a_missing_subscription_says_where_to_take_it_from(write_env: WriteEnv) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(AZURE.replace("{AZURE}", "{location: eastus, zones: ['1']}")))
    [problem] = caught.value.problems
    assert problem.path == "clouds.azure.subscription_id"
    assert "missing" in problem.message
    assert "subscription_id: ${ARM_SUBSCRIPTION_ID}" in problem.message
    assert "az account show --query id" in problem.message


def test_the_subscription_may_come_from_arm_subscription_id(
    write_env: WriteEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
    text = AZURE.replace(
        "{AZURE}", "{subscription_id: '${ARM_SUBSCRIPTION_ID}', location: eastus, zones: ['1']}"
    )
    config = load_environment(write_env(text))
    assert config.clouds.azure is not None
    assert config.clouds.azure.subscription_id == SUBSCRIPTION
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID")
    with pytest.raises(ConfigError) as caught:
        load_environment(write_env(text))
    [problem] = caught.value.problems
    assert "ARM_SUBSCRIPTION_ID is not set" in problem.message
