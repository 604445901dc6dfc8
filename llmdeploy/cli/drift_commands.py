"""`llmdeploy drift ENV...`: does what runs still match what the environment files describe?

Plans every stack of each environment and reports, per stack, in sync, drifted (with Terraform's
counts) or error. Exit codes follow `terraform plan -detailed-exitcode`, so pipelines can gate on
them: 0 all in sync, 2 drift found, 1 a stack could not be checked (which wins, since a stack
that could not be planned may hide drift). Invalid input is an error here too, never a 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer
from rich.table import Table

from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, err, out
from llmdeploy.cli.deploy_commands import DEFAULT_OUTDIR, CloudOption, Local, Outdir, stack_targets
from llmdeploy.cli.progress import terraform_progress
from llmdeploy.errors import LlmdeployError
from llmdeploy.terraform import PlanSummary, TerraformRunner

IN_SYNC, DRIFTED, ERROR = 0, 2, 1


@dataclass(frozen=True)
class DriftRow:
    """One stack's verdict: a plan summary, or why there is none."""

    stack: str
    summary: PlanSummary | None = None
    error: str | None = None

    @property
    def code(self) -> int:
        if self.summary is None:
            return ERROR
        return DRIFTED if self.summary.has_changes else IN_SYNC

    @property
    def state(self) -> str:
        return {IN_SYNC: "in sync", DRIFTED: "drifted", ERROR: "error"}[self.code]

    @property
    def changes(self) -> str:
        if self.summary is None or not self.summary.has_changes:
            return ""
        plan = self.summary
        counted = f"{plan.add} to add, {plan.change} to change, {plan.destroy} to destroy"
        return counted + (f", {plan.outputs_changed} output(s) changed" if plan.outputs_changed else "")


def check_stack(stack: str, runner: TerraformRunner) -> DriftRow:
    """Plan one stack (init first: a fresh checkout has no providers yet)."""
    try:
        with terraform_progress(err, stack, "plan (drift)") as on_message:
            runner.on_message = on_message
            runner.init()
            return DriftRow(stack, summary=runner.plan())
    except LlmdeployError as error:
        return DriftRow(stack, error=str(error))


def report(rows: list[DriftRow]) -> int:
    """Print the table (and each error in full below it); return the exit code."""
    table = Table(title="drift")
    for column in ("stack", "state", "changes"):
        table.add_column(column)
    styles = {IN_SYNC: "green", DRIFTED: "yellow", ERROR: "red"}
    for row in rows:
        table.add_row(row.stack, f"[{styles[row.code]}]{row.state}[/]", row.changes)
    out.print(table)
    for row in rows:
        if row.error is not None:
            err.print(f"[bold red]error:[/] {row.stack}: ", end="", highlight=False)
            err.print(row.error, markup=False, highlight=False)
    codes = {row.code for row in rows}
    return ERROR if ERROR in codes else DRIFTED if DRIFTED in codes else IN_SYNC


@app.command()
def drift(
    envs: Annotated[list[str], typer.Argument(help="Environment names (in --env-dir) or file paths.")],
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
) -> None:
    """Plan every stack and report in sync / drifted / error; exit 0 in sync, 2 drift, 1 error."""
    rows: list[DriftRow] = []
    for env in envs:
        try:
            targets = stack_targets(env, env_dir, outdir, cloud, local)
        except LlmdeployError as error:
            rows.append(DriftRow(env, error=str(error)))
            continue
        rows += [check_stack(target.stack, target.runner) for target in targets]
    raise typer.Exit(report(rows))
