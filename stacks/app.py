"""The CDK Terrain app: one stack per environment and cloud, each cloud's stack loaded on demand.

Each `stacks/<cloud>.py` defines `<Cloud>Stack(scope, plan, cloud_plan)` (AwsStack, GcpStack,
AzureStack). Only the modules of the clouds in use are imported, because each cloud's
provider bindings add start-up time and memory to the process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from cdktn import App, TerraformStack
from constructs import Construct

from llmdeploy.catalog import Cloud
from llmdeploy.plan import endpoints
from llmdeploy.plan.global_dns import DNS_PROVIDER
from llmdeploy.plan.model import CloudPlan, DeploymentPlan
from stacks.backend import configure_backend

#: Terraform and OpenTofu releases the synthesized stacks support; 1.10 brought S3 native locking.
TARGET_VERSIONS = {"terraform": ">=1.10.0", "opentofu": ">=1.10.0"}


#: A cloud's stack class: `(scope, plan, cloud_plan) -> TerraformStack`.
StackClass = Callable[[Construct, DeploymentPlan, CloudPlan], TerraformStack]


def stack_class(cloud: Cloud) -> StackClass:
    """`stacks.<cloud>.<Cloud>Stack`, imported now."""
    module = importlib.import_module(f"stacks.{cloud}")
    found: StackClass = getattr(module, f"{cloud.capitalize()}Stack")
    return found


def build_app(
    plans: Iterable[DeploymentPlan],
    outdir: Path,
    *,
    clouds: Sequence[Cloud] | None = None,
    project_dir: Path | None = None,
) -> App:
    """An App with the stacks of `plans` (only those on `clouds`, when given), ready to synth.

    `project_dir` is where relative local state paths point (default: the working directory).
    """
    app = App(outdir=str(outdir), stack_traces=False, context={"targetVersions": TARGET_VERSIONS})
    for plan in plans:
        cloud_stacks = [
            _add_stack(app, plan, cloud, outdir, project_dir or Path.cwd())
            for cloud in plan.clouds
            if clouds is None or cloud.cloud in clouds
        ]
        if plan.global_dns is not None and (clouds is None or DNS_PROVIDER in clouds):
            _add_global_stack(app, plan, outdir, project_dir or Path.cwd(), after=cloud_stacks)
    return app


def _add_global_stack(
    app: App, plan: DeploymentPlan, outdir: Path, project_dir: Path, *, after: Sequence[TerraformStack]
) -> None:
    """The `<env>-global` DNS stack (stacks/global_dns.py), which reads the cloud stacks' state.

    It depends on the cloud stacks synthesized with it, so `cdktn deploy '*'` applies them first.
    """
    from stacks.global_dns import GlobalDnsStack  # loads the AWS provider bindings (Route 53)

    assert plan.global_dns is not None
    stack_dir = endpoints.stack_dir(outdir.resolve(), plan.global_dns.stack)
    stack = GlobalDnsStack(app, plan, project_dir=project_dir.resolve(), stack_dir=stack_dir)
    configure_backend(
        stack, plan.global_dns.stack, plan.state, project_dir=project_dir.resolve(), stack_dir=stack_dir
    )
    for cloud_stack in after:
        stack.add_dependency(cloud_stack)


def _add_stack(
    app: App, plan: DeploymentPlan, cloud: CloudPlan, outdir: Path, project_dir: Path
) -> TerraformStack:
    stack = stack_class(cloud.cloud)(app, plan, cloud)
    stack_dir = endpoints.stack_dir(outdir.resolve(), cloud.stack)
    configure_backend(stack, cloud.stack, plan.state, project_dir=project_dir.resolve(), stack_dir=stack_dir)
    return stack
