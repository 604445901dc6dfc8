"""Shared fixtures for tests that talk to the local AWS emulator or run Terraform.

Register with `pytest_plugins = ["tests.fixtures_aws"]` in tests/conftest.py.

The emulator is session-scoped (one moto for the whole run, ~2 s to start), so tests
sharing it must use unique resource names and assert only on what they created.
All traffic goes to 127.0.0.1: the env fixtures carry fake credentials, disable
instance metadata and Terraform's checkpoint call, and drop inherited AWS profiles.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.emulator import EmulatorHandle, emulator_environ, start_emulator, stop_emulator
from llmdeploy.emulator.process import REGION
from llmdeploy.terraform import binary_from_env, write_cli_config

AwsClient = Callable[..., Any]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    """One corrected, seeded emulator for the session, stopped at the end."""
    state_dir = tmp_path_factory.mktemp("emulator")
    handle = start_emulator(state_dir)
    try:
        yield handle
    finally:
        stop_emulator(state_dir)


@pytest.fixture(scope="session")
def aws_env(emulator: EmulatorHandle) -> dict[str, str]:
    """A whole child-process environment pointing every AWS SDK at the emulator."""
    return emulator_environ(emulator)


@pytest.fixture(scope="session")
def aws_client(emulator: EmulatorHandle) -> AwsClient:
    """`aws_client("ec2", region_name=...)`: a boto3 client bound to the emulator."""
    import boto3  # type: ignore[import-untyped]

    def make(service: str, region_name: str = REGION) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=region_name,
            aws_access_key_id="llmdeploy-local",
            aws_secret_access_key="llmdeploy-local",
        )

    return make


@pytest.fixture
def unique_name() -> str:
    """A short unique prefix so tests sharing the emulator never collide."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def terraform_binary() -> str:
    """$LLMDEPLOY_TERRAFORM_BINARY or `terraform`; skips the test if it is not installed."""
    binary = binary_from_env()
    if shutil.which(binary) is None:
        pytest.skip(f"the Terraform binary '{binary}' is not on PATH (set LLMDEPLOY_TERRAFORM_BINARY)")
    return binary


@pytest.fixture(scope="session")
def terraform_cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """os.environ plus a generated CLI config (when a provider mirror exists), no emulator.

    The plugin cache lives in a session temp dir, never in the user's home.
    """
    import os

    env = dict(os.environ)
    env["LLMDEPLOY_CACHE_DIR"] = str(tmp_path_factory.mktemp("llmdeploy-cache"))
    env["CHECKPOINT_DISABLE"] = "1"
    config = write_cli_config(env)
    if config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(config)
    return env


@pytest.fixture(scope="session")
def terraform_env(emulator: EmulatorHandle, terraform_cli_env: dict[str, str]) -> dict[str, str]:
    """terraform_cli_env pointed at the emulator (AWS_ENDPOINT_URL, fake keys...)."""
    return emulator_environ(emulator, base=terraform_cli_env)


@pytest.fixture(scope="session")
def provider_mirror(terraform_cli_env: dict[str, str]) -> Path:
    """The provider mirror in use; skips tests that must not reach the registry."""
    from llmdeploy.terraform import find_provider_mirror

    mirror = find_provider_mirror(terraform_cli_env)
    if mirror is None:
        pytest.skip("no local provider mirror (set LLMDEPLOY_PROVIDER_MIRROR) and no network allowed")
    return mirror
