"""The router VM's agent: the hold gate and each slot's membership loop, in one process.

`python -m llmdeploy.routing.agent SPEC.json`: the spec (written at boot from the routing plan and the
names the cloud's stack resolved) says where each slot's vllm-router listens and which cloud group
feeds it. `cloud: static` lists the replica URLs itself (loopback harness, tests). On SIGHUP the agent
reads the spec again and applies its slot weights (a promotion step); other changes need a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web
from pydantic import Field, ValidationError

from llmdeploy.routing.admission import Admission
from llmdeploy.routing.common import Slot, Strict
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.hold import Gate, GateSettings
from llmdeploy.routing.membership import Membership, Replica, RouterAdmin, Source
from llmdeploy.routing.metrics import GateMetrics
from llmdeploy.routing.publish import MetricsSpec, Publisher, Send, collect
from llmdeploy.routing.scaleup import BurstTrigger, ScaleUpHook

log = logging.getLogger(__name__)


class SlotSpec(Strict):
    """One slot: its router, its weight, and the cloud group behind it."""

    router: str = Field(description="Base URL of this slot's vllm-router, e.g. http://127.0.0.1:30001.")
    weight: int = Field(ge=0, le=100, description="Share of traffic in percent (blue + green = 100).")
    group: str = Field(default="", description="ASG / MIG / scale set name (not for static).")
    target_group: str = Field(
        default="", description="AWS: the slot's target group name (its ARN is looked up once at start)."
    )
    backend_service: str = Field(default="", description="GCP: the backend service checking the MIG.")
    more_groups: list[str] = Field(
        default_factory=list, description="More groups of the slot's replicas (read, never resized)."
    )
    replicas: list[str] = Field(default_factory=list, description="static: the replicas' proxy URLs.")


class AgentSpec(Strict):
    """What the agent is started with."""

    cloud: Literal["aws", "gcp", "azure", "static"]
    region: str = Field(default="", description="AWS/GCP region.")
    project: str = Field(default="", description="GCP project id.")
    subscription: str = Field(default="", description="Azure subscription id.")
    resource_group: str = Field(default="", description="Azure resource group.")
    listen_port: int = Field(gt=0, lt=65536, description="The gate's port on loopback (nginx proxies to it).")
    replica_port: int = Field(default=8080, gt=0, lt=65536, description="The replicas' proxy port.")
    health_path: str = Field(default="/health", description="The replicas' keyless health path.")
    budget_s: float = Field(gt=0, description="Hold budget in seconds.")
    queue_limit: int = Field(gt=0, description="Requests held at most.")
    keepalive_s: float = Field(gt=0, description="SSE keep-alive interval.")
    retry_after_s: int = Field(default=30, gt=0, description="Retry-After on a 429.")
    per_replica_concurrency: int = Field(gt=0, description="Admission cap per ready replica.")
    session_header: str | None = Field(default=None, description="Session header for slot stickiness.")
    sync_interval_s: float = Field(default=1.0, gt=0, description="Seconds between membership passes.")
    slots: dict[Slot, SlotSpec] = Field(min_length=1, description="Each slot's router and group.")
    metrics: MetricsSpec | None = Field(
        default=None, description="Publish router metrics to the cloud's metrics service (not for static)."
    )


def _source(spec: AgentSpec, slot: Slot, clients: dict[str, Any]) -> Source:
    chosen = spec.slots[slot]
    if spec.cloud == "static":
        return lambda: [Replica(url, slot, "ready") for url in chosen.replicas]
    read = _group_reader(spec, slot, clients)
    groups = (chosen.group, *chosen.more_groups)
    return lambda: [replica for group in groups for replica in read(group)]


def _group_reader(spec: AgentSpec, slot: Slot, clients: dict[str, Any]) -> Callable[[str], list[Replica]]:
    """The replicas of one of the slot's groups, read from the cloud."""
    from llmdeploy.routing import sources

    chosen, port = spec.slots[slot], spec.replica_port
    if spec.cloud == "aws":
        asg, elb, ec2 = clients["autoscaling"], clients["elbv2"], clients["ec2"]
        # The bundle carries names (ARNs are Terraform tokens, unknown when it is rendered).
        arn = sources.aws_target_group_arn(elb, chosen.target_group)
        return lambda group: sources.aws_replicas(asg, elb, ec2, group, arn, port, slot)
    if spec.cloud == "gcp":
        migs, backends = clients["migs"], clients["backends"]
        return lambda group: sources.gcp_replicas(
            migs, backends, spec.project, spec.region, group, chosen.backend_service, port, slot
        )
    compute, network, ids = clients["compute"], clients["network"], {}

    def read(group: str) -> list[Replica]:
        # A scale set's id never changes: asked once per group, then only its VMs and NICs are read.
        if group not in ids:
            ids[group] = sources.azure_scale_set_id(compute, spec.resource_group, group)
        return sources.azure_replicas(compute, network, spec.resource_group, ids[group], port, slot)

    return read


def _serving(spec: AgentSpec) -> Slot:
    """The slot a hold at zero wakes: the one with the larger weight."""
    return max(spec.slots, key=lambda slot: spec.slots[slot].weight)


