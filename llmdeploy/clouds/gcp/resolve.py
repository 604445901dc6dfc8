"""GCP's resolution stage: the neutral plan as what the GCP stack creates, every value decided once.

The constructs (modules/gcp), `status` and the gates read these records; none of them decides a name,
a size or a split again.

Spot capacity above an on-demand base takes up to three regional managed instance groups, each with
one version: a fixed-size group of `spot.on_demand_base` on-demand VMs, an autoscaled group of spot
VMs, and (when 0 < `spot.on_demand_percent_above_base` < 100) an autoscaled group of on-demand VMs
whose bounds are that share of the range above the base, rounded up (`plan.cost.on_demand_count`,
the cost model's rule). GCP's autoscaler reads its signal from a group's own VMs (per-instance
metrics and load-balancer utilisation alike), so every autoscaled group keeps at least one VM: a
fleet whose minimum equals its on-demand base runs one spot VM more than that minimum, and one with
an on-demand share above its base runs at least one VM of each kind (there is no wake from zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmdeploy import metrics
from llmdeploy.boot import bundle, logs, registry
from llmdeploy.boot.router import ROUTER_PORT, CloudScope, SlotGroup, router_cloud_config
from llmdeploy.clouds.gcp import names
from llmdeploy.config.clouds import GcpCloud
from llmdeploy.config.model import Slot
from llmdeploy.config.registry_credentials import GcpRegistryCredential
from llmdeploy.plan import endpoints
from llmdeploy.plan.cost import on_demand_count
from llmdeploy.plan.model import DeploymentPlan, FleetPlan, HealthPlan, ModelPlan
from llmdeploy.plan.routing import RouterGroupPlan

#: Deep Learning VM images (the NVIDIA driver preinstalled in the `-nvidia-<version>` families).
IMAGE_PROJECT = "deeplearning-platform-release"
SPOT = "spot"
ON_DEMAND = "on-demand"
#: Where the load balancer's address goes in a model's endpoint (known only after apply).
ADDRESS_SLOT = "<address>"
#: The backend services' replica pick, by `traffic.algorithm`.
LOCALITY_POLICIES = {"least_outstanding_requests": "LEAST_REQUEST", "round_robin": "ROUND_ROBIN"}
#: A Cloud Armor SRC_IPS_V1 match takes at most ten ranges.
RANGES_PER_RULE = 10
_SECONDS_PER_MINUTE = 60
#: What each alert policy of a fleet watches (its display name ends with it).
ERROR_RATE_ALERT = "5xx rate"
LATENCY_ALERT = "p99 latency"
HEALTHY_ALERT = "healthy replicas"
#: The secrets a fleet's VMs fetch at boot, in this order: the model hub token and the API keys.
SECRET_KEYS = ("hf_token", "api_key", "next_api_key")
#: The router VMs' image: Debian 12, a current public family (Python 3.11, nginx from its archive);
#: the template takes the family's newest image when it is created, like the GPU templates.
ROUTER_IMAGE_FAMILY = "debian-12"
ROUTER_IMAGE_PROJECT = "debian-cloud"
#: Debian's image is 10 GB; vllm-router's wheel, nginx and logs fit in the rest.
ROUTER_DISK_GIB = 20
#: Autohealing waits this long for a new router VM: boot, packages, vllm-router from PyPI.
ROUTER_BOOT_GRACE_S = 300
#: The routers' RATE capacity in every backend service, requests per second per VM. Preferred
#: backends are "filled up to their capacity limits first" (compute API Backend.preference): traffic
#: past this capacity spills to the GPU groups directly, bypassing routing, so it is set far above
#: what two vCPUs of nginx and vllm-router carry (thousands of requests per second).
ROUTER_MAX_RATE_PER_INSTANCE = 10_000.0
#: What the router VMs' agent calls, and nothing else (a custom role: no predefined role is this narrow;
#: roles/compute.viewer reads the whole project and roles/compute.instanceAdmin.v1 can delete VMs):
#: - regionInstanceGroupManagers.get and .listManagedInstances: compute.instanceGroupManagers.get;
#: - regionInstanceGroupManagers.resize (the hold gate's scale-up): compute.instanceGroupManagers.update;
#: - backendServices.getHealth: compute.backendServices.get (its REST reference, "IAM Permissions");
#: - the resize operation's result: compute.regionOperations.get.
#: The grant is project-wide: managed instance groups have no IAM policy of their own (the provider has
#: no `*_instance_group_manager_iam_*` resource) and are not among the resource types IAM Conditions
#: can name (cloud.google.com/iam/docs/conditions-resource-attributes).
ROUTER_PERMISSIONS = (
    "compute.backendServices.get",
    "compute.instanceGroupManagers.get",
    "compute.instanceGroupManagers.update",
    "compute.regionOperations.get",
)


@dataclass(frozen=True)
class GcpGroup:
    """One managed instance group of a fleet: its name, VM kind and size bounds.

    `autoscaled` groups get an autoscaler with `minimum`..`maximum` and start at `desired`; the
    base group is fixed at `desired`.
    """

    name: str
    role: str
    spot: bool
    autoscaled: bool
    minimum: int
    desired: int
    maximum: int

    @property
    def kind(self) -> str:
        """The group's version name and the kind of template it uses (`spot` or `on-demand`)."""
        return SPOT if self.spot else ON_DEMAND


