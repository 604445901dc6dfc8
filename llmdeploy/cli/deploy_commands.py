"""Commands that synthesize stacks and run Terraform on them: synth, plan, apply, destroy."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from llmdeploy.catalog import Cloud
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, err, out, reported
from llmdeploy.cli.local_commands import LOCAL_STATE_DIR, local_environ
from llmdeploy.cli.next_steps import DEFAULT_OUTDIR as DEFAULT_OUTDIR  # re-exported: other commands use it
from llmdeploy.cli.next_steps import Invocation
from llmdeploy.cli.progress import terraform_progress
from llmdeploy.cli.unfinished import aws_orphans, killed_run, listed, mark, unmark
from llmdeploy.config import load
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.plan import endpoints
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.global_dns import DNS_PROVIDER
from llmdeploy.plan.model import CloudPlan
from llmdeploy.synth import synth
from llmdeploy.terraform import PlanSummary, TerraformRunner, binary_from_env
from llmdeploy.terraform.backends import (
    BACKENDS_DIR,
    configured_backend,
    describe,
    read_backend,
    write_backend,
)
from llmdeploy.terraform.diagnose import Interrupted, Recovery
from llmdeploy.terraform.runner import PLAN_FILE

Env = Annotated[str, typer.Argument(help="Environment name (in --env-dir) or file path.")]
CloudOption = Annotated[Cloud | None, typer.Option("--cloud", help="Only this cloud's stack.")]
Local = Annotated[
    bool, typer.Option("--local", help="Point every AWS call at `llmdeploy local up`'s emulator.")
]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Do not ask before changing anything.")]
Outdir = Annotated[Path, typer.Option("--out", help="Where synthesized stacks go.")]
#: Terraform's working data (providers, backend config) lives outside cdktf.out, which synth replaces whole.
TERRAFORM_DATA = Path(".llmdeploy") / "terraform"


@app.command("synth")
@reported
def synth_command(
    envs: Annotated[list[str], typer.Argument(help="Environment names or file paths.")],
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    outdir: Outdir = DEFAULT_OUTDIR,
    force: Annotated[bool, typer.Option("--force", help="Synthesize even if nothing changed.")] = False,
) -> None:
    """Synthesize Terraform for every cloud of each environment into cdktf.out/stacks/<env>-<cloud>."""
    result = synth(envs, env_dir=env_dir, outdir=outdir, force=force)
    how = "unchanged inputs: reused the previous output" if result.cached else "synthesized"
    out.print(f"{how} in {result.seconds:.1f} s: {', '.join(result.stacks)}")


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

    @property
    def aws_region(self) -> str | None:
        """The region of an AWS cloud stack; None for any other stack."""
        settings = self.cloud.settings if self.cloud is not None and self.cloud.cloud == "aws" else None
        region = getattr(settings, "region", None)
        return region if isinstance(region, str) else None


def stack_targets(
    env: str, env_dir: Path, outdir: Path, cloud: Cloud | None, local: bool, rerun: str | None = None
) -> list[StackTarget]:
    """Synthesize an environment's stacks (one cloud's with `cloud`) and return them in apply order.

    `rerun`: the command line a failure message suggests to continue (default: `llmdeploy plan`).
    """
    plan = build_plan(load(env, env_dir))
    chosen = [entry for entry in plan.clouds if cloud is None or entry.cloud == cloud]
    if not chosen:
        raise ConfigError([Problem(f"environment {env!r} has no {cloud} cloud", path="clouds")])
    if local and any(entry.cloud != "aws" for entry in chosen):
        raise ConfigError(
            [
                Problem(
                    "--local emulates AWS only", hint="add --cloud aws, or drop --local for the real clouds"
                )
            ]
        )
    stacks: list[tuple[str, CloudPlan | None]] = [(entry.stack, entry) for entry in chosen]
    clouds = {entry.cloud for entry in chosen}
    if cloud is None and plan.global_dns is not None:
        # Last: it reads the endpoints from the cloud stacks' state.
        stacks.append((plan.global_dns.stack, None))
        clouds.add(DNS_PROVIDER)
    synth([env], env_dir=env_dir, outdir=outdir, clouds=sorted(clouds))
    environ = local_environ(LOCAL_STATE_DIR) if local else dict(os.environ)
    invocation = Invocation(env, env_dir, outdir, cloud, local)
    rerun = rerun or invocation.command("plan")
    return [
        StackTarget(
            stack, entry, stack_runner(stack, outdir, environ, invocation.recovery(rerun, stack)), environ
        )
        for stack, entry in stacks
    ]


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


def _summary_table(title: str, rows: list[tuple[str, PlanSummary, float]]) -> Table:
    table = Table(title=title)
    for column in ("stack", "to add", "to change", "to destroy", "seconds"):
        table.add_column(column, justify="left" if column == "stack" else "right")
    for stack, summary, seconds in rows:
        table.add_row(stack, str(summary.add), str(summary.change), str(summary.destroy), f"{seconds:.0f}")
    return table


@app.command()
@reported
def plan(
    env: Env,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="Exit 0 when nothing would change, 2 when something would."),
    ] = False,
    show: Annotated[
        bool, typer.Option("--show", help="List each resource that would change, and how, under the table.")
    ] = False,
) -> None:
    """Show what Terraform would change in each stack of an environment."""
    rows = []
    targets = stack_targets(env, env_dir, outdir, cloud, local)
    for target in targets:
        waiting = _unapplied(targets) if target.cloud is None else []
        if waiting:
            err.print(
                f"{target.stack}: not planned: it reads the endpoints of {', '.join(waiting)}, which "
                "have not been applied yet. `llmdeploy apply` applies it right after them.",
                markup=False,
                highlight=False,
            )
            continue
        started = time.monotonic()
        with terraform_progress(err, target.stack, "plan") as on_message:
            target.runner.on_message = on_message
            init_stack(target)
            # A fixed name: CI shows this plan; apply and destroy always plan afresh.
            rows.append((target.stack, target.runner.plan(plan_name=PLAN_FILE), time.monotonic() - started))
    out.print(_summary_table(f"{env}: plan", rows))
    if show:
        for stack, summary, _ in rows:
            for change in summary.resources:
                out.print(f"{stack}: {change.action} {change.address}", markup=False, highlight=False)
    if detailed_exitcode and any(summary.has_changes for _, summary, _ in rows):
        raise typer.Exit(2)


def _unapplied(targets: list[StackTarget]) -> list[str]:
    """Cloud stacks without an `endpoints` output in their state: the global stack cannot read them yet.

    Called once the cloud stacks (first in the list) have been initialized by their own plan.
    """
    return [
        target.stack
        for target in targets
        if target.cloud is not None and "endpoints" not in target.runner.output()
    ]


@app.command()
@reported
def apply(
    env: Env,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    auto_approve: AutoApprove = False,
    outdir: Outdir = DEFAULT_OUTDIR,
) -> None:
    """Create or update every stack of an environment (asks first unless --auto-approve)."""
    run_stacks(Invocation(env, env_dir, outdir, cloud, local), "apply", auto_approve)


@app.command()
@reported
def destroy(
    env: Env,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    auto_approve: AutoApprove = False,
    outdir: Outdir = DEFAULT_OUTDIR,
) -> None:
    """Delete everything an environment's stacks created (asks first unless --auto-approve)."""
    run_stacks(Invocation(env, env_dir, outdir, cloud, local), "destroy", auto_approve)


