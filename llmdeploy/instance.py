"""What a serving VM expects from the cloud constructs that launch it, shared with them.

The boot bundle (llmdeploy.boot) relies on these names; the constructs create resources with them.
"""

from __future__ import annotations

from llmdeploy.catalog import Cloud
from llmdeploy.plan.model import FleetPlan

#: Name of the ASG termination lifecycle hook the spot watcher completes (AWS).
TERMINATION_HOOK_NAME = "llmdeploy-drain"
#: Name of the ASG launch lifecycle hook the instance completes once its engine answers (AWS).
LAUNCH_HOOK_NAME = "llmdeploy-ready"
#: Root-only tmpfs file holding the accepted API keys, one per line, for the proxy's key check.
API_KEYS_FILE = "/run/llmdeploy/api-keys"
#: While this file exists the proxy fails its health check and refuses new requests (drain).
DRAIN_FLAG_FILE = "/run/llmdeploy/draining"
#: Seconds the engine gets to stop after draining; TGI's own graceful limit is 90 s.
ENGINE_STOP_S = 30
#: `docker stop` grace before SIGKILL, and the systemd stop timeout that covers it.
CONTAINER_STOP_TIMEOUT_S = 90
UNIT_STOP_TIMEOUT_S = 120
#: Poll period of the spot watcher; AWS recommends every 5 s.
NOTICE_POLL_S = 5

#: API actions the instance identity needs, per cloud (the spot watcher, token fetch and metrics).
INSTANCE_ROLE_ACTIONS: dict[Cloud, tuple[str, ...]] = {
    "aws": (
        "secretsmanager:GetSecretValue",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CompleteLifecycleAction",
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:DescribeTargetHealth",
        "cloudwatch:PutMetricData",
    ),
    "gcp": ("secretmanager.versions.access", "monitoring.timeSeries.create"),
    "azure": (
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        "Microsoft.Insights/Metrics/Write",
    ),
}


def termination_heartbeat_s(fleet: FleetPlan) -> int:
    """Lifecycle hook heartbeat that covers a scale-in: drain, engine stop, and a minute of margin."""
    return fleet.traffic.deregistration_delay_s + ENGINE_STOP_S + 60
