"""The environment's container registry: an artifact cache of the engines' images.

Every replica pulls its engine image (tens of GB for vLLM and SGLang) on boot; pulled through the
registry in the environment's region, the images come from Azure instead of Docker Hub's or GitHub's
rate-limited, cross-continent endpoints. One cache rule per upstream repository the fleets use
(resolved in llmdeploy/clouds/azure/resolve.py); images from other registries are pulled directly.
Artifact cache works on every tier (learn.microsoft.com/azure/container-registry/tutorial-registry-cache),
so the registry is Standard; caching public images needs no credential set. The replicas pull with
their managed identity (AcrPull on this registry), never with the admin user.
"""

from __future__ import annotations

from cdktn_provider_azurerm.container_registry import ContainerRegistry
from cdktn_provider_azurerm.container_registry_cache_rule import ContainerRegistryCacheRule
from constructs import Construct

from llmdeploy.clouds.azure.resolve import AzurePlan
from modules.common import skip_checks

SKU = "Standard"
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
        plan: AzurePlan,
        resource_group: str,
    ) -> None:
        super().__init__(scope, id)
        registry = ContainerRegistry(
            self,
            self._REGISTRY_ID,
            name=plan.registry,
            location=plan.location,
            resource_group_name=resource_group,
            sku=SKU,
            admin_enabled=False,
            tags=dict(plan.tags),
        )
        skip_checks(registry, _PREMIUM_ONLY)
        for rule in plan.cache_rules:
            ContainerRegistryCacheRule(
                self,
                rule.source_repo,
                name=rule.name,
                container_registry_id=registry.id,
                source_repo=rule.source_repo,
                target_repo=rule.target_repo,
            )
        self.registry_id: str = registry.id
        self.login_server: str = registry.login_server
