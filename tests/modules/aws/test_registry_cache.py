"""The ECR pull-through cache: a rule per upstream, under prefixes ECR accepts and no other stack claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmdeploy.boot.registry import CACHE_NAMES, ecr_prefix
from tests.fixtures_synth import Stack

pytestmark = pytest.mark.synth

#: CreatePullThroughCacheRule `ecrRepositoryPrefix`: 2-30 characters of this pattern (AWS CLI
#: reference; provider ecr/pull_through_cache_rule.go validates the same).
PREFIX = re.compile(r"^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*/?|ROOT)$")


def test_prefixes_fit_ecr_and_differ_per_project_and_environment() -> None:
    long = "a-very-long-project-name-that-goes-on"
    prefixes = {
        ecr_prefix(upstream, project, env)
        for project in ("llmdeploy-demo", long)
        for env in ("dev", "staging", "prod")
        for upstream in CACHE_NAMES
    }
    assert len(prefixes) == 2 * 3 * len(CACHE_NAMES)
    assert all(2 <= len(prefix) <= 30 and PREFIX.match(prefix) for prefix in prefixes)


def test_every_stack_caches_ecr_public_and_the_upstreams_it_has_credentials_for(
    aws_stacks: dict[str, Stack],
) -> None:
    """ECR Public needs no credential; Docker Hub and ghcr.io get a rule exactly when
    clouds.aws.registry_credentials names their `ecr-pullthroughcache/` secret (prod: ghcr.io)."""
    from modules.aws.registry_cache import UPSTREAMS

    for stack in aws_stacks.values():
        secrets = {
            f"${{data.aws_secretsmanager_secret.{key}.arn}}": entry["name"]
            for key, entry in stack.data("aws_secretsmanager_secret").items()
        }
        rules = list(stack.resources("aws_ecr_pull_through_cache_rule").values())
        found = {rule["upstream_registry_url"]: secrets.get(rule.get("credential_arn", "")) for rule in rules}
        settings = stack.plan.settings("aws")
        configured = {
            UPSTREAMS[upstream][0]: credential.secret
            for upstream, credential in settings.registry_credentials.items()
        }
        assert found == {"public.ecr.aws": None, **configured}, stack.name
        assert rules[0]["ecr_repository_prefix"] == ecr_prefix(
            "public.ecr.aws", stack.plan.project, stack.plan.env
        )
    assert aws_stacks["prod-aws"].plan.settings("aws").registry_credentials


def test_credentialed_upstreams_read_only_the_secrets_arn(tmp_path: Path) -> None:
    """Docker Hub and ghcr.io need a credential: a secret named ecr-pullthroughcache/... (ECR user guide,
    pull-through-cache-creating-rule). Only its ARN is read: no value reaches plan or state."""
    from cdktn import App, TerraformStack
    from cdktn_provider_aws.provider import AwsProvider

    from modules.aws.registry_cache import RegistryCache

    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "cache")
    AwsProvider(stack, "aws", region="eu-west-1")
    credentials = {"docker.io": "ecr-pullthroughcache/docker-hub", "ghcr.io": "ecr-pullthroughcache/ghcr"}
    RegistryCache(stack, "RegistryCache", project="demo", env="prod", credentials=credentials)
    app.synth()
    doc = json.loads((tmp_path / "stacks" / "cache" / "cdk.tf.json").read_text(encoding="utf-8"))
    rules = {
        rule["upstream_registry_url"]: rule
        for rule in doc["resource"]["aws_ecr_pull_through_cache_rule"].values()
    }
    assert set(rules) == {"public.ecr.aws", "registry-1.docker.io", "ghcr.io"}
    secrets = doc["data"]["aws_secretsmanager_secret"]
    assert sorted(secret["name"] for secret in secrets.values()) == sorted(credentials.values())
    assert "aws_secretsmanager_secret_version" not in doc["data"]
    for key in secrets:
        [rule] = [
            rule
            for rule in rules.values()
            if rule.get("credential_arn") == f"${{data.aws_secretsmanager_secret.{key}.arn}}"
        ]
        assert rule["ecr_repository_prefix"].endswith(("-docker-hub", "-ghcr"))
