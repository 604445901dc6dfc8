"""One model's GPU replicas in one release slot: instance templates, managed instance groups, autoscaler.

The groups, their sizes and names are resolved in llmdeploy/clouds/gcp/resolve.py (spot above an
on-demand base: up to three regional managed instance groups, each with one version). Two versions
in one group (a canary `target_size.percent`) are not an option: a regional group whose target
shape is BALANCED, as spot capacity needs, does not support them
(https://cloud.google.com/compute/docs/instance-groups/regional-mig-set-target-distribution-shape,
Limitations). Both autoscaled groups sit behind the same backend service and target the same
per-VM signal, so they grow and shrink together. Group names end in a hash of the region and zones,
and every group is created before its predecessor is destroyed, so a zone change replaces the
groups without a gap (hashicorp/terraform-provider-google#6376).

The accelerator-optimized machine types in the catalog (G2, A2, A3) bring their GPUs with the
machine type, so the templates attach no `guest_accelerator`; GPU VMs cannot live-migrate, hence
`on_host_maintenance = TERMINATE`. Several machine types become each group's instance flexibility
policy, ranked in the configured order of preference.

Each fleet's service account may write logs and metrics, read exactly the secrets its VMs fetch
(hf_token, api_key, next_api_key: the VM's proxy checks the API key) and pull through the
environment's registry mirrors.

The image is the Deep Learning VM family's newest image when the template is created (a specific
image: a template naming the family would give every VM it creates the family's newest image,
since the provider passes `projects/<p>/global/images/family/<f>` through unresolved); the
templates ignore later changes of it, so a new image never slips into a running slot
(`llmdeploy release --new-image` replaces the idle slot's templates, and the group's proactive
update moves its VMs). Autohealing waits the readiness grace, and the autoscaler's cooldown (GCP's
initialization period) covers the model load too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from cdktn import ITerraformDependable, TerraformResourceLifecycle
from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from cdktn_provider_google.compute_health_check import (
    ComputeHealthCheck,
    ComputeHealthCheckHttpHealthCheck,
    ComputeHealthCheckLogConfig,
)
from cdktn_provider_google.compute_instance_template import (
    ComputeInstanceTemplate,
    ComputeInstanceTemplateDisk,
    ComputeInstanceTemplateNetworkInterface,
    ComputeInstanceTemplateScheduling,
    ComputeInstanceTemplateServiceAccount,
    ComputeInstanceTemplateShieldedInstanceConfig,
)
from cdktn_provider_google.compute_region_autoscaler import (
    ComputeRegionAutoscaler,
    ComputeRegionAutoscalerAutoscalingPolicy,
    ComputeRegionAutoscalerAutoscalingPolicyLoadBalancingUtilization,
    ComputeRegionAutoscalerAutoscalingPolicyMetric,
    ComputeRegionAutoscalerAutoscalingPolicyScaleInControl,
    ComputeRegionAutoscalerAutoscalingPolicyScaleInControlMaxScaledInReplicas,
)
from cdktn_provider_google.compute_region_instance_group_manager import (
    ComputeRegionInstanceGroupManager,
    ComputeRegionInstanceGroupManagerAutoHealingPolicies,
    ComputeRegionInstanceGroupManagerInstanceFlexibilityPolicy,
    ComputeRegionInstanceGroupManagerInstanceFlexibilityPolicyInstanceSelections,
    ComputeRegionInstanceGroupManagerNamedPort,
    ComputeRegionInstanceGroupManagerUpdatePolicy,
    ComputeRegionInstanceGroupManagerVersion,
)
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from cdktn_provider_google.service_account import ServiceAccount
from constructs import Construct

from llmdeploy.clouds.gcp import names
from llmdeploy.clouds.gcp.resolve import GcpFleet, GcpGroup, GcpPlan, GcpTemplate
from modules.common import terraform_literal

#: The named port the backend services send traffic to.
PORT_NAME = "http"
#: Cloud Monitoring roles every replica needs: write its logs and the relayed engine metrics.
PROJECT_ROLES = {"LogWriter": "roles/logging.logWriter", "MetricWriter": "roles/monitoring.metricWriter"}
_SECRET_ROLE = "roles/secretmanager.secretAccessor"
_REGISTRY_ROLE = "roles/artifactregistry.reader"
#: Balancing a spot MIG over zones by capacity (not evenly) is what instance flexibility requires.
_TARGET_SHAPE = "BALANCED"
#: Replaced groups, templates and autoscalers exist before their predecessors go (their names differ).
REPLACE_SAFELY = TerraformResourceLifecycle(create_before_destroy=True)


@dataclass(frozen=True)
class FleetRefs:
    """What a fleet's resources refer to in the rest of the stack."""

    image: str
    subnet_id: str
    instance_tag: str
    #: upstream registry -> the repository id of its mirror.
    registries: Mapping[str, str]
    queue_metric: ITerraformDependable


