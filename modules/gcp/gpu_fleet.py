"""One model's GPU replicas in one release slot: instance templates, managed instance groups, autoscaler.

Spot capacity above an on-demand base takes up to three regional managed instance groups, each
with one version: a fixed-size group of `spot.on_demand_base` on-demand VMs, an autoscaled group of
spot VMs, and (when 0 < `spot.on_demand_percent_above_base` < 100) an autoscaled group of on-demand
VMs whose bounds are that share of the range above the base, rounded up. Two versions in one group
(a canary `target_size.percent`) are not an option: a regional group whose target shape is BALANCED,
as spot capacity needs, does not support them
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
initialization period) covers the model load too. GCP's autoscaler needs a VM to read its signal
from (per-instance metrics and load-balancer utilisation alike), so each autoscaled group keeps at
least one VM: a fleet whose minimum equals its on-demand base runs one spot VM more than that
minimum, and one with an on-demand share above its base runs at least one VM of each kind.
"""

from __future__ import annotations

from collections.abc import Mapping
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

from llmdeploy import metrics
from llmdeploy.boot import user_data
from llmdeploy.config.clouds import GcpCloud
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.status import names
from modules.common import short_name, terraform_literal
from modules.gcp.labels import gcp_labels

#: Deep Learning VM images (the NVIDIA driver preinstalled in the `-nvidia-<version>` families).
IMAGE_PROJECT = "deeplearning-platform-release"
#: The named port the backend services send traffic to.
PORT_NAME = "http"
#: A service account id is 6-30 characters; an instance template name prefix at most 37.
_ACCOUNT_ID_LIMIT = 30
_TEMPLATE_PREFIX_LIMIT = 37
#: Cloud Monitoring roles every replica needs: write its logs and the relayed engine metrics.
_PROJECT_ROLES = {"LogWriter": "roles/logging.logWriter", "MetricWriter": "roles/monitoring.metricWriter"}
_SECRET_ROLE = "roles/secretmanager.secretAccessor"
_REGISTRY_ROLE = "roles/artifactregistry.reader"
#: Balancing a spot MIG over zones by capacity (not evenly) is what instance flexibility requires.
_TARGET_SHAPE = "BALANCED"
#: Replaced groups, templates and autoscalers exist before their predecessors go (their names differ).
REPLACE_SAFELY = TerraformResourceLifecycle(create_before_destroy=True)
SPOT = "spot"
ON_DEMAND = "on-demand"


