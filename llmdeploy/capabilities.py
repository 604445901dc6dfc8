"""What each cloud can and cannot do of what a config may ask for.

The validator and the README's feature matrix both read `CAPABILITIES`, so the two never disagree.
A config that asks a cloud for something it lacks fails validation naming the cloud and the reason;
nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from llmdeploy.catalog import CLOUDS, Cloud


class Feature(Enum):
    """A capability a config can ask for."""

    LEAST_OUTSTANDING_REQUESTS = "least outstanding requests balancing"
    ROUND_ROBIN = "round robin balancing"
    WEIGHTED_BLUE_GREEN = "weighted blue/green traffic"
    SPOT_WITH_ON_DEMAND_BASE = "spot capacity above an on-demand base"
    SPOT_MAX_PRICE = "spot maximum price"
    SEVERAL_INSTANCE_TYPES = "several instance types per fleet"
    QUEUE_SIZE_AUTOSCALING = "autoscaling on the engine's queue size"
    SCALE_TO_ZERO = "scale to zero"
    API_KEY_ON_REPLICAS = "API key checked on every replica, never stored in the load balancer"
    PRIVATE_ENDPOINT = "internal endpoint without a public address"
    LONG_REQUESTS = "requests longer than 240 s"
    AUTOSCALING_COOLDOWNS = "autoscaling cooldowns"
    DASHBOARD = "a dashboard per environment (monitoring.dashboard)"
    SPOT_ALLOCATION_STRATEGY = "a spot allocation strategy"
    SCALE_OUT_COOLDOWN = "a scale-out cooldown"
    HEALTH_CHECK_TIMEOUT = "a health check timeout"
    HEALTHY_THRESHOLD = "a separate healthy threshold"
    CLIENT_IDLE_TIMEOUT = "a client idle timeout"


@dataclass(frozen=True)
class Support:
    """Whether a cloud supports a feature, and how (or why not)."""

    supported: bool
    how: str


_YES = True
_NO = False
#: The nginx proxy of each replica compares `Authorization: Bearer` in constant time with api_key and
#: next_api_key (rotation), read from the secret store; only the exact health path is keyless.
_KEY_ON_REPLICAS = "the replica's proxy, in constant time, api_key and next_api_key (rotation); else 401"

CAPABILITIES: dict[Cloud, dict[Feature, Support]] = {
    "aws": {
        Feature.LEAST_OUTSTANDING_REQUESTS: Support(_YES, "ALB target group algorithm"),
        Feature.ROUND_ROBIN: Support(_YES, "ALB target group algorithm"),
        Feature.WEIGHTED_BLUE_GREEN: Support(_YES, "ALB weighted forward, 1% steps"),
        Feature.SPOT_WITH_ON_DEMAND_BASE: Support(_YES, "ASG mixed instances policy"),
        Feature.SPOT_MAX_PRICE: Support(_YES, "ASG spot_max_price"),
        Feature.SEVERAL_INSTANCE_TYPES: Support(_YES, "ASG launch template overrides"),
        Feature.QUEUE_SIZE_AUTOSCALING: Support(_YES, "target tracking on a CloudWatch agent metric"),
        Feature.SCALE_TO_ZERO: Support(
            _YES,
            "ASG min size 0; with routing.enabled the routers hold requests and wake it (no 5xx), "
            "else the load balancer's 503s wake it",
        ),
        Feature.API_KEY_ON_REPLICAS: Support(_YES, _KEY_ON_REPLICAS),
        Feature.PRIVATE_ENDPOINT: Support(_YES, "internal ALB in the private subnets"),
        Feature.LONG_REQUESTS: Support(_YES, "ALB idle timeout up to 4000 s"),
        # "Target tracking scaling policies ... don't support cooldown periods"; only instance warmup
        # applies (EC2 Auto Scaling user guide, "Scaling cooldowns"), and llmdeploy sets it from the
        # readiness grace.
        Feature.AUTOSCALING_COOLDOWNS: Support(
            _NO,
            "target tracking takes no cooldowns, only the instance warmup (health_check.readiness_grace_s): "
            "remove autoscaling.scale_out_cooldown_s and scale_in_cooldown_s",
        ),
        Feature.SPOT_ALLOCATION_STRATEGY: Support(_YES, "ASG spot_allocation_strategy"),
        Feature.SCALE_OUT_COOLDOWN: Support(
            _NO,
            "target tracking takes no cooldowns, only the instance warmup (health_check.readiness_grace_s): "
            "remove autoscaling.scale_out_cooldown_s",
        ),
        Feature.HEALTH_CHECK_TIMEOUT: Support(_YES, "target group health check timeout"),
        Feature.HEALTHY_THRESHOLD: Support(_YES, "target group healthy threshold"),
        Feature.CLIENT_IDLE_TIMEOUT: Support(_YES, "ALB idle timeout"),
        Feature.DASHBOARD: Support(_YES, "CloudWatch dashboard"),
    },
    "gcp": {
        Feature.LEAST_OUTSTANDING_REQUESTS: Support(_YES, "backend service LEAST_REQUEST locality policy"),
        Feature.ROUND_ROBIN: Support(_YES, "backend service ROUND_ROBIN locality policy"),
        Feature.WEIGHTED_BLUE_GREEN: Support(_YES, "URL map weighted backend services, 1% steps"),
        Feature.SPOT_WITH_ON_DEMAND_BASE: Support(_YES, "a second, on-demand managed instance group"),
        Feature.SPOT_MAX_PRICE: Support(
            _NO,
            "Spot VMs have no maximum price: set it only for the clouds that take one "
            "(spot.overrides.aws.max_price_usd_hour)",
        ),
        Feature.SEVERAL_INSTANCE_TYPES: Support(_YES, "regional MIG instance flexibility policy"),
        Feature.QUEUE_SIZE_AUTOSCALING: Support(_YES, "autoscaler on a Cloud Monitoring metric"),
        # "When using per-instance metrics, the MIG cannot scale below a size of 1 VM"
        # (cloud.google.com/compute/docs/autoscaler/scaling-stackdriver-monitoring-metrics).
        Feature.SCALE_TO_ZERO: Support(_NO, "a managed instance group autoscaler keeps at least one VM"),
        Feature.API_KEY_ON_REPLICAS: Support(_YES, _KEY_ON_REPLICAS),
        Feature.PRIVATE_ENDPOINT: Support(
            _NO, "the global external Application LB is always public: use internet-facing with allowed_cidrs"
        ),
        Feature.LONG_REQUESTS: Support(_YES, "backend service timeout_sec"),
        Feature.AUTOSCALING_COOLDOWNS: Support(_YES, "scale-in control time window"),
        # modules/gcp/gpu_fleet.py sets the autoscaler's one cooldown (initialization period) from the
        # readiness grace: a VM's signal means nothing before its model is loaded.
        Feature.SCALE_OUT_COOLDOWN: Support(
            _NO,
            "the autoscaler waits the initialization period (health_check.readiness_grace_s) after a "
            "scale-out: remove autoscaling.scale_out_cooldown_s",
        ),
        Feature.HEALTH_CHECK_TIMEOUT: Support(_YES, "health check timeout_sec"),
        Feature.HEALTHY_THRESHOLD: Support(_YES, "health check healthy_threshold"),
        # modules/gcp/load_balancer.py leaves the target proxy's HTTP keepalive at GCP's default (610 s).
        Feature.CLIENT_IDLE_TIMEOUT: Support(
            _NO, "the load balancer keeps GCP's default keepalive: remove load_balancing.idle_timeout_s"
        ),
        # A regional MIG spreads VMs over zones by its distribution shape; Spot VMs have no allocation
        # strategy among types (instance flexibility picks by availability).
        Feature.SPOT_ALLOCATION_STRATEGY: Support(
            _NO, "managed instance groups choose spot capacity themselves: remove spot.allocation_strategy"
        ),
        Feature.DASHBOARD: Support(_YES, "Cloud Monitoring dashboard"),
    },
    "azure": {
        Feature.LEAST_OUTSTANDING_REQUESTS: Support(
            _NO, "Front Door and the load balancer have no least-outstanding policy: use round_robin"
        ),
        Feature.ROUND_ROBIN: Support(_YES, "Front Door weighted origins"),
        Feature.WEIGHTED_BLUE_GREEN: Support(_YES, "Front Door origin weights, 1% steps"),
        Feature.SPOT_WITH_ON_DEMAND_BASE: Support(_YES, "Flexible scale set priority mix"),
        Feature.SPOT_MAX_PRICE: Support(_YES, "scale set max_bid_price"),
        # modules/azure/gpu_fleet.py runs the first size only: azurerm's SkuProfileVMSizeName validator
        # and "Instance mix overview, Limitations" admit A, B, D, E and F sizes, never a GPU size.
        Feature.SEVERAL_INSTANCE_TYPES: Support(
            _NO, "a scale set's instance mix takes no GPU size: list one Azure size per model"
        ),
        Feature.QUEUE_SIZE_AUTOSCALING: Support(_YES, "autoscale rule on an Azure Monitor custom metric"),
        # The queue signal comes from the replicas and Front Door's request signal needs a replica to answer;
        # the profile default applies only when metrics are missing (review of the Azure stack, #7).
        Feature.SCALE_TO_ZERO: Support(
            _NO,
            "nothing can wake a scale set at 0 (its signals come from its replicas): set capacity.min to 1",
        ),
        Feature.API_KEY_ON_REPLICAS: Support(
            _YES, _KEY_ON_REPLICAS + "; origins admit only this Front Door (X-Azure-FDID)"
        ),
        Feature.PRIVATE_ENDPOINT: Support(
            _NO, "Front Door is always public: use internet-facing with allowed_cidrs"
        ),
        Feature.LONG_REQUESTS: Support(
            _NO, "Front Door waits at most 240 s for an origin: set request_timeout_s to 240 or less"
        ),
        Feature.AUTOSCALING_COOLDOWNS: Support(_YES, "autoscale rule cooldowns"),
        Feature.SCALE_OUT_COOLDOWN: Support(_YES, "scale-out autoscale rule cooldown"),
        # azurerm_lb_probe and Front Door's health probe take an interval and no timeout; the load
        # balancer probe's one `probe_threshold` counts successes and failures alike (set from
        # health_check.unhealthy_threshold, as is the health extension's numberOfProbes).
        Feature.HEALTH_CHECK_TIMEOUT: Support(
            _NO, "Front Door and load balancer probes take no timeout: remove health_check.timeout_s"
        ),
        Feature.HEALTHY_THRESHOLD: Support(
            _NO,
            "probes use one threshold both ways (health_check.unhealthy_threshold): remove "
            "health_check.healthy_threshold",
        ),
        Feature.CLIENT_IDLE_TIMEOUT: Support(_YES, "load balancer idle timeout, in whole minutes (4-100)"),
        Feature.SPOT_ALLOCATION_STRATEGY: Support(
            _NO, "one VM size per scale set leaves nothing to allocate among: remove spot.allocation_strategy"
        ),
        Feature.DASHBOARD: Support(_YES, "Azure portal dashboard"),
    },
}


def support(cloud: Cloud, feature: Feature) -> Support:
    """How `cloud` supports `feature`."""
    return CAPABILITIES[cloud][feature]


def feature_matrix_markdown() -> str:
    """The README's per-cloud feature matrix, generated from `CAPABILITIES`."""
    header = "| feature | " + " | ".join(CLOUDS) + " |"
    rule = "|---" * (len(CLOUDS) + 1) + "|"
    rows = [
        f"| {feature.value} | " + " | ".join(_cell(CAPABILITIES[cloud][feature]) for cloud in CLOUDS) + " |"
        for feature in Feature
    ]
    return "\n".join([header, rule, *rows])


def _cell(entry: Support) -> str:
    return f"yes: {entry.how}" if entry.supported else f"no: {entry.how}"
