"""Where instances pull container images: their cloud's registry cache, never anonymous Docker Hub.

Anonymous Docker Hub pulls are limited to 10 per hour per IPv4 address, and every VM of a zone
leaves through one NAT address. So each image reference is rewritten to a cache in the VM's own
cloud, which pulls from the upstream once. The cloud constructs create the caches with the names
these functions return (one place for both sides):

- AWS: an ECR pull-through cache rule per upstream, repository prefix
  `ecr_prefix(upstream, project, env)`: `<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<path>`.
  Docker Hub's official images are taken from ECR Public's copy
  (`public.ecr.aws/docker/library/...`), which needs no credential.
- GCP: an Artifact Registry remote repository per upstream of `gcp_names.REGISTRY_UPSTREAMS`, id
  `gcp_names.registry_mirror(prefix, upstream)`: `<region>-docker.pkg.dev/<gcp project>/<id>/<path>`.
- Azure: the environment's registry `azure_names.registry_name(...)` with a cache rule per
  upstream repository (`azure_names.cached_image`): `<registry>.azurecr.io/<repository>:<tag>`.

Every name is per llmdeploy project and environment: environments sharing an account, a GCP
project or a region never create the same rule, repository or registry.

An image is pinned by tag, or by tag and digest (`name:tag@sha256:...`): the mirror path keeps
both, so a digest-pinned image is pulled by its digest through the cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from llmdeploy.catalog import Cloud
from llmdeploy.clouds.azure import names as azure_names
from llmdeploy.clouds.gcp import names as gcp_names
from llmdeploy.config.clouds import AwsCloud, GcpCloud
from llmdeploy.plan import endpoints
from llmdeploy.plan.model import DeploymentPlan

#: Upstream registry host to the cache's short name, shared by the three clouds.
CACHE_NAMES = {"docker.io": "docker-hub", "ghcr.io": "ghcr", "public.ecr.aws": "ecr-public"}
#: Docker Hub's official images (`nginx`, `docker.io/library/nginx`) as ECR Public serves them.
ECR_PUBLIC_LIBRARY = "docker/library"


@dataclass(frozen=True)
class Mirror:
    """One image's upstream reference and its path on the cloud's cache host."""

    upstream: str
    path: str


def split_image(image: str) -> tuple[str, str]:
    """(registry host, repository path with tag/digest), the way docker normalizes a reference."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", image if rest else f"library/{image}"


def stack_prefix(project: str, env: str) -> str:
    """What every ECR cache prefix of one stack starts with (`llmd-<8 hex>-`): cache rules are
    registry-wide, so two stacks in one account and region never claim the same prefix."""
    return f"llmd-{hashlib.sha256(f'{project}/{env}'.encode()).hexdigest()[:8]}-"


def ecr_prefix(upstream: str, project: str, env: str) -> str:
    """The ECR pull-through cache rule's repository prefix for an upstream registry.

    ECR allows 2-30 characters, so the project and environment are a hash: `llmd-<8 hex>-<name>`.
    """
    return f"{stack_prefix(project, env)}{CACHE_NAMES[upstream]}"


def mirror(plan: DeploymentPlan, cloud: Cloud, image: str) -> Mirror:
    """`image` and its path under its cloud's cache host; path "" when no cache serves its registry
    (an image from the user's own registry is pulled from there)."""
    upstream, path = split_image(image)
    if cloud == "aws" and upstream == "docker.io" and path.startswith("library/"):
        upstream, path = "public.ecr.aws", f"{ECR_PUBLIC_LIBRARY}/{path.removeprefix('library/')}"
    if cloud == "gcp":
        cached = upstream in gcp_names.REGISTRY_UPSTREAMS
        repository = gcp_names.registry_mirror(endpoints.stack_prefix(plan), upstream) if cached else ""
        return Mirror(image, f"{repository}/{path}" if cached else "")
    if cloud == "azure":
        found = azure_names.cached_image(image)
        return Mirror(image, f"{found.target_repo}:{found.tag}" if found else "")
    if upstream not in CACHE_NAMES:
        return Mirror(image, "")
    return Mirror(image, f"{ecr_prefix(upstream, plan.project, plan.env)}/{path}")


def registry_host(plan: DeploymentPlan, cloud: Cloud) -> str:
    """The cache host (and path prefix) of the environment on a cloud; "" on AWS when the account
    id is not in the config (the VM reads it from its instance identity document)."""
    settings = plan.cloud(cloud).settings
    if isinstance(settings, AwsCloud):
        account = settings.account_id
        return f"{account}.dkr.ecr.{settings.region}.amazonaws.com" if account else ""
    if isinstance(settings, GcpCloud):
        return f"{settings.region}-docker.pkg.dev/{settings.project_id}"
    name = azure_names.registry_name(endpoints.stack_prefix(plan), settings.subscription_id)
    return f"{name}.azurecr.io"
