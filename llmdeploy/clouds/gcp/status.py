"""Live status of an environment's GCP fleets, read with google-cloud-compute (REST transport).

Per fleet: the target size of its instance groups (`regionInstanceGroupManagers.get`), their VMs
(`listManagedInstances`), each running VM's provisioning model (`instances.get`:
`scheduling.provisioningModel` SPOT or STANDARD), the load balancer's view of their health
(`backendServices.getHealth`), and the slot's share of the model's traffic (the weighted backend
services of `urlMaps.get`). The endpoint comes from the global address (`globalAddresses.get`).

With routing enabled, the router group the same way (its MIG, its VMs' zones, and its health in the
first fleet's backend service, where it is the PREFERRED backend), and each model's router metrics
from Cloud Monitoring (`timeSeries.list` of the custom metrics `llmdeploy.routing.rest_metrics`
writes: one series per router VM, as written, summed up in `llmdeploy.status.routers`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.auth.exceptions import GoogleAuthError
from google.cloud import compute_v1, monitoring_v3

from llmdeploy.clouds.gcp.resolve import GcpFleet, GcpPlan, GcpRouterGroup, resolve
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.plan.routes import SLOT_HEADER
from llmdeploy.routing.publish import GCP_PREFIX
from llmdeploy.status.model import RouterGroupStatus, RouterModelStatus, SlotStatus
from llmdeploy.status.routers import READ, WINDOW_MINUTES, RouterPoint, summarize

#: Instance states of a VM that exists and is powered on (booting included).
_RUNNING = frozenset({"PROVISIONING", "STAGING", "RUNNING"})
_SPOT = "SPOT"
_HEALTHY = "HEALTHY"


@dataclass(frozen=True)
class GcpClients:
    """The Compute Engine clients the status reader needs."""

    groups: compute_v1.RegionInstanceGroupManagersClient
    instances: compute_v1.InstancesClient
    backend_services: compute_v1.BackendServicesClient
    url_maps: compute_v1.UrlMapsClient
    addresses: compute_v1.GlobalAddressesClient

    @classmethod
    def connect(cls, **options: Any) -> GcpClients:
        """REST clients; `options` (credentials, client_options) go to every client unchanged.

        Without options they use Application Default Credentials and the public endpoint.
        """
        settings = {"transport": "rest", **options}
        return cls(
            groups=compute_v1.RegionInstanceGroupManagersClient(**settings),
            instances=compute_v1.InstancesClient(**settings),
            backend_services=compute_v1.BackendServicesClient(**settings),
            url_maps=compute_v1.UrlMapsClient(**settings),
            addresses=compute_v1.GlobalAddressesClient(**settings),
        )


def read_status(plan: DeploymentPlan, clients: GcpClients) -> list[SlotStatus]:
    """The status of every GCP fleet of `plan`, in plan order, found by the resolved names."""
    gcp = resolve(plan)
    reader = _Reader(gcp, plan.env, clients)
    return [reader.fleet(fleet) for fleet in gcp.fleets]


def read_routers(
    plan: DeploymentPlan, clients: GcpClients, metrics: monitoring_v3.MetricServiceClient, end: datetime
) -> RouterGroupStatus | None:
    """The router group and each model's router metrics up to `end`; None when routing is off."""
    gcp = resolve(plan)
    if gcp.routers is None:
        return None
    project = GcpProject(clients, gcp.stack, plan.env, gcp.project_id, gcp.region)
    points: dict[str, list[RouterPoint]] = {model.name: [] for model in plan.models if model.fleets_on("gcp")}
    start = end - timedelta(minutes=WINDOW_MINUTES)
    for name in READ:
        request = router_series(gcp.project_id, plan.project, plan.env, name, start, end)
        found = project.call(
            "Cloud Monitoring",
            f"{GCP_PREFIX}{name} (timeSeries.list)",
            _all_series,
            client=metrics,
            request=request,
        )
        for series in found:
            points.get(series.metric.labels.get("model", ""), []).extend(_points(name, series))
    models = tuple(summarize(model, found) for model, found in points.items())
    return _router_group(project, gcp.routers, gcp.fleets[0].service, models)


