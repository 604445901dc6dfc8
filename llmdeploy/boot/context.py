"""The variables the boot templates receive (templates/README.md lists them), from the plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from llmdeploy import instance, metrics
from llmdeploy.boot import logs, registry
from llmdeploy.catalog import Cloud
from llmdeploy.config.clouds import AzureCloud
from llmdeploy.engines import PROXY_PORT, EngineName
from llmdeploy.plan.model import DeploymentPlan, FleetPlan

#: The root-only tmpfs file holding `HF_TOKEN=...` for `docker run --env-file`.
TOKEN_FILE = "/run/llmdeploy/hf-token.env"
#: The reverse proxy in front of the engine (nginx's stable branch; never `latest`).
PROXY_IMAGE = "nginx:1.30.6-alpine"
#: Where each engine's image looks for its Hugging Face cache.
CONTAINER_CACHE: dict[EngineName, str] = {
    "tgi": "/data",
    "vllm": "/root/.cache/huggingface",
    "sglang": "/root/.cache/huggingface",
}
#: Container variables that turn usage reporting off (it phones home from locked-down networks).
CONTAINER_ENV: dict[EngineName, dict[str, str]] = {
    "tgi": {"USAGE_STATS": "off"},
    "vllm": {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"},
    "sglang": {},
}


#: /dev/shm of a single-GPU engine (TGI's documented size), and of a sharded one: NCCL passes
#: tensors between shards through shared memory, and 1g is too small for tensor parallelism 4 or
#: 8 (vLLM "Deploying with Docker": --ipc=host or a larger --shm-size; SGLang's examples use 32g).
#: A tmpfs limit, not a reservation: only what NCCL writes is used.
SHM_SIZES = ("1g", "32g")
#: Seconds the cache script waits for an image-managed NVMe mount before using the boot disk.
CACHE_MOUNT_WAIT_S = 120


@dataclass(frozen=True)
class CacheDisk:
    """Where the model cache goes: a local disk to mount (GCP, Azure) or one already mounted (AWS)."""

    mount_point: str = ""
    devices: tuple[str, ...] = ()
    note: str = ""
    fallback: str = "/var/lib/llmdeploy/cache"


LOCAL_NVME: dict[Cloud, CacheDisk] = {
    "aws": CacheDisk(
        mount_point="/opt/dlami/nvme",
        note="The Deep Learning AMI mounts the instance-store NVMe drives at /opt/dlami/nvme.",
    ),
    # Local SSDs are blank at boot; the NVMe interface names them google-local-nvme-ssd-N.
    "gcp": CacheDisk(
        mount_point="/mnt/disks/llmdeploy",
        devices=("/dev/disk/by-id/google-local-nvme-ssd-0", "/dev/disk/by-id/google-local-ssd-0"),
    ),
    # NC A100 v4 and similar sizes carry a blank local NVMe disk; an OS disk has partitions and is skipped.
    "azure": CacheDisk(mount_point="/mnt/nvme", devices=("/dev/nvme0n1", "/dev/nvme1n1")),
}


def region(plan: DeploymentPlan, cloud: Cloud) -> str:
    settings = plan.cloud(cloud).settings
    if isinstance(settings, AzureCloud):
        return settings.location
    return settings.region


def key_vault(plan: DeploymentPlan, cloud: Cloud) -> str:
    """The Key Vault holding an Azure environment's secrets ("" elsewhere or when none is named)."""
    settings = plan.cloud(cloud).settings
    vault = settings.key_vault if isinstance(settings, AzureCloud) else None
    return vault.name if vault else ""


def route_prefix(plan: DeploymentPlan, fleet: FleetPlan) -> str:
    """The path prefix the load balancer routes to this fleet's model ("" with host routing)."""
    if plan.access.routing != "path":
        return ""
    return next(model.route_prefix for model in plan.models if model.name == fleet.model)


def keyless_paths(plan: DeploymentPlan, fleet: FleetPlan) -> list[str]:
    """Exact paths the proxy answers from the engine's health without the API key: the load balancer's
    health check, and the per-model path Route 53 checks through the load balancer (global DNS)."""
    paths = [fleet.health.path, plan.keyless_health_paths.get(fleet.model, fleet.health.path)]
    return sorted(set(paths))