@dataclass(frozen=True)
class GcpTemplate:
    """One instance template of a fleet (spot or on-demand)."""

    kind: str
    spot: bool
    name_prefix: str
    description: str
    machine_type: str
    disk_gib: int
    #: The boot bundle as GCE metadata `user-data` holds it (text; not yet escaped for Terraform).
    user_data: str
    labels: dict[str, str]


@dataclass(frozen=True)
class GcpScaling:
    """The autoscalers' signal: the relayed queue size per VM, or the backends' request rate."""

    #: The custom metric's type and its autoscaler filter (`=` selectors joined by AND); None: the
    #: load balancer's utilisation against the backends' RATE capacity.
    metric: str | None
    metric_filter: str | None
    target: float
    #: The autoscaler's initialization period: the model load.
    cooldown_s: int
    scale_in_cooldown_s: int


@dataclass(frozen=True)
class GcpBackend:
    """The fleet's backend service."""

    description: str
    timeout_s: int
    draining_timeout_s: int
    locality_policy: str
    balancing_mode: str
    #: Requests per second per VM (the RATE capacity), None with UTILIZATION.
    max_rate_per_instance: float | None
    #: DEFAULT next to a router group's PREFERRED backend; None without routers (the API's default).
    preference: str | None = None


@dataclass(frozen=True)
class GcpFleet:
    """One model's replicas in one release slot on GCP."""

    name: str
    model: str
    slot: Slot
    weight: int
    #: The backend service's and health check's name.
    service: str
    account_id: str
    account_display_name: str
    #: (key in SECRET_KEYS, Secret Manager secret) of every secret the VMs fetch.
    secrets: tuple[tuple[str, str], ...]
    health: HealthPlan
    #: The machine types ranked by preference when there are several (the groups' instance
    #: flexibility policy); empty with one (the templates' machine type).
    flexible_types: tuple[str, ...]
    groups: tuple[GcpGroup, ...]
    templates: tuple[GcpTemplate, ...]
    scaling: GcpScaling
    backend: GcpBackend
    #: `<stack prefix> <fleet>`: what its alerts' display names and documentation start with.
    alert_prefix: str
    #: The display name of each of its alert policies, by what it watches (ERROR_RATE_ALERT,
    #: LATENCY_ALERT, and HEALTHY_ALERT when it serves traffic and may not shrink below the threshold).
    alerts: dict[str, str]
    #: The Cloud Monitoring filter of each relayed engine metric (metrics.METRIC_NAMES), one series per VM,
    #: and of each router metric (metrics.ROUTER_METRIC_NAMES), one series per router VM.
    engine_filters: dict[str, str]

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(group.name for group in self.groups)


@dataclass(frozen=True)
class GcpRoute:
    """One model's route on the load balancer and the weighted split over its serving slots."""

    model: str
    #: `<model>.<domain>` with host routing, None with path routing.
    host: str | None
    path_prefix: str
    #: (fleet name, weight) of every slot with a share above 0 (the provider drops a zero weight).
    split: tuple[tuple[str, int], ...]
    #: The endpoint URL with ADDRESS_SLOT where the load balancer's address goes.
    endpoint_template: str

    def endpoint(self, address: str) -> str:
        """The URL clients call, given the load balancer's address."""
        return self.endpoint_template.replace(ADDRESS_SLOT, address)


