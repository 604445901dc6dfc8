"""Azure's resolution stage: the neutral plan turned into every value the Azure stack creates.

The constructs in modules/azure map these records onto resources field by field; `status` and the
gates find the deployed resources by the same names. Only what Azure assigns at apply time (resource
ids, the origins' public addresses, Front Door's host name and profile GUID) is left to the stack.
Azure's limits and why each value is what it is are cited next to each rule.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from llmdeploy import metrics
from llmdeploy.boot import logs, user_data
from llmdeploy.boot.bundle import encode
from llmdeploy.boot.context import PROXY_IMAGE
from llmdeploy.boot.router import ROUTER_PORT, CloudScope, SlotGroup, router_cloud_config
from llmdeploy.clouds.azure import names
from llmdeploy.config.clouds import SUBNET_NEWBITS, AzureCloud
from llmdeploy.config.model import Slot
from llmdeploy.instance import termination_heartbeat_s
from llmdeploy.plan import endpoints
from llmdeploy.plan.model import DeploymentPlan, FleetPlan, ModelPlan
from llmdeploy.plan.routing import RouterGroupPlan

#: Where the Front Door endpoint's host name (Azure assigns it) goes in a resolved endpoint URL.
FRONT_DOOR_HOST = "{front_door_host}"
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
PULL_ROLE = "AcrPull"
FRONT_DOOR_NAMESPACE = "Microsoft.Cdn/profiles"
#: Rule-based scaling needs a second threshold: scale in below this fraction of the target.
SCALE_IN_FRACTION = 0.5
#: Azure's limits: repair grace 10-90 minutes; termination notice 5-15 minutes.
_REPAIR_MINUTES = (10, 90)
_NOTICE_MINUTES = (5, 15)
HTTP_PORT = 80
#: Front Door's limits: origin weights 1-1000, response timeout 16-240 s.
WEIGHT_SCALE = 10
MIN_WEIGHT = 1
MAX_RESPONSE_TIMEOUT_S = 240
#: A load balancing rule's idle timeout is 4-100 minutes.
_IDLE_MINUTES = (4, 100)
#: Window sizes a metric alert accepts, in minutes.
WINDOWS_MINUTES = (1, 5, 15, 30, 60)
#: Below this average share of successful probes the origin is down, not one edge's hiccup.
ORIGIN_DOWN_PERCENT = 50
_MS_PER_S = 1000
#: Construct IDs of the replicas' Key Vault secret roles, by secret kind (a contract: see GpuFleet).
TOKEN_ACCESS_ID = "ReadsToken"
API_KEY_ACCESS_ID = "ReadsApiKey"
NEXT_API_KEY_ACCESS_ID = "ReadsNextApiKey"
#: The router VMs' image: Ubuntu 24.04 LTS (Canonical's Gen2 `server` SKU, the Azure CLI's
#: `Ubuntu2404` alias); CPU only, so no driver image.
ROUTER_IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
#: The routers' Application Health extension is binary (1.0): a 200 from the router's nginx is
#: healthy. A router boots in seconds, so the rich states' Initializing (2.0) buys nothing.
ROUTER_HEALTH_EXTENSION_VERSION = "1.0"
#: Front Door sends to the lowest priority value among the origins its probes find healthy
#: (priority 1-5, azurerm cdn_frontdoor_origin_resource.go): the routers first, the fleets' own load
#: balancers as the direct path when every router fails its probes.
ROUTER_PRIORITY = 1
DIRECT_PRIORITY = 2
#: Front Door's largest origin weight (1-1000): the routers' origin is alone at its priority.
ROUTER_WEIGHT = 1000
#: Automatic repairs wait at least 10 minutes (azurerm: `grace_period` PT10M-PT90M).
ROUTER_REPAIR_GRACE = "PT10M"
#: What the routers' agent does on the fleets' scale sets (assigned on each fleet scale set only):
#: read the set and its capacity, write the capacity (hold at zero's scale-up: a PATCH of
#: `sku.capacity` is `virtualMachineScaleSets/write`), list its VMs with their instance view
#: (application health) and NICs. Action names from Azure's "Azure permissions for Compute".
#: `write` cannot be narrowed to the capacity: Azure RBAC has no per-property actions.
SCALER_ACTIONS = (
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.Compute/virtualMachineScaleSets/write",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read",
    "Microsoft.Compute/virtualMachineScaleSets/networkInterfaces/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces/read",
)
#: The fleets are Flexible scale sets, whose VMs and NICs are ordinary resources of the resource
#: group, not children of the set ("Orchestration modes API comparison"): reading them needs the
#: plain VM and NIC reads, on the resource group (read only).
READER_ACTIONS = (
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/instanceView/read",
    "Microsoft.Network/networkInterfaces/read",
)


@dataclass(frozen=True)
class AzureSecretRead:
    """A Key Vault secret the replicas read (a role on that secret), under its construct ID."""

    construct_id: str
    secret: str


@dataclass(frozen=True)
class AzureScaleRule:
    """One autoscale rule: above (or below) `threshold`, add (or remove) one VM, then wait."""

    operator: Literal["GreaterThan", "LessThan"]
    threshold: float
    direction: Literal["Increase", "Decrease"]
    cooldown: str


@dataclass(frozen=True)
class AzureSignal:
    """The metric a fleet scales on, on which resource, and its two rules."""

    metric: str
    namespace: str
    #: The resource the metric lives on: the fleet's scale set, or Front Door (per origin).
    resource: Literal["scale_set", "front_door"]
    statistic: Literal["Average", "Sum"]
    #: Fixed dimension filters; Front Door's are the slot's origin (`by_origin`), known at apply.
    dimensions: tuple[tuple[str, tuple[str, ...]], ...]
    by_origin: bool
    per_replica: bool
    rules: tuple[AzureScaleRule, ...]


@dataclass(frozen=True)
class AzureAlert:
    """A metric alert: its construct ID, name, description and criterion."""

    construct_id: str
    name: str
    description: str
    #: The resource the metric lives on (Front Door, or the fleet's scale set).
    resource: Literal["front_door", "scale_set"]
    namespace: str
    metric: str
    aggregation: str
    operator: str
    threshold: float
    #: Fixed dimension filters, and whether the slot's origin (known at apply) filters too.
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    by_origin: bool = False
    #: Custom metrics exist only once the replicas publish them.
    skip_metric_validation: bool | None = None


@dataclass(frozen=True)
class AzureProbe:
    """A health probe: the engine's health path and port, how often, after how many failures."""

    path: str
    port: int
    interval_s: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class AzureFleet:
    """One model's slot on Azure: its scale set, identity, autoscale rules, origin and alerts."""

    name: str
    model: str
    slot: Slot
    weight: int
    scale_set: str
    identity: str
    location: str
    zones: tuple[str, ...]
    tags: Mapping[str, str]
    fleet_tags: Mapping[str, str]
    sku: str
    instances: int
    minimum: int
    maximum: int
    disk_gib: int
    #: Spot settings; all None when every VM is regular (on_demand_percent_above_base 100).
    priority: Literal["Regular", "Spot"]
    eviction_policy: str | None
    max_bid_price: float | None
    base_regular_count: int | None
    regular_percentage_above_base: int | None
    custom_data: str
    #: Changes exactly when the boot bundle does; the release gate compares it per VM.
    bundle_digest: str
    health: AzureProbe
    #: The Application Health extension's settings (JSON).
    health_extension: str
    repair_grace: str
    termination_timeout: str
    secrets: tuple[AzureSecretRead, ...]
    signal: AzureSignal
    #: Origin (the fleet's public Standard Load Balancer) and its Front Door weight.
    origin_address: str
    origin_enabled: bool
    origin_weight: int
    idle_timeout_minutes: int
    alerts: tuple[AzureAlert, ...]

    @property
    def alert_names(self) -> list[str]:
        return [alert.name for alert in self.alerts]


