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
#: Heartbeat timeout of that hook; create it with default_result ABANDON, so an instance whose agent
#: stops reporting is replaced. The readiness agent records a heartbeat every READY_HEARTBEAT_EVERY_S.
LAUNCH_HEARTBEAT_S = 900
READY_HEARTBEAT_EVERY_S = 300
#: Model loads take 10-20 min; an engine that has not answered after this long is abandoned (replaced).
READY_TIMEOUT_S = 2700
#: Root-only tmpfs file holding the accepted API keys, one per line, for the proxy's key check.
API_KEYS_FILE = "/run/llmdeploy/api-keys"
#: While this file exists the proxy fails its health check and refuses new requests (drain).
DRAIN_FLAG_FILE = "/run/llmdeploy/draining"
#: Seconds a draining proxy asks clients to wait (Retry-After) before retrying elsewhere.
DRAIN_RETRY_AFTER_S = 5
#: Loopback port of the gate agent that checks API keys (and Azure's Front Door id) for the proxy.
GATE_PORT = 9901
#: Seconds between two reads of the API keys from the secret store: a rotation reaches every VM within it.
API_KEY_REFRESH_S = 300
#: Keyless proxy path answering the Azure Application Health extension 2.0 with its JSON body:
#: 200 {"ApplicationHealthState": "Healthy"} once the engine answers, else 503 and "Unhealthy".
APP_HEALTH_PATH = "/llmdeploy/app-health"
#: Azure: the scale set's user data (IMDS compute/userData, base64 of JSON) holds the Front Door
#: profile's resource_guid under this key; the proxy admits only requests with that X-Azure-FDID.
FRONT_DOOR_ID_KEY = "front_door_id"
#: On GCP and Azure shutdown begins within a 30 s notice: the drain at shutdown gets this many seconds.
SHUTDOWN_DRAIN_S = 20
#: Seconds the engine gets to stop after draining; TGI's own graceful limit is 90 s.
ENGINE_STOP_S = 30
#: `docker stop` grace before SIGKILL, and the systemd stop timeout that covers it.
CONTAINER_STOP_TIMEOUT_S = 90
UNIT_STOP_TIMEOUT_S = 120
#: Poll period of the spot watcher; AWS recommends every 5 s.
NOTICE_POLL_S = 5

#: API actions the AWS instance role needs (readiness, spot watcher, secrets, metrics). GCP and Azure
#: grant theirs as roles on the fleet identity (modules/gcp/gpu_fleet.py, modules/azure/gpu_fleet.py).
INSTANCE_ROLE_ACTIONS: dict[Cloud, tuple[str, ...]] = {
    "aws": (
        "secretsmanager:GetSecretValue",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
        "elasticloadbalancing:DeregisterTargets",
        "cloudwatch:PutMetricData",
    ),
}


def termination_heartbeat_s(fleet: FleetPlan) -> int:
    """Lifecycle hook heartbeat that covers a scale-in: drain, engine stop, and a minute of margin."""
    return fleet.traffic.deregistration_delay_s + ENGINE_STOP_S + 60
