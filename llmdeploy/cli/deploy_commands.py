"""Commands that synthesize stacks and run Terraform on them: synth, plan, apply, destroy."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import partial
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
from llmdeploy.config import load
from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.deploy import TERRAFORM_DATA as TERRAFORM_DATA  # re-exported: ci uses it
from llmdeploy.deploy import Callbacks, Declined, Replacing, Row, changes, init_stack
from llmdeploy.deploy import StackTarget as StackTarget  # re-exported: status uses it
from llmdeploy.deploy import run_stacks as run_stacks_of
from llmdeploy.deploy import stack_targets as targets_of
from llmdeploy.plan.cost import OVER_BUDGET_FLAG, check_config_budget
from llmdeploy.synth import synth
from llmdeploy.terraform import PlanSummary
from llmdeploy.terraform.runner import PLAN_FILE

Env = Annotated[str, typer.Argument(help="Environment name (in --env-dir) or file path.")]
CloudOption = Annotated[Cloud | None, typer.Option("--cloud", help="Only this cloud's stack.")]
Local = Annotated[
    bool, typer.Option("--local", help="Point every AWS call at `llmdeploy local up`'s emulator.")
]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Do not ask before changing anything.")]
Outdir = Annotated[Path, typer.Option("--out", help="Where synthesized stacks go.")]
OverBudget = Annotated[
    bool, typer.Option(OVER_BUDGET_FLAG, help="Go ahead even when the cost estimate exceeds the budget.")
]


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


def environ_of(local: bool) -> dict[str, str]:
    """The environment Terraform and the cloud SDKs run with: the emulator's with --local."""
    return local_environ(LOCAL_STATE_DIR) if local else dict(os.environ)


def stack_targets(
    env: str, env_dir: Path, outdir: Path, cloud: Cloud | None, local: bool, rerun: str | None = None
) -> list[StackTarget]:
    """Load the environment once, synthesize its stacks and return them in apply order."""
    where = Invocation(env, env_dir, outdir, cloud, local)
    return targets_of(where, load(env, env_dir), environ_of(local), rerun)


def _summary_table(title: str, rows: Sequence[Row]) -> Table:
    table = Table(title=title)
    for column in ("stack", "to add", "to change", "to destroy", "seconds"):
        table.add_column(column, justify="left" if column == "stack" else "right")
    for row in rows:
        summary = row.summary
        table.add_row(
            row.stack, str(summary.add), str(summary.change), str(summary.destroy), f"{row.seconds:.0f}"
        )
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
    rows: list[Row] = []
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
            rows.append(
                Row(target.stack, target.runner.plan(plan_name=PLAN_FILE), time.monotonic() - started)
            )
    out.print(_summary_table(f"{env}: plan", rows))
    if show:
        for row in rows:
            for change in row.summary.resources:
                out.print(f"{row.stack}: {change.action} {change.address}", markup=False, highlight=False)
    if detailed_exitcode and any(row.summary.has_changes for row in rows):
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
    allow_over_budget: OverBudget = False,
) -> None:
    """Create or update every stack of an environment (asks first unless --auto-approve).

    The file's budget is checked first, as `llmdeploy cost` computes it, before any stack is touched.
    """
    config = load(env, env_dir)
    if not allow_over_budget:
        check_config_budget(config, f"apply of {config.name}")
    run_stacks(Invocation(env, env_dir, outdir, cloud, local), "apply", auto_approve, config=config)


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
    replacing: Replacing | None = None,
    rerun: str | None = None,
    config: EnvironmentConfig | None = None,
) -> list[StackTarget]:
    """Synthesize, plan and apply (or destroy) an environment's stacks, asking first unless `yes`.

    `config`: the environment as the command already loaded it. `rerun`: the command line failure
    messages suggest to continue (default: this apply or destroy).
    """
    rerun = rerun or where.command(command, *(["--auto-approve"] if yes else []))
    loaded = config or load(where.env, where.env_dir)
    targets = targets_of(where, loaded, environ_of(where.local), rerun)
    try:
        rows = run_stacks_of(targets, where, command, cli_callbacks(yes), replacing, rerun)
    except Declined as declined:
        # A "no" is a decision, not a failure: a plain message and exit 0.
        err.print(
            f"Not {_past(command)}: stack '{declined.stack}' ({declined.changes}) was left as it is, and so "
            "were the stacks after it.",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(0) from None
    out.print(_summary_table(f"{where.env}: {command}", rows))
    return targets


def cli_callbacks(yes: bool) -> Callbacks:
    """Ask on the terminal (unless `yes`), show progress and warnings on stderr."""

    def approve(target: StackTarget, command: str, planned: PlanSummary) -> bool:
        question = f"{target.stack}: {changes(planned)}. {command.capitalize()}?"
        return yes or typer.confirm(question, default=False, err=True)

    def warn(text: str) -> None:
        err.print(text, markup=False, highlight=False)

    return Callbacks(approve, partial(terraform_progress, err), warn)


def _past(command: str) -> str:
    return {"apply": "applied", "destroy": "destroyed"}.get(command, command)
