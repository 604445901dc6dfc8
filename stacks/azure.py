"""The Azure stack of one environment (`<env>-azure`): resource group, network, access, Front Door,
fleets, monitoring.

Outputs:
    endpoints: model name -> endpoint URL.
    fleets: `<model>-<slot>` -> {model, slot, weight, scale_set, origin_host, origin_metric_values,
        bundle, alert_names}.
    resource_group: where everything of the environment lives.
    front_door_host: Front Door's host name.
    dns_records: per custom domain, the `_dnsauth` TXT and the CNAME records; created in
        `clouds.azure.dns_zone` when one is named (modules/azure/dns.py).
    registry: the login server of the registry caching the engine images.
    routers: with a router group only: its scale set's name.
"""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformResource, TerraformStack
from cdktn_provider_azurerm.data_azurerm_key_vault import DataAzurermKeyVault
from cdktn_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures
from cdktn_provider_azurerm.resource_group import ResourceGroup
from constructs import Construct

from llmdeploy.clouds.azure.names import RESOURCE_PROVIDERS
from llmdeploy.clouds.azure.resolve import AzureKeyVault, origin_metric_values, resolve
from llmdeploy.plan.model import CloudPlan, DeploymentPlan
from modules.azure import Access, GpuFleet, LoadBalancer, Monitoring, Network, Registry, RouterGroup
from modules.azure.addresses import tag_addresses
from modules.azure.dns import DnsRecords
from modules.azure.engine_logs import EngineLogs

#: hashicorp/azurerm versions the synthesized JSON accepts: the bindings' schema (5.10) and later 5.x.
PROVIDER_VERSIONS = ">= 5.10, < 6.0"
#: hashicorp/tls generates the scale sets' administrator key (Azure requires one at creation).
TLS_PROVIDER = {"source": "hashicorp/tls", "version": ">= 4.0, < 5.0"}


