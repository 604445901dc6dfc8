"""Stack targets and runs: an environment's stacks, planned and applied (or destroyed) in order.

Out of the CLI so that every command that changes stacks (apply, destroy, and the deploy step of
release, promote and rollback) runs them the same way, and so a deploy step can be tested without
the CLI. How to ask before a change and how to show progress are the caller's (`Callbacks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from llmdeploy.catalog import Cloud
from llmdeploy.clouds import driver
from llmdeploy.config.environment import BUILT_IN_TAGS, EnvironmentConfig
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.plan import endpoints
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.global_dns import DNS_PROVIDER
from llmdeploy.plan.model import CloudPlan, DeploymentPlan
from llmdeploy.release.observer import DeployedStack
from llmdeploy.synth import synth
from llmdeploy.terraform import PlanSummary, TerraformRunner, binary_from_env
from llmdeploy.terraform.aws_imports import Adoption, discard_imports, write_imports
from llmdeploy.terraform.backends import (
    BACKENDS_DIR,
    configured_backend,
    describe,
    read_backend,
    write_backend,
)
from llmdeploy.terraform.diagnose import Interrupted, Recovery, UnpublishedMetric
from llmdeploy.terraform.runner import Message
from llmdeploy.unfinished import (
    aws_adoption,
    azure_stack_adoption,
    killed_run,
    listed,
    mark,
    signed_in_arm,
    unmark,
)

#: `settle(refused, say)`: after an apply the cloud refused for a metric nothing has published yet,
#: publish it (`CloudDriver.settle`); True when the apply may run again. `say` shows progress.
Settle = Callable[[UnpublishedMetric, Callable[[str], None]], bool]

#: Terraform's working data (providers, backend config) lives outside cdktf.out, which synth replaces whole.
TERRAFORM_DATA = Path(".llmdeploy") / "terraform"


class Where(Protocol):
    """Where a command runs, and the commands its messages suggest (`cli.next_steps.Invocation`)."""

    @property
    def env(self) -> str: ...
    @property
    def env_dir(self) -> Path: ...
    @property
    def outdir(self) -> Path: ...
    @property
    def cloud(self) -> Cloud | None: ...
    @property
    def local(self) -> bool: ...
    def command(self, verb: str, *args: str, cloud: bool = True) -> str: ...
    def recovery(self, rerun: str, stack: str) -> Recovery: ...


@dataclass(frozen=True)
class StackTarget:
    """One synthesized stack of an environment and the Terraform runner for it."""

    stack: str
    #: The cloud the stack deploys to; None for the global DNS stack.
    cloud: CloudPlan | None
    runner: TerraformRunner
    #: The environment Terraform runs with (the emulator's with --local).
    environ: dict[str, str]
    #: The tags on everything the stack creates (how orphans of a killed run are found).
    tags: Mapping[str, str] = field(default_factory=dict)
    #: What an apply refused for an unpublished metric does before applying again (None: it fails).
    settle: Settle | None = None

    @property
    def aws_region(self) -> str | None:
        """The region of an AWS cloud stack; None for any other stack."""
        settings = self.cloud.settings if self.cloud is not None and self.cloud.cloud == "aws" else None
        region = getattr(settings, "region", None)
        return region if isinstance(region, str) else None


#: `progress(stack, what)` yields the callback that shows Terraform's stream messages while it runs.
Progress = Callable[[str, str], AbstractContextManager[Callable[[Message], None]]]
#: `approve(target, command, planned)`: whether to go ahead with a planned change.
Approve = Callable[[StackTarget, str, PlanSummary], bool]
#: `replacing(target)`: resources to create anew although unchanged.
Replacing = Callable[[StackTarget], Sequence[str]]


@dataclass(frozen=True)
class Callbacks:
    """What a run asks its caller: approval, a progress display, and where warnings go."""

    approve: Approve
    progress: Progress
    warn: Callable[[str], None]


@dataclass(frozen=True)
class Row:
    """What a run did to one stack."""

    stack: str
    summary: PlanSummary
    seconds: float


class Declined(Exception):
    """The caller did not approve a change: that stack and the ones after it were left as they are."""

    def __init__(self, stack: str, changes: str) -> None:
        super().__init__(f"stack '{stack}' ({changes}) was not approved")
        self.stack = stack
        self.changes = changes


def stack_targets(
    where: Where, config: EnvironmentConfig, environ: dict[str, str], rerun: str | None = None
) -> list[StackTarget]:
    """Synthesize an environment's stacks (`where.cloud`'s only, when given); return them in apply order.

    `config` is the environment as loaded once by the command. `rerun`: the command line a failure
    message suggests to continue (default: `llmdeploy plan`).
    """
    plan = build_plan(config)
    chosen = chosen_clouds(plan, where.env, where.cloud, where.local)
    stacks: list[tuple[str, CloudPlan | None]] = [(entry.stack, entry) for entry in chosen]
    clouds = {entry.cloud for entry in chosen}
    if where.cloud is None and plan.global_dns is not None:
        # Last: it reads the endpoints from the cloud stacks' state.
        stacks.append((plan.global_dns.stack, None))
        clouds.add(DNS_PROVIDER)
    synth([where.env], env_dir=where.env_dir, outdir=where.outdir, clouds=sorted(clouds), configs=[config])
    rerun = rerun or where.command("plan")
    # The environment's own tags, never a user's: orphans are looked up by them, and a user's tag
    # shared by other environments would make their resources look like this one's.
    tags = {key: plan.tags[key] for key in BUILT_IN_TAGS}
    return [
        StackTarget(
            stack,
            entry,
            stack_runner(stack, where.outdir, environ, where.recovery(rerun, stack)),
            environ,
            tags=tags,
            settle=partial(driver(entry.cloud).settle, plan) if entry is not None else None,
        )
        for stack, entry in stacks
    ]


def chosen_clouds(plan: DeploymentPlan, env: str, cloud: Cloud | None, local: bool) -> list[CloudPlan]:
    """What `--cloud` and `--local` select: the environment's clouds (only `cloud` when given).

    Raises:
        ConfigError: the environment has no such cloud, or --local (which emulates AWS) with another cloud.
    """
    chosen = [entry for entry in plan.clouds if cloud in (None, entry.cloud)]
    if not chosen:
        raise ConfigError([Problem(f"environment {env!r} has no {cloud} cloud", path="clouds")])
    if local and any(entry.cloud != "aws" for entry in chosen):
        hint = "add --cloud aws, or drop --local for the real clouds"
        raise ConfigError([Problem("--local emulates AWS only", hint=hint)])
    return chosen


def stack_runner(
    stack: str, outdir: Path, environ: dict[str, str], recovery: Recovery | None = None
) -> TerraformRunner:
    """The runner of a synthesized stack, with its Terraform data kept outside cdktf.out."""
    data_dir = (TERRAFORM_DATA / stack).resolve()
    return TerraformRunner(
        endpoints.stack_dir(outdir, stack),
        stack=stack,
        binary=binary_from_env(environ),
        env={**environ, "TF_DATA_DIR": str(data_dir)},
        recovery=recovery,
    )


def run_stacks(
    targets: Sequence[StackTarget],
    where: Where,
    command: str,
    callbacks: Callbacks,
    replacing: Replacing | None = None,
    rerun: str | None = None,
) -> list[Row]:
    """Plan and apply (or destroy, in reverse order) each stack that has changes, once approved.

    Raises Declined when `callbacks.approve` says no (the saved plan is discarded first).
    """
    rows = []
    rerun = rerun or where.command(command)
    # Destroy in reverse: the global DNS stack reads the cloud stacks' state.
    for target in reversed(targets) if command == "destroy" else targets:
        started = time.monotonic()
        with callbacks.progress(target.stack, f"plan ({command})") as on_message:
            target.runner.on_message = on_message
            init_stack(target)
            _check_unfinished(target, where, command, rerun, callbacks)
            renewed = replacing(target) if replacing else ()
            planned = target.runner.plan(destroy=command == "destroy", replacing=renewed)
        if planned.has_changes:
            _approve(target, command, planned, callbacks)
            with callbacks.progress(target.stack, command) as on_message:
                target.runner.on_message = on_message
                planned = _changing(target, command, planned, where, rerun, callbacks)
            _remember_backend(target)
        else:
            target.runner.discard(planned)
        rows.append(Row(target.stack, planned, time.monotonic() - started))
        if command == "destroy":
            _check_left_behind(target, where, callbacks)
    return rows


def deployed(targets: Sequence[StackTarget], config: EnvironmentConfig) -> list[DeployedStack]:
    """The cloud stacks as deployed, for the promotion gates (their outputs read from the state)."""
    plan = build_plan(config)
    return [
        DeployedStack(
            cloud=target.cloud.cloud,
            stack=target.stack,
            plan=plan,
            outputs=target.runner.output(),
            environ=target.environ,
        )
        for target in targets
        if target.cloud is not None
    ]


def init_stack(target: StackTarget) -> None:
    """`terraform init`, once the stack's backend is known to be where its state was last applied.

    A backend that moved (a changed `state:`) is refused before Terraform runs: with its data
    folder gone, Terraform would start from an empty state and plan the live fleet anew.
    """
    current = configured_backend(target.runner.stack_dir)
    known = read_backend(BACKENDS_DIR, target.stack)
    if current is not None and known is not None and known != current:
        recovery = target.runner.recovery
        migrate = recovery.migrate if recovery else f"llmdeploy state migrate {target.stack}"
        raise OperationError(
            f"Stack '{target.stack}' was last applied with its state in {describe(known)}; its "
            f"environment now puts it in {describe(current)}, which Terraform would start empty, planning "
            f"to create every resource again. Run `{migrate}` to copy the state there (it asks first), "
            "or undo the change to `state:`."
        )
    # Known and unchanged: the same state, maybe spelled from another --out folder.
    target.runner.init(reconfigure=known is not None)


def _approve(target: StackTarget, command: str, planned: PlanSummary, callbacks: Callbacks) -> None:
    """The saved plan is what gets applied, nothing more; without approval it is discarded."""
    if callbacks.approve(target, command, planned):
        return
    target.runner.discard(planned)
    raise Declined(target.stack, changes(planned))


def changes(planned: PlanSummary) -> str:
    imported = f"{planned.imports} to import, " if planned.imports else ""
    return f"{imported}{planned.add} to add, {planned.change} to change, {planned.destroy} to destroy"


def _changing(
    target: StackTarget, command: str, planned: PlanSummary, where: Where, rerun: str, callbacks: Callbacks
) -> PlanSummary:
    """Apply a saved plan, marked as under way until it succeeds.

    Even a graceful stop can leave a resource the cloud created but Terraform never recorded (a
    create cancelled after its API call succeeded), so after a Ctrl-C the orphans are looked up
    at once and the message says how the next run adopts them; any other failure keeps the marker
    and the next run looks.
    """
    mark(target.stack, command)
    try:
        applied = _settling(target, command, planned, callbacks)
    except Interrupted as stopped:
        found = _adoption(target)
        if found is None or not (found.imports or found.unmatched):
            unmark(target.stack)
            raise
        raise Interrupted(
            stopped.what,
            f"{_outside(found)}: {_next_steps(found, where, command, rerun)}",
        ) from None
    unmark(target.stack)
    discard_imports(target.runner.stack_dir)
    return applied


def _settling(target: StackTarget, command: str, planned: PlanSummary, callbacks: Callbacks) -> PlanSummary:
    """Apply; when the cloud refused a rule for a metric nothing has published yet, publish it and
    apply the rest once more (Azure's autoscale rules on the replicas' queue size: metric_seed.py).

    The second plan holds what the first left undone; anything it adds to what was approved is
    asked about again.
    """
    try:
        return target.runner.apply_plan(planned, command)
    except UnpublishedMetric as refused:

        def say(text: str) -> None:
            callbacks.warn(f"{target.stack}: {text}")

        if command != "apply" or target.settle is None or not target.settle(refused, say):
            raise
    rest = target.runner.plan()
    approved = {change.address for change in planned.resources}
    if any(change.address not in approved for change in rest.resources):
        _approve(target, command, rest, callbacks)
    return target.runner.apply_plan(rest, command) if rest.has_changes else rest


def _outside(found: Adoption) -> str:
    orphans = [*(orphan for _, orphan in found.imports), *found.unmatched]
    return (
        f"{len(orphans)} resources it was creating exist in the cloud, not in the state ({listed(orphans)})"
    )


def _next_steps(found: Adoption, where: Where, command: str, rerun: str) -> str:
    """What finishes a run that left `found` behind: the next apply imports, a destroy ignores imports."""
    if command == "destroy":
        # Terraform ignores import blocks when destroying (hashicorp/terraform#35262): delete them.
        delete = where.command("state orphans", "--delete", "--all", cloud=False)
        return f"run `{delete}` to delete them (a destroy would leave them), then run `{rerun}` again"
    if found.unmatched:
        delete = where.command("state orphans", "--delete", cloud=False)
        return (
            f"{len(found.unmatched)} of them match no resource of the stack ({listed(found.unmatched)}): run "
            f"`{delete}` to delete those, then run `{rerun}`, whose plan imports the others"
        )
    return f"run `{rerun}`: its plan imports them into the state (nothing is created twice)"


def _check_unfinished(
    target: StackTarget, where: Where, command: str, rerun: str, callbacks: Callbacks
) -> None:
    """After a killed run, adopt what it created outside the state, or refuse to go on.

    An apply's plan imports every orphan matched to its resource (an import file next to the
    stack's configuration, shown in the plan and approved with it); any other orphan must be
    deleted first, or the apply would create it again or fail on a name that already exists.
    """
    discard_imports(target.runner.stack_dir)  # only this run's adoption may import anything
    killed = killed_run(target.stack)
    if killed is None:
        return
    found = _adoption(target)
    if found is None:
        callbacks.warn(
            f"{target.stack}: the {killed.command} started at {killed.started} was killed before it "
            "finished; resources it was creating may exist outside the state: look for the tags "
            f"{dict(target.tags)} in the cloud's console."
        )
        unmark(target.stack)
        return
    if not (found.imports or found.unmatched):
        unmark(target.stack)
        return
    if command == "destroy" or found.unmatched:
        raise OperationError(
            f"The {killed.command} of stack '{target.stack}' started at {killed.started} was killed before "
            f"Terraform recorded everything it created: {_outside(found)}; they carry {where.env}'s tags. "
            f"To go on, {_next_steps(found, where, command, rerun)}."
        )
    write_imports(target.runner.stack_dir, found)
    adopted = [orphan for _, orphan in found.imports]
    callbacks.warn(
        f"{target.stack}: the {killed.command} started at {killed.started} was killed before Terraform "
        f"recorded {len(adopted)} resources it created ({listed(adopted)}); this plan imports them into the "
        "state instead of creating them again."
    )


def _check_left_behind(target: StackTarget, where: Where, callbacks: Callbacks) -> None:
    """A destroy removes what the state holds; say so when tagged resources outlive it.

    A warning, not a failure: the destroy itself succeeded, and a killed run's leftovers were already
    refused before it (`_check_unfinished`); what is found here no state ever held.
    """
    try:
        found = _adoption(target)
    except OperationError as error:
        callbacks.warn(f"warning: stack '{target.stack}' is destroyed, but {error}")
        return
    orphans = [*(orphan for _, orphan in found.imports), *found.unmatched] if found is not None else []
    if orphans:
        callbacks.warn(
            f"warning: stack '{target.stack}' destroyed everything its state held, but {len(orphans)} "
            f"resources carrying {where.env}'s tags are in no state and remain ({listed(orphans)}). Run "
            f"`{where.command('state orphans', '--delete', '--all', cloud=False)}` to delete them."
        )


def _adoption(target: StackTarget) -> Adoption | None:
    """A cloud stack's resources with the environment's tags outside its state, matched to the
    stack's resources; None where they cannot be looked up (GCP labels cannot hold an address, and
    the global DNS stack's records take no tags)."""
    name = target.cloud.cloud if target.cloud is not None else None
    region = target.aws_region
    if name == "aws" and region is not None:
        return aws_adoption(target.runner, target.tags, region, target.environ)
    if name == "azure":
        return azure_stack_adoption(target.runner, signed_in_arm(), target.tags)
    return None


def _remember_backend(target: StackTarget) -> None:
    current = configured_backend(target.runner.stack_dir)
    if current is not None:
        write_backend(BACKENDS_DIR, target.stack, current)