def router_series(
    project_id: str, project: str, env: str, name: str, start: datetime, end: datetime
) -> monitoring_v3.ListTimeSeriesRequest:
    """Every router VM's series of metric `name` of the environment, every point of the window."""
    labels = (
        f"metric.labels.project = {json.dumps(project)} AND metric.labels.environment = {json.dumps(env)}"
    )
    return monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project_id}",
        filter=f'metric.type = "{GCP_PREFIX}{name}" AND {labels}',
        interval=monitoring_v3.TimeInterval(start_time=start, end_time=end),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )


def _all_series(
    client: monitoring_v3.MetricServiceClient, request: monitoring_v3.ListTimeSeriesRequest
) -> list[monitoring_v3.TimeSeries]:
    # Every page here, so that a failing later page fails inside the error handling.
    return list(client.list_time_series(request=request))


def _points(name: str, series: monitoring_v3.TimeSeries) -> list[RouterPoint]:
    """A router VM's points, each in its minute (the routers publish once a minute, not in step)."""
    return [
        RouterPoint(
            name, point.interval.end_time.replace(second=0, microsecond=0), 1, point.value.double_value
        )
        for point in series.points
    ]


def _router_group(
    gcp: GcpProject, routers: GcpRouterGroup, service: str, models: tuple[RouterModelStatus, ...]
) -> RouterGroupStatus:
    group = gcp.call(
        "instance group",
        routers.name,
        _group_or_none,
        groups=gcp.clients.groups,
        project=gcp.project,
        region=gcp.region,
        manager=routers.name,
    )
    if group is None:
        return RouterGroupStatus("gcp", False, 0, 0, 0, {}, None, WINDOW_MINUTES, models)
    managed = gcp.call(
        "instance group",
        routers.name,
        gcp.clients.groups.list_managed_instances,
        project=gcp.project,
        region=gcp.region,
        instance_group_manager=routers.name,
    )
    zones = [_zone_and_name(entry.instance)[0] for entry in managed if entry.instance_status in _RUNNING]
    return RouterGroupStatus(
        cloud="gcp",
        exists=True,
        desired=group.target_size,
        running=len(zones),
        healthy=gcp.healthy(service, group.instance_group),
        zones={zone: zones.count(zone) for zone in sorted(set(zones))},
        endpoint=None,
        window_minutes=WINDOW_MINUTES,
        models=models,
    )


def _group_or_none(
    groups: compute_v1.RegionInstanceGroupManagersClient, project: str, region: str, manager: str
) -> compute_v1.InstanceGroupManager | None:
    """The regional managed group, or None when it does not exist (applied without routing)."""
    try:
        return groups.get(project=project, region=region, instance_group_manager=manager)
    except google_errors.NotFound:
        return None


@dataclass(frozen=True)
class GcpProject:
    """The GCP project of one stack, read through `clients`: every failed call becomes one readable error.

    Shared by `llmdeploy status` and the promotion gates, so both read instance groups and backend
    health the same way and say the same thing when they cannot.
    """

    clients: GcpClients
    stack: str
    env: str
    project: str
    region: str

    def instance_group(self, name: str) -> compute_v1.InstanceGroupManager:
        """A regional managed instance group (`regionInstanceGroupManagers.get`)."""
        group: compute_v1.InstanceGroupManager = self.call(
            "instance group",
            name,
            self.clients.groups.get,
            project=self.project,
            region=self.region,
            instance_group_manager=name,
        )
        return group

    def healthy(self, backend_service: str, group_url: str) -> int:
        """Backends of the group at `group_url` that `backend_service` reports HEALTHY."""
        health = self.call(
            "backend service",
            backend_service,
            self.clients.backend_services.get_health,
            project=self.project,
            backend_service=backend_service,
            resource_group_reference_resource=compute_v1.ResourceGroupReference(group=group_url),
        )
        return sum(status.health_state == _HEALTHY for status in health.health_status)

    def call(self, kind: str, name: str, method: Any, **request: Any) -> Any:
        """`method(**request)`; its errors name `kind` and `name` and say what to do next.

        Raises:
            OperationError: the call failed (missing resource, refused access, no connection).
        """
        try:
            return method(**request)
        except google_errors.NotFound as error:
            raise OperationError(
                f"{self.stack}: the {kind} {name} does not exist in GCP project {self.project} "
                f"({error.message}). Is the stack applied? Run `llmdeploy apply {self.env} --cloud gcp`."
            ) from error
        except google_errors.GoogleAPICallError as error:
            raise OperationError(
                f"{self.stack}: reading the {kind} {name} in GCP project {self.project} failed: "
                f"{error.code} {error.message}. Check the credentials (gcloud auth application-default "
                "login) and their access to the project, then retry."
            ) from error
        except (google_errors.GoogleAPIError, GoogleAuthError, OSError) as error:
            # No answer at all (no connection, no token): the REST transports raise these unwrapped
            # (requests' errors are OSErrors).
            raise OperationError(
                f"{self.stack}: reading the {kind} {name} in GCP project {self.project} failed: {error}. "
                "Check the network and the credentials (gcloud auth application-default login), then retry."
            ) from error


