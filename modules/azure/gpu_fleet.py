"""One model's GPU replicas in one release slot: a Flexible scale set, its identity and autoscale rules.

Every value below is decided in llmdeploy/clouds/azure/resolve.py (`AzureFleet`); this construct
maps it onto resources, adding only what Azure assigns at apply (ids, the origin's address).

The scale set mixes spot and regular VMs by its priority mix (`spot.on_demand_base` regular VMs,
then `spot.on_demand_percent_above_base` percent of the rest), evicts spot VMs by deleting them, caps
the spot price (`max_bid_price`, -1 = never evicted for price) and spreads over the configured zones.
One VM size per scale set, the first listed: Azure's instance mix (`sku_profile`) takes only A, B,
D, E and F family sizes, never a GPU size (the provider's `SkuProfileVMSizeName` validator and
"Instance mix overview, Limitations"). The image is the Azure HPC image
(`microsoft-dsvm:ubuntu-hpc:2204`), whose NVIDIA driver is built in. NICs use accelerated
networking, which every GPU size of the catalog supports. Flexible scale sets have no
overprovisioning.

Health: the Application Health extension 2.0 (rich health states) asks the proxy's
`APP_HEALTH_PATH`, which answers `{"ApplicationHealthState": ...}` from the engine's health (an
engine's empty 200 would read as Unknown). A new VM stays Initializing for the readiness grace, so
rolling upgrades wait for a model to load and automatic repairs leave it alone. Repairs then replace
a VM reported unhealthy (Flexible sets repair only on this extension). Rolling upgrades with
MaxSurge replace VMs whenever the scale set model (the boot bundle in `custom_data`) changes; the
release gate counts only VMs whose user data carries the current bundle digest.
Autoscaling is rule-based (Azure has no target tracking): scale out by one above the target, in by
one below half of it, each over a 5-minute window (Azure's minimum), on the engine queue size the
replicas publish or on Front Door's requests to this slot's origin per replica.

The identity reads only the fleet's Hugging Face token and the API key secrets (a role on each of
those Key Vault secrets; the proxy checks the key on the VM), pulls from the environment's
registry (AcrPull) and publishes metrics only on its own scale set. The identity applying the stack
may publish there too, where the autoscale rules read the replicas' metric: Azure refuses those rules
until the metric exists, and the apply publishes its first value (llmdeploy/clouds/azure/metric_seed.py).
Azure requires an
administrator key at creation: the stack generates one whose private half stays in Terraform's
state, and the network security group admits no SSH anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktn import Fn, TerraformResourceLifecycle
from cdktn_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from cdktn_provider_azurerm.monitor_autoscale_setting import (
    MonitorAutoscaleSetting,
    MonitorAutoscaleSettingProfile,
    MonitorAutoscaleSettingProfileCapacity,
    MonitorAutoscaleSettingProfileRule,
    MonitorAutoscaleSettingProfileRuleMetricTrigger,
    MonitorAutoscaleSettingProfileRuleMetricTriggerDimensions,
    MonitorAutoscaleSettingProfileRuleScaleAction,
)
from cdktn_provider_azurerm.monitor_data_collection_rule_association import (
    MonitorDataCollectionRuleAssociation,
)
from cdktn_provider_azurerm.orchestrated_virtual_machine_scale_set import (
    OrchestratedVirtualMachineScaleSet,
    OrchestratedVirtualMachineScaleSetAutomaticInstanceRepair,
    OrchestratedVirtualMachineScaleSetExtension,
    OrchestratedVirtualMachineScaleSetIdentity,
    OrchestratedVirtualMachineScaleSetNetworkInterface,
    OrchestratedVirtualMachineScaleSetNetworkInterfaceIpConfiguration,
    OrchestratedVirtualMachineScaleSetOsDisk,
    OrchestratedVirtualMachineScaleSetOsProfile,
    OrchestratedVirtualMachineScaleSetOsProfileLinuxConfiguration,
    OrchestratedVirtualMachineScaleSetOsProfileLinuxConfigurationAdminSshKey,
    OrchestratedVirtualMachineScaleSetPriorityMix,
    OrchestratedVirtualMachineScaleSetRollingUpgradePolicy,
    OrchestratedVirtualMachineScaleSetSourceImageReference,
    OrchestratedVirtualMachineScaleSetTerminationNotification,
)
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from llmdeploy.clouds.azure.names import USER_DATA_BUNDLE, USER_DATA_FRONT_DOOR_ID
from llmdeploy.clouds.azure.resolve import (
    ADMIN_USER,
    HEALTH_EXTENSION_VERSION,
    IMAGE,
    METRICS_ROLE,
    PULL_ROLE,
    SECRET_ROLE,
    AzureFleet,
)
from modules.azure.engine_logs import monitor_agent

#: Azure's limit: an autoscale window of at least 5 minutes.
WINDOW = "PT5M"


class GpuFleet(Construct):
    """The instances of one fleet (`<model>-<slot>`), in its load balancer's backend pool.

    Attributes:
        scale_set_id: the scale set.
    """

    _IDENTITY_ID = "Identity"
    _METRICS_ACCESS_ID = "PublishesMetrics"
    _PULL_ACCESS_ID = "PullsImages"
    _SCALE_SET_ID = "ScaleSet"
    _AUTOSCALE_ID = "Autoscale"
    _LOGS_ASSOCIATION_ID = "ShipsLogs"
    _DEPLOYER_ID = "Deployer"
    _DEPLOYER_PUBLISHES_ID = "DeployerPublishesMetrics"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        fleet: AzureFleet,
        resource_group: str,
        subnet_id: str,
        backend_pool_id: str,
        key_vault_id: str | None,
        registry_id: str,
        admin_public_key: str,
        front_door_id: str,
        front_door_guid: str,
        origin_values: Sequence[str],
        log_rule_id: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.fleet, self.resource_group, self.log_rule_id = fleet, resource_group, log_rule_id
        identity = UserAssignedIdentity(
            self,
            self._IDENTITY_ID,
            name=fleet.identity,
            location=fleet.location,
            resource_group_name=resource_group,
            tags=dict(fleet.tags),
        )
        # The resolved plan names a secret only when the environment has a Key Vault.
        for read in fleet.secrets:
            self._grant(read.construct_id, f"{key_vault_id}/secrets/{read.secret}", SECRET_ROLE, identity)
        scale_set = self._scale_set(
            identity,
            subnet_id,
            backend_pool_id,
            admin_public_key,
            Fn.base64encode(
                Fn.jsonencode(
                    {USER_DATA_BUNDLE: fleet.bundle_digest, USER_DATA_FRONT_DOOR_ID: front_door_guid}
                )
            ),
        )
        self._grant(self._METRICS_ACCESS_ID, scale_set.id, METRICS_ROLE, identity)
        self._grant(self._PULL_ACCESS_ID, registry_id, PULL_ROLE, identity)
        if log_rule_id is not None:
            # The Azure Monitor Agent (an extension of the scale set) follows this rule.
            MonitorDataCollectionRuleAssociation(
                self,
                self._LOGS_ASSOCIATION_ID,
                name=f"{fleet.scale_set}-logs",
                target_resource_id=scale_set.id,
                data_collection_rule_id=log_rule_id,
            )
        resources = {"scale_set": scale_set.id, "front_door": front_door_id}
        seeding = [self._deployer_publishes(scale_set)] if fleet.signal.resource == "scale_set" else []
        self._autoscale(scale_set, resources, origin_values, seeding)
        self.scale_set_id: str = scale_set.id

    def _grant(self, construct_id: str, scope: str, role: str, identity: UserAssignedIdentity) -> None:
        RoleAssignment(
            self,
            construct_id,
            scope=scope,
            role_definition_name=role,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
        )

    def _deployer_publishes(self, scale_set: OrchestratedVirtualMachineScaleSet) -> RoleAssignment:
        """The identity applying the stack may publish the scale set's metrics.

        Azure accepts an autoscale rule on a custom metric only once the metric exists, so an apply
        refused for it publishes a first value itself (llmdeploy/clouds/azure/metric_seed.py). That
        takes the data action Microsoft.Insights/Metrics/Write, which Owner and Contributor lack.
        """
        deployer = DataAzurermClientConfig(self, self._DEPLOYER_ID)
        return RoleAssignment(
            self,
            self._DEPLOYER_PUBLISHES_ID,
            scope=scale_set.id,
            role_definition_name=METRICS_ROLE,
            principal_id=deployer.object_id,
        )

    def _scale_set(
        self,
        identity: UserAssignedIdentity,
        subnet_id: str,
        backend_pool_id: str,
        admin_public_key: str,
        user_data_base64: str,
    ) -> OrchestratedVirtualMachineScaleSet:
        fleet = self.fleet
        return OrchestratedVirtualMachineScaleSet(
            self,
            self._SCALE_SET_ID,
            name=fleet.scale_set,
            location=fleet.location,
            resource_group_name=self.resource_group,
            platform_fault_domain_count=1,
            zones=list(fleet.zones),
            sku_name=fleet.sku,
            instances=fleet.instances,
            priority=fleet.priority,
            eviction_policy=fleet.eviction_policy,
            max_bid_price=fleet.max_bid_price,
            priority_mix=_priority_mix(fleet),
            source_image_reference=OrchestratedVirtualMachineScaleSetSourceImageReference(**IMAGE),
            os_disk=OrchestratedVirtualMachineScaleSetOsDisk(
                caching="ReadWrite", storage_account_type="Premium_LRS", disk_size_gb=fleet.disk_gib
            ),
            os_profile=OrchestratedVirtualMachineScaleSetOsProfile(
                custom_data=fleet.custom_data,
                linux_configuration=OrchestratedVirtualMachineScaleSetOsProfileLinuxConfiguration(
                    admin_username=ADMIN_USER,
                    admin_ssh_key=[
                        OrchestratedVirtualMachineScaleSetOsProfileLinuxConfigurationAdminSshKey(
                            public_key=admin_public_key, username=ADMIN_USER
                        )
                    ],
                    disable_password_authentication=True,
                    provision_vm_agent=True,
                ),
            ),
            user_data_base64=user_data_base64,
            network_interface=[
                OrchestratedVirtualMachineScaleSetNetworkInterface(
                    name="nic",
                    primary=True,
                    accelerated_networking_enabled=True,
                    ip_configuration=[
                        OrchestratedVirtualMachineScaleSetNetworkInterfaceIpConfiguration(
                            name="ipv4",
                            primary=True,
                            subnet_id=subnet_id,
                            load_balancer_backend_address_pool_ids=[backend_pool_id],
                        )
                    ],
                )
            ],
            identity=OrchestratedVirtualMachineScaleSetIdentity(
                type="UserAssigned", identity_ids=[identity.id]
            ),
            extension=[
                OrchestratedVirtualMachineScaleSetExtension(
                    name="health",
                    publisher="Microsoft.ManagedServices",
                    type="ApplicationHealthLinux",
                    type_handler_version=HEALTH_EXTENSION_VERSION,
                    settings=fleet.health_extension,
                ),
                *([monitor_agent(identity.id)] if self.log_rule_id else []),
            ],
            automatic_instance_repair=OrchestratedVirtualMachineScaleSetAutomaticInstanceRepair(
                enabled=True, action="Replace", grace_period=fleet.repair_grace
            ),
            termination_notification=OrchestratedVirtualMachineScaleSetTerminationNotification(
                enabled=True, timeout=fleet.termination_timeout
            ),
            upgrade_mode="Rolling",
            rolling_upgrade_policy=OrchestratedVirtualMachineScaleSetRollingUpgradePolicy(
                max_batch_instance_percent=20,
                # Checked before each batch over the whole set: at 20 % one unhealthy VM of a 1-4 VM
                # fleet stops every upgrade, including the release that would fix it.
                max_unhealthy_instance_percent=100,
                # New VMs that do not become healthy stop the upgrade: a bad release goes no further.
                max_unhealthy_upgraded_instance_percent=20,
                pause_time_between_batches="PT0S",
                maximum_surge_instances_enabled=True,
                prioritize_unhealthy_instances_enabled=True,
            ),
            tags=dict(fleet.fleet_tags),
            # Autoscale owns the instance count after the first apply.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["instances"]),
        )

    def _autoscale(
        self,
        scale_set: OrchestratedVirtualMachineScaleSet,
        resources: dict[str, str],
        origin_values: Sequence[str],
        seeding: Sequence[RoleAssignment],
    ) -> None:
        """`seeding`: what lets the apply publish the metric first, created before the setting."""
        fleet, signal = self.fleet, self.fleet.signal
        # Front Door's metric is filtered on the slot's origin, whose address Azure assigns.
        dimensions = [*signal.dimensions, *((("Origin", tuple(origin_values)),) if signal.by_origin else ())]
        rules = [
            MonitorAutoscaleSettingProfileRule(
                metric_trigger=MonitorAutoscaleSettingProfileRuleMetricTrigger(
                    metric_name=signal.metric,
                    metric_namespace=signal.namespace,
                    metric_resource_id=resources[signal.resource],
                    statistic=signal.statistic,
                    time_aggregation="Average",
                    divide_by_instance_count=signal.per_replica,
                    dimensions=[
                        MonitorAutoscaleSettingProfileRuleMetricTriggerDimensions(
                            name=key, operator="Equals", values=list(values)
                        )
                        for key, values in dimensions
                    ],
                    operator=rule.operator,
                    threshold=rule.threshold,
                    time_grain="PT1M",
                    time_window=WINDOW,
                ),
                scale_action=MonitorAutoscaleSettingProfileRuleScaleAction(
                    direction=rule.direction, type="ChangeCount", value=1, cooldown=rule.cooldown
                ),
            )
            for rule in signal.rules
        ]
        MonitorAutoscaleSetting(
            self,
            self._AUTOSCALE_ID,
            name=fleet.scale_set,
            location=fleet.location,
            resource_group_name=self.resource_group,
            target_resource_id=scale_set.id,
            profile=[
                MonitorAutoscaleSettingProfile(
                    name="load",
                    capacity=MonitorAutoscaleSettingProfileCapacity(
                        default=fleet.instances, minimum=fleet.minimum, maximum=fleet.maximum
                    ),
                    rule=rules,
                )
            ],
            tags=dict(fleet.tags),
            depends_on=list(seeding) or None,
        )


def _priority_mix(fleet: AzureFleet) -> OrchestratedVirtualMachineScaleSetPriorityMix | None:
    """The resolved spot mix as the scale set's block (absent when every VM is regular)."""
    if fleet.base_regular_count is None or fleet.regular_percentage_above_base is None:
        return None
    return OrchestratedVirtualMachineScaleSetPriorityMix(
        base_regular_count=fleet.base_regular_count,
        regular_percentage_above_base=fleet.regular_percentage_above_base,
    )
