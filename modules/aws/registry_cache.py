"""The stack's ECR pull-through cache: one rule per upstream registry the engines' images come from.

Replicas pull `<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<repository>:<tag>`; ECR fetches
the image from the upstream once and serves it from then on (llmdeploy/boot/registry.py names the
prefixes, as the boot bundle does). Docker Hub's official images (nginx) come from ECR Public's
copy, `public.ecr.aws/docker/library/...`, which needs no credential. Docker Hub and GitHub
Container Registry need credentials: a Secrets Manager secret whose name starts with
`ecr-pullthroughcache/`, in the stack's account and region, holding `username` and `accessToken`
(docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-secret.html). Only its
ARN is read here (`aws_secretsmanager_secret`, metadata only), never its value. Upstreams that
need a credential and have none get no rule; their images are pulled directly.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktn_provider_aws.data_aws_secretsmanager_secret import DataAwsSecretsmanagerSecret
from cdktn_provider_aws.ecr_pull_through_cache_rule import EcrPullThroughCacheRule
from constructs import Construct

from llmdeploy.boot.registry import CACHE_NAMES, ecr_prefix, stack_prefix
from modules.aws.account import Account, Statement

#: Upstream registry host to the rule's `upstream_registry_url` (CreatePullThroughCacheRule API
#: reference) and whether ECR needs a credential for it: Docker Hub and GitHub Container Registry
#: do, ECR Public does not (docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html).
UPSTREAMS: dict[str, tuple[str, bool]] = {
    "public.ecr.aws": ("public.ecr.aws", False),
    "docker.io": ("registry-1.docker.io", True),
    "ghcr.io": ("ghcr.io", True),
}

#: ECR rejects a credential whose secret name lacks this prefix (CreatePullThroughCacheRule).
CREDENTIAL_PREFIX = "ecr-pullthroughcache/"
#: What a replica needs to pull through the cache: a token for the registry, the image layers, and
#: (on a first pull) the import of the upstream image into a repository the cache creates
#: (docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html).
PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
IMPORT_ACTIONS = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


class RegistryCache(Construct):
    """Pull-through cache rules of one stack, each under the stack's own repository prefix.

    Attributes:
        upstreams: the upstream registry hosts (keys of UPSTREAMS) that have a rule.
    """

    def __init__(
        self, scope: Construct, id: str, *, project: str, env: str, credentials: Mapping[str, str]
    ) -> None:
        super().__init__(scope, id)
        unknown = sorted(set(credentials) - set(UPSTREAMS))
        assert not unknown, f"no such upstream registry: {unknown}"
        self.upstreams: list[str] = []
        for host, (registry_url, needs_credential) in UPSTREAMS.items():
            secret = credentials.get(host)
            if needs_credential and secret is None:
                continue
            rule = _Rule(self, CACHE_NAMES[host])
            credential = None
            if secret is not None:
                assert secret.startswith(CREDENTIAL_PREFIX), f"{secret} must start with {CREDENTIAL_PREFIX}"
                credential = DataAwsSecretsmanagerSecret(rule, _Rule.CREDENTIAL_ID, name=secret).arn
            EcrPullThroughCacheRule(
                rule,
                _Rule.RULE_ID,
                ecr_repository_prefix=ecr_prefix(host, project, env),
                upstream_registry_url=registry_url,
                credential_arn=credential,
            )
            self.upstreams.append(host)


class _Rule(Construct):
    """Scope of one upstream's rule, so its address carries the upstream's name."""

    RULE_ID = "Rule"
    CREDENTIAL_ID = "Credential"


def registry_cache_statements(account: Account, project: str, env: str) -> list[Statement]:
    """A replica's pulls through its stack's cache, and only its stack's repositories."""
    repositories = account.arn("ecr", f"repository/{stack_prefix(project, env)}*")
    return [
        {
            # GetAuthorizationToken is registry-wide and cannot be scoped to a repository.
            "Sid": "RegistryToken",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": "*",
        },
        {
            "Sid": "PullThroughOwnCache",
            "Effect": "Allow",
            "Action": PULL_ACTIONS + IMPORT_ACTIONS,
            "Resource": repositories,
        },
    ]
