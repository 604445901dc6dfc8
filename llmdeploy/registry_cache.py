"""The names of an AWS stack's ECR pull-through cache rules, shared with the boot bundle.

The same scheme as the boot-render helper's `llmdeploy/boot/registry.py` (`CACHE_NAMES`,
`ecr_prefix`), which rewrites image references on the VM: once that module is on main, this one
gives way to it. Cache rules are registry-wide (one account and region), so prefixes are scoped to
the project and environment: two stacks in one region never claim the same prefix.
"""

from __future__ import annotations

import hashlib

#: Upstream registry host to the cache's short name.
CACHE_NAMES = {"docker.io": "docker-hub", "ghcr.io": "ghcr", "public.ecr.aws": "ecr-public"}
#: ECR allows 2-30 characters in a prefix (`ecr_repository_prefix`): the project and environment
#: are a hash, `llmd-<8 hex>-<name>`.
_PREFIX_ROOT = "llmd-"
_HASH_CHARS = 8


def stack_prefix(project: str, env: str) -> str:
    """What every cache prefix of one stack starts with (`llmd-<hash>-`)."""
    digest = hashlib.sha256(f"{project}/{env}".encode()).hexdigest()[:_HASH_CHARS]
    return f"{_PREFIX_ROOT}{digest}-"


def ecr_prefix(upstream: str, project: str, env: str) -> str:
    """The `ecr_repository_prefix` of the cache rule for an upstream registry host."""
    return f"{stack_prefix(project, env)}{CACHE_NAMES[upstream]}"