@dataclass(frozen=True)
class AzureRouterGroup:
    """The environment's router group (issue 13): a scale set of CPU VMs in front of the fleets."""

    #: Construct ID of the group and of its Front Door origins; also its scale set's name.
    name: str
    scale_set: str
    identity: str
    #: The application security group of the routers' NICs: what the NSG rules name.
    security_group: str
    location: str
    zones: tuple[str, ...]
    tags: Mapping[str, str]
    sku: str
    instances: int
    #: The router bundle (llmdeploy.boot.router), gzip + base64 as custom_data takes it.
    custom_data: str
    bundle_digest: str
    #: The routers' load balancer probe: the first model's health path on the routers' nginx.
    health: AzureProbe
    health_extension: str
    repair_grace: str
    #: The routers' public Standard Load Balancer's address: Front Door's origin at ROUTER_PRIORITY.
    origin_address: str
    idle_timeout_minutes: int
    router_port: int
    #: The replicas' proxy ports, which the routers send to.
    replica_ports: tuple[int, ...]
    #: The fleets' scale sets the routers read and scale.
    fleet_scale_sets: tuple[str, ...]
    scaler_role: str
    reader_role: str


@dataclass(frozen=True)
class AzureRoute:
    """One model on Front Door: its origin group, route, custom domain and endpoint URL."""

    model: str
    #: The model's fleets on Azure (their origins), by name.
    fleets: tuple[str, ...]
    probe_path: str
    probe_interval_s: int
    host_routing: bool
    patterns: tuple[str, ...]
    #: The custom domain host serving the model, when a domain is set.
    domain: str | None
    #: The URL clients call; FRONT_DOOR_HOST stands for the endpoint's host name.
    endpoint: str

    def endpoint_url(self, front_door_host: str) -> str:
        return self.endpoint.replace(FRONT_DOOR_HOST, front_door_host)


