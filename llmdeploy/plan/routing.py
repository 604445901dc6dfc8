"""The routing layer's plan: per cloud, the router group and the settings its VMs start with."""

from __future__ import annotations

from dataclasses import dataclass

from llmdeploy.catalog import Cloud
from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.model import EngineLimits
from llmdeploy.config.routing import Policy, RouterSize, Routing
from llmdeploy.engines import ENGINES

#: CPU VM types per size: 2, 4 and 8 vCPUs of current general-purpose families on each cloud. The
#: router is I/O bound (a Rust proxy and nginx); two vCPUs carry thousands of requests per second.
ROUTER_TYPES: dict[Cloud, dict[RouterSize, str]] = {
    "aws": {"small": "c7i.large", "medium": "c7i.xlarge", "large": "c7i.2xlarge"},
    "gcp": {"small": "c3-standard-4", "medium": "c3-standard-8", "large": "c3-standard-22"},
    "azure": {"small": "Standard_D2s_v5", "medium": "Standard_D4s_v5", "large": "Standard_D8s_v5"},
}

#: Our policy names as vllm-router's `--policy` values (least_load: the less loaded of two random picks).
ROUTER_POLICY: dict[Policy, str] = {
    "cache_aware": "cache_aware",
    "consistent_hash": "consistent_hash",
    "least_load": "power_of_two",
}

#: What the router agent asks each cloud for when a request finds a fleet at zero (routing/scaleup.py).
SCALE_UP_CALL: dict[Cloud, str] = {
    "aws": "SetDesiredCapacity on the Auto Scaling group",
    "gcp": "a managed instance group resize",
    "azure": "a scale set capacity update",
}

#: vllm-router's `POST /add_worker` waits for the worker's health up to this many seconds (default
#: 600, measured: an unreachable worker held the call ten minutes). Membership adds only replicas it
#: has already seen healthy, so a short wait is enough and a stuck add cannot stall the sync loop.
WORKER_STARTUP_TIMEOUT_S = 5


#: The longest hold a cloud's load balancer lets through. Azure Front Door waits at most 240 s for an
#: origin's response (`originResponseTimeoutSeconds`, 16-240, Front Door origin group docs): a
#: non-streamed request held longer would get Front Door's 504, so the gate answers 429 first.
#: Streams are not affected (the gate answers 200 at once and sends keep-alives).
HOLD_CAP_S: dict[Cloud, int] = {"azure": 230}


@dataclass(frozen=True)
class RouterGroupPlan:
    """One cloud's router group: its VMs and what each VM's hold gate and router are started with."""

    cloud: Cloud
    instance_type: str
    count: int
    router_policy: str
    session_header: str | None
    hold_budget_s: int
    queue_limit: int
    keepalive_s: int
    retries: int
    scale_on_queue_time_ms: int | None
    #: Per model name: requests in flight per replica before excess waits in the router.
    per_replica_concurrency: dict[str, int]
    #: Per model name: the replicas' keyless health path (membership probe, vllm-router health checks).
    health_paths: dict[str, str]

    def router_args(self, model: str) -> list[str]:
        """vllm-router's command-line flags for one model's router (worker URLs come from membership)."""
        return [
            "--policy", self.router_policy,
            "--retry-max-retries", str(self.retries + 1),
            "--worker-startup-timeout-secs", str(WORKER_STARTUP_TIMEOUT_S),
            "--health-check-endpoint", self.health_paths[model],
        ]  # fmt: skip


def replica_cap(limits: EngineLimits, configured: int | None) -> int:
    """Requests in flight per replica: the configured cap, else the engine's concurrency limit.

    Past `max_concurrent_requests` the engine answers 429 itself, so the router must stop there.
    """
    return configured or limits.max_concurrent_requests


def build_routing(config: EnvironmentConfig) -> list[RouterGroupPlan]:
    """The router group of each enabled cloud; none when routing is off."""
    routing = config.routing
    if not routing.enabled:
        return []
    caps = {model.name: replica_cap(model.limits, routing.per_replica_concurrency) for model in config.models}
    paths = {
        model.name: model.health_check.path or ENGINES[model.engine].health_path for model in config.models
    }
    return [_group(routing, cloud, caps, paths) for cloud in config.clouds.names()]


def _group(routing: Routing, cloud: Cloud, caps: dict[str, int], paths: dict[str, str]) -> RouterGroupPlan:
    return RouterGroupPlan(
        cloud=cloud,
        instance_type=routing.instance_types.get(cloud, ROUTER_TYPES[cloud][routing.size]),
        count=routing.min_routers,
        router_policy=ROUTER_POLICY[routing.policy],
        session_header=routing.session_header,
        hold_budget_s=min(routing.hold_budget_s, HOLD_CAP_S.get(cloud, routing.hold_budget_s)),
        queue_limit=routing.queue_limit,
        keepalive_s=routing.keepalive_s,
        retries=routing.retries,
        scale_on_queue_time_ms=routing.scale_on_queue_time_ms,
        per_replica_concurrency=caps,
        health_paths=paths,
    )