def agent_units(plan: DeploymentPlan, fleet: FleetPlan) -> dict[str, dict[str, str]]:
    """The host agents' systemd units (llmdeploy-agent.service.j2) by unit name."""
    units = {
        "llmdeploy-spot-watcher": {
            "description": "spot watcher",
            "module": "spot_watcher",
            "restart": "on-failure",
        },
        "llmdeploy-metrics": {"description": "metrics relay", "module": "metrics_relay", "restart": "always"},
        "llmdeploy-gate": {"description": "API key gate", "module": "gate", "restart": "always"},
    }
    if plan.access.api_key is not None:
        units["llmdeploy-api-keys"] = {"description": "API keys", "module": "api_keys", "restart": "always"}
    if fleet.cloud == "aws":
        units["llmdeploy-ready"] = {"description": "readiness", "module": "ready", "restart": "on-failure"}
    return units


def agent_settings(plan: DeploymentPlan, fleet: FleetPlan) -> dict[str, Any]:
    """What the proxy and the host agents (readiness, gate, keys, drain) are told."""
    api_key, next_api_key = plan.access.api_key, plan.access.next_api_key
    return {
        "project": plan.project,
        "agent_units": list(agent_units(plan, fleet)),
        "launch_hook_name": instance.LAUNCH_HOOK_NAME,
        "ready_timeout_s": instance.READY_TIMEOUT_S,
        "ready_heartbeat_s": instance.READY_HEARTBEAT_EVERY_S,
        "api_key_secret": api_key.secret if api_key else "",
        "next_api_key_secret": next_api_key.secret if next_api_key else "",
        "api_keys_file": instance.API_KEYS_FILE,
        "key_refresh_s": instance.API_KEY_REFRESH_S,
        # The proxy asks the gate about every request when it has a key to check or (Azure) a Front Door.
        "gate": api_key is not None or fleet.cloud == "azure",
        "gate_port": instance.GATE_PORT,
        "front_door_id_key": instance.FRONT_DOOR_ID_KEY,
        "keyless_paths": keyless_paths(plan, fleet),
        "app_health_path": instance.APP_HEALTH_PATH,
        "drain_flag": instance.DRAIN_FLAG_FILE,
        "run_dir": str(PurePosixPath(instance.DRAIN_FLAG_FILE).parent),
        "retry_after_s": instance.DRAIN_RETRY_AFTER_S,
        "shutdown_drain_s": instance.SHUTDOWN_DRAIN_S,
    }


def template_context(plan: DeploymentPlan, fleet: FleetPlan) -> dict[str, Any]:
    """Everything a boot template may reference; StrictUndefined rejects anything else."""
    return {
        "env": plan.env,
        "cloud": fleet.cloud,
        "region": region(plan, fleet.cloud),
        "key_vault": key_vault(plan, fleet.cloud),
        "fleet": fleet,
        "engine": fleet.engine,
        "proxy_port": PROXY_PORT,
        "proxy_image": PROXY_IMAGE,
        "registry_host": registry.registry_host(plan, fleet.cloud),
        "engine_mirror": registry.mirror(plan, fleet.cloud, fleet.engine_image),
        "proxy_mirror": registry.mirror(plan, fleet.cloud, PROXY_IMAGE),
        "route_prefix": route_prefix(plan, fleet),
        "cache": LOCAL_NVME[fleet.cloud] if fleet.model_cache_on_nvme else CacheDisk(),
        "container_cache": CONTAINER_CACHE[fleet.engine.name],
        "container_env": CONTAINER_ENV[fleet.engine.name],
        "shm_size": SHM_SIZES[fleet.shards > 1],
        "cache_wait_s": CACHE_MOUNT_WAIT_S,
        "token_file": TOKEN_FILE,
        "hook_name": instance.TERMINATION_HOOK_NAME,
        "engine_stop_s": instance.ENGINE_STOP_S,
        "container_stop_s": instance.CONTAINER_STOP_TIMEOUT_S,
        "unit_stop_s": instance.UNIT_STOP_TIMEOUT_S,
        "poll_s": instance.NOTICE_POLL_S,
        "namespace": metrics.NAMESPACE,
        "publish_s": metrics.PUBLISH_INTERVAL_S,
        **agent_settings(plan, fleet),
        **logs.template_settings(plan, fleet.cloud),
    }