def _hook(spec: AgentSpec, clients: dict[str, Any]) -> ScaleUpHook:
    from llmdeploy.routing import scaleup

    group = spec.slots[_serving(spec)].group
    if spec.cloud == "aws":
        return lambda: scaleup.aws_set_desired_capacity(clients["autoscaling"], group, 1)
    if spec.cloud == "gcp":
        return lambda: scaleup.gcp_resize_mig(clients["migs"], spec.project, spec.region, group, 1)
    if spec.cloud == "azure":
        return lambda: scaleup.azure_set_capacity(clients["compute"], spec.resource_group, group, 1)
    return lambda: None


def _clients(spec: AgentSpec) -> dict[str, Any]:
    """The SDK clients of the cloud, on the VM's own identity (instance profile, service account, MSI)."""
    if spec.cloud == "aws":
        import boto3  # type: ignore[import-untyped]

        return {name: boto3.client(name, region_name=spec.region) for name in ("autoscaling", "elbv2", "ec2")}
    if spec.cloud == "gcp":
        from google.cloud import compute_v1

        return {
            "migs": compute_v1.RegionInstanceGroupManagersClient(),
            "backends": compute_v1.BackendServicesClient(),
        }
    if spec.cloud == "azure":
        from azure.identity import ManagedIdentityCredential
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.network import NetworkManagementClient

        credential = ManagedIdentityCredential()
        return {
            "compute": ComputeManagementClient(credential, spec.subscription),
            "network": NetworkManagementClient(credential, spec.subscription),
        }
    return {}


def _sender(spec: AgentSpec, metrics: MetricsSpec, session: aiohttp.ClientSession) -> Send:
    """The cloud's metrics publication, on the VM's own identity."""
    from llmdeploy.routing import publish

    if spec.cloud == "aws":
        import boto3
        from botocore.config import Config  # type: ignore[import-untyped]

        # One attempt, short timeouts: a slow CloudWatch costs one dropped window, never a queue.
        config = Config(connect_timeout=5, read_timeout=5, retries={"max_attempts": 1})
        client = boto3.client(
            "cloudwatch", region_name=spec.region, endpoint_url=metrics.endpoint or None, config=config
        )
        return publish.aws_sender(client, metrics)
    from llmdeploy.routing import rest_metrics  # not on AWS's router VMs

    if spec.cloud == "gcp":
        return rest_metrics.GcpSender(session, spec.project, metrics)
    return rest_metrics.AzureSender(session, metrics)


def _publisher(
    spec: AgentSpec, gate: Gate, fleet: Fleet, metrics: GateMetrics, session: aiohttp.ClientSession
) -> Publisher | None:
    chosen = spec.metrics
    if chosen is None or spec.cloud == "static":
        return None
    serving, slots = _serving(spec), tuple(spec.slots)
    return Publisher(
        _sender(spec, chosen, session),
        lambda: collect(metrics, gate.waiting, fleet, serving, slots),
        chosen.interval_s,
        chosen.timeout_s,
    )


def _weights(spec: AgentSpec) -> dict[Slot, int]:
    return {slot: chosen.weight for slot, chosen in spec.slots.items()}


def _reload_weights(path: Path, gate: Gate) -> None:
    try:
        spec = AgentSpec.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        log.exception("%s: not reloaded, the weights stay as they were", path)
        return
    gate.set_weights(_weights(spec))
    log.info("slot weights now %s", _weights(spec))


async def run(spec: AgentSpec, path: Path | None = None) -> None:
    """Serve the gate and sync every slot's membership until cancelled."""
    fleet, metrics = Fleet(), GateMetrics()
    settings = GateSettings(
        budget_s=spec.budget_s,
        queue_limit=spec.queue_limit,
        keepalive_s=spec.keepalive_s,
        retry_after_s=spec.retry_after_s,
        weights=_weights(spec),
        session_header=spec.session_header,
    )
    clients = _clients(spec)
    trigger = BurstTrigger(_hook(spec, clients), spec.budget_s, metrics)
    admission = Admission(spec.per_replica_concurrency, fleet.count)
    routers = {slot: chosen.router for slot, chosen in spec.slots.items()}
    gate = Gate(settings, fleet, routers, admission, trigger, metrics)
    if path is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _reload_weights, path, gate)
    runner = web.AppRunner(gate.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", spec.listen_port).start()
    async with aiohttp.ClientSession() as session:
        loops = [
            Membership(
                slot,
                _source(spec, slot, clients),
                RouterAdmin(session, url),
                fleet,
                session,
                spec.health_path,
            )
            for slot, url in routers.items()
        ]
        publisher = _publisher(spec, gate, fleet, metrics, session)
        tasks = [members.run(spec.sync_interval_s) for members in loops]
        try:
            await asyncio.gather(*tasks, *([publisher.run()] if publisher else []))
        finally:
            await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("spec", type=Path, help="the agent's JSON spec")
    args = parser.parse_args(argv)
    try:
        spec = AgentSpec.model_validate_json(args.spec.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as error:
        print(f"{args.spec}: not a valid router agent spec: {error}", file=sys.stderr)
        return 2
    asyncio.run(run(spec, args.spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
