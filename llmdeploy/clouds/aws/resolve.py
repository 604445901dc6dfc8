"""AWS resolution: the neutral plan turned into every value the AWS stack writes, decided once.

The constructs in modules/aws map these records field by field; `status` and the gates find the
resources by the same names. Plain values only: no config objects, so nothing downstream imports
llmdeploy.config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from llmdeploy import metrics
from llmdeploy.boot import logs, user_data
from llmdeploy.boot.bundle import encode
from llmdeploy.boot.router import ROUTER_PORT, CloudScope, SlotGroup, router_cloud_config
from llmdeploy.clouds.aws import names
from llmdeploy.config.clouds import SUBNET_NEWBITS, AwsCloud
from llmdeploy.config.model import Slot
from llmdeploy.instance import termination_heartbeat_s
from llmdeploy.plan.endpoints import HTTP, HTTPS, hosts, model_host, stack_prefix
from llmdeploy.plan.model import DeploymentPlan, FleetPlan, HealthPlan, ModelPlan
from llmdeploy.plan.routing import RouterGroupPlan

#: Listener ports (modules/aws/access.py opens them, the load balancer listens on them).
HTTP_PORT = 80
HTTPS_PORT = 443
#: Listener rule priorities: models from 100 in steps of 10.
FIRST_PRIORITY = 100
#: Log groups keep a year, the retention security baselines (checkov CKV_AWS_338) ask for.
LOG_RETENTION_DAYS = 365
#: Load balancer access logs are kept this long for request analysis, then expire.
ACCESS_LOG_EXPIRY_DAYS = 90
#: Instance refresh never drops below full healthy capacity (GPU capacity is scarce), pausing
#: at these percentages so alarms can stop a bad rollout.
ROLLOUT_MIN_HEALTHY_PERCENT = 100
ROLLOUT_MAX_HEALTHY_PERCENT = 200
ROLLOUT_CHECKPOINTS = (50, 100)
PRIORITY_STEP = 10
#: The router VMs' image: Canonical's current Ubuntu 24.04 server AMI, from the public SSM parameter
#: Canonical keeps up to date (documentation.ubuntu.com/aws, "Find Ubuntu images on AWS"), per the
#: instance type's architecture. Ubuntu, because the router bundle installs Debian packages
#: (llmdeploy.boot.router.OS_PACKAGES: nginx, python3-venv) as the GPU fleets' Ubuntu DLAMI does.
ROUTER_AMI_PARAMETERS = {
    "x86_64": "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
    "arm64": "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id",
}
#: Graviton (arm64) families carry a `g` after their generation digit: c7g, m7gd, c6gn, t4g, g5g.
_GRAVITON_FAMILY = re.compile(r"^[a-z]+[0-9]+[a-z]*g[a-z]*\.")
#: Router root volume: Ubuntu's 8 GiB image plus the router venv (vllm-router, boto3), nginx and logs.
ROUTER_DISK_GIB = 20
#: The routers' target group health check: routers are CPU VMs that answer at once, so a failed one
#: leaves in 2 x 10 s. The grace covers a boot (packages, vllm-router's wheel) before ELB checks count.
ROUTER_HEALTH_INTERVAL_S = 10
ROUTER_HEALTH_TIMEOUT_S = 5
ROUTER_HEALTH_THRESHOLD = 2
ROUTER_BOOT_GRACE_S = 600


@dataclass(frozen=True)
class AwsSpot:
    """The group's instances distribution (the group itself splits on-demand and spot)."""

    on_demand_base: int
    on_demand_percent_above_base: int
    allocation_strategy: str
    #: USD per instance-hour as the API takes it; None: the on-demand price.
    max_price: str | None


@dataclass(frozen=True)
class AwsScaling:
    """The target tracking policy of a fleet."""

    policy_name: str
    target_value: float
    #: The engine's queue metric dimensions when scaling on queued requests per replica; None:
    #: scaling on the load balancer's requests per target.
    queue_dimensions: Mapping[str, str] | None