class GpuFleet(Construct):
    """The instances of one fleet (`<model>-<slot>`): the backends of its backend service.

    Attributes:
        health_check_id: the engine health check, for autohealing and the backend service.
        instance_groups: the instance group URL of each managed group, in `fleet.groups` order.
    """

    _ACCOUNT_ID = "ServiceAccount"
    _SECRET_ACCESS_IDS: ClassVar[dict[str, str]] = {
        "hf_token": "ReadsToken",
        "api_key": "ReadsApiKey",
        "next_api_key": "ReadsNextApiKey",
    }
    _REGISTRY_ACCESS_ID = "PullsThrough"
    _HEALTH_CHECK_ID = "HealthCheck"
    _TEMPLATE_IDS: ClassVar[dict[bool, str]] = {True: "SpotTemplate", False: "OnDemandTemplate"}
    #: Group and autoscaler construct ids by group role (names.AUTOSCALED, ON_DEMAND_SHARE, BASE).
    _GROUP_IDS: ClassVar[dict[str, str]] = {
        names.AUTOSCALED: "Group",
        names.ON_DEMAND_SHARE: "OnDemandGroup",
        names.BASE: "OnDemandBase",
    }
    _AUTOSCALER_IDS: ClassVar[dict[str, str]] = {
        names.AUTOSCALED: "Autoscaler",
        names.ON_DEMAND_SHARE: "OnDemandAutoscaler",
    }

    def __init__(self, scope: Construct, id: str, *, gcp: GcpPlan, fleet: GcpFleet, refs: FleetRefs) -> None:
        super().__init__(scope, id)
        self.gcp, self.fleet, self.refs = gcp, fleet, refs
        email = self._identity()
        health = self._health_check()
        self.health_check_id: str = health.id
        templates = Construct(self, "Templates")
        links = {template.spot: self._template(templates, template, email) for template in fleet.templates}
        groups = [self._group(group, links[group.spot], health) for group in fleet.groups]
        self.instance_groups: list[str] = [group.instance_group for group in groups]

    def _identity(self) -> str:
        fleet, project = self.fleet, self.gcp.project_id
        account = ServiceAccount(
            self, self._ACCOUNT_ID, account_id=fleet.account_id, display_name=fleet.account_display_name
        )
        member = f"serviceAccount:{account.email}"
        for construct_id, role in PROJECT_ROLES.items():
            ProjectIamMember(self, construct_id, project=project, role=role, member=member)
        # Exactly these secrets, each by name: the VM fetches them at boot, no Terraform data source does.
        for key, secret in fleet.secrets:
            SecretManagerSecretIamMember(
                self,
                self._SECRET_ACCESS_IDS[key],
                project=project,
                secret_id=secret,
                role=_SECRET_ROLE,
                member=member,
            )
        for upstream, repository in self.refs.registries.items():
            ArtifactRegistryRepositoryIamMember(
                self,
                f"{self._REGISTRY_ACCESS_ID}-{upstream}",
                project=project,
                location=self.gcp.region,
                repository=repository,
                role=_REGISTRY_ROLE,
                member=member,
            )
        return account.email

    def _health_check(self) -> ComputeHealthCheck:
        health = self.fleet.health
        return ComputeHealthCheck(
            self,
            self._HEALTH_CHECK_ID,
            name=self.fleet.service,
            check_interval_sec=health.interval_s,
            timeout_sec=health.timeout_s,
            healthy_threshold=health.healthy_threshold,
            unhealthy_threshold=health.unhealthy_threshold,
            http_health_check=ComputeHealthCheckHttpHealthCheck(port=health.port, request_path=health.path),
            log_config=ComputeHealthCheckLogConfig(enable=True),
            lifecycle=REPLACE_SAFELY,
        )

    def _group(
        self, group: GcpGroup, template: str, health: ComputeHealthCheck
    ) -> ComputeRegionInstanceGroupManager:
        """One group (one version: BALANCED groups take no canary versions), and its autoscaler."""
        fleet, zones = self.fleet, list(self.gcp.zones)
        manager = ComputeRegionInstanceGroupManager(
            self,
            self._GROUP_IDS[group.role],
            name=group.name,
            base_instance_name=group.name,
            region=self.gcp.region,
            distribution_policy_zones=zones,
            distribution_policy_target_shape=_TARGET_SHAPE,
            version=[ComputeRegionInstanceGroupManagerVersion(name=group.kind, instance_template=template)],
            target_size=group.desired,
            named_port=[ComputeRegionInstanceGroupManagerNamedPort(name=PORT_NAME, port=fleet.health.port)],
            auto_healing_policies=ComputeRegionInstanceGroupManagerAutoHealingPolicies(
                health_check=health.id, initial_delay_sec=fleet.health.readiness_grace_s
            ),
            # Several machine types, ranked in the configured order of preference.
            instance_flexibility_policy=ComputeRegionInstanceGroupManagerInstanceFlexibilityPolicy(
                instance_selections=[
                    ComputeRegionInstanceGroupManagerInstanceFlexibilityPolicyInstanceSelections(
                        name=f"rank-{rank}", machine_types=[machine_type], rank=rank
                    )
                    for rank, machine_type in enumerate(fleet.flexible_types)
                ]
            )
            if fleet.flexible_types
            else None,
            # GPU capacity is scarce: no redistribution between zones either.
            update_policy=surge_update_policy(len(zones), redistribution="NONE"),
            # GPU replicas take many minutes to load a model; Terraform must not wait for them.
            wait_for_instances=False,
            # The autoscaler owns an autoscaled group's size.
            lifecycle=TerraformResourceLifecycle(
                create_before_destroy=True, ignore_changes=["target_size"] if group.autoscaled else None
            ),
        )
        if group.autoscaled:
            self._autoscaler(manager, group)
        return manager

    def _autoscaler(self, manager: ComputeRegionInstanceGroupManager, group: GcpGroup) -> None:
        scaling = self.fleet.scaling
        metric = (
            ComputeRegionAutoscalerAutoscalingPolicyMetric(
                name=scaling.metric, filter=scaling.metric_filter, target=scaling.target, type="GAUGE"
            )
            if scaling.metric
            else None
        )
        ComputeRegionAutoscaler(
            self,
            self._AUTOSCALER_IDS[group.role],
            name=group.name,
            region=self.gcp.region,
            target=manager.id,
            autoscaling_policy=ComputeRegionAutoscalerAutoscalingPolicy(
                min_replicas=group.minimum,
                max_replicas=group.maximum,
                cooldown_period=scaling.cooldown_s,
                mode="ON",
                metric=[metric] if metric else None,
                load_balancing_utilization=None
                if metric
                else ComputeRegionAutoscalerAutoscalingPolicyLoadBalancingUtilization(target=scaling.target),
                # At most one VM removed per scale-in cooldown.
                scale_in_control=ComputeRegionAutoscalerAutoscalingPolicyScaleInControl(
                    max_scaled_in_replicas=ComputeRegionAutoscalerAutoscalingPolicyScaleInControlMaxScaledInReplicas(
                        fixed=1
                    ),
                    time_window_sec=scaling.scale_in_cooldown_s,
                ),
            ),
            # The custom metric it reads is declared first (it reports MISSING_CUSTOM_METRIC_DATA_POINTS
            # until VMs publish, hashicorp/terraform-provider-google#4916).
            depends_on=[self.refs.queue_metric] if metric else None,
            lifecycle=REPLACE_SAFELY,
        )

    def _template(self, scope: Construct, template: GcpTemplate, email: str) -> str:
        """A spot or on-demand instance template (its unique self link, for the groups' versions)."""
        resource = ComputeInstanceTemplate(
            scope,
            self._TEMPLATE_IDS[template.spot],
            name_prefix=template.name_prefix,
            description=template.description,
            machine_type=template.machine_type,
            disk=[boot_disk(self.refs.image, template.disk_gib)],
            network_interface=[ComputeInstanceTemplateNetworkInterface(subnetwork=self.refs.subnet_id)],
            service_account=ComputeInstanceTemplateServiceAccount(email=email, scopes=["cloud-platform"]),
            scheduling=_SCHEDULING[template.spot],
            shielded_instance_config=ComputeInstanceTemplateShieldedInstanceConfig(
                enable_secure_boot=False, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            # The cloud-config holds `${` (the scripts' `"${args[@]}"`): Terraform must not read it.
            metadata={"user-data": terraform_literal(template.user_data), "block-project-ssh-keys": "true"},
            tags=[self.refs.instance_tag],
            labels=template.labels,
            lifecycle=TerraformResourceLifecycle(
                create_before_destroy=True, ignore_changes=["disk[0].source_image"]
            ),
        )
        return resource.self_link_unique


def surge_update_policy(zones: int, *, redistribution: str) -> ComputeRegionInstanceGroupManagerUpdatePolicy:
    """Replace a VM only after its successor exists: surge by one VM per zone (a regional group's
    minimum surge), never go below the target size."""
    return ComputeRegionInstanceGroupManagerUpdatePolicy(
        type="PROACTIVE",
        minimal_action="REPLACE",
        replacement_method="SUBSTITUTE",
        max_surge_fixed=zones,
        max_unavailable_fixed=0,
        instance_redistribution_type=redistribution,
    )


def boot_disk(image: str, gib: int) -> ComputeInstanceTemplateDisk:
    """A template's boot disk, deleted with its VM."""
    return ComputeInstanceTemplateDisk(
        boot=True, auto_delete=True, source_image=image, disk_size_gb=gib, disk_type="pd-balanced"
    )


#: Spot VMs are deleted when reclaimed; GPU VMs cannot live-migrate (TERMINATE on host maintenance).
_SCHEDULING = {
    True: ComputeInstanceTemplateScheduling(
        provisioning_model="SPOT",
        preemptible=True,
        automatic_restart=False,
        on_host_maintenance="TERMINATE",
        instance_termination_action="DELETE",
    ),
    False: ComputeInstanceTemplateScheduling(
        provisioning_model="STANDARD", automatic_restart=True, on_host_maintenance="TERMINATE"
    ),
}