@dataclass(frozen=True)
class GcpRegistry:
    """One Artifact Registry remote repository caching an upstream image registry."""

    upstream: str
    repository_id: str
    #: Docker Hub is a preset upstream (DOCKER_HUB); any other registry a custom URL.
    public_repository: str | None
    custom_uri: str | None
    #: The upstream sign-in (clouds.gcp.registry_credentials), None: anonymous pulls.
    credential: GcpRegistryCredential | None = None


@dataclass(frozen=True)
class GcpAlarms:
    """The alert thresholds every fleet's policies share."""

    error_rate_percent: float
    p99_latency_s: float
    min_healthy_replicas: int
    duration_s: int


@dataclass(frozen=True)
class GcpRouterGroup:
    """The router group (`routing.enabled`): a regional MIG of CPU VMs, a PREFERRED backend of every
    fleet's backend service, each VM running every model's hold gate and slot routers."""

    #: The managed group's name (and its VMs' base name).
    name: str
    template_prefix: str
    description: str
    machine_type: str
    count: int
    zones: tuple[str, ...]
    image_family: str
    image_project: str
    disk_gib: int
    #: The network tag of every router VM (the firewall rules' target and source).
    instance_tag: str
    #: The port the load balancer sends to (the routers' nginx), under the backend services' port name.
    port: int
    account_id: str
    account_display_name: str
    role_id: str
    role_title: str
    permissions: tuple[str, ...]
    #: The fleet whose engine health check also heals the routers (their nginx answers it, also at zero).
    healed_by: str
    boot_grace_s: int
    max_rate_per_instance: float
    #: The router bundle as GCE metadata `user-data` holds it (text; not yet escaped for Terraform).
    user_data: str
    labels: dict[str, str]


@dataclass(frozen=True)
class GcpVmLogs:
    """The log bucket the GPU VMs' Ops Agent log (llmdeploy.boot.logs) is routed to, kept
    `retention_days`, and kept out of the project's _Default bucket (stored once, billed once)."""

    bucket_id: str
    location: str
    retention_days: int
    #: Cloud Logging query matching exactly that log: the sink's filter and the _Default exclusion's.
    filter: str


@dataclass(frozen=True)
class GcpPlan:
    """Everything one environment deploys on GCP."""

    cloud: Literal["gcp"]
    stack: str
    #: `<project>-<env>`: the name of environment-wide resources.
    name: str
    project_id: str
    region: str
    zones: tuple[str, ...]
    subnet_cidr: str
    image_family: str
    image_project: str
    labels: dict[str, str]
    #: The network tag of every GPU instance (the firewall rules' target).
    instance_tag: str
    engine_ports: tuple[int, ...]
    #: The admitted client CIDRs, in chunks of RANGES_PER_RULE (one Cloud Armor rule each).
    client_ranges: tuple[tuple[str, ...], ...]
    registries: tuple[GcpRegistry, ...]
    #: `<region>-docker.pkg.dev/<project>`: where the VMs pull the mirrors from.
    registry_host: str
    routing: str
    #: The TLS host names (each needs an A record to the address); empty without a domain.
    hosts: tuple[str, ...]
    #: The managed certificate's name, None without a domain.
    certificate: str | None
    routes: tuple[GcpRoute, ...]
    emails: tuple[str, ...]
    dashboard: bool
    alarms: GcpAlarms
    fleets: tuple[GcpFleet, ...]
    #: None when routing is off.
    routers: GcpRouterGroup | None = None
    #: The Cloud DNS managed zone the TLS hosts' records are created in; None: outputs only.
    dns_zone: str | None = None
    #: None when `monitoring.logs.ship` is off: the VMs keep their logs in the journal only.
    vm_logs: GcpVmLogs | None = None

    def fleet(self, name: str) -> GcpFleet:
        """The fleet `<model>-<slot>`."""
        return next(fleet for fleet in self.fleets if fleet.name == name)