@dataclass(frozen=True)
class AwsRouterQueueScaling:
    """Scale-out on the routers' queue time (`routing.scale_on_queue_time_ms`): a second target
    tracking policy on the mean `RouterQueueMilliseconds` the routers publish for this fleet."""

    policy_name: str
    target_ms: int
    dimensions: Mapping[str, str]


@dataclass(frozen=True)
class AwsWake:
    """The step policy and alarm that wake a fleet at zero replicas when requests arrive."""

    policy_name: str
    alarm_name: str
    description: str


@dataclass(frozen=True)
class AwsTargetGroup:
    name: str
    port: int
    #: Deregistration delay: long enough for the longest request to finish (see `drain_s`).
    drain_s: int
    algorithm: str
    #: The load balancer's health check (the plan's, already resolved).
    health: HealthPlan
    tags: Mapping[str, str]


@dataclass(frozen=True)
class AwsAlarm:
    """One CloudWatch alarm of a fleet."""

    name: str
    description: str
    comparison: str
    threshold: float
    treat_missing_data: Literal["breaching", "notBreaching"]


@dataclass(frozen=True)
class AwsFleetAlarms:
    error_rate: AwsAlarm
    unhealthy: AwsAlarm
    latency: AwsAlarm
    #: Only a slot that serves traffic and may not shrink below the threshold must keep it.
    healthy: AwsAlarm | None
    evaluation_minutes: int


@dataclass(frozen=True)
class AwsFleet:
    """One model's replicas in one slot: an Auto Scaling group behind its target group."""

    #: `<model>-<slot>`: the construct ID and the key of every per-fleet output.
    name: str
    model: str
    slot: Slot
    weight: int
    group_name: str
    role_name: str
    template_prefix: str
    template_description: str
    #: The boot bundle, gzip and base64 (`aws_launch_template.user_data`).
    user_data: str
    disk_gib: int
    instance_types: tuple[str, ...]
    min_size: int
    max_size: int
    desired_size: int
    warmup_s: int
    spot: AwsSpot
    launch_heartbeat_s: int
    termination_heartbeat_s: int
    checkpoint_delay_s: int
    #: Alarms that stop an instance refresh (plain names: the refresh starts only on an update).
    gate_alarm_names: tuple[str, ...]
    scaling: AwsScaling
    wake: AwsWake | None
    #: Secret names a replica reads: its Hugging Face token and the API keys its proxy accepts.
    secrets: tuple[str, ...]
    #: Tags of its volumes; its instances carry them plus `Name`.
    tags: Mapping[str, str]
    instance_tags: Mapping[str, str]
    #: The engine metric dimensions of this fleet (scaling and dashboard).
    engine_dimensions: Mapping[str, str]
    target_group: AwsTargetGroup
    alarms: AwsFleetAlarms
    #: With routing.scale_on_queue_time_ms only.
    router_queue: AwsRouterQueueScaling | None = None


@dataclass(frozen=True)
class AwsEndpoint:
    """The URL clients call for a model: `<scheme>://<host or the load balancer's name><path>`."""

    scheme: str
    #: With host routing, `<model>.<domain>`; None: the load balancer's DNS name.
    host: str | None
    path: str

    def url(self, address: str) -> str:
        return f"{self.scheme}://{self.host or address}{self.path}"


@dataclass(frozen=True)
class AwsRoute:
    """A model's listener rule: its condition and its slots' weights."""

    model: str
    priority: int
    #: Exactly one of the two is set, per `access.routing`.
    host_header: str | None
    path_pattern: str | None
    #: Fleet name -> weight.
    weights: Mapping[str, int]
    endpoint: AwsEndpoint


@dataclass(frozen=True)
class AwsLoadBalancer:
    name: str
    internal: bool
    idle_timeout_s: int
    #: The HTTPS listener's ACM certificate; None: plain HTTP.
    certificate_arn: str | None
    listener_ports: tuple[int, ...]
    routes: tuple[AwsRoute, ...]


