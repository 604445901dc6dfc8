"""The environment's container registry: an artifact cache of the engines' images.

Every replica pulls its engine image (tens of GB for vLLM and SGLang) on boot; pulled through the
registry in the environment's region, the images come from Azure instead of Docker Hub's or GitHub's
rate-limited, cross-continent endpoints. One cache rule per upstream repository the fleets use
(resolved in llmdeploy/clouds/azure/resolve.py); images from other registries are pulled directly.
Artifact cache works on every tier (learn.microsoft.com/azure/container-registry/tutorial-registry-cache),
so the registry is Standard; caching public images needs no credential set. The replicas pull with
their managed identity (AcrPull on this registry), never with the admin user.

With `clouds.azure.registry_credentials`, the rules of an upstream sign in through a credential set:
its `authentication_credentials` are the versionless ids of two Key Vault secrets (user name and
token; azurerm validates `keyvault.VersionTypeVersionless`), read by the set's system-assigned
identity, which gets `Key Vault Secrets User` on exactly those two secrets (the provider's docs: the
registry's identity needs `get` on them). Their values never enter the plan or the state.
"""

from __future__ import annotations

from cdktn_provider_azurerm.container_registry import ContainerRegistry
from cdktn_provider_azurerm.container_registry_cache_rule import ContainerRegistryCacheRule
from cdktn_provider_azurerm.container_registry_credential_set import (
    ContainerRegistryCredentialSet,
    ContainerRegistryCredentialSetAuthenticationCredentials,
    ContainerRegistryCredentialSetIdentity,
)
from cdktn_provider_azurerm.data_azurerm_key_vault import DataAzurermKeyVault
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from constructs import Construct

from llmdeploy.clouds.azure.resolve import SECRET_ROLE, AzureCredentialSet, AzurePlan
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
    #: `<upstream>` + these: its credential set, and the set's read grants on the two secrets.
    _CREDENTIALS_SUFFIX = "-Credentials"
    _USERNAME_ACCESS_SUFFIX = "-UsernameAccess"
    _PASSWORD_ACCESS_SUFFIX = "-PasswordAccess"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AzurePlan,
        resource_group: str,
        key_vault: DataAzurermKeyVault | None = None,
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
        sets: dict[str, str] = {}
        for credential in plan.credential_sets:
            assert key_vault is not None, "the config requires clouds.azure.key_vault with credentials"
            sets[credential.upstream] = self._credential_set(credential, registry.id, key_vault)
        for rule in plan.cache_rules:
            ContainerRegistryCacheRule(
                self,
                rule.source_repo,
                name=rule.name,
                container_registry_id=registry.id,
                source_repo=rule.source_repo,
                target_repo=rule.target_repo,
                credential_set_id=sets[rule.credential_set] if rule.credential_set else None,
            )
        self.registry_id: str = registry.id
        self.login_server: str = registry.login_server

    def _credential_set(
        self, credential: AzureCredentialSet, registry_id: str, vault: DataAzurermKeyVault
    ) -> str:
        """The credential set of one upstream, with its read grants; returns its id."""
        # vault_uri ends in "/": `https://<vault>.vault.azure.net/secrets/<name>` is versionless.
        credential_set = ContainerRegistryCredentialSet(
            self,
            f"{credential.upstream}{self._CREDENTIALS_SUFFIX}",
            name=credential.name,
            container_registry_id=registry_id,
            login_server=credential.upstream,
            identity=ContainerRegistryCredentialSetIdentity(type="SystemAssigned"),
            authentication_credentials=ContainerRegistryCredentialSetAuthenticationCredentials(
                username_secret_id=f"{vault.vault_uri}secrets/{credential.username_secret}",
                password_secret_id=f"{vault.vault_uri}secrets/{credential.password_secret}",
            ),
        )
        for suffix, secret in (
            (self._USERNAME_ACCESS_SUFFIX, credential.username_secret),
            (self._PASSWORD_ACCESS_SUFFIX, credential.password_secret),
        ):
            RoleAssignment(
                self,
                f"{credential.upstream}{suffix}",
                scope=f"{vault.id}/secrets/{secret}",
                role_definition_name=SECRET_ROLE,
                principal_id=credential_set.identity.principal_id,
                principal_type="ServicePrincipal",
            )
        set_id: str = credential_set.id
        return set_id