def run_stacks(
    where: Invocation,
    command: str,
    yes: bool,
    replacing: Callable[[StackTarget], Sequence[str]] | None = None,
    rerun: str | None = None,
) -> list[StackTarget]:
    """Synthesize, plan and apply (or destroy) an environment's stacks; return them.

    `replacing` names, per stack, resources to create anew although unchanged. `rerun`: the
    command line failure messages suggest to continue (default: this apply or destroy).
    """
    rows = []
    rerun = rerun or where.command(command, *(["--auto-approve"] if yes else []))
    targets = stack_targets(where.env, where.env_dir, where.outdir, where.cloud, where.local, rerun)
    # Destroy in reverse: the global DNS stack reads the cloud stacks' state.
    for target in reversed(targets) if command == "destroy" else targets:
        started = time.monotonic()
        with terraform_progress(err, target.stack, f"plan ({command})") as on_message:
            target.runner.on_message = on_message
            init_stack(target)
            _check_unfinished(target, where, rerun)
            renewed = replacing(target) if replacing else ()
            planned = target.runner.plan(destroy=command == "destroy", replacing=renewed)
        if planned.has_changes:
            _approve(target, command, planned, yes)
            with terraform_progress(err, target.stack, command) as on_message:
                target.runner.on_message = on_message
                planned = _changing(target, command, planned, where, rerun)
            _remember_backend(target)
        else:
            target.runner.discard(planned)
        rows.append((target.stack, planned, time.monotonic() - started))
        if command == "destroy":
            _check_left_behind(target, where)
    out.print(_summary_table(f"{where.env}: {command}", rows))
    return targets