@dataclass(frozen=True)
class AwsExistingVpc:
    vpc_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class AwsNetwork:
    #: The VPC to deploy into; None: a new VPC with `vpc_cidr`, a public and a private subnet per zone.
    existing: AwsExistingVpc | None
    vpc_cidr: str
    #: A new VPC is cut in 2**subnet_newbits subnets: public ones first, private ones from the middle.
    subnet_newbits: int
    zones: tuple[str, ...]
    flow_log_group: str
    flow_log_role: str
    flow_log_retention_days: int


@dataclass(frozen=True)
class AwsAccess:
    """The security groups of the load balancer and of the instances."""

    load_balancer_group: str
    instance_group: str
    #: Client networks admitted to the load balancer; empty: the VPC's own range.
    client_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class AwsMonitoring:
    #: An existing topic alarms publish to; None: the stack's own (`topic_name`).
    existing_topic_arn: str | None
    topic_name: str
    emails: tuple[str, ...]
    #: None: no dashboard.
    dashboard_name: str | None


@dataclass(frozen=True)
class AwsVmLogs:
    """The CloudWatch Logs group the GPU VMs ship their logs to (llmdeploy.boot.logs)."""

    group_name: str
    retention_days: int


@dataclass(frozen=True)
class AwsRouterGroup:
    """The CPU router group in front of the fleets (issue 13, docs/routing.md): an Auto Scaling group
    of `count` VMs across the private subnets of every zone, behind its own load balancer."""

    group_name: str
    role_name: str
    template_prefix: str
    template_description: str
    #: The SSM parameter holding the current AMI id (read at plan time, like the fleets' DLAMI).
    ami_parameter: str
    instance_type: str
    count: int
    disk_gib: int
    #: Seconds after a launch before the load balancer's health checks may replace a router.
    boot_grace_s: int
    #: The router bundle (llmdeploy.boot.router), gzip and base64 (`aws_launch_template.user_data`).
    user_data: str
    #: Security groups of the routers and of their load balancer.
    instance_security_group: str
    load_balancer_security_group: str
    load_balancer_name: str
    #: The routers' target group: port ROUTER_PORT, health-checked on a model's health path.
    target_group: AwsTargetGroup
    #: The GPU fleets' groups the routers may resize (hold at zero: SetDesiredCapacity).
    fleet_group_names: tuple[str, ...]
    #: The routers' address scheme (https with the listener's certificate, as the fleets' endpoint).
    scheme: str
    tags: Mapping[str, str]
    instance_tags: Mapping[str, str]


@dataclass(frozen=True)
class AwsDns:
    """The endpoint's alias records in an existing Route 53 public hosted zone (`clouds.aws.dns_zone`,
    modules/aws/dns.py): with the router group, a failover pair per name (routers, then direct)."""

    zone: str
    #: access.tls.domain: the address path routing answers on.
    domain: str
    #: The names clients call (llmdeploy.plan.endpoints.hosts): the domain, or each model's host.
    names: tuple[str, ...]


#: Set identifiers of a failover pair: the routers' load balancer answers while one router is healthy.
ROUTERS_SET_IDENTIFIER = "routers"
DIRECT_SET_IDENTIFIER = "direct"