def resolve(plan: DeploymentPlan) -> GcpPlan:
    """The GCP stack of `plan`, every value decided.

    Raises:
        OperationError: a fleet's boot bundle exceeds GCE's metadata limit.
    """
    cloud = plan.cloud("gcp")
    settings = plan.settings("gcp")
    prefix = endpoints.stack_prefix(plan)
    fleets = plan.fleets_on("gcp")
    models = [model for model in plan.models if model.fleets_on("gcp")]
    clients = [str(cidr) for cidr in plan.access.allowed_cidrs]
    alarms = plan.monitoring.alarms
    hosts = endpoints.hosts(plan, models)
    routers = plan.router_group("gcp")
    resolved = tuple(_fleet(plan, settings, fleet) for fleet in fleets)
    credentials = {str(upstream): found for upstream, found in settings.registry_credentials.items()}
    return GcpPlan(
        cloud="gcp",
        stack=cloud.stack,
        name=prefix,
        project_id=settings.project_id,
        region=settings.region,
        zones=tuple(settings.zones),
        subnet_cidr=str(settings.subnet_cidr),
        image_family=settings.image_family,
        image_project=IMAGE_PROJECT,
        labels=names.labels(plan.tags),
        instance_tag=f"{prefix}-gpu",
        engine_ports=tuple(sorted({fleet.health.port for fleet in fleets})),
        client_ranges=tuple(
            tuple(clients[start : start + RANGES_PER_RULE])
            for start in range(0, len(clients), RANGES_PER_RULE)
        ),
        registries=tuple(
            _registry(prefix, upstream, credentials.get(upstream)) for upstream in names.REGISTRY_UPSTREAMS
        ),
        registry_host=registry.registry_host(plan, "gcp"),
        routing=plan.access.routing,
        hosts=hosts,
        certificate=names.certificate(prefix, hosts) if hosts else None,
        routes=tuple(_route(plan, model) for model in models),
        emails=tuple(plan.monitoring.notify.emails),
        dashboard=plan.monitoring.dashboard,
        alarms=GcpAlarms(
            error_rate_percent=alarms.error_rate_percent,
            p99_latency_s=alarms.p99_latency_s,
            min_healthy_replicas=alarms.min_healthy_replicas,
            duration_s=alarms.evaluation_minutes * _SECONDS_PER_MINUTE,
        ),
        fleets=resolved,
        routers=None if routers is None else _routers(plan, settings, routers, resolved),
        dns_zone=settings.dns_zone,
        vm_logs=_vm_logs(plan, settings),
    )


def _vm_logs(plan: DeploymentPlan, settings: GcpCloud) -> GcpVmLogs | None:
    if not logs.ships(plan):
        return None
    log_id = logs.gcp_log_id(plan)
    return GcpVmLogs(
        bucket_id=log_id,
        location=settings.region,
        retention_days=plan.monitoring.logs.retention_days,
        filter=f'logName="projects/{settings.project_id}/logs/{log_id}"',
    )


def _routers(
    plan: DeploymentPlan, settings: GcpCloud, group: RouterGroupPlan, fleets: tuple[GcpFleet, ...]
) -> GcpRouterGroup:
    prefix = endpoints.stack_prefix(plan)
    # Per model and slot: the group the hook resizes (the first, autoscaled one), the fleet's other
    # MIGs (on-demand base and share: their VMs serve too), and the backend service whose health
    # check the membership reads.
    slots: dict[str, dict[Slot, SlotGroup]] = {}
    for fleet in fleets:
        first, *more = (mig.name for mig in fleet.groups)
        slots.setdefault(fleet.model, {})[fleet.slot] = SlotGroup(
            group=first, backend_service=fleet.service, more_groups=tuple(more)
        )
    cloud_config = router_cloud_config(plan, group, CloudScope(project=settings.project_id), slots)
    return GcpRouterGroup(
        name=names.router_group_name(plan.project, plan.env, region=settings.region, zones=settings.zones),
        template_prefix=names.template_prefix(plan.project, plan.env, names.ROUTER, "cpu"),
        description=f"llmdeploy {prefix} routers: {', '.join(slots)}",
        machine_type=group.instance_type,
        count=group.count,
        zones=tuple(settings.zones),
        image_family=ROUTER_IMAGE_FAMILY,
        image_project=ROUTER_IMAGE_PROJECT,
        disk_gib=ROUTER_DISK_GIB,
        instance_tag=f"{prefix}-{names.ROUTER}",
        port=ROUTER_PORT,
        account_id=names.router_account_id(plan.project, plan.env),
        account_display_name=f"llmdeploy {prefix} routers",
        role_id=names.router_role_id(plan.project, plan.env),
        role_title=f"llmdeploy {prefix} routers: read and resize the GPU groups",
        permissions=ROUTER_PERMISSIONS,
        healed_by=fleets[0].name,
        boot_grace_s=ROUTER_BOOT_GRACE_S,
        max_rate_per_instance=ROUTER_MAX_RATE_PER_INSTANCE,
        user_data=bundle.encode("gcp", cloud_config),
        labels=names.labels({**plan.tags, "llmdeploy-role": names.ROUTER}),
    )


