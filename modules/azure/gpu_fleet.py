"""One model's GPU replicas in one release slot: a Flexible scale set, its identity and autoscale rules.

The scale set mixes spot and regular VMs by its priority mix (`spot.on_demand_base` regular VMs,
then `spot.on_demand_percent_above_base` percent of the rest), evicts spot VMs by deleting them, caps
the spot price (`max_bid_price`, -1 = never evicted for price) and spreads over the configured zones.
Several VM sizes become its SKU profile ("instance mix": at most five sizes), ranked in the configured
order. The image is the Azure HPC image (`microsoft-dsvm:ubuntu-hpc:2204`), whose NVIDIA driver is
built in: the NVIDIA driver extension covers fewer OS/GPU combinations and reboots on install.
Flexible scale sets have no overprovisioning.

Health: the Application Health extension asks the engine's health path on the VM itself; automatic
repairs replace a VM it reports unhealthy after the grace period (Flexible sets repair only on this
extension, not on load balancer probes) and rolling upgrades surge new VMs before removing old ones.
Autoscaling is rule-based (Azure has no target tracking): scale out by one above the target, in by
one below half of it, each over a 5-minute window (Azure's minimum), on the engine queue size the
replicas publish or on Front Door's requests to this slot's origin per replica.

The identity reads only the fleet's Hugging Face token (a role on that one Key Vault secret) and
publishes metrics only on its own scale set. Azure requires an administrator key at creation: the
stack generates one whose private half stays in Terraform's state, and the network security group
admits no SSH anyway.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_azurerm.monitor_autoscale_setting import (
    MonitorAutoscaleSetting,
    MonitorAutoscaleSettingProfile,
    MonitorAutoscaleSettingProfileCapacity,
    MonitorAutoscaleSettingProfileRule,
    MonitorAutoscaleSettingProfileRuleMetricTrigger,
    MonitorAutoscaleSettingProfileRuleMetricTriggerDimensions,
    MonitorAutoscaleSettingProfileRuleScaleAction,
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
    OrchestratedVirtualMachineScaleSetSkuProfile,
    OrchestratedVirtualMachineScaleSetSkuProfileVirtualMachineSize,
    OrchestratedVirtualMachineScaleSetSourceImageReference,
    OrchestratedVirtualMachineScaleSetTerminationNotification,
)
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.boot import user_data
from llmdeploy.config.clouds import AzureCloud
from llmdeploy.instance import termination_heartbeat_s
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.status import names

#: The Azure HPC image: Ubuntu 22.04 with the NVIDIA driver, Docker and the container toolkit.
IMAGE = {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2204", "version": "latest"}
ADMIN_USER = "llmdeploy"
#: Azure's names for the allocation strategies of an instance mix.
ALLOCATION_STRATEGIES = {
    "lowest-price": "LowestPrice",
    "capacity-optimized": "CapacityOptimized",
    # Azure has no blend of price and capacity: capacity first keeps spot VMs longest.
    "price-capacity-optimized": "CapacityOptimized",
}
TOKEN_ROLE = "Key Vault Secrets User"
METRICS_ROLE = "Monitoring Metrics Publisher"
FRONT_DOOR_NAMESPACE = "Microsoft.Cdn/profiles"
#: Rule-based scaling needs a second threshold: scale in below this fraction of the target.
SCALE_IN_FRACTION = 0.5
#: Azure's limits: autoscale window at least 5 minutes; repair grace 10-90 minutes; termination
#: notice 5-15 minutes.
WINDOW = "PT5M"
_REPAIR_MINUTES = (10, 90)
_NOTICE_MINUTES = (5, 15)


class GpuFleet(Construct):
    """The instances of one fleet (`<model>-<slot>`), in its load balancer's backend pool.

    Attributes:
        scale_set_id: the scale set.
        scale_set_name: its name.
    """

    _IDENTITY_ID = "Identity"
    _TOKEN_ACCESS_ID = "ReadsToken"
    _METRICS_ACCESS_ID = "PublishesMetrics"
    _SCALE_SET_ID = "ScaleSet"
    _AUTOSCALE_ID = "Autoscale"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: DeploymentPlan,
        fleet: FleetPlan,
        settings: AzureCloud,
        resource_group: str,
        subnet_id: str,
        backend_pool_id: str,
        key_vault_id: str | None,
        admin_public_key: str,
        front_door_id: str,
        origin_host: str,
        tags: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.plan, self.fleet, self.settings, self.resource_group = plan, fleet, settings, resource_group
        self.scale_set_name = names.azure_scale_set(fleet)
        identity = UserAssignedIdentity(
            self,
            self._IDENTITY_ID,
            name=f"{self.scale_set_name}-replicas",
            location=settings.location,
            resource_group_name=resource_group,
            tags=tags,
        )
        fleet_tags = {**tags, "llmdeploy-model": fleet.model, "llmdeploy-slot": fleet.slot}
        if key_vault_id is not None and fleet.hf_token_secret is not None:
            self._grant(
                self._TOKEN_ACCESS_ID, f"{key_vault_id}/secrets/{fleet.hf_token_secret}", TOKEN_ROLE, identity
            )
        scale_set = self._scale_set(identity, subnet_id, backend_pool_id, admin_public_key, fleet_tags)
        self._grant(self._METRICS_ACCESS_ID, scale_set.id, METRICS_ROLE, identity)
        self._autoscale(scale_set, front_door_id, origin_host, tags)
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

    def _scale_set(
        self,
        identity: UserAssignedIdentity,
        subnet_id: str,
        backend_pool_id: str,
        admin_public_key: str,
        tags: dict[str, str],
    ) -> OrchestratedVirtualMachineScaleSet:
        fleet, spot, health = self.fleet, self.fleet.spot, self.fleet.health
        types = fleet.instance_types
        all_regular = spot.on_demand_percent_above_base == 100
        return OrchestratedVirtualMachineScaleSet(
            self,
            self._SCALE_SET_ID,
            name=self.scale_set_name,
            location=self.settings.location,
            resource_group_name=self.resource_group,
            platform_fault_domain_count=1,
            zones=self.settings.zones,
            sku_name=types[0].name if len(types) == 1 else "Mix",
            sku_profile=None
            if len(types) == 1
            else OrchestratedVirtualMachineScaleSetSkuProfile(
                allocation_strategy=ALLOCATION_STRATEGIES[spot.allocation_strategy],
                virtual_machine_size=[
                    OrchestratedVirtualMachineScaleSetSkuProfileVirtualMachineSize(name=entry.name, rank=rank)
                    for rank, entry in enumerate(types)
                ],
            ),
            instances=fleet.desired_size,
            priority="Regular" if all_regular else "Spot",
            eviction_policy=None if all_regular else "Delete",
            max_bid_price=None if all_regular else (spot.max_price_usd_hour or -1),
            priority_mix=None
            if all_regular
            else OrchestratedVirtualMachineScaleSetPriorityMix(
                base_regular_count=spot.on_demand_base,
                regular_percentage_above_base=spot.on_demand_percent_above_base,
            ),
            source_image_reference=OrchestratedVirtualMachineScaleSetSourceImageReference(**IMAGE),
            os_disk=OrchestratedVirtualMachineScaleSetOsDisk(
                caching="ReadWrite", storage_account_type="Premium_LRS", disk_size_gb=fleet.disk_gib
            ),
            os_profile=OrchestratedVirtualMachineScaleSetOsProfile(
                custom_data=user_data(self.plan, fleet),
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
            network_interface=[
                OrchestratedVirtualMachineScaleSetNetworkInterface(
                    name="nic",
                    primary=True,
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
                    type_handler_version="2.0",
                    settings=json.dumps(
                        {
                            "protocol": "http",
                            "port": health.port,
                            "requestPath": health.path,
                            "intervalInSeconds": health.interval_s,
                            "numberOfProbes": health.unhealthy_threshold,
                            "gracePeriod": health.readiness_grace_s,
                        },
                        sort_keys=True,
                    ),
                )
            ],
            automatic_instance_repair=OrchestratedVirtualMachineScaleSetAutomaticInstanceRepair(
                enabled=True,
                action="Replace",
                grace_period=_minutes(health.readiness_grace_s, _REPAIR_MINUTES),
            ),
            termination_notification=OrchestratedVirtualMachineScaleSetTerminationNotification(
                enabled=True, timeout=_minutes(termination_heartbeat_s(fleet), _NOTICE_MINUTES)
            ),
            upgrade_mode="Rolling",
            rolling_upgrade_policy=OrchestratedVirtualMachineScaleSetRollingUpgradePolicy(
                max_batch_instance_percent=20,
                max_unhealthy_instance_percent=20,
                max_unhealthy_upgraded_instance_percent=20,
                pause_time_between_batches="PT0S",
                maximum_surge_instances_enabled=True,
                prioritize_unhealthy_instances_enabled=True,
            ),
            tags=tags,
            # Autoscale owns the instance count after the first apply.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["instances"]),
        )

    def _autoscale(
        self,
        scale_set: OrchestratedVirtualMachineScaleSet,
        front_door_id: str,
        origin_host: str,
        tags: dict[str, str],
    ) -> None:
        fleet, target = self.fleet, self.fleet.autoscaling
        signal = self._signal(scale_set.id, front_door_id, origin_host)
        rules = [
            MonitorAutoscaleSettingProfileRule(
                metric_trigger=MonitorAutoscaleSettingProfileRuleMetricTrigger(
                    metric_name=signal.metric,
                    metric_namespace=signal.namespace,
                    metric_resource_id=signal.resource_id,
                    statistic=signal.statistic,
                    time_aggregation="Average",
                    divide_by_instance_count=signal.per_replica,
                    dimensions=[
                        MonitorAutoscaleSettingProfileRuleMetricTriggerDimensions(
                            name=key, operator="Equals", values=[value]
                        )
                        for key, value in signal.dimensions.items()
                    ],
                    operator=operator,
                    threshold=limit,
                    time_grain="PT1M",
                    time_window=WINDOW,
                ),
                scale_action=MonitorAutoscaleSettingProfileRuleScaleAction(
                    direction=direction, type="ChangeCount", value=1, cooldown=f"PT{cooldown}S"
                ),
            )
            for operator, limit, direction, cooldown in (
                ("GreaterThan", signal.target, "Increase", target.scale_out_cooldown_s),
                ("LessThan", signal.target * SCALE_IN_FRACTION, "Decrease", target.scale_in_cooldown_s),
            )
        ]
        MonitorAutoscaleSetting(
            self,
            self._AUTOSCALE_ID,
            name=self.scale_set_name,
            location=self.settings.location,
            resource_group_name=self.resource_group,
            target_resource_id=scale_set.id,
            profile=[
                MonitorAutoscaleSettingProfile(
                    name="load",
                    capacity=MonitorAutoscaleSettingProfileCapacity(
                        default=fleet.desired_size, minimum=fleet.min_size, maximum=fleet.max_size
                    ),
                    rule=rules,
                )
            ],
            tags=tags,
        )

    def _signal(self, scale_set_id: str, front_door_id: str, origin_host: str) -> _Signal:
        """The metric the fleet scales on: the replicas' queue size, or Front Door's requests per replica."""
        fleet, target = self.fleet, self.fleet.autoscaling
        if target.target_queue_size is not None:
            return _Signal(
                metric=metrics.QUEUE_SIZE,
                namespace=metrics.NAMESPACE,
                resource_id=scale_set_id,
                statistic="Average",
                dimensions=metrics.dimension_values(
                    self.plan.project, self.plan.env, fleet.model, fleet.slot
                ),
                per_replica=False,
                target=target.target_queue_size,
            )
        assert target.target_requests_per_replica is not None  # the config sets exactly one target
        return _Signal(
            metric="OriginRequestCount",
            namespace=FRONT_DOOR_NAMESPACE,
            resource_id=front_door_id,
            statistic="Sum",
            dimensions={"Origin": origin_host},
            per_replica=True,
            target=target.target_requests_per_replica,
        )


@dataclass(frozen=True)
class _Signal:
    """An autoscale metric, where it lives, and its target per replica."""

    metric: str
    namespace: str
    resource_id: str
    statistic: str
    dimensions: dict[str, str]
    per_replica: bool
    target: float


def _minutes(seconds: int, bounds: tuple[int, int]) -> str:
    """`seconds` as an ISO 8601 duration of whole minutes, within Azure's `bounds`."""
    low, high = bounds
    return f"PT{min(max(math.ceil(seconds / 60), low), high)}M"