@dataclass(frozen=True)
class AwsPlan:
    """What the `<env>-aws` stack creates."""

    cloud: Literal["aws"]
    stack: str
    #: `<project>-<env>`: the stem of every environment-wide name.
    prefix: str
    project: str
    env: str
    region: str
    account_id: str | None
    ami_parameter: str
    tags: Mapping[str, str]
    engine_ports: tuple[int, ...]
    key_alias: str
    access_log_bucket_prefix: str
    network: AwsNetwork
    access: AwsAccess
    load_balancer: AwsLoadBalancer
    monitoring: AwsMonitoring
    fleets: tuple[AwsFleet, ...]
    #: None when routing is off: the stack is then exactly what it was before the router layer.
    routers: AwsRouterGroup | None = None
    #: Upstream registry -> the `ecr-pullthroughcache/` secret its pull-through cache rule signs in with.
    registry_credentials: Mapping[str, str] = field(default_factory=dict)
    #: None when `monitoring.logs.ship` is off: the VMs keep their logs in the journal only.
    vm_logs: AwsVmLogs | None = None
    #: None without `clouds.aws.dns_zone`: clients use the load balancers' own names.
    dns: AwsDns | None = None

    def fleet(self, name: str) -> AwsFleet:
        return next(fleet for fleet in self.fleets if fleet.name == name)


def resolve(plan: DeploymentPlan) -> AwsPlan:
    settings = plan.settings("aws")
    prefix = stack_prefix(plan)
    fleets = plan.fleets_on("aws")
    resolved = tuple(_fleet(plan, prefix, fleet) for fleet in fleets)
    group = plan.router_group("aws")
    return AwsPlan(
        cloud="aws",
        stack=plan.cloud("aws").stack,
        prefix=prefix,
        project=plan.project,
        env=plan.env,
        region=settings.region,
        account_id=settings.account_id,
        ami_parameter=settings.ami_parameter,
        tags=dict(plan.tags),
        engine_ports=tuple(sorted({fleet.health.port for fleet in fleets})),
        key_alias=names.key_alias(prefix),
        access_log_bucket_prefix=names.access_log_bucket_prefix(prefix),
        network=_network(settings, prefix),
        access=AwsAccess(
            load_balancer_group=f"{prefix}-lb",
            instance_group=f"{prefix}-instances",
            client_cidrs=tuple(str(cidr) for cidr in plan.access.allowed_cidrs),
        ),
        load_balancer=_load_balancer(plan, prefix, fleets),
        monitoring=_monitoring(plan, prefix),
        fleets=resolved,
        routers=None if group is None else _routers(plan, prefix, group, resolved),
        registry_credentials={
            upstream: credential.secret for upstream, credential in settings.registry_credentials.items()
        },
        vm_logs=_vm_logs(plan),
        dns=_dns(plan, settings),
    )


def _dns(plan: DeploymentPlan, settings: AwsCloud) -> AwsDns | None:
    domain = plan.access.tls.domain
    if settings.dns_zone is None or domain is None:
        return None
    return AwsDns(zone=settings.dns_zone, domain=domain, names=hosts(plan, plan.models))


def _vm_logs(plan: DeploymentPlan) -> AwsVmLogs | None:
    if not logs.ships(plan):
        return None
    return AwsVmLogs(group_name=logs.aws_log_group(plan), retention_days=plan.monitoring.logs.retention_days)


def _fleet(plan: DeploymentPlan, prefix: str, fleet: FleetPlan) -> AwsFleet:
    group = names.group(prefix, fleet.model, fleet.slot)
    tags = {**plan.tags, "llmdeploy:model": fleet.model, "llmdeploy:slot": fleet.slot}
    spot = fleet.spot
    return AwsFleet(
        name=fleet.name,
        model=fleet.model,
        slot=fleet.slot,
        weight=fleet.traffic.weight,
        group_name=group,
        role_name=names.instance_role(group),
        template_prefix=f"{group}-",
        template_description=(
            f"llmdeploy {fleet.name}: {fleet.model_id}@{fleet.revision} on {fleet.engine_image}"
        ),
        user_data=user_data(plan, fleet),
        disk_gib=fleet.disk_gib,
        instance_types=tuple(entry.name for entry in fleet.instance_types),
        min_size=fleet.min_size,
        max_size=fleet.max_size,
        desired_size=fleet.desired_size,
        warmup_s=ready_warmup_s(fleet),
        spot=AwsSpot(
            on_demand_base=spot.on_demand_base,
            on_demand_percent_above_base=spot.on_demand_percent_above_base,
            allocation_strategy=spot.allocation_strategy,
            max_price=None if spot.max_price_usd_hour is None else str(spot.max_price_usd_hour),
        ),
        launch_heartbeat_s=fleet.health.readiness_grace_s,
        termination_heartbeat_s=termination_heartbeat_s(fleet),
        checkpoint_delay_s=plan.monitoring.alarms.evaluation_minutes * 60,
        gate_alarm_names=tuple(names.alarm(prefix, fleet.name, suffix) for suffix in names.GATE_ALARMS),
        scaling=_scaling(plan, group, fleet),
        wake=_wake(prefix, group, fleet),
        secrets=_secrets(plan, fleet),
        tags=tags,
        instance_tags={"Name": group, **tags},
        engine_dimensions=metrics.dimension_values(plan.project, plan.env, fleet.model, fleet.slot),
        target_group=_target_group(prefix, fleet),
        alarms=_alarms(plan, prefix, fleet),
        router_queue=_router_queue(plan, group, fleet),
    )


