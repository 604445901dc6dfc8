"""Azure's naming rules, shared by the resolution stage (resolve.py), `status` and the gates.

Everything of an environment lives in its own resource group (`<project>-<env>`), so per-fleet names
need no prefix: `<model>-<slot>` names a fleet's scale set, load balancer and Front Door origin.
No CDK and no Azure SDK here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

#: The resource providers (namespaces) the Azure stack creates resources in, and
#: Microsoft.AlertsManagement, whose Alerts API the release gate reads. azurerm 5.x registers none by
#: default (`resource_provider_registrations = "none"`, 5.0 upgrade guide): the stack asks the
#: provider to register exactly these, which needs `*/register/action` on the subscription
#: (Contributor has it); an unregistered one fails apply with MissingSubscriptionRegistration.
RESOURCE_PROVIDERS = (
    "Microsoft.AlertsManagement",
    "Microsoft.Cdn",
    "Microsoft.Compute",
    "Microsoft.ContainerRegistry",
    "Microsoft.Insights",
    "Microsoft.ManagedIdentity",
    "Microsoft.Network",
    "Microsoft.OperationalInsights",
    "Microsoft.Portal",
)

#: Keys of the JSON user data of every VM, readable on the VM from IMDS (`compute/userData`) and by
#: the release gate from ARM (`$expand=userData`): the boot bundle's digest, and the Front Door
#: profile's `resource_guid`, the only `X-Azure-FDID` the proxy on the VM admits (the boot-agents
#: helper's llmdeploy/instance.py names the same key FRONT_DOOR_ID_KEY).
USER_DATA_BUNDLE = "bundle"
USER_DATA_FRONT_DOOR_ID = "front_door_id"

#: Upstream registries Azure Container Registry's artifact cache pulls from without credentials
#: (learn.microsoft.com/azure/container-registry/artifact-cache-overview, "Upstream support").
CACHE_UPSTREAMS = ("docker.io", "ghcr.io", "mcr.microsoft.com", "quay.io", "registry.k8s.io")
_DOCKER_HUB = "docker.io"
#: Front Door WAF policy names: letters and digits only.
_WAF_NAME = re.compile(r"[^A-Za-z0-9]")
#: Front Door custom domain names: letters, digits and dashes.
_DOMAIN_NAME = re.compile(r"[^A-Za-z0-9-]")
#: ACR cache rule names: letters and digits, optionally joined by single dashes, 5-49 characters.
_RULE_NAME = re.compile(r"[^A-Za-z0-9]+")
_RULE_NAME_LIMIT = 49
#: ACR names: 5-50 letters and digits, unique across Azure.
_REGISTRY_NAME_LIMIT = 50
_DIGEST_CHARS = 12


def registry_name(stack_prefix: str, subscription_id: str) -> str:
    """The environment's registry: readable prefix plus a digest, as ACR names are global."""
    digest = hashlib.sha256(f"{subscription_id}/{stack_prefix}".encode()).hexdigest()[:_DIGEST_CHARS]
    readable = re.sub(r"[^a-z0-9]", "", stack_prefix.lower())
    return readable[: _REGISTRY_NAME_LIMIT - _DIGEST_CHARS] + digest


def scale_set(fleet: str) -> str:
    """`<model>-<slot>` (the fleet's name): its scale set, load balancer prefix and Front Door origin."""
    return fleet


#: The environment's router group (issue 13): its scale set, load balancer, Front Door origins and
#: application security group. Fleet names are `<model>-<slot>`, so no fleet can take it.
ROUTER_GROUP = "routers"
#: Custom role names are unique in the whole tenant (Azure RBAC "Azure custom roles"), not per
#: subscription or resource group: the digest keeps two subscriptions' same environment apart.
_ROLE_DIGEST_CHARS = 8


def router_role(stack_prefix: str, subscription_id: str, purpose: str) -> str:
    """The name of one of the routers' custom roles, unique in the tenant."""
    digest = hashlib.sha256(f"{subscription_id}/{stack_prefix}".encode()).hexdigest()[:_ROLE_DIGEST_CHARS]
    return f"{stack_prefix}-{ROUTER_GROUP}-{purpose}-{digest}"


def waf_policy(stack_prefix: str) -> str:
    """The environment's Front Door WAF policy: the stack prefix without its dashes."""
    return _WAF_NAME.sub("", stack_prefix)


def custom_domain(host: str) -> str:
    """The Front Door custom domain resource serving `host`."""
    return _DOMAIN_NAME.sub("-", host)


def credential_set(upstream: str) -> str:
    """The registry credential set signing in to `upstream` (docker.io, ghcr.io): letters, digits and
    dashes, 5-50 characters (ACR credentialSetName)."""
    return f"{_RULE_NAME.sub('-', upstream)}-credentials"


def cache_rule(target_repo: str) -> str:
    """The registry cache rule serving `target_repo`."""
    return _RULE_NAME.sub("-", target_repo).strip("-")[:_RULE_NAME_LIMIT].strip("-")


@dataclass(frozen=True)
class CachedImage:
    """An engine image as the registry's artifact cache serves it."""

    #: Upstream repository with its registry host, e.g. docker.io/vllm/vllm-openai.
    source_repo: str
    #: Repository in the cache, e.g. vllm/vllm-openai: pull `<login server>/<target_repo>:<tag>`.
    target_repo: str
    #: The tag, with its `@sha256:` digest when the image is pinned by one.
    tag: str

    def pull_name(self, login_server: str) -> str:
        """What a VM pulls from the cache at `login_server` (<registry>.azurecr.io)."""
        return f"{login_server}/{self.target_repo}:{self.tag}"


def cached_image(image: str) -> CachedImage | None:
    """How the artifact cache serves `image` (`repo:tag`, optionally `@sha256:<digest>`), or None when
    its upstream is not cached. A digest travels with the tag: the cache serves it as the upstream does."""
    named, at, digest = image.partition("@")
    repository, _, tag = named.rpartition(":")
    if not repository or "/" in tag or "@" in digest:
        return None
    tag = f"{tag}{at}{digest}"
    host, _, path = repository.partition("/")
    if "." not in host:  # Docker Hub's short form: vllm/vllm-openai
        host, path = _DOCKER_HUB, repository
    if host not in CACHE_UPSTREAMS or not path:
        return None
    if host == _DOCKER_HUB and "/" not in path:  # official images live under library/
        path = f"library/{path}"
    return CachedImage(source_repo=f"{host}/{path}", target_repo=path, tag=tag)
