"""clouds.<cloud>.registry_credentials: each names a secret in its own store's grammar, and a Docker Hub
image without one is pointed out by `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError
from tests.conftest import MINIMAL, WriteEnv

AWS_LINE = "  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}\n"
GCP = "  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a]}\n"
AZURE = (
    "  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, "
    "location: eastus, zones: ['1'], key_vault: {name: kv-one, resource_group: rg}}\n"
)
VLLM = "    engine: vllm\n"
#: GCP and Azure serve public endpoints only.
PUBLIC = "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false}\n"


def env(clouds: str, *, engine: str = "", types: str = "{aws: [g6.xlarge]}") -> str:
    text = MINIMAL.replace(AWS_LINE, clouds).replace("{aws: [g6.xlarge]}", types)
    text = text.replace("    model_id:", engine + "    model_id:")
    return text if clouds.startswith("  aws") else PUBLIC + text


def messages(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return {problem.path: problem.message for problem in caught.value.problems}


def test_aws_takes_only_secrets_ecr_can_read(write_env: WriteEnv) -> None:
    def clouds(secret: str) -> str:
        return AWS_LINE.replace("}\n", f", registry_credentials: {{docker.io: {{secret: {secret}}}}}}}\n")

    found = messages(write_env(env(clouds("docker-hub"))))
    [(path, message)] = found.items()
    assert path.endswith("registry_credentials.docker.io.secret")
    assert "ecr-pullthroughcache/" in message
    assert "docker-hub" not in message  # secret names are never echoed
    config = load_environment(write_env(env(clouds("ecr-pullthroughcache/docker-hub"))))
    assert config.clouds.aws is not None
    assert config.clouds.aws.registry_credentials["docker.io"].secret == "ecr-pullthroughcache/docker-hub"


def test_only_docker_hub_and_ghcr_take_a_credential(write_env: WriteEnv) -> None:
    clouds = AWS_LINE.replace("}\n", ", registry_credentials: {quay.io: {secret: ecr-pullthroughcache/q}}}\n")
    found = messages(write_env(env(clouds)))
    [message] = found.values()
    assert "'docker.io' or 'ghcr.io'" in message


def test_gcp_needs_a_user_a_secret_id_and_a_version(write_env: WriteEnv) -> None:
    types = "{gcp: [g2-standard-8]}"
    good = "{username: demo, secret: hub-token, version: 2}"
    config = load_environment(
        write_env(env(GCP.replace("}\n", f", registry_credentials: {{docker.io: {good}}}}}\n"), types=types))
    )
    assert config.clouds.gcp is not None
    credential = config.clouds.gcp.registry_credentials["docker.io"]
    assert (credential.username, credential.secret, credential.version) == ("demo", "hub-token", 2)
    # Secret Manager ids have no `/` or `.`; a version is a number from 1.
    bad = "{username: demo, secret: team/hub.token, version: 0}"
    found = messages(
        write_env(env(GCP.replace("}\n", f", registry_credentials: {{docker.io: {bad}}}}}\n"), types=types))
    )
    assert {path.rsplit(".", 1)[-1] for path in found} == {"secret", "version"}


def test_azure_credentials_need_the_key_vault(write_env: WriteEnv) -> None:
    front_door = "load_balancing: {algorithm: round_robin, request_timeout_s: 240}"
    types = "{azure: [Standard_NC24ads_A100_v4]}\n    " + front_door
    credentials = ", registry_credentials: {docker.io: {username_secret: hub-user, secret: hub-token}}}\n"
    vaultless = (
        "  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus, zones: ['1']"
        + credentials
    )
    found = messages(write_env(env(vaultless, types=types)))
    [(path, message)] = found.items()
    assert path.startswith("clouds.azure")
    assert "key_vault: {name: <vault>" in message
    config = load_environment(write_env(env(AZURE.replace("}\n", credentials), types=types)))
    assert config.clouds.azure is not None
    assert config.clouds.azure.registry_credentials["docker.io"].username_secret == "hub-user"
    # Key Vault names take no `_`.
    found = messages(
        write_env(env(AZURE.replace("}\n", credentials.replace("hub-user", "hub_user")), types=types))
    )
    assert [path.rsplit(".", 1)[-1] for path in found] == ["username_secret"]


def registry_warnings(path: Path) -> list[str]:
    return [line for line in load_environment(path).warnings() if ".registry_credentials:" in line]


def test_a_docker_hub_engine_without_a_credential_is_pointed_out(write_env: WriteEnv) -> None:
    [warning] = registry_warnings(write_env(env(AWS_LINE, engine=VLLM)))
    assert warning.startswith("clouds.aws.registry_credentials: models[0] runs vllm/vllm-openai:")
    assert "10 anonymous pulls per hour" in warning
    assert "ecr-pullthroughcache/" in warning
    # TGI comes from ghcr.io: nothing to say; with a Docker Hub credential neither.
    assert registry_warnings(write_env(env(AWS_LINE))) == []
    signed_in = AWS_LINE.replace(
        "}\n", ", registry_credentials: {docker.io: {secret: ecr-pullthroughcache/hub}}}\n"
    )
    assert registry_warnings(write_env(env(signed_in, engine=VLLM))) == []