def _route(plan: DeploymentPlan, model: ModelPlan) -> GcpRoute:
    return GcpRoute(
        model=model.name,
        host=endpoints.model_host(plan, model.name),
        path_prefix=model.route_prefix,
        split=tuple(
            (fleet.name, fleet.traffic.weight) for fleet in model.fleets_on("gcp") if fleet.traffic.weight > 0
        ),
        endpoint_template=endpoints.endpoint(plan, model.name, ADDRESS_SLOT),
    )


def _registry(prefix: str, upstream: str, credential: GcpRegistryCredential | None) -> GcpRegistry:
    repository = names.registry_mirror(prefix, upstream)
    hub = upstream == names.DOCKER_HUB
    return GcpRegistry(
        upstream=upstream,
        repository_id=repository,
        public_repository="DOCKER_HUB" if hub else None,
        custom_uri=None if hub else f"https://{upstream}",
        credential=credential,
    )


def _fleet(plan: DeploymentPlan, settings: GcpCloud, fleet: FleetPlan) -> GcpFleet:
    access, alarms = plan.access, plan.monitoring.alarms
    secrets = dict(
        zip(
            SECRET_KEYS,
            (
                fleet.hf_token_secret,
                access.api_key.secret if access.api_key else None,
                access.next_api_key.secret if access.next_api_key else None,
            ),
            strict=True,
        )
    )
    groups = group_plan(plan, settings, fleet)
    kinds = {group.spot for group in groups}
    rate = fleet.autoscaling.target_requests_per_replica
    prefix = endpoints.stack_prefix(plan)
    routers = plan.router_group("gcp")
    # Only a slot that serves traffic and may not shrink below the threshold must keep it.
    healthy = fleet.traffic.weight > 0 and fleet.min_size >= alarms.min_healthy_replicas > 0
    watched = (ERROR_RATE_ALERT, LATENCY_ALERT, *((HEALTHY_ALERT,) if healthy else ()))
    return GcpFleet(
        name=fleet.name,
        model=fleet.model,
        slot=fleet.slot,
        weight=fleet.traffic.weight,
        service=names.fleet_name(plan.project, plan.env, fleet.name),
        account_id=names.service_account_id(plan.project, plan.env, fleet.model, fleet.slot),
        account_display_name=f"llmdeploy {prefix} {fleet.name} replicas",
        secrets=tuple((key, secret) for key, secret in secrets.items() if secret is not None),
        health=fleet.health,
        flexible_types=tuple(entry.name for entry in fleet.instance_types)
        if len(fleet.instance_types) > 1
        else (),
        groups=groups,
        templates=tuple(_template(plan, fleet, spot=spot) for spot in (True, False) if spot in kinds),
        scaling=_scaling(plan, fleet),
        backend=GcpBackend(
            description=f"llmdeploy {fleet.name}: {fleet.model_id}",
            # Behind routers a request may first be held (a fleet at zero) for up to the hold budget.
            timeout_s=fleet.traffic.request_timeout_s + (routers.hold_budget_s if routers else 0),
            # A leaving VM (scale-in, update, autohealing) finishes its longest request: GCP's draining
            # is the only notice of scale-in its VMs get. Both values are at most 3600, the API's limit.
            draining_timeout_s=max(fleet.traffic.deregistration_delay_s, fleet.traffic.request_timeout_s),
            locality_policy=LOCALITY_POLICIES[fleet.traffic.algorithm],
            # Request-rate autoscaling reads utilisation against this RATE capacity; queue-size
            # autoscaling needs no capacity, and the locality policy alone picks replicas.
            balancing_mode="RATE" if rate else "UTILIZATION",
            max_rate_per_instance=rate / _SECONDS_PER_MINUTE if rate else None,
            preference=None if routers is None else "DEFAULT",
        ),
        alert_prefix=f"{prefix} {fleet.name}",
        alerts={what: f"{prefix} {fleet.name} {what}" for what in watched},
        engine_filters={
            metric: engine_filter(plan, fleet, metric)
            for metric in (*metrics.METRIC_NAMES, *metrics.ROUTER_METRIC_NAMES)
        },
    )