def _router_queue(plan: DeploymentPlan, group: str, fleet: FleetPlan) -> AwsRouterQueueScaling | None:
    routers = plan.router_group("aws")
    if routers is None or routers.scale_on_queue_time_ms is None:
        return None
    return AwsRouterQueueScaling(
        policy_name=f"{group}-router-queue",
        target_ms=routers.scale_on_queue_time_ms,
        dimensions=metrics.dimension_values(plan.project, plan.env, fleet.model, fleet.slot),
    )


def ready_warmup_s(fleet: FleetPlan) -> int:
    """Seconds from a replica entering service until its load counts for scaling and refreshes.

    It enters service ready (the launch hook), so only the load balancer's healthy threshold and
    the first publication of its engine metrics remain.
    """
    health = fleet.health
    return health.healthy_threshold * health.interval_s + metrics.PUBLISH_INTERVAL_S


def drain_s(fleet: FleetPlan) -> int:
    """The target group's deregistration delay: long enough for the longest request to finish.

    On scale-in and instance refresh the group deregisters the replica and waits this long before
    its termination hook runs, so this, not the hook, is the drain ("Amazon EC2 Auto Scaling waits
    for the instance to deregister from the load balancer before calling the termination lifecycle
    hook", capacity-rebalancing user guide). A replica whose requests are done leaves early: "If a
    deregistering target has no in-flight requests and no active connections, Elastic Load
    Balancing immediately completes the deregistration process" (ALB target group docs,
    "Deregistration delay"). Both values are at most 3600 s, the provider's limit
    (`deregistration_delay`, IntBetween(0, 3600)).
    """
    return max(fleet.traffic.deregistration_delay_s, fleet.traffic.request_timeout_s)


def _scaling(plan: DeploymentPlan, group: str, fleet: FleetPlan) -> AwsScaling:
    target = fleet.autoscaling
    name = f"{group}-target-tracking"
    if target.target_queue_size is not None:
        dimensions = metrics.dimension_values(plan.project, plan.env, fleet.model, fleet.slot)
        return AwsScaling(
            policy_name=name, target_value=target.target_queue_size, queue_dimensions=dimensions
        )
    assert target.target_requests_per_replica is not None  # the config sets exactly one target
    return AwsScaling(
        policy_name=name, target_value=target.target_requests_per_replica, queue_dimensions=None
    )


def _wake(prefix: str, group: str, fleet: FleetPlan) -> AwsWake | None:
    """Only a fleet allowed to scale to zero needs waking: target tracking cannot see requests then."""
    if fleet.min_size != 0:
        return None
    return AwsWake(
        policy_name=f"{group}-wake-from-zero",
        alarm_name=names.alarm(prefix, fleet.name, names.WAKE_ALARM),
        description=f"{fleet.name}: requests arrived while it has no replica",
    )


