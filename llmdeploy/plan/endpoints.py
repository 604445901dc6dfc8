"""The one rule for where an environment is reached: its stacks' folders, its resource prefix, each
model's host name and the URL clients call.

The stacks, `status`, `smoke` and the gates all call these, so no two of them can disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import TypeVar

from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.model import DeploymentPlan, ModelPlan

HTTP = "http"
HTTPS = "https"
_Folder = TypeVar("_Folder", bound=PurePath)


def stacks_dir(outdir: _Folder) -> _Folder:
    """`<outdir>/stacks`: the folder of every synthesized stack."""
    return outdir / "stacks"


def stack_dir(outdir: _Folder, stack: str) -> _Folder:
    """`<outdir>/stacks/<stack>`: where a synthesized stack's Terraform JSON lives."""
    return stacks_dir(outdir) / stack


def stack_prefix(plan: DeploymentPlan) -> str:
    """`<project>-<env>`: the name of environment-wide resources."""
    return f"{plan.project}-{plan.env}"


def scheme(plan: DeploymentPlan, cloud_serves_https: bool = False) -> str:
    """`https` when the endpoint has a certificate (a configured domain, or one the cloud provides)."""
    return HTTPS if plan.access.tls.domain or cloud_serves_https else HTTP


def model_host(plan: DeploymentPlan, model: str) -> str | None:
    """`<model>.<domain>` with host routing, None with path routing.

    Raises:
        ConfigError: host routing without a domain (GCP and Azure match host names only exactly).
    """
    if plan.access.routing != "host":
        return None
    if plan.access.tls.domain is None:
        raise ConfigError(
            [
                Problem(
                    "access.routing is host, but no domain is set to build the models' host names from",
                    path="access.tls.domain",
                    hint="set access.tls.domain (models are then served at <model>.<domain>), "
                    "or use routing: path",
                )
            ]
        )
    return f"{model}.{plan.access.tls.domain}"


def hosts(plan: DeploymentPlan, models: Iterable[ModelPlan]) -> tuple[str, ...]:
    """The names clients call, sorted: each model's host with host routing, else the domain; none
    without a domain (the load balancer's own name is then the address)."""
    domain = plan.access.tls.domain
    if domain is None:
        return ()
    return tuple(sorted({model_host(plan, model.name) or domain for model in models}))


def endpoint(plan: DeploymentPlan, model: str, address: str, cloud_serves_https: bool = False) -> str:
    """The URL clients call for `model`, given the load balancer's address (IP or host name).

    With a domain, clients use it (its certificate names it, not the address).
    """
    host = model_host(plan, model)
    if host is not None:
        return f"{scheme(plan, cloud_serves_https)}://{host}/"
    prefix = next(entry.route_prefix for entry in plan.models if entry.name == model)
    return f"{scheme(plan, cloud_serves_https)}://{plan.access.tls.domain or address}{prefix}"