class _Reader:
    def __init__(self, plan: GcpPlan, env: str, clients: GcpClients) -> None:
        self.endpoints = {route.model: route for route in plan.routes}
        self.project = plan.project_id
        self.gcp = GcpProject(clients, plan.stack, env, self.project, plan.region)
        prefix = plan.name
        url_map = self.gcp.call("URL map", prefix, clients.url_maps.get, project=self.project, url_map=prefix)
        self.weights = _weighted_services(url_map)
        found = self.gcp.call("address", prefix, clients.addresses.get, project=self.project, address=prefix)
        self.address: str = found.address

    def fleet(self, fleet: GcpFleet) -> SlotStatus:
        desired = running = healthy = spot = 0
        for group_name in fleet.group_names:
            group = self.gcp.instance_group(group_name)
            desired += group.target_size
            urls = [
                managed.instance
                for managed in self.gcp.call(
                    "instance group",
                    group_name,
                    self.gcp.clients.groups.list_managed_instances,
                    project=self.project,
                    region=self.gcp.region,
                    instance_group_manager=group_name,
                )
                if managed.instance_status in _RUNNING
            ]
            running += len(urls)
            spot += sum(self._is_spot(url) for url in urls)
            healthy += self.gcp.healthy(fleet.service, group.instance_group)
        return SlotStatus(
            model=fleet.model,
            cloud="gcp",
            slot=fleet.slot,
            desired=desired,
            running=running,
            healthy=healthy,
            spot=spot,
            on_demand=running - spot,
            weight=_percent(self.weights, fleet.service),
            endpoint=self.endpoints[fleet.model].endpoint(self.address),
        )

    def _is_spot(self, url: str) -> bool:
        zone, name = _zone_and_name(url)
        instance = self.gcp.call(
            "instance", name, self.gcp.clients.instances.get, project=self.project, zone=zone, instance=name
        )
        return bool(instance.scheduling.provisioning_model == _SPOT)


def _weighted_services(url_map: compute_v1.UrlMap) -> list[dict[str, int]]:
    """Every weighted split of the URL map, as backend service name to weight."""
    actions = [url_map.default_route_action]
    for matcher in url_map.path_matchers:
        actions.append(matcher.default_route_action)
        actions += [rule.route_action for rule in matcher.path_rules]
        actions += [rule.route_action for rule in matcher.route_rules if not _pins_a_slot(rule)]
    return [
        {_last(entry.backend_service): entry.weight for entry in action.weighted_backend_services}
        for action in actions
        # A route that aborts every request (the 404 for unknown routes) splits nothing.
        if action.weighted_backend_services and action.fault_injection_policy.abort.percentage < 100
    ]


def _pins_a_slot(rule: compute_v1.HttpRouteRule) -> bool:
    """A slot's own rule (modules/gcp/load_balancer.py): it sends only requests naming the slot."""
    return any(
        header.header_name == SLOT_HEADER for match in rule.match_rules for header in match.header_matches
    )


def _percent(splits: Iterable[dict[str, int]], service: str) -> int:
    split = next((split for split in splits if service in split), None)
    total = sum(split.values()) if split else 0
    return round(100 * split[service] / total) if split and total else 0


def _zone_and_name(url: str) -> tuple[str, str]:
    parts: Sequence[str] = url.split("/")
    return parts[parts.index("zones") + 1], parts[-1]


def _last(url: str) -> str:
    return url.rsplit("/", 1)[-1]
