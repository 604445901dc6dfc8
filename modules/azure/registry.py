"""The environment's container registry: an artifact cache of the engines' images.

Every replica pulls its engine image (tens of GB for vLLM and SGLang) on boot; pulled through the
registry in the environment's region, the images come from Azure instead of Docker Hub's or GitHub's
rate-limited, cross-continent endpoints. One cache rule per upstream repository the fleets use
(`llmdeploy.clouds.azure.names.cached_image`); images from other registries are pulled directly.
Artifact cache works on every tier (learn.microsoft.com/azure/container-registry/tutorial-registry-cache),
so the registry is Standard; caching public images needs no credential set. The replicas pull with
their managed identity (AcrPull on this registry), never with the admin user.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cdktn_provider_azurerm.container_registry import ContainerRegistry
from cdktn_provider_azurerm.container_registry_cache_rule import ContainerRegistryCacheRule
from constructs import Construct

from llmdeploy.boot.context import PROXY_IMAGE
from llmdeploy.clouds.azure.names import cached_image
from llmdeploy.plan.model import FleetPlan
from modules.common import skip_checks

SKU = "Standard"
PULL_ROLE = "AcrPull"
_CACHE_ONLY = "the registry only caches public engine images, pulled with Entra ID tokens"
#: checkov's registry checks that need Premium, which a cache of public images does not.
_PREMIUM_ONLY = {
    "CKV_AZURE_139": "network rules and private endpoints need Premium; " + _CACHE_ONLY,
    "CKV_AZURE_164": "content trust needs Premium; the cached images are the upstream's, pinned by tag",
    "CKV_AZURE_165": "geo-replication needs Premium; one environment deploys to one region",
    "CKV_AZURE_166": "quarantine needs Premium; " + _CACHE_ONLY,
    "CKV_AZURE_167": "retention of untagged manifests needs Premium; a cache holds only tagged pulls",
    "CKV_AZURE_233": "zone redundancy needs Premium; losing the cache costs image pulls, never data",
    "CKV_AZURE_237": "dedicated data endpoints need Premium; the VMs reach the registry through NAT",
}
#: Cache rule names: letters and digits, optionally joined by single dashes, 5-49 characters.
_RULE_NAME = re.compile(r"[^A-Za-z0-9]+")
_RULE_NAME_LIMIT = 49


class Registry(Construct):
    """The registry and its cache rules.

    Attributes:
        registry_id: the registry (the replicas get AcrPull on it).
        login_server: `<name>.azurecr.io`.
    """

    _REGISTRY_ID = "Registry"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        location: str,
        resource_group: str,
        fleets: Sequence[FleetPlan],
        tags: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        registry = ContainerRegistry(
            self,
            self._REGISTRY_ID,
            name=name,
            location=location,
            resource_group_name=resource_group,
            sku=SKU,
            admin_enabled=False,
            tags=tags,
        )
        skip_checks(registry, _PREMIUM_ONLY)
        # Every VM also pulls the proxy in front of its engine.
        images = [*(fleet.engine_image for fleet in fleets), PROXY_IMAGE]
        cached = {found.source_repo: found for image in images if (found := cached_image(image))}
        for source, image in sorted(cached.items()):
            rule = _RULE_NAME.sub("-", image.target_repo).strip("-")[:_RULE_NAME_LIMIT].strip("-")
            ContainerRegistryCacheRule(
                self,
                source,
                name=rule,
                container_registry_id=registry.id,
                source_repo=image.source_repo,
                target_repo=image.target_repo,
            )
        self.registry_id: str = registry.id
        self.login_server: str = registry.login_server