def _secrets(plan: DeploymentPlan, fleet: FleetPlan) -> tuple[str, ...]:
    access = plan.access
    named = [fleet.hf_token_secret] + [
        ref.secret if ref else None for ref in (access.api_key, access.next_api_key)
    ]
    return tuple(name for name in named if name is not None)


def _target_group(prefix: str, fleet: FleetPlan) -> AwsTargetGroup:
    return AwsTargetGroup(
        name=names.target_group(prefix, fleet.model, fleet.slot),
        port=fleet.health.port,
        drain_s=drain_s(fleet),
        algorithm=fleet.traffic.algorithm,
        health=fleet.health,
        tags={"llmdeploy:model": fleet.model, "llmdeploy:slot": fleet.slot},
    )


def _alarms(plan: DeploymentPlan, prefix: str, fleet: FleetPlan) -> AwsFleetAlarms:
    alarms = plan.monitoring.alarms

    def alarm(suffix: str, description: str, condition: tuple[str, float, bool]) -> AwsAlarm:
        comparison, threshold, breaching = condition
        return AwsAlarm(
            name=names.alarm(prefix, fleet.name, suffix),
            description=f"{fleet.name}: {description}",
            comparison=comparison,
            threshold=threshold,
            treat_missing_data="breaching" if breaching else "notBreaching",
        )

    serving_floor = fleet.traffic.weight > 0 and fleet.min_size >= alarms.min_healthy_replicas > 0
    return AwsFleetAlarms(
        error_rate=alarm(
            names.ERROR_RATE_ALARM,
            f"over {alarms.error_rate_percent}% of requests answered 5xx",
            ("GreaterThanThreshold", alarms.error_rate_percent, False),
        ),
        unhealthy=alarm(
            names.UNHEALTHY_ALARM,
            "replicas that served now fail the health check",
            ("GreaterThanThreshold", 0, False),
        ),
        latency=alarm(
            names.LATENCY_ALARM,
            f"p99 response time above {alarms.p99_latency_s} s (a page, not a gate)",
            ("GreaterThanThreshold", alarms.p99_latency_s, False),
        ),
        # No data there means no targets at all.
        healthy=alarm(
            names.HEALTHY_ALARM,
            f"fewer than {alarms.min_healthy_replicas} healthy replicas",
            ("LessThanThreshold", alarms.min_healthy_replicas, True),
        )
        if serving_floor
        else None,
        evaluation_minutes=alarms.evaluation_minutes,
    )


def _load_balancer(plan: DeploymentPlan, prefix: str, fleets: tuple[FleetPlan, ...]) -> AwsLoadBalancer:
    certificate = plan.access.tls.aws_certificate_arn
    return AwsLoadBalancer(
        name=names.load_balancer(prefix),
        internal=plan.access.scheme == "internal",
        idle_timeout_s=max(fleet.traffic.idle_timeout_s for fleet in fleets),
        certificate_arn=certificate,
        # HTTPS plus the HTTP redirect, or plain HTTP.
        listener_ports=(HTTPS_PORT, HTTP_PORT) if certificate else (HTTP_PORT,),
        routes=listener_routes(plan),
    )


def listener_routes(plan: DeploymentPlan) -> tuple[AwsRoute, ...]:
    """Every model's listener rule (also what llmdeploy.clouds.lb_limits counts)."""
    return tuple(_route(plan, index, model) for index, model in enumerate(plan.models))


def _route(plan: DeploymentPlan, index: int, model: ModelPlan) -> AwsRoute:
    host = model_host(plan, model.name)
    # The ALB serves HTTPS only with its ACM certificate; a configured domain alone does not give one.
    scheme = HTTPS if plan.access.tls.aws_certificate_arn else HTTP
    return AwsRoute(
        model=model.name,
        priority=FIRST_PRIORITY + index * PRIORITY_STEP,
        host_header=host,
        path_pattern=None if host else f"{model.route_prefix}*",
        weights={fleet.name: fleet.traffic.weight for fleet in model.fleets_on("aws")},
        # Path routing answers on the load balancer's own name, even with a domain configured.
        endpoint=AwsEndpoint(scheme=scheme, host=host, path="/" if host else model.route_prefix),
    )


