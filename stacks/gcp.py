"""The GCP stack of one environment (`<env>-gcp`): network, access, fleets, load balancer, monitoring.

Outputs:
    endpoints: model name -> endpoint URL.
    fleets: `<model>-<slot>` -> {model, slot, weight, instance_groups, backend_service, alert_names}.
    url_map: the URL map carrying the weighted routes.
    address: the load balancer's IP address.
    dns_records: the records for `access.tls.domain` (its managed certificate becomes ACTIVE only
        once they resolve to the address); empty without a domain. With `clouds.gcp.dns_zone` the
        stack creates them in that Cloud DNS zone (modules/gcp/dns.py).
    registry_mirrors: image registry (docker.io, ghcr.io) -> the Artifact Registry remote repository
        caching it (`<region>-docker.pkg.dev/<project>/<repository>`).
    routers: with `routing.enabled` only: the router group's managed instance group and region.
"""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformStack
from cdktn_provider_google.data_google_compute_image import DataGoogleComputeImage
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import resolve
from llmdeploy.metrics import QUEUE_SIZE
from llmdeploy.plan.model import CloudPlan, DeploymentPlan
from modules.gcp import Access, EngineMetrics, GpuFleet, LoadBalancer, Monitoring, Network, RegistryMirrors
from modules.gcp.dns import DnsRecords
from modules.gcp.engine_logs import EngineLogs
from modules.gcp.gpu_fleet import FleetRefs
from modules.gcp.router_group import RouterGroup, RouterRefs

#: hashicorp/google versions the synthesized JSON accepts: the bindings' schema (8.7) and later 8.x.
PROVIDER_VERSIONS = ">= 8.7, < 9.0"


class GcpStack(TerraformStack):
    """Everything one environment deploys on GCP."""

    _PROVIDER_ID = "google"
    _NETWORK_ID = "Network"
    _ACCESS_ID = "Access"
    _IMAGE_ID = "GpuImage"
    _LB_ID = "LoadBalancer"
    _MONITORING_ID = "Monitoring"
    _METRICS_ID = "EngineMetrics"
    _REGISTRIES_ID = "RegistryMirrors"
    _ROUTERS_ID = "Routers"
    _DNS_ID = "DnsRecords"
    _VM_LOGS_ID = "VmLogs"

    def __init__(self, scope: Construct, plan: DeploymentPlan, cloud: CloudPlan) -> None:
        super().__init__(scope, cloud.stack)
        gcp = resolve(plan)
        provider = GoogleProvider(self, self._PROVIDER_ID, project=gcp.project_id, region=gcp.region)
        # An override: the binding rewrites the map keys of provider arguments (cost-center -> cost_center).
        provider.add_override("default_labels", gcp.labels)
        # The prebuilt bindings pin one exact provider version; accept the range with this schema.
        self.add_override("terraform.required_providers.google.version", PROVIDER_VERSIONS)
        network = Network(self, self._NETWORK_ID, gcp=gcp)
        access = Access(self, self._ACCESS_ID, gcp=gcp, network=network)
        engine_metrics = EngineMetrics(self, self._METRICS_ID)
        registries = RegistryMirrors(self, self._REGISTRIES_ID, gcp=gcp)
        if gcp.vm_logs is not None:
            EngineLogs(self, self._VM_LOGS_ID, project=gcp.project_id, logs=gcp.vm_logs)
        image = DataGoogleComputeImage(
            self, self._IMAGE_ID, family=gcp.image_family, project=gcp.image_project
        )
        refs = FleetRefs(
            image=image.self_link,
            subnet_id=network.subnet_id,
            instance_tag=access.instance_tag,
            registries=registries.repositories,
            queue_metric=engine_metrics.by_name[QUEUE_SIZE],
        )
        groups = {
            fleet.name: GpuFleet(self, fleet.name, gcp=gcp, fleet=fleet, refs=refs) for fleet in gcp.fleets
        }
        routers = (
            None
            if gcp.routers is None
            else RouterGroup(
                self,
                self._ROUTERS_ID,
                gcp=gcp,
                router=gcp.routers,
                refs=RouterRefs(
                    network_id=network.network_id,
                    subnet_id=network.subnet_id,
                    gpu_instance_tag=access.instance_tag,
                    health_check_id=groups[gcp.routers.healed_by].health_check_id,
                ),
            )
        )
        lb = LoadBalancer(self, self._LB_ID, gcp=gcp, fleets=groups, access=access, routers=routers)
        monitoring = Monitoring(
            self,
            self._MONITORING_ID,
            gcp=gcp,
            backend_services=lb.backend_services,
            engine_metrics=engine_metrics,
        )
        TerraformOutput(self, "endpoints", value=lb.endpoints, description="Endpoint URL per model.")
        TerraformOutput(
            self,
            "fleets",
            description="Per fleet (<model>-<slot>): its instance groups, backend service and alerts.",
            value={
                fleet.name: {
                    "model": fleet.model,
                    "slot": fleet.slot,
                    "weight": fleet.weight,
                    "instance_groups": list(fleet.group_names),
                    "backend_service": lb.backend_services[fleet.name],
                    "alert_names": monitoring.alert_names[fleet.name],
                }
                for fleet in gcp.fleets
            },
        )
        if gcp.dns_zone is not None:
            DnsRecords(self, self._DNS_ID, project=gcp.project_id, zone=gcp.dns_zone, records=lb.dns_records)
        TerraformOutput(self, "url_map", value=lb.url_map_id)
        TerraformOutput(self, "address", value=lb.address)
        TerraformOutput(
            self,
            "dns_records",
            value=lb.dns_records,
            description="DNS records to create for access.tls.domain (the certificate waits for them).",
        )
        TerraformOutput(self, "registry_mirrors", value=registries.addresses)
        if gcp.routers is not None:
            TerraformOutput(
                self,
                "routers",
                description="The router group (routing.enabled): its managed instance group and region.",
                value={"instance_group": gcp.routers.name, "region": gcp.region},
            )