def group_plan(plan: DeploymentPlan, settings: GcpCloud, fleet: FleetPlan) -> tuple[GcpGroup, ...]:
    """The fleet's groups: spot (autoscaled), the on-demand share above the base (autoscaled), the base.

    Above the base the fleet runs `min - base`..`max - base` VMs; a group left with no VM to run at
    its maximum is not created.
    """
    base = fleet.spot.on_demand_base
    sizes = (fleet.min_size, fleet.desired_size, fleet.max_size)
    # A size below the base leaves nothing above it (each autoscaled group then keeps its one VM).
    on_demand = tuple(on_demand_count(max(size, base), fleet.spot) - base for size in sizes)
    spot = tuple(max(size - base, 0) - part for size, part in zip(sizes, on_demand, strict=True))

    def name(role: str) -> str:
        return names.group_name(
            plan.project, plan.env, fleet.name, role, region=settings.region, zones=settings.zones
        )

    groups = []
    if spot[2] > 0:
        groups.append(GcpGroup(name(names.AUTOSCALED), names.AUTOSCALED, True, True, *_bounds(spot)))
    if on_demand[2] > 0:
        # All on-demand above the base: the group takes the spot group's place (nothing is spot).
        role = names.ON_DEMAND_SHARE if groups else names.AUTOSCALED
        groups.append(GcpGroup(name(role), role, False, True, *_bounds(on_demand)))
    if base > 0:
        groups.append(GcpGroup(name(names.BASE), names.BASE, False, False, base, base, base))
    return tuple(groups)


def _bounds(sizes: tuple[int, ...]) -> tuple[int, int, int]:
    """An autoscaled group's min, desired and max: at least one VM to read the signal from."""
    return max(sizes[0], 1), max(sizes[1], 1), sizes[2]


def _template(plan: DeploymentPlan, fleet: FleetPlan, *, spot: bool) -> GcpTemplate:
    kind = SPOT if spot else ON_DEMAND
    return GcpTemplate(
        kind=kind,
        spot=spot,
        name_prefix=names.template_prefix(plan.project, plan.env, fleet.name, kind),
        description=f"llmdeploy {fleet.name} ({kind}): {fleet.model_id}@{fleet.revision} "
        f"on {fleet.engine_image}",
        machine_type=fleet.instance_types[0].name,
        disk_gib=fleet.disk_gib,
        user_data=bundle.user_data(plan, fleet),
        labels=names.labels({**plan.tags, "llmdeploy-model": fleet.model, "llmdeploy-slot": fleet.slot}),
    )


def _scaling(plan: DeploymentPlan, fleet: FleetPlan) -> GcpScaling:
    target, grace = fleet.autoscaling, fleet.health.readiness_grace_s
    queue = target.target_queue_size
    return GcpScaling(
        metric=None if queue is None else f"{metrics.GCP_METRIC_PREFIX}{metrics.QUEUE_SIZE}",
        # The autoscaler accepts only `=` selectors joined by AND.
        metric_filter=None
        if queue is None
        else engine_filter(plan, fleet, metrics.QUEUE_SIZE, joiner=" AND "),
        # The backend's RATE capacity is the target request rate, so full utilisation is the target.
        target=1.0 if queue is None else queue,
        cooldown_s=grace,
        scale_in_cooldown_s=target.scale_in_cooldown_s,
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