def _network(settings: AwsCloud, prefix: str) -> AwsNetwork:
    existing = settings.network.existing
    return AwsNetwork(
        existing=None
        if existing is None
        else AwsExistingVpc(
            vpc_id=existing.vpc_id,
            public_subnet_ids=tuple(existing.public_subnet_ids),
            private_subnet_ids=tuple(existing.private_subnet_ids),
        ),
        vpc_cidr=str(settings.network.vpc_cidr),
        subnet_newbits=SUBNET_NEWBITS,
        zones=tuple(settings.zones),
        flow_log_group=names.flow_log_group(prefix),
        flow_log_role=names.flow_log_role(prefix),
        flow_log_retention_days=LOG_RETENTION_DAYS,
    )


def _monitoring(plan: DeploymentPlan, prefix: str) -> AwsMonitoring:
    monitoring = plan.monitoring
    return AwsMonitoring(
        existing_topic_arn=monitoring.notify.aws_sns_topic_arn,
        topic_name=f"{prefix}-alarms",
        emails=tuple(monitoring.notify.emails),
        dashboard_name=prefix if monitoring.dashboard else None,
    )


def _routers(
    plan: DeploymentPlan, prefix: str, group: RouterGroupPlan, fleets: tuple[AwsFleet, ...]
) -> AwsRouterGroup:
    name = names.router_group(prefix)
    tags = {**plan.tags, "llmdeploy:role": names.ROUTER}
    slots = {
        model.name: {
            fleet.slot: SlotGroup(group=fleet.group_name, target_group=fleet.target_group.name)
            for fleet in fleets
            if fleet.model == model.name
        }
        for model in plan.models
    }
    first = plan.models[0].name
    architecture = "arm64" if _GRAVITON_FAMILY.match(group.instance_type) else "x86_64"
    return AwsRouterGroup(
        group_name=name,
        role_name=names.instance_role(name),
        template_prefix=f"{name}-",
        template_description=f"llmdeploy routers of {prefix}: vllm-router and the hold gate per model",
        ami_parameter=ROUTER_AMI_PARAMETERS[architecture],
        instance_type=group.instance_type,
        count=group.count,
        disk_gib=ROUTER_DISK_GIB,
        boot_grace_s=ROUTER_BOOT_GRACE_S,
        user_data=encode("aws", router_cloud_config(plan, group, CloudScope(), slots)),
        instance_security_group=f"{prefix}-routers",
        load_balancer_security_group=f"{prefix}-router-lb",
        load_balancer_name=names.router_load_balancer(prefix),
        target_group=AwsTargetGroup(
            name=names.router_target_group(prefix),
            port=ROUTER_PORT,
            # A router carries the fleets' longest requests: it drains as long as they do.
            drain_s=max(fleet.target_group.drain_s for fleet in fleets),
            algorithm="least_outstanding_requests",
            # The router VM's nginx answers the model's health path while its gate runs (also
            # while the fleet is at zero: holding is what the routers are for).
            health=HealthPlan(
                path=group.health_paths[first],
                port=ROUTER_PORT,
                interval_s=ROUTER_HEALTH_INTERVAL_S,
                timeout_s=ROUTER_HEALTH_TIMEOUT_S,
                healthy_threshold=ROUTER_HEALTH_THRESHOLD,
                unhealthy_threshold=ROUTER_HEALTH_THRESHOLD,
                readiness_grace_s=ROUTER_BOOT_GRACE_S,
            ),
            tags={"llmdeploy:role": names.ROUTER},
        ),
        fleet_group_names=tuple(fleet.group_name for fleet in fleets),
        scheme=HTTPS if plan.access.tls.aws_certificate_arn else HTTP,
        tags=tags,
        instance_tags={"Name": name, **tags},
    )