class GpuFleet(Construct):
    """The instances of one fleet (`<model>-<slot>`): the backends of its backend service.

    Attributes:
        health_check_id: the engine health check, for autohealing and the backend service.
        instance_groups: the instance group URL of each managed group, in `names.gcp_groups` order.
        group_names: the managed groups' names, in the same order.
    """

    _ACCOUNT_ID = "ServiceAccount"
    _SECRET_ACCESS_IDS: ClassVar[dict[str, str]] = {
        "hf_token": "ReadsToken",
        "api_key": "ReadsApiKey",
        "next_api_key": "ReadsNextApiKey",
    }
    _REGISTRY_ACCESS_ID = "PullsThrough"
    _HEALTH_CHECK_ID = "HealthCheck"
    _SPOT_TEMPLATE_ID = "SpotTemplate"
    _ON_DEMAND_TEMPLATE_ID = "OnDemandTemplate"
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

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        plan: DeploymentPlan,
        fleet: FleetPlan,
        settings: GcpCloud,
        image: str,
        subnet_id: str,
        instance_tag: str,
        registries: Mapping[str, str],
        queue_metric: ITerraformDependable,
    ) -> None:
        super().__init__(scope, id)
        self.plan, self.fleet, self.settings = plan, fleet, settings
        self.queue_metric = queue_metric
        email = self._identity(name, settings.project_id, registries)
        health = self._health_check()
        self.health_check_id: str = health.id
        plans = names.gcp_group_plan(plan, fleet)
        templates = _Templates(
            self,
            plan,
            fleet,
            kinds={group.spot for group in plans},
            image=image,
            subnet_id=subnet_id,
            tag=instance_tag,
            email=email,
        )
        groups = [self._group(group, templates, health) for group in plans]
        self.instance_groups: list[str] = [group.instance_group for group in groups]
        self.group_names: list[str] = list(names.gcp_groups(plan, fleet))

    def _identity(self, name: str, project: str, registries: Mapping[str, str]) -> str:
        account = ServiceAccount(
            self,
            self._ACCOUNT_ID,
            account_id=short_name(
                self.plan.project, self.plan.env, self.fleet.model, self.fleet.slot, limit=_ACCOUNT_ID_LIMIT
            ),
            display_name=f"llmdeploy {name} {self.fleet.name} replicas",
        )
        member = f"serviceAccount:{account.email}"
        for construct_id, role in _PROJECT_ROLES.items():
            ProjectIamMember(self, construct_id, project=project, role=role, member=member)
        access = self.plan.access
        secrets = {
            "hf_token": self.fleet.hf_token_secret,
            "api_key": access.api_key.secret if access.api_key else None,
            "next_api_key": access.next_api_key.secret if access.next_api_key else None,
        }
        # Exactly these secrets, each by name: the VM fetches them at boot, no Terraform data source does.
        for key, secret in secrets.items():
            if secret is not None:
                SecretManagerSecretIamMember(
                    self,
                    self._SECRET_ACCESS_IDS[key],
                    project=project,
                    secret_id=secret,
                    role=_SECRET_ROLE,
                    member=member,
                )
        for upstream, repository in registries.items():
            ArtifactRegistryRepositoryIamMember(
                self,
                f"{self._REGISTRY_ACCESS_ID}-{upstream}",
                project=project,
                location=self.settings.region,
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
            name=names.gcp_fleet(self.plan, self.fleet),
            check_interval_sec=health.interval_s,
            timeout_sec=health.timeout_s,
            healthy_threshold=health.healthy_threshold,
            unhealthy_threshold=health.unhealthy_threshold,
            http_health_check=ComputeHealthCheckHttpHealthCheck(port=health.port, request_path=health.path),
            log_config=ComputeHealthCheckLogConfig(enable=True),
            lifecycle=REPLACE_SAFELY,
        )

    def _group(
        self, group: names.GcpGroup, templates: _Templates, health: ComputeHealthCheck
    ) -> ComputeRegionInstanceGroupManager:
        """One group (one version: BALANCED groups take no canary versions), and its autoscaler."""
        fleet, zones = self.fleet, self.settings.zones
        types = fleet.instance_types
        flexibility = None
        if len(types) > 1:
            flexibility = ComputeRegionInstanceGroupManagerInstanceFlexibilityPolicy(
                instance_selections=[
                    ComputeRegionInstanceGroupManagerInstanceFlexibilityPolicyInstanceSelections(
                        name=f"rank-{rank}", machine_types=[entry.name], rank=rank
                    )
                    for rank, entry in enumerate(types)
                ]
            )
        manager = ComputeRegionInstanceGroupManager(
            self,
            self._GROUP_IDS[group.role],
            name=group.name,
            base_instance_name=group.name,
            region=self.settings.region,
            distribution_policy_zones=zones,
            distribution_policy_target_shape=_TARGET_SHAPE,
            version=[
                ComputeRegionInstanceGroupManagerVersion(
                    name=SPOT if group.spot else ON_DEMAND,
                    instance_template=templates.spot if group.spot else templates.on_demand,
                )
            ],
            target_size=group.desired,
            named_port=[ComputeRegionInstanceGroupManagerNamedPort(name=PORT_NAME, port=fleet.health.port)],
            auto_healing_policies=ComputeRegionInstanceGroupManagerAutoHealingPolicies(
                health_check=health.id, initial_delay_sec=fleet.health.readiness_grace_s
            ),
            instance_flexibility_policy=flexibility,
            # Replace a VM only after its successor exists (GPU capacity is scarce): surge by one VM
            # per zone (a regional group's minimum surge), never go below the target size.
            update_policy=ComputeRegionInstanceGroupManagerUpdatePolicy(
                type="PROACTIVE",
                minimal_action="REPLACE",
                replacement_method="SUBSTITUTE",
                max_surge_fixed=len(zones),
                max_unavailable_fixed=0,
                instance_redistribution_type="NONE",
            ),
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

    def _autoscaler(self, manager: ComputeRegionInstanceGroupManager, group: names.GcpGroup) -> None:
        target, grace = self.fleet.autoscaling, self.fleet.health.readiness_grace_s
        metric = None
        utilization = None
        if target.target_queue_size is not None:
            metric = ComputeRegionAutoscalerAutoscalingPolicyMetric(
                name=f"{metrics.GCP_METRIC_PREFIX}{metrics.QUEUE_SIZE}",
                # The autoscaler accepts only `=` selectors joined by AND.
                filter=engine_filter(self.plan, self.fleet, metrics.QUEUE_SIZE, joiner=" AND "),
                target=target.target_queue_size,
                type="GAUGE",
            )
        else:
            # The backend's RATE capacity is the target request rate, so full utilisation is the target.
            utilization = ComputeRegionAutoscalerAutoscalingPolicyLoadBalancingUtilization(target=1.0)
        ComputeRegionAutoscaler(
            self,
            self._AUTOSCALER_IDS[group.role],
            name=group.name,
            region=self.settings.region,
            target=manager.id,
            autoscaling_policy=ComputeRegionAutoscalerAutoscalingPolicy(
                min_replicas=group.minimum,
                max_replicas=group.maximum,
                cooldown_period=grace,
                mode="ON",
                metric=[metric] if metric else None,
                load_balancing_utilization=utilization,
                # At most one VM removed per scale-in cooldown.
                scale_in_control=ComputeRegionAutoscalerAutoscalingPolicyScaleInControl(
                    max_scaled_in_replicas=ComputeRegionAutoscalerAutoscalingPolicyScaleInControlMaxScaledInReplicas(
                        fixed=1
                    ),
                    time_window_sec=target.scale_in_cooldown_s,
                ),
            ),
            # The custom metric it reads is declared first (it reports MISSING_CUSTOM_METRIC_DATA_POINTS
            # until VMs publish, hashicorp/terraform-provider-google#4916).
            depends_on=[self.queue_metric] if metric else None,
            lifecycle=REPLACE_SAFELY,
        )


def engine_filter(plan: DeploymentPlan, fleet: FleetPlan, metric: str, joiner: str = " ") -> str:
    """The Cloud Monitoring filter of one fleet's relayed engine metric (one series per VM)."""
    labels = metrics.dimension_values(plan.project, plan.env, fleet.model, fleet.slot)
    selectors = [
        f'metric.type="{metrics.GCP_METRIC_PREFIX}{metric}"',
        'resource.type="gce_instance"',
        *(f'metric.label.{key.lower()}="{value}"' for key, value in labels.items()),
    ]
    return joiner.join(selectors)


class _Templates(Construct):
    """The fleet's spot and on-demand instance templates (self links, for the groups' versions)."""

    def __init__(
        self,
        scope: GpuFleet,
        plan: DeploymentPlan,
        fleet: FleetPlan,
        *,
        kinds: set[bool],
        image: str,
        subnet_id: str,
        tag: str,
        email: str,
    ) -> None:
        """Only the templates some group uses: `kinds` holds True for spot, False for on-demand."""
        super().__init__(scope, "Templates")
        self.plan, self.fleet = plan, fleet
        self.image, self.subnet_id, self.tag, self.email = image, subnet_id, tag, email
        self.spot = self._template(GpuFleet._SPOT_TEMPLATE_ID, spot=True) if True in kinds else ""
        self.on_demand = self._template(GpuFleet._ON_DEMAND_TEMPLATE_ID, spot=False) if False in kinds else ""

    def _template(self, construct_id: str, *, spot: bool) -> str:
        fleet = self.fleet
        kind = SPOT if spot else ON_DEMAND
        template = ComputeInstanceTemplate(
            self,
            construct_id,
            name_prefix=short_name(
                self.plan.project, self.plan.env, fleet.name, kind, limit=_TEMPLATE_PREFIX_LIMIT - 1
            )
            + "-",
            description=f"llmdeploy {fleet.name} ({kind}): {fleet.model_id}@{fleet.revision} "
            f"on {fleet.engine_image}",
            machine_type=fleet.instance_types[0].name,
            disk=[
                ComputeInstanceTemplateDisk(
                    boot=True,
                    auto_delete=True,
                    source_image=self.image,
                    disk_size_gb=fleet.disk_gib,
                    disk_type="pd-balanced",
                )
            ],
            network_interface=[ComputeInstanceTemplateNetworkInterface(subnetwork=self.subnet_id)],
            service_account=ComputeInstanceTemplateServiceAccount(
                email=self.email, scopes=["cloud-platform"]
            ),
            scheduling=_scheduling(spot),
            shielded_instance_config=ComputeInstanceTemplateShieldedInstanceConfig(
                enable_secure_boot=False, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            metadata={
                "user-data": terraform_literal(user_data(self.plan, fleet)),
                "block-project-ssh-keys": "true",
            },
            tags=[self.tag],
            labels=gcp_labels(
                {**self.plan.tags, "llmdeploy-model": fleet.model, "llmdeploy-slot": fleet.slot}
            ),
            lifecycle=TerraformResourceLifecycle(
                create_before_destroy=True, ignore_changes=["disk[0].source_image"]
            ),
        )
        return template.self_link_unique


def _scheduling(spot: bool) -> ComputeInstanceTemplateScheduling:
    if spot:
        return ComputeInstanceTemplateScheduling(
            provisioning_model="SPOT",
            preemptible=True,
            automatic_restart=False,
            on_host_maintenance="TERMINATE",
            instance_termination_action="DELETE",
        )
    return ComputeInstanceTemplateScheduling(
        provisioning_model="STANDARD", automatic_restart=True, on_host_maintenance="TERMINATE"
    )