@dataclass(frozen=True)
class AzureCacheRule:
    """A registry cache rule: `source_repo` (also its construct ID) served as `target_repo`."""

    name: str
    source_repo: str
    target_repo: str
    #: The upstream whose credential set the rule signs in with (AzurePlan.credential_sets); None: anonymous.
    credential_set: str | None = None


@dataclass(frozen=True)
class AzureCredentialSet:
    """An ACR credential set: the Key Vault secrets the cache signs in to `upstream` with."""

    upstream: str
    name: str
    username_secret: str
    password_secret: str


@dataclass(frozen=True)
class AzureKeyVault:
    name: str
    resource_group: str


@dataclass(frozen=True)
class AzureVmLogs:
    """The Log Analytics workspace the GPU VMs' syslog goes to, through the Azure Monitor Agent and
    a data collection rule of the same name (llmdeploy.boot.logs)."""

    name: str
    retention_days: int


@dataclass(frozen=True)
class AzurePlan:
    """The Azure stack of one environment, every value decided."""

    cloud: Literal["azure"]
    stack: str
    env: str
    #: `<project>-<env>`: the resource group, and every environment-wide resource's name.
    name: str
    location: str
    zones: tuple[str, ...]
    subscription_id: str
    tags: Mapping[str, str]
    vnet_cidr: str
    #: The instances' subnet is the first of the VNet's split by this many bits (the config checks it fits).
    subnet_newbits: int
    nat_address: str
    security_group: str
    engine_ports: tuple[int, ...]
    #: Client CIDRs the WAF admits; empty: only the VNet's NAT address (Front Door is always public).
    allowed_cidrs: tuple[str, ...]
    waf_policy: str
    security_policy: str
    response_timeout_s: int
    #: Custom domain hosts the models are served at, with their Front Door resource names.
    domains: tuple[tuple[str, str], ...]
    registry: str
    cache_rules: tuple[AzureCacheRule, ...]
    key_vault: AzureKeyVault | None
    action_group: str
    emails: tuple[str, ...]
    alert_window: str
    error_rate_alert: AzureAlert
    dashboard: str | None
    fleets: tuple[AzureFleet, ...]
    routes: tuple[AzureRoute, ...]
    #: The router group when `routing.enabled`; None leaves the stack as without routing.
    routers: AzureRouterGroup | None = None
    #: clouds.azure.registry_credentials, one credential set per upstream.
    credential_sets: tuple[AzureCredentialSet, ...] = ()
    #: The Azure DNS zone (name, resource group) the custom domains' records go in; None: outputs only.
    dns_zone: tuple[str, str] | None = None
    #: None when `monitoring.logs.ship` is off: the VMs keep their logs in the journal only.
    vm_logs: AzureVmLogs | None = None

    def fleet(self, name: str) -> AzureFleet:
        return next(fleet for fleet in self.fleets if fleet.name == name)