def _changing(
    target: StackTarget, command: str, planned: PlanSummary, where: Invocation, rerun: str
) -> PlanSummary:
    """Apply a saved plan, marked as under way until it succeeds.

    Even a graceful stop can leave a resource AWS created but Terraform never recorded (a
    create cancelled after its API call succeeded), so after a Ctrl-C the orphans are looked up
    at once and the message says how to remove them; any other failure keeps the marker and the
    next run looks.
    """
    mark(target.stack, command)
    try:
        applied = target.runner.apply_plan(planned, command)
    except Interrupted as stopped:
        region = target.aws_region
        orphans = aws_orphans(target.runner, target.tags, region, target.environ) if region else []
        if not orphans:
            unmark(target.stack)
            raise
        raise Interrupted(
            stopped.what,
            f"{len(orphans)} resources it was creating exist in AWS but not in the state "
            f"({listed(orphans)}): run `{where.command('state orphans', '--delete', cloud=False)}` to "
            f"delete them, then run `{rerun}` to finish.",
        ) from None
    unmark(target.stack)
    return applied


def _check_unfinished(target: StackTarget, where: Invocation, rerun: str) -> None:
    """After a killed run, refuse to go on while the cloud holds resources no state records."""
    killed = killed_run(target.stack)
    if killed is None:
        return
    region = target.aws_region
    if region is None:
        err.print(
            f"{target.stack}: the {killed.command} started at {killed.started} was killed before it "
            "finished; resources it was creating may exist outside the state: look for the tags "
            f"{dict(target.tags)} in the cloud's console.",
            markup=False,
            highlight=False,
        )
    elif orphans := aws_orphans(target.runner, target.tags, region, target.environ):
        raise OperationError(
            f"The {killed.command} of stack '{target.stack}' started at {killed.started} was killed before "
            f"Terraform recorded everything it created: {len(orphans)} resources carry {where.env}'s tags "
            f"but are in no state ({listed(orphans)}); applying now would create them again or fail on "
            f"names that already exist. Run `{where.command('state orphans', '--delete', cloud=False)}` "
            f"to delete them, then run `{rerun}` again."
        )
    unmark(target.stack)


def _check_left_behind(target: StackTarget, where: Invocation) -> None:
    """A destroy removes what the state holds; say so when tagged resources outlive it.

    A warning, not a failure: the destroy itself succeeded, and a killed run's leftovers were already
    refused before it (`_check_unfinished`); what is found here no state ever held.
    """
    region = target.aws_region
    if region is None:
        return
    orphans = aws_orphans(target.runner, target.tags, region, target.environ)
    if orphans:
        err.print(
            f"warning: stack '{target.stack}' destroyed everything its state held, but {len(orphans)} "
            f"resources carrying {where.env}'s tags are in no state and remain ({listed(orphans)}). Run "
            f"`{where.command('state orphans', '--delete', cloud=False)}` to delete them.",
            markup=False,
            highlight=False,
        )


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


def _remember_backend(target: StackTarget) -> None:
    current = configured_backend(target.runner.stack_dir)
    if current is not None:
        write_backend(BACKENDS_DIR, target.stack, current)


def _approve(target: StackTarget, command: str, planned: PlanSummary, yes: bool) -> None:
    """Ask before changing anything; the saved plan is what gets applied, nothing more.

    A "no" is a decision, not a failure: a plain message and exit 0.
    """
    changes = f"{planned.add} to add, {planned.change} to change, {planned.destroy} to destroy"
    if yes or typer.confirm(f"{target.stack}: {changes}. {command.capitalize()}?", default=False, err=True):
        return
    target.runner.discard(planned)
    err.print(
        f"Not {_past(command)}: stack '{target.stack}' ({changes}) was left as it is, and so were the "
        "stacks after it.",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(0)


def _past(command: str) -> str:
    return {"apply": "applied", "destroy": "destroyed"}.get(command, command)
