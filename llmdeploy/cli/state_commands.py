"""`llmdeploy state unlock | migrate`: repair one stack's Terraform state from where llmdeploy keeps it.

Terraform's data for a stack lives in `.llmdeploy/terraform/<stack>`, not in the stack folder, so a
bare `terraform force-unlock` or `terraform init -migrate-state` run by hand finds nothing: these run
Terraform the way every other llmdeploy command does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.app import app, err, out, reported
from llmdeploy.cli.deploy_commands import AutoApprove, Local, Outdir, stack_runner
from llmdeploy.cli.local_commands import LOCAL_STATE_DIR, local_environ
from llmdeploy.cli.next_steps import DEFAULT_OUTDIR
from llmdeploy.errors import OperationError
from llmdeploy.synth import STACK_FILE
from llmdeploy.terraform import TerraformRunner
from llmdeploy.terraform.backends import (
    BACKENDS_DIR,
    configured_backend,
    describe,
    read_backend,
    write_backend,
)
from llmdeploy.terraform.migrate import copy_state

state = typer.Typer(help="Repair a stack's Terraform state: release a stale lock, move it to a new backend.")
app.add_typer(state, name="state")

Stack = Annotated[str, typer.Argument(help="The stack, as named in messages: <env>-<cloud> or <env>-global.")]


@state.command("unlock")
@reported
def unlock(
    stack: Stack,
    lock_id: Annotated[str, typer.Argument(help="The lock ID the lock error printed.")],
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    yes: AutoApprove = False,
) -> None:
    """Release a state lock left by a run that was stopped (only when no run is active)."""
    runner = _runner(stack, outdir, local)
    question = f"{stack}: release state lock {lock_id}? Only do this when no other run is active."
    if not (yes or typer.confirm(question, default=False, err=True)):
        err.print(f"Not unlocked: lock {lock_id} of stack '{stack}' is still held.", markup=False)
        return
    runner.force_unlock(lock_id)
    out.print(f"{stack}: lock {lock_id} released", markup=False, highlight=False)


@state.command("migrate")
@reported
def migrate(
    stack: Stack,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    yes: AutoApprove = False,
) -> None:
    """Copy a stack's state to the backend its environment now names (the old copy is kept)."""
    runner = _runner(stack, outdir, local)
    current = configured_backend(runner.stack_dir)
    if current is None:
        raise OperationError(f"Stack '{stack}' in {runner.stack_dir} names no backend; synthesize it again.")
    known = read_backend(BACKENDS_DIR, stack)
    source = describe(known) if known else "the backend its Terraform data was set up with"
    question = f"{stack}: copy the state from {source} to {describe(current)}?"
    if not (yes or typer.confirm(question, default=False, err=True)):
        err.print(f"Not migrated: the state of '{stack}' stays in {source}.", markup=False)
        return
    if known is None or known == current:
        runner.init_migrating()  # what the data folder remembers is the only record of the old place
    else:
        copy_state(runner, known)
    write_backend(BACKENDS_DIR, stack, current)
    out.print(
        f"{stack}: state now in {describe(current)}; run `llmdeploy plan` for its environment to check that "
        "nothing is planned to be created again.",
        markup=False,
        highlight=False,
    )


def _runner(stack: str, outdir: Path, local: bool) -> TerraformRunner:
    runner = stack_runner(stack, outdir, local_environ(LOCAL_STATE_DIR) if local else dict(os.environ))
    if not (runner.stack_dir / STACK_FILE).is_file():
        raise OperationError(
            f"No synthesized stack '{stack}' in {runner.stack_dir.parent}: run the command that failed "
            "again (it synthesizes its stacks), or pass the --out it used."
        )
    return runner