def resolve(plan: DeploymentPlan) -> AzurePlan:
    """The Azure stack of `plan`."""
    settings = plan.settings("azure")
    name = endpoints.stack_prefix(plan)
    fleets = plan.fleets_on("azure")
    window = _window_minutes(plan.monitoring.alarms.evaluation_minutes)
    alarms = plan.monitoring.alarms
    routes = front_door_routes(plan)
    return AzurePlan(
        cloud="azure",
        stack=plan.cloud("azure").stack,
        env=plan.env,
        name=name,
        location=settings.location,
        zones=tuple(settings.zones),
        subscription_id=settings.subscription_id,
        tags=dict(plan.tags),
        vnet_cidr=str(settings.vnet_cidr),
        subnet_newbits=SUBNET_NEWBITS,
        nat_address=f"{name}-nat",
        security_group=f"{name}-instances",
        engine_ports=tuple(sorted({fleet.health.port for fleet in fleets})),
        allowed_cidrs=tuple(str(cidr) for cidr in plan.access.allowed_cidrs),
        waf_policy=names.waf_policy(name),
        security_policy=f"{name}-clients",
        response_timeout_s=min(
            max(fleet.traffic.request_timeout_s for fleet in fleets), MAX_RESPONSE_TIMEOUT_S
        ),
        domains=tuple(
            (host, names.custom_domain(host))
            for host in sorted({route.domain for route in routes if route.domain})
        ),
        registry=names.registry_name(name, settings.subscription_id),
        cache_rules=_cache_rules(fleets, set(settings.registry_credentials)),
        key_vault=_key_vault(plan, settings),
        action_group=f"{name}-alerts",
        emails=tuple(plan.monitoring.notify.emails),
        alert_window=f"PT{window}M" if window < 60 else "PT1H",
        error_rate_alert=AzureAlert(
            construct_id="ErrorRate",
            name=f"{name}-5xx-rate",
            description=f"more than {alarms.error_rate_percent}% of requests answered 5xx",
            resource="front_door",
            namespace=FRONT_DOOR_NAMESPACE,
            metric="Percentage5XX",
            aggregation="Average",
            operator="GreaterThan",
            threshold=alarms.error_rate_percent,
        ),
        dashboard=f"{name}-dashboard" if plan.monitoring.dashboard else None,
        fleets=tuple(_fleet(plan, settings, fleet, window) for fleet in fleets),
        routes=routes,
        routers=_routers(plan, settings, group) if (group := plan.router_group("azure")) else None,
        credential_sets=_credential_sets(settings),
        dns_zone=(settings.dns_zone.name, settings.dns_zone.resource_group) if settings.dns_zone else None,
        vm_logs=_vm_logs(plan),
    )


def _vm_logs(plan: DeploymentPlan) -> AzureVmLogs | None:
    if not logs.ships(plan):
        return None
    return AzureVmLogs(name=logs.azure_workspace(plan), retention_days=plan.monitoring.logs.retention_days)


