"""One model's GPU replicas in one release slot: a Flexible scale set, its identity and autoscale rules.

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
registry (AcrPull) and publishes metrics only on its own scale set. Azure requires an
administrator key at creation: the stack generates one whose private half stays in Terraform's
state, and the network security group admits no SSH anyway.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from cdktn import Fn, TerraformResourceLifecycle
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
    OrchestratedVirtualMachineScaleSetSourceImageReference,
    OrchestratedVirtualMachineScaleSetTerminationNotification,
)
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.boot import user_data
from llmdeploy.clouds.azure import names
from llmdeploy.clouds.azure.names import USER_DATA_BUNDLE, USER_DATA_FRONT_DOOR_ID
from llmdeploy.config.clouds import AzureCloud
from llmdeploy.instance import termination_heartbeat_s
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from modules.azure.registry import PULL_ROLE

#: The Azure HPC image: Ubuntu 22.04 with the NVIDIA driver, Docker and the container toolkit.
IMAGE = {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2204", "version": "latest"}
ADMIN_USER = "llmdeploy"
#: The proxy path answering the Application Health extension 2.0 with
#: `{"ApplicationHealthState": "Healthy"|"Unhealthy"}` (boot-agents' proxy.conf.j2).
APP_HEALTH_PATH = "/llmdeploy/app-health"
#: Rich health states (2.0): Binary (1.0) has no Initializing state, so a VM loading its model would
#: count as a failed upgrade and stop every rolling upgrade.
HEALTH_EXTENSION_VERSION = "2.0"
#: The extension's longest grace (Initializing), in seconds.
MAX_HEALTH_GRACE_S = 14400
SECRET_ROLE = "Key Vault Secrets User"
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
        bundle_digest: the digest of the boot bundle, in every new VM's user data.
    """

    _IDENTITY_ID = "Identity"
    _TOKEN_ACCESS_ID = "ReadsToken"
    _API_KEY_ACCESS_ID = "ReadsApiKey"
    _NEXT_API_KEY_ACCESS_ID = "ReadsNextApiKey"
    _METRICS_ACCESS_ID = "PublishesMetrics"
    _PULL_ACCESS_ID = "PullsImages"
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
        registry_id: str,
        admin_public_key: str,
        front_door_id: str,
        front_door_guid: str,
        origin_values: Sequence[str],
        tags: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.plan, self.fleet, self.settings, self.resource_group = plan, fleet, settings, resource_group
        self.scale_set_name = names.scale_set(fleet.name)
        identity = UserAssignedIdentity(
            self,
            self._IDENTITY_ID,
            name=f"{self.scale_set_name}-replicas",
            location=settings.location,
            resource_group_name=resource_group,
            tags=tags,
        )
        fleet_tags = {**tags, "llmdeploy-model": fleet.model, "llmdeploy-slot": fleet.slot}
        if key_vault_id is not None:
            for construct_id, secret in self._secrets():
                self._grant(construct_id, f"{key_vault_id}/secrets/{secret}", SECRET_ROLE, identity)
        custom_data = user_data(self.plan, fleet)
        # Changes exactly when the boot bundle does; the release gate compares it per VM.
        self.bundle_digest: str = hashlib.sha256(custom_data.encode()).hexdigest()[:16]
        scale_set = self._scale_set(
            identity,
            subnet_id,
            backend_pool_id,
            admin_public_key,
            fleet_tags,
            custom_data,
            Fn.base64encode(
                Fn.jsonencode(
                    {USER_DATA_BUNDLE: self.bundle_digest, USER_DATA_FRONT_DOOR_ID: front_door_guid}
                )
            ),
        )
        self._grant(self._METRICS_ACCESS_ID, scale_set.id, METRICS_ROLE, identity)
        self._grant(self._PULL_ACCESS_ID, registry_id, PULL_ROLE, identity)
        self._autoscale(scale_set, front_door_id, origin_values, tags)
        self.scale_set_id: str = scale_set.id

    def _secrets(self) -> list[tuple[str, str]]:
        """The Key Vault secrets the replicas read (construct ID, secret name): exactly those named."""
        access = self.plan.access
        named = (
            (self._TOKEN_ACCESS_ID, self.fleet.hf_token_secret),
            (self._API_KEY_ACCESS_ID, access.api_key.secret if access.api_key else None),
            (self._NEXT_API_KEY_ACCESS_ID, access.next_api_key.secret if access.next_api_key else None),
        )
        return [(construct_id, secret) for construct_id, secret in named if secret is not None]

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
        custom_data: str,
        user_data_base64: str,
    ) -> OrchestratedVirtualMachineScaleSet:
        fleet, spot, health = self.fleet, self.fleet.spot, self.fleet.health
        all_regular = spot.on_demand_percent_above_base == 100
        return OrchestratedVirtualMachineScaleSet(
            self,
            self._SCALE_SET_ID,
            name=self.scale_set_name,
            location=self.settings.location,
            resource_group_name=self.resource_group,
            platform_fault_domain_count=1,
            zones=self.settings.zones,
            sku_name=fleet.instance_types[0].name,
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
                custom_data=custom_data,
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
                    settings=json.dumps(
                        {
                            "protocol": "http",
                            "port": health.port,
                            "requestPath": APP_HEALTH_PATH,
                            "intervalInSeconds": health.interval_s,
                            "numberOfProbes": health.unhealthy_threshold,
                            "gracePeriod": min(health.readiness_grace_s, MAX_HEALTH_GRACE_S),
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
                # Checked before each batch over the whole set: at 20 % one unhealthy VM of a 1-4 VM
                # fleet stops every upgrade, including the release that would fix it.
                max_unhealthy_instance_percent=100,
                # New VMs that do not become healthy stop the upgrade: a bad release goes no further.
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
        origin_values: Sequence[str],
        tags: dict[str, str],
    ) -> None:
        fleet, target = self.fleet, self.fleet.autoscaling
        signal = self._signal(scale_set.id, front_door_id, origin_values)
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
                            name=key, operator="Equals", values=list(values)
                        )
                        for key, values in signal.dimensions.items()
                    ],
                    operator=operator,
                    threshold=limit,
                    time_grain="PT1M",
                    time_window=WINDOW,
                ),
                scale_action=MonitorAutoscaleSettingProfileRuleScaleAction(
                    direction=direction, type="ChangeCount", value=1, cooldown=iso_duration(cooldown)
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

    def _signal(self, scale_set_id: str, front_door_id: str, origin_values: Sequence[str]) -> _Signal:
        """The metric the fleet scales on: the replicas' queue size, or Front Door's requests per replica."""
        fleet, target = self.fleet, self.fleet.autoscaling
        if target.target_queue_size is not None:
            return _Signal(
                metric=metrics.QUEUE_SIZE,
                namespace=metrics.NAMESPACE,
                resource_id=scale_set_id,
                statistic="Average",
                dimensions={
                    key: (value,)
                    for key, value in metrics.dimension_values(
                        self.plan.project, self.plan.env, fleet.model, fleet.slot
                    ).items()
                },
                per_replica=False,
                target=target.target_queue_size,
            )
        assert target.target_requests_per_replica is not None  # the config sets exactly one target
        return _Signal(
            metric="OriginRequestCount",
            namespace=FRONT_DOOR_NAMESPACE,
            resource_id=front_door_id,
            statistic="Sum",
            dimensions={"Origin": tuple(origin_values)},
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
    dimensions: dict[str, tuple[str, ...]]
    per_replica: bool
    target: float


def iso_duration(seconds: int) -> str:
    """`seconds` as the ISO 8601 duration Azure echoes back (PT5M, PT1H30M, PT90S -> PT1M30S).

    Azure Monitor normalizes durations (.NET TimeSpan), and the provider has no diff suppression
    on `cooldown`: PT300S would read back as PT5M and show a change on every plan.
    """
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "H"), (minutes, "M"), (secs, "S")]
    return "PT" + ("".join(f"{value}{unit}" for value, unit in parts if value) or "0S")


def _minutes(seconds: int, bounds: tuple[int, int]) -> str:
    """`seconds` as an ISO 8601 duration of whole minutes, within Azure's `bounds`."""
    low, high = bounds
    return f"PT{min(max(math.ceil(seconds / 60), low), high)}M"