class AzureStack(TerraformStack):
    """Everything one environment deploys on Azure."""

    _PROVIDER_ID = "azurerm"
    _GROUP_ID = "ResourceGroup"
    _KEY_VAULT_ID = "KeyVault"
    _ADMIN_KEY_ID = "AdminKey"
    _NETWORK_ID = "Network"
    _ACCESS_ID = "Access"
    _LB_ID = "LoadBalancer"
    _MONITORING_ID = "Monitoring"
    _REGISTRY_ID = "Registry"
    _ROUTERS_ID = "Routers"
    _DNS_ID = "DnsRecords"
    _VM_LOGS_ID = "VmLogs"

    def __init__(self, scope: Construct, plan: DeploymentPlan, cloud: CloudPlan) -> None:
        super().__init__(scope, cloud.stack)
        # The Azure driver's resolution, called directly for its precise type (AzurePlan).
        resolved = resolve(plan)
        AzurermProvider(
            self,
            self._PROVIDER_ID,
            features=[AzurermProviderFeatures()],
            subscription_id=resolved.subscription_id,
            # azurerm 5.x registers no resource provider unless told: exactly the stack's.
            resource_provider_registrations="none",
            resource_providers_to_register=list(RESOURCE_PROVIDERS),
        )
        # The prebuilt bindings pin one exact version, with the short source name OpenTofu reads
        # as its own registry's: name hashicorp's and accept the range with this schema.
        self.add_override(
            "terraform.required_providers.azurerm",
            {"source": "hashicorp/azurerm", "version": PROVIDER_VERSIONS},
        )
        self.add_override("terraform.required_providers.tls", TLS_PROVIDER)
        group = ResourceGroup(
            self, self._GROUP_ID, name=resolved.name, location=resolved.location, tags=dict(resolved.tags)
        )
        vault = self._key_vault(resolved.key_vault)
        admin_key = TerraformResource(self, self._ADMIN_KEY_ID, terraform_resource_type="tls_private_key")
        admin_key.add_override("algorithm", "ED25519")
        network = Network(self, self._NETWORK_ID, plan=resolved, resource_group=group.name)
        access = Access(
            self,
            self._ACCESS_ID,
            plan=resolved,
            resource_group=group.name,
            subnet_id=network.subnet_id,
            nat_addresses=network.nat_addresses,
        )
        lb = LoadBalancer(
            self,
            self._LB_ID,
            plan=resolved,
            resource_group=group.name,
            firewall_policy_id=access.firewall_policy_id,
        )
        registry = Registry(
            self, self._REGISTRY_ID, plan=resolved, resource_group=group.name, key_vault=vault
        )
        vm_logs = (
            EngineLogs(
                self,
                self._VM_LOGS_ID,
                logs=resolved.vm_logs,
                location=resolved.location,
                resource_group=group.name,
                tags=dict(resolved.tags),
            )
            if resolved.vm_logs
            else None
        )
        origin_values = {name: origin_metric_values(host) for name, host in lb.origin_hosts.items()}
        groups = {
            fleet.name: GpuFleet(
                self,
                fleet.name,
                fleet=fleet,
                resource_group=group.name,
                subnet_id=network.subnet_id,
                backend_pool_id=lb.backend_pools[fleet.name],
                key_vault_id=vault.id if vault is not None else None,
                registry_id=registry.registry_id,
                admin_public_key=admin_key.get_string_attribute("public_key_openssh"),
                front_door_id=lb.profile_id,
                front_door_guid=lb.profile_guid,
                origin_values=origin_values[fleet.name],
                log_rule_id=vm_logs.rule_id if vm_logs else None,
            )
            for fleet in resolved.fleets
        }
        routers = None
        if resolved.routers is not None and lb.router_pool is not None:
            routers = RouterGroup(
                self,
                self._ROUTERS_ID,
                routers=resolved.routers,
                resource_group=group.name,
                resource_group_id=group.id,
                subnet_id=network.subnet_id,
                backend_pool_id=lb.router_pool,
                security_group=access.security_group,
                admin_public_key=admin_key.get_string_attribute("public_key_openssh"),
                front_door_guid=lb.profile_guid,
                fleet_scale_set_ids={name: fleet.scale_set_id for name, fleet in groups.items()},
            )
            TerraformOutput(self, "routers", value=resolved.routers.scale_set)
        Monitoring(
            self,
            self._MONITORING_ID,
            plan=resolved,
            resource_group=group.name,
            front_door_id=lb.profile_id,
            scale_set_ids={name: fleet.scale_set_id for name, fleet in groups.items()},
            origin_values=origin_values,
            router_scale_set_id=None if routers is None else routers.scale_set_id,
        )
        TerraformOutput(self, "endpoints", value=lb.endpoints, description="Endpoint URL per model.")
        TerraformOutput(
            self,
            "fleets",
            description="Per fleet (<model>-<slot>): its scale set, Front Door origin and alerts.",
            value={
                fleet.name: {
                    "model": fleet.model,
                    "slot": fleet.slot,
                    "weight": fleet.weight,
                    "scale_set": fleet.scale_set,
                    "origin_host": lb.origin_hosts[fleet.name],
                    "origin_metric_values": origin_values[fleet.name],
                    "bundle": fleet.bundle_digest,
                    "alert_names": fleet.alert_names,
                }
                for fleet in resolved.fleets
            },
        )
        if resolved.dns_zone is not None:
            zone, zone_group = resolved.dns_zone
            DnsRecords(self, self._DNS_ID, zone=zone, resource_group=zone_group, records=lb.dns_records)
        TerraformOutput(self, "resource_group", value=group.name)
        TerraformOutput(self, "front_door_host", value=lb.endpoint_host)
        TerraformOutput(self, "registry", value=registry.login_server)
        TerraformOutput(
            self,
            "dns_records",
            value=lb.dns_records,
            description="Per custom domain: create the _dnsauth TXT record (validation) and the CNAME.",
        )
        tag_addresses(self)  # last: every resource exists by now

    def _key_vault(self, key_vault: AzureKeyVault | None) -> DataAzurermKeyVault | None:
        """The Key Vault (its metadata only), when the environment names a secret."""
        if key_vault is None:
            return None
        return DataAzurermKeyVault(
            self, self._KEY_VAULT_ID, name=key_vault.name, resource_group_name=key_vault.resource_group
        )