def _routers(plan: DeploymentPlan, settings: AzureCloud, group: RouterGroupPlan) -> AzureRouterGroup:
    """The router group: its VMs boot with each model's agent spec naming the fleets' scale sets."""
    name = endpoints.stack_prefix(plan)
    fleets = plan.fleets_on("azure")
    # The agent's Azure SDK clients are made for this subscription and resource group.
    scope = CloudScope(subscription=settings.subscription_id, resource_group=name)
    slots = {
        model.name: {
            fleet.slot: SlotGroup(group=names.scale_set(fleet.name)) for fleet in model.fleets_on("azure")
        }
        for model in plan.models
    }
    # router_cloud_config refuses a bundle over Azure's 64 KB of custom_data (gzip + base64).
    custom_data = encode("azure", router_cloud_config(plan, group, scope, slots))
    first = fleets[0].health
    probe = AzureProbe(
        # The router's nginx answers every model's health path from that model's gate.
        path=group.health_paths[fleets[0].model],
        port=ROUTER_PORT,
        interval_s=first.interval_s,
        unhealthy_threshold=first.unhealthy_threshold,
    )
    scale_set = names.ROUTER_GROUP
    return AzureRouterGroup(
        name=scale_set,
        scale_set=scale_set,
        identity=f"{scale_set}-identity",
        security_group=scale_set,
        location=settings.location,
        zones=tuple(settings.zones),
        tags=dict(plan.tags),
        sku=group.instance_type,
        instances=group.count,
        custom_data=custom_data,
        bundle_digest=hashlib.sha256(custom_data.encode()).hexdigest()[:16],
        health=probe,
        health_extension=json.dumps(
            {"protocol": "http", "port": probe.port, "requestPath": probe.path}, sort_keys=True
        ),
        repair_grace=ROUTER_REPAIR_GRACE,
        origin_address=f"{scale_set}-origin",
        # Held streams stay open for the whole hold budget (keep-alive comments every keepalive_s).
        idle_timeout_minutes=max(
            _bounded(math.ceil(fleet.traffic.idle_timeout_s / 60), _IDLE_MINUTES) for fleet in fleets
        ),
        router_port=ROUTER_PORT,
        replica_ports=tuple(sorted({fleet.health.port for fleet in fleets})),
        fleet_scale_sets=tuple(names.scale_set(fleet.name) for fleet in fleets),
        scaler_role=names.router_role(name, settings.subscription_id, "scaler"),
        reader_role=names.router_role(name, settings.subscription_id, "reader"),
    )


