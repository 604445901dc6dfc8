"""The router group (issue 13, docs/routing.md): a scale set of CPU VMs between Front Door and the fleets.

Every value is decided in llmdeploy/clouds/azure/resolve.py (`AzureRouterGroup`); this construct maps
it onto resources. Front Door reaches the routers as it reaches a fleet: through their own public
Standard Load Balancer (`LoadBalancer` creates it and the routers' origin at priority 1, the fleets'
origins at priority 2), so when every router fails Front Door's probes the direct path serves.

The scale set is a Uniform `azurerm_linux_virtual_machine_scale_set` spread over the environment's
zones (best effort: `zone_balance` stays off, so two routers over three zones still deploy). Routers
are stateless: Rolling upgrades with MaxSurge replace them when their bundle (`custom_data`, updated
in place by the provider) changes, one half at a time, and automatic repairs replace a router whose
Application Health extension (binary 1.0: a 200 from the router's nginx on the first model's health
path) reports it unhealthy. `custom_data` is gzip + base64 and at most 64 KB (resolve checks it). No
VM has a public address; outbound goes through the subnet's NAT gateway.

The NSG (the subnet's, from `Access`) admits Front Door's back end and the load balancer's probes to
the routers' port, and the routers to the replicas' proxy port; the routers' NICs carry an
application security group that these rules name. The subnet's final deny otherwise blocks VNet
traffic too.

The routers' identity (user-assigned, so its principal exists before the scale set) gets two custom
roles, nothing built in: on each fleet's scale set only, read it, write its capacity (Azure RBAC has
no per-property action, so `write` is the narrowest that covers a PATCH of `sku.capacity`) and read
its VMs, their instance view and NICs; on the resource group, read VMs, their instance view and NICs
(the Flexible fleets' VMs and NICs are resources of the group, not of the set). The built-in
"Monitoring Metrics Publisher" on the routers' own scale set lets the agents publish router metrics
as custom metrics of that scale set.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktn import Fn
from cdktn_provider_azurerm.application_security_group import ApplicationSecurityGroup
from cdktn_provider_azurerm.linux_virtual_machine_scale_set import (
    LinuxVirtualMachineScaleSet,
    LinuxVirtualMachineScaleSetAdminSshKey,
    LinuxVirtualMachineScaleSetAutomaticInstanceRepair,
    LinuxVirtualMachineScaleSetExtension,
    LinuxVirtualMachineScaleSetIdentity,
    LinuxVirtualMachineScaleSetNetworkInterface,
    LinuxVirtualMachineScaleSetNetworkInterfaceIpConfiguration,
    LinuxVirtualMachineScaleSetOsDisk,
    LinuxVirtualMachineScaleSetRollingUpgradePolicy,
    LinuxVirtualMachineScaleSetSourceImageReference,
)
from cdktn_provider_azurerm.network_security_rule import NetworkSecurityRule
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.role_definition import RoleDefinition, RoleDefinitionPermissions
from cdktn_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from llmdeploy.clouds.azure.names import USER_DATA_BUNDLE, USER_DATA_FRONT_DOOR_ID
from llmdeploy.clouds.azure.resolve import (
    ADMIN_USER,
    METRICS_ROLE,
    READER_ACTIONS,
    ROUTER_HEALTH_EXTENSION_VERSION,
    ROUTER_IMAGE,
    SCALER_ACTIONS,
    AzureRouterGroup,
)
from modules.azure.access import FRONT_DOOR_TAG, PROBE_TAG
from modules.common import skip_checks

#: NSG priorities of the routers' rules: after Access's (100, 110), before its final deny (4096).
_FIRST_PRIORITY = 120
#: checkov checks that do not fit the routers' scale set.
_SCALE_SET_SKIPS = {
    "CKV_AZURE_97": (
        "encryption at host needs the subscription feature Microsoft.Compute/EncryptionAtHost "
        "registered, which a deploy cannot assume; the routers hold no data at rest and their OS disk "
        "has Azure's platform-managed encryption"
    ),
}
#: Half the routers at a time: with the minimum of two, one keeps serving while the other is replaced.
_BATCH_PERCENT = 50


class RouterGroup(Construct):
    """The routers' scale set, identity and roles, and their NSG rules.

    Attributes:
        scale_set_id: the routers' scale set.
    """

    _IDENTITY_ID = "Identity"
    _APPLICATION_GROUP_ID = "ApplicationSecurityGroup"
    _SCALE_SET_ID = "ScaleSet"
    _SCALER_ROLE_ID = "ScalerRole"
    _READER_ROLE_ID = "ReaderRole"
    _READS_ID = "ReadsReplicas"
    _PUBLISHES_ID = "PublishesMetrics"
    #: Per fleet: `Scales-<model>-<slot>`, the scaler role on that fleet's scale set.
    _SCALES_PREFIX = "Scales-"
    FROM_FRONT_DOOR_ID = "FromFrontDoorToRouters"
    FROM_PROBES_ID = "FromProbesToRouters"
    TO_REPLICAS_ID = "FromRoutersToReplicas"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        routers: AzureRouterGroup,
        resource_group: str,
        resource_group_id: str,
        subnet_id: str,
        backend_pool_id: str,
        security_group: str,
        admin_public_key: str,
        front_door_guid: str,
        fleet_scale_set_ids: Mapping[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.routers, self.resource_group = routers, resource_group
        tags = dict(routers.tags)
        identity = UserAssignedIdentity(
            self,
            self._IDENTITY_ID,
            name=routers.identity,
            location=routers.location,
            resource_group_name=resource_group,
            tags=tags,
        )
        application_group = ApplicationSecurityGroup(
            self,
            self._APPLICATION_GROUP_ID,
            name=routers.security_group,
            location=routers.location,
            resource_group_name=resource_group,
            tags=tags,
        )
        self._rules(security_group, application_group.id)
        self._roles(identity, resource_group_id, fleet_scale_set_ids)
        scale_set = self._scale_set(
            identity,
            subnet_id,
            backend_pool_id,
            application_group.id,
            admin_public_key,
            Fn.base64encode(
                Fn.jsonencode(
                    {USER_DATA_BUNDLE: routers.bundle_digest, USER_DATA_FRONT_DOOR_ID: front_door_guid}
                )
            ),
        )
        skip_checks(scale_set, _SCALE_SET_SKIPS)
        # The agents publish their router metrics as custom metrics of the routers' own scale set.
        RoleAssignment(
            self,
            self._PUBLISHES_ID,
            scope=scale_set.id,
            role_definition_name=METRICS_ROLE,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
        )
        self.scale_set_id: str = scale_set.id

    def _rules(self, security_group: str, application_group_id: str) -> None:
        routers = self.routers
        router_port = [str(routers.router_port)]
        rules = (
            (
                self.FROM_FRONT_DOOR_ID,
                "Front Door's back end to the routers",
                FRONT_DOOR_TAG,
                None,
                router_port,
            ),
            (self.FROM_PROBES_ID, "load balancer health probes to the routers", PROBE_TAG, None, router_port),
            (
                self.TO_REPLICAS_ID,
                "the routers to the replicas' proxies",
                None,
                application_group_id,
                [str(port) for port in routers.replica_ports],
            ),
        )
        for index, (construct_id, description, source_tag, source_group, ports) in enumerate(rules):
            NetworkSecurityRule(
                self,
                construct_id,
                name=construct_id,
                description=description,
                network_security_group_name=security_group,
                resource_group_name=self.resource_group,
                priority=_FIRST_PRIORITY + 10 * index,
                direction="Inbound",
                access="Allow",
                protocol="Tcp",
                # Exactly one source form per rule (azurerm network_security_rule_resource.go ExactlyOneOf).
                source_address_prefix=source_tag,
                source_application_security_group_ids=[source_group] if source_group else None,
                source_port_range="*",
                # Traffic to the routers: only to the routers' NICs; from them: to any VM of the subnet.
                destination_address_prefix="*" if source_group else None,
                destination_application_security_group_ids=None if source_group else [application_group_id],
                destination_port_ranges=ports,
            )

    def _roles(
        self, identity: UserAssignedIdentity, resource_group_id: str, fleet_scale_set_ids: Mapping[str, str]
    ) -> None:
        routers = self.routers
        # Custom roles are defined at the resource group and assignable only there and below.
        scaler, reader = (
            RoleDefinition(
                self,
                construct_id,
                name=name,
                scope=resource_group_id,
                description=description,
                permissions=[RoleDefinitionPermissions(actions=list(actions))],
                assignable_scopes=[resource_group_id],
            )
            for construct_id, name, description, actions in (
                (
                    self._SCALER_ROLE_ID,
                    routers.scaler_role,
                    "llmdeploy routers: read a fleet's scale set and its VMs, raise its capacity",
                    SCALER_ACTIONS,
                ),
                (
                    self._READER_ROLE_ID,
                    routers.reader_role,
                    "llmdeploy routers: read the fleets' VMs, their instance view and NICs",
                    READER_ACTIONS,
                ),
            )
        )
        grants = [
            *(
                (f"{self._SCALES_PREFIX}{fleet}", scale_set_id, scaler)
                for fleet, scale_set_id in fleet_scale_set_ids.items()
            ),
            (self._READS_ID, resource_group_id, reader),
        ]
        for construct_id, scope, role in grants:
            RoleAssignment(
                self,
                construct_id,
                scope=scope,
                role_definition_id=role.role_definition_resource_id,
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
            )

    def _scale_set(
        self,
        identity: UserAssignedIdentity,
        subnet_id: str,
        backend_pool_id: str,
        application_group_id: str,
        admin_public_key: str,
        user_data_base64: str,
    ) -> LinuxVirtualMachineScaleSet:
        routers = self.routers
        return LinuxVirtualMachineScaleSet(
            self,
            self._SCALE_SET_ID,
            name=routers.scale_set,
            location=routers.location,
            resource_group_name=self.resource_group,
            sku=routers.sku,
            instances=routers.instances,
            zones=list(routers.zones),
            # Overprovisioned extra VMs would boot agents that call the cloud, then be deleted.
            overprovision=False,
            source_image_reference=LinuxVirtualMachineScaleSetSourceImageReference(**ROUTER_IMAGE),
            # Standard SSD: premium disks need an `s` size, and `routing.instance_types` may name any.
            os_disk=LinuxVirtualMachineScaleSetOsDisk(
                caching="ReadWrite", storage_account_type="StandardSSD_LRS"
            ),
            admin_username=ADMIN_USER,
            admin_ssh_key=[
                LinuxVirtualMachineScaleSetAdminSshKey(public_key=admin_public_key, username=ADMIN_USER)
            ],
            disable_password_authentication=True,
            custom_data=routers.custom_data,
            user_data=user_data_base64,
            network_interface=[
                LinuxVirtualMachineScaleSetNetworkInterface(
                    name="nic",
                    primary=True,
                    ip_configuration=[
                        LinuxVirtualMachineScaleSetNetworkInterfaceIpConfiguration(
                            name="ipv4",
                            primary=True,
                            subnet_id=subnet_id,
                            load_balancer_backend_address_pool_ids=[backend_pool_id],
                            application_security_group_ids=[application_group_id],
                        )
                    ],
                )
            ],
            identity=LinuxVirtualMachineScaleSetIdentity(type="UserAssigned", identity_ids=[identity.id]),
            extension=[
                LinuxVirtualMachineScaleSetExtension(
                    name="health",
                    publisher="Microsoft.ManagedServices",
                    type="ApplicationHealthLinux",
                    type_handler_version=ROUTER_HEALTH_EXTENSION_VERSION,
                    settings=routers.health_extension,
                )
            ],
            # Needs the health extension or `health_probe_id` (linux_virtual_machine_scale_set_resource.go).
            automatic_instance_repair=LinuxVirtualMachineScaleSetAutomaticInstanceRepair(
                enabled=True, action="Replace", grace_period=routers.repair_grace
            ),
            # Rolling needs a `rolling_upgrade_policy` and a health extension or probe (same file).
            upgrade_mode="Rolling",
            rolling_upgrade_policy=LinuxVirtualMachineScaleSetRollingUpgradePolicy(
                max_batch_instance_percent=_BATCH_PERCENT,
                max_unhealthy_instance_percent=100,
                max_unhealthy_upgraded_instance_percent=_BATCH_PERCENT,
                pause_time_between_batches="PT0S",
                maximum_surge_instances_enabled=True,
                prioritize_unhealthy_instances_enabled=True,
            ),
            tags={**routers.tags, "llmdeploy-role": "router"},
        )
