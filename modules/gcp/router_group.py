"""The router group (`routing.enabled`, issue 13): CPU VMs between the load balancer and the GPU fleets.

One regional managed instance group of at least two VMs spread evenly over the environment's zones,
each running nginx, every model's hold gate and one vllm-router per slot (the bundle of
llmdeploy/boot/router.py, resolved in llmdeploy/clouds/gcp/resolve.py). The load balancer reaches
them as it reaches a GPU replica: the group joins every fleet's backend service as a PREFERRED
backend (modules/gcp/load_balancer.py), under the same named port and health check. If the routers
fail their health checks, the backend service's DEFAULT backends, the GPU groups, serve directly.

Who may reach what: Google's load balancer proxies and health checkers reach the routers on the
router port; the routers reach the GPU replicas' proxy port (the replicas' own firewall admits only
the load balancer otherwise). The routers' service account may read and resize managed instance
groups and read backend services' health (a custom role of exactly those permissions, see
resolve.ROUTER_PERMISSIONS), and write logs and metrics; it reads no secret (the replicas check the
API key, and the routers pass the header through).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallAllow
from cdktn_provider_google.compute_instance_template import (
    ComputeInstanceTemplate,
    ComputeInstanceTemplateNetworkInterface,
    ComputeInstanceTemplateServiceAccount,
    ComputeInstanceTemplateShieldedInstanceConfig,
)
from cdktn_provider_google.compute_region_instance_group_manager import (
    ComputeRegionInstanceGroupManager,
    ComputeRegionInstanceGroupManagerAutoHealingPolicies,
    ComputeRegionInstanceGroupManagerNamedPort,
    ComputeRegionInstanceGroupManagerVersion,
)
from cdktn_provider_google.data_google_compute_image import DataGoogleComputeImage
from cdktn_provider_google.project_iam_custom_role import ProjectIamCustomRole
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.service_account import ServiceAccount
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import GcpPlan, GcpRouterGroup
from modules.common import terraform_literal
from modules.gcp.access import GOOGLE_FRONT_ENDS
from modules.gcp.gpu_fleet import PORT_NAME, PROJECT_ROLES, REPLACE_SAFELY, boot_disk, surge_update_policy

#: Stateless VMs: spread evenly over the zones, and moved back when a zone recovers.
_TARGET_SHAPE = "EVEN"
#: The group's one version (there is no canary of the routers).
_VERSION = "router"


@dataclass(frozen=True)
class RouterRefs:
    """What the router group refers to in the rest of the stack."""

    network_id: str
    subnet_id: str
    #: The GPU replicas' network tag (their proxies listen on `GcpPlan.engine_ports`).
    gpu_instance_tag: str
    #: The health check that heals the routers (`GcpRouterGroup.healed_by`'s engine health check).
    health_check_id: str


class RouterGroup(Construct):
    """The routers' VMs, identity and firewall rules.

    Attributes:
        instance_group: the managed group's instance group URL (a backend of every backend service).
    """

    _ACCOUNT_ID = "ServiceAccount"
    _ROLE_ID = "Role"
    _ROLE_GRANT_ID = "ReadsAndResizesGroups"
    _IMAGE_ID = "Image"
    _TEMPLATE_ID = "Template"
    _GROUP_ID = "Group"
    _FROM_LB_ID = "FromLoadBalancer"
    _TO_REPLICAS_ID = "ToReplicas"

    def __init__(
        self, scope: Construct, id: str, *, gcp: GcpPlan, router: GcpRouterGroup, refs: RouterRefs
    ) -> None:
        super().__init__(scope, id)
        self.gcp, self.router, self.refs = gcp, router, refs
        email = self._identity()
        self._firewall()
        template = self._template(email)
        group = self._group(template)
        self.instance_group: str = group.instance_group

    def _identity(self) -> str:
        router, project = self.router, self.gcp.project_id
        account = ServiceAccount(
            self, self._ACCOUNT_ID, account_id=router.account_id, display_name=router.account_display_name
        )
        member = f"serviceAccount:{account.email}"
        role = ProjectIamCustomRole(
            self,
            self._ROLE_ID,
            project=project,
            role_id=router.role_id,
            title=router.role_title,
            description="Membership (group and health reads) and the hold gate's scale-up (resize)",
            permissions=list(router.permissions),
        )
        ProjectIamMember(self, self._ROLE_GRANT_ID, project=project, role=role.name, member=member)
        for construct_id, predefined in PROJECT_ROLES.items():
            ProjectIamMember(self, construct_id, project=project, role=predefined, member=member)
        return account.email

    def _firewall(self) -> None:
        router, name = self.router, self.router.instance_tag
        ComputeFirewall(
            self,
            self._FROM_LB_ID,
            name=f"{name}-from-lb",
            network=self.refs.network_id,
            description="Google load balancer proxies and health checks to the routers",
            direction="INGRESS",
            source_ranges=list(GOOGLE_FRONT_ENDS),
            target_tags=[router.instance_tag],
            allow=[ComputeFirewallAllow(protocol="tcp", ports=[str(router.port)])],
        )
        # Sources by tag: the replicas are targeted by tag, and a rule cannot mix tags and accounts.
        ComputeFirewall(
            self,
            self._TO_REPLICAS_ID,
            name=f"{name}-to-gpu",
            network=self.refs.network_id,
            description="routers to the GPU replicas' proxies",
            direction="INGRESS",
            source_tags=[router.instance_tag],
            target_tags=[self.refs.gpu_instance_tag],
            allow=[ComputeFirewallAllow(protocol="tcp", ports=[str(port) for port in self.gcp.engine_ports])],
        )

    def _template(self, email: str) -> ComputeInstanceTemplate:
        router = self.router
        # The family's newest image when the template is created; later images wait for a change of
        # the template (as the GPU templates do), so the two routers never run different images.
        image = DataGoogleComputeImage(
            self, self._IMAGE_ID, family=router.image_family, project=router.image_project
        )
        return ComputeInstanceTemplate(
            self,
            self._TEMPLATE_ID,
            name_prefix=router.template_prefix,
            description=router.description,
            machine_type=router.machine_type,
            disk=[boot_disk(image.self_link, router.disk_gib)],
            # No access_config: no external address (Cloud NAT carries package downloads).
            network_interface=[ComputeInstanceTemplateNetworkInterface(subnetwork=self.refs.subnet_id)],
            service_account=ComputeInstanceTemplateServiceAccount(email=email, scopes=["cloud-platform"]),
            # Debian's images are signed for Secure Boot (no third-party kernel modules on a router).
            shielded_instance_config=ComputeInstanceTemplateShieldedInstanceConfig(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            # The bundle is JSON and shell: Terraform must not read `${` or `%{` in it.
            metadata={"user-data": terraform_literal(router.user_data), "block-project-ssh-keys": "true"},
            tags=[router.instance_tag],
            labels=router.labels,
            lifecycle=TerraformResourceLifecycle(
                create_before_destroy=True, ignore_changes=["disk[0].source_image"]
            ),
        )

    def _group(self, template: ComputeInstanceTemplate) -> ComputeRegionInstanceGroupManager:
        router, zones = self.router, list(self.router.zones)
        return ComputeRegionInstanceGroupManager(
            self,
            self._GROUP_ID,
            name=router.name,
            base_instance_name=router.name,
            region=self.gcp.region,
            distribution_policy_zones=zones,
            distribution_policy_target_shape=_TARGET_SHAPE,
            version=[
                ComputeRegionInstanceGroupManagerVersion(
                    name=_VERSION, instance_template=template.self_link_unique
                )
            ],
            target_size=router.count,
            # The backend services send to this port name (the GPU groups map it to their proxy).
            named_port=[ComputeRegionInstanceGroupManagerNamedPort(name=PORT_NAME, port=router.port)],
            auto_healing_policies=ComputeRegionInstanceGroupManagerAutoHealingPolicies(
                health_check=self.refs.health_check_id, initial_delay_sec=router.boot_grace_s
            ),
            # A new router before an old one goes; VMs move back to a zone that recovers.
            update_policy=surge_update_policy(len(zones), redistribution="PROACTIVE"),
            wait_for_instances=False,
            lifecycle=REPLACE_SAFELY,
        )
