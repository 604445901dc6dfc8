"""Where an AWS replica pulls its container images: the stack's ECR pull-through cache.

Shared by the AWS constructs (which create one cache rule per upstream registry) and the boot
bundle (which rewrites image references to the cache), so both name the same repositories.
Anonymous Docker Hub pulls are limited per IP address, and every replica of a zone leaves through
one NAT address; the cache pulls each image once per region and serves it from ECR.

Cache rules are registry-wide (one account and region), so prefixes are scoped to the project and
environment: two stacks in one region must not claim the same prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Upstream:
    """A registry the cache pulls from."""

    #: The host in image references (`docker.io/vllm/vllm-openai:…`, or none for Docker Hub).
    host: str
    #: `upstream_registry_url` of the cache rule (AWS API, CreatePullThroughCacheRule).
    registry_url: str
    #: ECR needs credentials (a Secrets Manager secret named `ecr-pullthroughcache/…`) for it.
    needs_credential: bool


#: By the short name used in prefixes. Docker Hub and GitHub Container Registry need credentials,
#: ECR Public does not (docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html).
UPSTREAMS: dict[str, Upstream] = {
    "ecr-public": Upstream(host="public.ecr.aws", registry_url="public.ecr.aws", needs_credential=False),
    "docker-hub": Upstream(host="docker.io", registry_url="registry-1.docker.io", needs_credential=True),
    "ghcr": Upstream(host="ghcr.io", registry_url="ghcr.io", needs_credential=True),
}
#: Every prefix starts so; with an 8-character hash and the longest upstream name it stays within
#: ECR's 30 characters (`ecr_repository_prefix`: 2-30, lower case, `[._-/]` separators).
PREFIX_ROOT = "llmdeploy-"
_HASH_CHARS = 8


def stack_prefix(project: str, env: str) -> str:
    """The repository prefix all of one stack's cache rules share (`llmdeploy-<hash>`)."""
    digest = hashlib.sha256(f"{project}/{env}".encode()).hexdigest()[:_HASH_CHARS]
    return f"{PREFIX_ROOT}{digest}"


def repository_prefix(project: str, env: str, upstream: str) -> str:
    """The `ecr_repository_prefix` of one upstream's cache rule in one stack."""
    return f"{stack_prefix(project, env)}/{upstream}"
