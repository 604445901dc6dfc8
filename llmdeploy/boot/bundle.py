"""Assemble the rendered boot files into one cloud-config and encode it for the fleet's cloud."""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass

from llmdeploy.boot import logs
from llmdeploy.boot.agent_source import agent_sources
from llmdeploy.boot.context import agent_units, template_context
from llmdeploy.boot.render import render
from llmdeploy.boot.size import check_size
from llmdeploy.plan.model import DeploymentPlan, FleetPlan

#: The cloud-config itself, under this key of `boot_files`.
CLOUD_CONFIG = "cloud-config"
AGENTS_DIR = "/opt/llmdeploy/llmdeploy_agents"


@dataclass(frozen=True)
class BootFile:
    path: str
    mode: str
    content: str


def _agent_files(fleet: FleetPlan) -> list[BootFile]:
    return [
        BootFile(f"{AGENTS_DIR}/{name}", "0644", source)
        for name, source in agent_sources(fleet.cloud).items()
    ]


def _rendered_files(plan: DeploymentPlan, fleet: FleetPlan) -> list[BootFile]:
    context = template_context(plan, fleet)
    units = agent_units(plan, fleet)
    scripts = ["llmdeploy-bootstrap", "llmdeploy-engine", "llmdeploy-prepare-cache", "llmdeploy-pull-image"]
    if logs.installs_agent(plan, fleet.cloud):
        scripts.append("llmdeploy-ship-logs")
    return [
        BootFile("/etc/llmdeploy/engine.env", "0644", render("boot/engine.env.j2", context)),
        BootFile("/etc/llmdeploy/agents.env", "0644", render("boot/agents.env.j2", context)),
        BootFile("/etc/llmdeploy/images.env", "0644", render("boot/images.env.j2", context)),
        BootFile("/etc/llmdeploy/proxy.conf", "0644", render("boot/proxy.conf.j2", context)),
        *(
            BootFile(f"/usr/local/sbin/{name}", "0755", render(f"boot/{name}.sh.j2", context))
            for name in scripts
        ),
        *(
            BootFile(
                f"/etc/systemd/system/{name}.service", "0644", render(f"boot/{name}.service.j2", context)
            )
            for name in ("llmdeploy-engine", "llmdeploy-proxy", "llmdeploy-drain")
        ),
        *(
            BootFile(
                f"/etc/systemd/system/{name}.service",
                "0644",
                render("boot/llmdeploy-agent.service.j2", {**unit, "identifier": name}),
            )
            for name, unit in units.items()
        ),
        *(
            BootFile(path, "0644", content)
            for path, content in logs.log_files(plan, fleet, list(units)).items()
        ),
    ]


def boot_files(plan: DeploymentPlan, fleet: FleetPlan) -> dict[str, str]:
    """The files of a fleet's boot bundle by path on the VM, plus the cloud-config under "cloud-config"."""
    files = [*_rendered_files(plan, fleet), *_agent_files(fleet)]
    cloud_config = render("boot/cloud-config.yaml.j2", {**template_context(plan, fleet), "files": files})
    return {**{file.path: file.content for file in files}, CLOUD_CONFIG: cloud_config}


def encode(cloud: str, cloud_config: str) -> str:
    """The cloud-config as the cloud's Terraform argument takes it (gzip is deterministic: mtime 0).

    AWS and Azure take base64, so the gzip fits in a quarter of the room (EC2 counts 16 KB, Azure 64 KB);
    cloud-init unzips user data on every datasource ("Content found to be gzip compressed will be
    uncompressed", docs.cloud-init.io/en/latest/explanation/format.html). GCE metadata holds text only.
    """
    if cloud in ("aws", "azure"):
        return base64.b64encode(gzip.compress(cloud_config.encode(), mtime=0)).decode()
    return cloud_config


def user_data(plan: DeploymentPlan, fleet: FleetPlan) -> str:
    """The user data of the fleet's instances, encoded as its cloud's Terraform argument expects.

    AWS `aws_launch_template.user_data`: gzip then base64 (cloud-init unzips it). GCP metadata
    `user-data`: the cloud-config text, which holds `${` (the scripts' `"${args[@]}"`): Terraform
    reads every string as a template, so the GCP construct passes it through
    `modules.common.terraform_literal`. Azure `custom_data`: gzip then base64, like AWS.

    Raises:
        OperationError: the encoded user data exceeds the cloud's limit.
        RenderError: a value cannot be written faithfully into a boot file.
    """
    encoded = encode(fleet.cloud, boot_files(plan, fleet)[CLOUD_CONFIG])
    check_size(fleet, encoded)
    return encoded