def _fleet(plan: DeploymentPlan, settings: AzureCloud, fleet: FleetPlan, window: int) -> AzureFleet:
    spot, health = fleet.spot, fleet.health
    # Azure's priority mix splits the VMs itself: the base, then the share above it (regular).
    all_regular = spot.on_demand_percent_above_base == 100
    scale_set = names.scale_set(fleet.name)
    custom_data = user_data(plan, fleet)
    weight, enabled = origin_weight(fleet)
    return AzureFleet(
        name=fleet.name,
        model=fleet.model,
        slot=fleet.slot,
        weight=fleet.traffic.weight,
        scale_set=scale_set,
        identity=f"{scale_set}-replicas",
        location=settings.location,
        zones=tuple(settings.zones),
        tags=dict(plan.tags),
        fleet_tags={**plan.tags, "llmdeploy-model": fleet.model, "llmdeploy-slot": fleet.slot},
        sku=fleet.instance_types[0].name,
        instances=fleet.desired_size,
        minimum=fleet.min_size,
        maximum=fleet.max_size,
        disk_gib=fleet.disk_gib,
        priority="Regular" if all_regular else "Spot",
        eviction_policy=None if all_regular else "Delete",
        max_bid_price=None if all_regular else (spot.max_price_usd_hour or -1),
        base_regular_count=None if all_regular else spot.on_demand_base,
        regular_percentage_above_base=None if all_regular else spot.on_demand_percent_above_base,
        custom_data=custom_data,
        bundle_digest=hashlib.sha256(custom_data.encode()).hexdigest()[:16],
        health=AzureProbe(
            path=health.path,
            port=health.port,
            interval_s=health.interval_s,
            unhealthy_threshold=health.unhealthy_threshold,
        ),
        health_extension=json.dumps(
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
        repair_grace=_minutes(health.readiness_grace_s, _REPAIR_MINUTES),
        termination_timeout=_minutes(termination_heartbeat_s(fleet), _NOTICE_MINUTES),
        secrets=_secrets(plan, fleet),
        signal=_signal(plan, fleet),
        origin_address=f"{scale_set}-origin",
        origin_enabled=enabled,
        origin_weight=weight,
        idle_timeout_minutes=_bounded(math.ceil(fleet.traffic.idle_timeout_s / 60), _IDLE_MINUTES),
        alerts=_fleet_alerts(plan, fleet, window),
    )


def origin_weight(fleet: FleetPlan) -> tuple[int, bool]:
    """Front Door weight and enabled state of a slot's origin (a 0% slot is disabled, weight 1)."""
    return max(fleet.traffic.weight * WEIGHT_SCALE, MIN_WEIGHT), fleet.traffic.weight > 0


def origin_metric_values(host: str) -> list[str]:
    """The values Front Door's `Origin` metric dimension may hold for the origin at `host`.

    Azure does not document whether it names an origin by host or by host:port: alerts, autoscale
    rules and the release gate (through the `fleets` output) accept both.
    """
    return [host, f"{host}:{HTTP_PORT}"]


def _secrets(plan: DeploymentPlan, fleet: FleetPlan) -> tuple[AzureSecretRead, ...]:
    """The Key Vault secrets the replicas read: exactly those named."""
    access = plan.access
    named = (
        (TOKEN_ACCESS_ID, fleet.hf_token_secret),
        (API_KEY_ACCESS_ID, access.api_key.secret if access.api_key else None),
        (NEXT_API_KEY_ACCESS_ID, access.next_api_key.secret if access.next_api_key else None),
    )
    return tuple(
        AzureSecretRead(construct_id, secret) for construct_id, secret in named if secret is not None
    )


def _signal(plan: DeploymentPlan, fleet: FleetPlan) -> AzureSignal:
    """The metric the fleet scales on: the replicas' queue size, or Front Door's requests per replica.

    Autoscaling is rule-based (Azure has no target tracking): scale out by one above the target, in
    by one below a fraction of it.
    """
    target = fleet.autoscaling
    if target.target_queue_size is not None:
        return AzureSignal(
            metric=metrics.QUEUE_SIZE,
            namespace=metrics.NAMESPACE,
            resource="scale_set",
            statistic="Average",
            dimensions=_engine_dimensions(plan, fleet),
            by_origin=False,
            per_replica=False,
            rules=_rules(target.target_queue_size, fleet),
        )
    assert target.target_requests_per_replica is not None  # the config sets exactly one target
    return AzureSignal(
        metric="OriginRequestCount",
        namespace=FRONT_DOOR_NAMESPACE,
        resource="front_door",
        statistic="Sum",
        dimensions=(),
        by_origin=True,
        per_replica=True,
        rules=_rules(target.target_requests_per_replica, fleet),
    )


def _rules(target: float, fleet: FleetPlan) -> tuple[AzureScaleRule, ...]:
    scaling = fleet.autoscaling
    return (
        AzureScaleRule("GreaterThan", target, "Increase", iso_duration(scaling.scale_out_cooldown_s)),
        AzureScaleRule(
            "LessThan", target * SCALE_IN_FRACTION, "Decrease", iso_duration(scaling.scale_in_cooldown_s)
        ),
    )


def _engine_dimensions(plan: DeploymentPlan, fleet: FleetPlan) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The dimension filters of the engine metrics the fleet's replicas publish."""
    found = metrics.dimension_values(plan.project, plan.env, fleet.model, fleet.slot)
    return tuple((key, (value,)) for key, value in found.items())


def _fleet_alerts(plan: DeploymentPlan, fleet: FleetPlan, window: int) -> tuple[AzureAlert, ...]:
    alarms, prefix = plan.monitoring.alarms, f"{endpoints.stack_prefix(plan)}-{fleet.name}"
    alerts = [
        AzureAlert(
            construct_id="UnhealthyOrigin",
            name=f"{prefix}-unhealthy-origin",
            description=(
                f"fewer than {ORIGIN_DOWN_PERCENT}% of Front Door's health probes to the slot succeed"
            ),
            resource="front_door",
            namespace=FRONT_DOOR_NAMESPACE,
            metric="OriginHealthPercentage",
            aggregation="Average",
            operator="LessThan",
            threshold=ORIGIN_DOWN_PERCENT,
            by_origin=True,
        ),
        AzureAlert(
            construct_id="Latency",
            name=f"{prefix}-latency",
            description=f"mean origin latency above the p99 threshold of {alarms.p99_latency_s} s",
            resource="front_door",
            namespace=FRONT_DOOR_NAMESPACE,
            metric="OriginLatency",
            aggregation="Average",
            operator="GreaterThan",
            threshold=alarms.p99_latency_s * _MS_PER_S,
            by_origin=True,
        ),
    ]
    # Only a slot that serves traffic and may not shrink below the threshold must keep it.
    if fleet.traffic.weight > 0 and fleet.min_size >= alarms.min_healthy_replicas > 0:
        alerts.append(
            AzureAlert(
                construct_id="HealthyReplicas",
                name=f"{prefix}-healthy-replicas",
                description=f"fewer than {alarms.min_healthy_replicas} healthy replicas",
                resource="scale_set",
                namespace=metrics.NAMESPACE,
                metric=metrics.QUEUE_SIZE,
                # One value per serving VM a minute: the count over the window is VMs x minutes.
                aggregation="Count",
                operator="LessThan",
                threshold=alarms.min_healthy_replicas * window,
                dimensions=_engine_dimensions(plan, fleet),
                # The replicas create this custom metric when they first publish.
                skip_metric_validation=True,
            )
        )
    return tuple(alerts)


def front_door_routes(plan: DeploymentPlan) -> tuple[AzureRoute, ...]:
    """Every model's Front Door route (also what llmdeploy.clouds.lb_limits counts)."""
    return tuple(_route(plan, model) for model in plan.models if model.fleets_on("azure"))


def _route(plan: DeploymentPlan, model: ModelPlan) -> AzureRoute:
    fleets = model.fleets_on("azure")
    host = endpoints.model_host(plan, model.name)
    return AzureRoute(
        model=model.name,
        fleets=tuple(fleet.name for fleet in fleets),
        probe_path=fleets[0].health.path,
        probe_interval_s=fleets[0].health.interval_s,
        host_routing=host is not None,
        patterns=("/*",) if host is not None else (f"{model.route_prefix}*",),
        domain=(host or plan.access.tls.domain) if plan.access.tls.domain else None,
        endpoint=endpoints.endpoint(plan, model.name, FRONT_DOOR_HOST, cloud_serves_https=True),
    )


def _cache_rules(fleets: tuple[FleetPlan, ...], signed_in: set[str]) -> tuple[AzureCacheRule, ...]:
    """One rule per cached repository; those of an upstream in `signed_in` use its credential set."""
    # Every VM also pulls the proxy in front of its engine.
    images = [*(fleet.engine_image for fleet in fleets), PROXY_IMAGE]
    cached = {found.source_repo: found for image in images if (found := names.cached_image(image))}
    return tuple(
        AzureCacheRule(
            names.cache_rule(image.target_repo),
            source,
            image.target_repo,
            credential_set=upstream if (upstream := source.partition("/")[0]) in signed_in else None,
        )
        for source, image in sorted(cached.items())
    )


def _credential_sets(settings: AzureCloud) -> tuple[AzureCredentialSet, ...]:
    return tuple(
        AzureCredentialSet(
            upstream=upstream,
            name=names.credential_set(upstream),
            username_secret=credential.username_secret,
            password_secret=credential.secret,
        )
        for upstream, credential in sorted(settings.registry_credentials.items())
    )


def _key_vault(plan: DeploymentPlan, settings: AzureCloud) -> AzureKeyVault | None:
    """The Key Vault the replicas read secrets from, when the environment names a secret."""
    named = (
        bool(settings.registry_credentials)
        or plan.access.api_key is not None
        or plan.access.next_api_key is not None
        or any(fleet.hf_token_secret for fleet in plan.fleets_on("azure"))
    )
    if not named:
        return None
    assert settings.key_vault is not None  # the config requires one when a secret is named
    return AzureKeyVault(name=settings.key_vault.name, resource_group=settings.key_vault.resource_group)


def _window_minutes(evaluation_minutes: int) -> int:
    return next(
        (minutes for minutes in WINDOWS_MINUTES if minutes >= evaluation_minutes), WINDOWS_MINUTES[-1]
    )


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
    return f"PT{_bounded(math.ceil(seconds / 60), bounds)}M"


def _bounded(value: int, bounds: tuple[int, int]) -> int:
    low, high = bounds
    return min(max(value, low), high)
